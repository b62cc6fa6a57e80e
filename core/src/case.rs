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

/// A case from typed flags: what `inas explore` runs without `--batch`, and the defaults of a
/// batch's lines. Nothing here is text to parse again.
#[derive(Clone, Debug)]
pub struct CaseArgs {
    pub dataset: Dataset,
    /// The dataset's reference network when none.
    pub arch: Option<Vec<u32>>,
    pub overrides: Overrides,
    pub power: Power,
    /// Fixed designs, one per layer: evaluated under intermittent power.
    pub designs: Option<Vec<ExecDesign>>,
}

/// CIFAR-10's reference network on the profile's supply, explored for intermittent power.
impl Default for CaseArgs {
    fn default() -> CaseArgs {
        CaseArgs {
            dataset: Dataset::Cifar,
            arch: None,
            overrides: Overrides::default(),
            power: Power::Int,
            designs: None,
        }
    }
}

impl CaseArgs {
    /// Checks everything a case needs; the error names what is wrong.
    pub fn validate(&self, profile: &Profile) -> Result<Case, String> {
        let dataset = self.dataset;
        let space = dataset.space();
        let arch = self.arch.clone().unwrap_or_else(|| space.example.to_vec());
        let network = space
            .network(&arch)
            .map_err(|e| format!("{dataset} arch {arch:?}: {e}"))?;
        let platform = Platform::new(profile, self.overrides).map_err(|e| e.to_string())?;
        let mode = match &self.designs {
            None => Mode::Explore(self.power),
            Some(_) if self.power == Power::Cont => {
                return Err(
                    "fixed designs are evaluated under intermittent power; drop power \"cont\""
                        .into(),
                )
            }
            Some(ds) if ds.len() != network.layers.len() => {
                let names: Vec<_> = network.layers.iter().map(|l| l.name.as_str()).collect();
                return Err(format!(
                    "expected {} designs, one per layer ({}), got {}",
                    names.len(),
                    names.join(", "),
                    ds.len()
                ));
            }
            Some(ds) => Mode::Fixed(ds.clone()),
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

impl CaseSpec {
    /// Parses the fields the line gives; missing ones come from `defaults`. A line that names a
    /// dataset but no architecture gets that dataset's reference network, not the defaults'.
    pub fn over(&self, defaults: &CaseArgs) -> Result<CaseArgs, String> {
        let dataset = match &self.dataset {
            Some(d) => d.parse()?,
            None => defaults.dataset,
        };
        let arch = match (&self.arch, &self.dataset) {
            (Some(a), _) => Some(a.clone()),
            (None, Some(_)) => None,
            (None, None) => defaults.arch.clone(),
        };
        let d = defaults.overrides;
        let overrides = Overrides {
            capacitance_f: self.cap_f.or(d.capacitance_f),
            margin: self.margin.or(d.margin),
            r_ohm: self.rehm_ohm.or(d.r_ohm),
            vm_bytes: self.vm_bytes.or(d.vm_bytes),
        };
        let power = match self.power.as_deref() {
            None => defaults.power,
            Some("int") => Power::Int,
            Some("cont") => Power::Cont,
            Some(other) => return Err(format!("power '{other}' is not int or cont")),
        };
        let designs = match &self.designs {
            None => defaults.designs.clone(),
            Some(ds) => Some(
                ds.iter()
                    .map(|d| {
                        d.parse::<ExecDesign>()
                            .map_err(|e| format!("design '{d}': {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(CaseArgs {
            dataset,
            arch,
            overrides,
            power,
            designs,
        })
    }

    /// [`CaseSpec::over`] the defaults (CIFAR-10's reference network, the profile's supply,
    /// intermittent power), validated.
    pub fn validate(&self, profile: &Profile) -> Result<Case, String> {
        self.over(&CaseArgs::default())?.validate(profile)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A line's fields win over the typed defaults, field by field; a line naming a dataset
    /// but no architecture gets that dataset's reference network; bad text names the field.
    #[test]
    fn a_line_overrides_the_typed_defaults_field_by_field() {
        let defaults = CaseArgs {
            dataset: Dataset::Har,
            arch: Some(vec![5, 4, 1, 8, 5, 4]),
            overrides: Overrides {
                capacitance_f: Some(0.005),
                r_ohm: Some(41.0),
                ..Overrides::default()
            },
            power: Power::Int,
            designs: None,
        };
        let line: CaseSpec = serde_json::from_str(r#"{"cap_f": 0.001, "power": "cont"}"#).unwrap();
        let c = line.over(&defaults).unwrap();
        assert_eq!((c.dataset, c.power), (Dataset::Har, Power::Cont));
        assert_eq!(c.arch, defaults.arch);
        assert_eq!(c.overrides.capacitance_f, Some(0.001));
        assert_eq!(c.overrides.r_ohm, Some(41.0));
        let line: CaseSpec = serde_json::from_str(r#"{"dataset": "kws"}"#).unwrap();
        let c = line.over(&defaults).unwrap();
        assert_eq!((c.dataset, c.arch.clone()), (Dataset::Kws, None));
        let case = c.validate(&Profile::reference()).unwrap();
        assert_eq!(case.arch, Dataset::Kws.space().example);
        let line: CaseSpec = serde_json::from_str(r#"{"power": "dc"}"#).unwrap();
        assert_eq!(
            line.over(&defaults).unwrap_err(),
            "power 'dc' is not int or cont"
        );
        // Fixed designs from the defaults and a line's continuous power cannot go together.
        let fixed = CaseArgs {
            designs: Some(vec![]),
            ..defaults
        };
        let line: CaseSpec = serde_json::from_str(r#"{"power": "cont"}"#).unwrap();
        let e = line
            .over(&fixed)
            .unwrap()
            .validate(&Profile::reference())
            .unwrap_err();
        assert!(e.contains("intermittent power"), "{e}");
    }
}
