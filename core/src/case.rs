//! One exploration case: what to explore and on which supply, validated, then run.

use inas_common::ExecDesign;
use serde::Deserialize;

use crate::explore::{evaluate_fixed_network, explore_network, FixedResult, NetworkResult};
use crate::model::{Overrides, Platform, Power};
use crate::network::{Dataset, Network};
use crate::profile::Profile;

/// A case as written: a batch line, or the flags. Missing fields take the defaults.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    pub dataset: Option<String>,
    pub arch: Option<Vec<u32>>,
    pub cap_f: Option<f64>,
    pub rehm_ohm: Option<f64>,
    pub margin: Option<f64>,
    pub vm_bytes: Option<u64>,
    pub power: Option<String>,
    /// Fixed designs, one per layer: evaluate them under intermittent power.
    pub designs: Option<Vec<String>>,
}

/// What a case explores.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Explore(Power),
    Fixed(Vec<ExecDesign>),
}

/// A validated case, ready to run.
#[derive(Clone, Debug)]
pub struct Case {
    pub dataset: Dataset,
    pub arch: Vec<u32>,
    pub network: Network,
    pub platform: Platform,
    pub mode: Mode,
}

pub enum Outcome {
    Explored(NetworkResult),
    Fixed(FixedResult),
}

impl Outcome {
    pub fn feasible(&self) -> bool {
        match self {
            Outcome::Explored(r) => r.infeasible.is_none(),
            Outcome::Fixed(r) => r.unsafe_layer.is_none(),
        }
    }
}

impl CaseSpec {
    /// Fields of `self` win; missing ones come from `defaults`. A line that names a dataset but
    /// no architecture gets that dataset's reference network, not the default dataset's arch.
    pub fn over(self, defaults: &CaseSpec) -> CaseSpec {
        let arch = match (&self.arch, &self.dataset) {
            (Some(a), _) => Some(a.clone()),
            (None, Some(_)) => None,
            (None, None) => defaults.arch.clone(),
        };
        CaseSpec {
            dataset: self.dataset.or_else(|| defaults.dataset.clone()),
            arch,
            cap_f: self.cap_f.or(defaults.cap_f),
            rehm_ohm: self.rehm_ohm.or(defaults.rehm_ohm),
            margin: self.margin.or(defaults.margin),
            vm_bytes: self.vm_bytes.or(defaults.vm_bytes),
            power: self.power.or_else(|| defaults.power.clone()),
            designs: self.designs.or_else(|| defaults.designs.clone()),
        }
    }

    /// Checks everything a case needs; the error names the field and what is wrong with it.
    pub fn validate(&self, profile: &Profile) -> Result<Case, String> {
        let dataset: Dataset = match &self.dataset {
            Some(d) => d.parse()?,
            None => Dataset::Cifar,
        };
        let space = dataset.space();
        let arch = self.arch.clone().unwrap_or_else(|| space.example.to_vec());
        let network = space
            .network(&arch)
            .map_err(|e| format!("{dataset} arch {arch:?}: {e}"))?;
        let platform = Platform::new(
            profile,
            Overrides {
                capacitance_f: self.cap_f,
                margin: self.margin,
                r_ohm: self.rehm_ohm,
                vm_bytes: self.vm_bytes,
            },
        )
        .map_err(|e| e.to_string())?;
        let power = match self.power.as_deref() {
            None | Some("int") => Power::Int,
            Some("cont") => Power::Cont,
            Some(other) => return Err(format!("power '{other}' is not int or cont")),
        };
        let mode = match &self.designs {
            None => Mode::Explore(power),
            Some(_) if power == Power::Cont => {
                return Err(
                    "fixed designs are evaluated under intermittent power; drop power \"cont\""
                        .into(),
                )
            }
            Some(ds) => {
                if ds.len() != network.layers.len() {
                    let names: Vec<_> = network.layers.iter().map(|l| l.name.as_str()).collect();
                    return Err(format!(
                        "expected {} designs, one per layer ({}), got {}",
                        names.len(),
                        names.join(", "),
                        ds.len()
                    ));
                }
                let parsed = ds
                    .iter()
                    .map(|d| {
                        d.parse::<ExecDesign>()
                            .map_err(|e| format!("design '{d}': {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Mode::Fixed(parsed)
            }
        };
        Ok(Case {
            dataset,
            arch,
            network,
            platform,
            mode,
        })
    }
}

impl Case {
    pub fn run(&self) -> Result<Outcome, String> {
        match &self.mode {
            Mode::Explore(power) => explore_network(&self.platform, &self.network, *power)
                .map(Outcome::Explored)
                .map_err(|e| e.to_string()),
            Mode::Fixed(ds) => evaluate_fixed_network(&self.platform, &self.network, ds)
                .map(Outcome::Fixed)
                .map_err(|e| e.to_string()),
        }
    }
}
