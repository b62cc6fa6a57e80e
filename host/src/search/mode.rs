//! How a search prices a candidate before training it: the model-build check, then the explorer
//! under the mode's power model (`--mode inas`: intermittent, energy budget enforced;
//! `--mode hwnas`: the continuous-power baseline with S = 1, re-evaluated under intermittent
//! power for reports), then the latency requirement.

use std::fmt;
use std::str::FromStr;

use inas_common::ExecDesign;
use serde::{Deserialize, Serialize};

use super::reward::Outcome;
use super::strategy::Candidate;
use crate::explore::{
    evaluate_fixed_network, explore_network, FixedResult, Infeasible, NetworkResult,
};
use crate::model::{ModelError, Platform, Power};
use crate::network::{Network, NetworkError, SearchSpace};
use crate::profile::Memory;

/// The search's view of the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// iNAS: the intermittent-aware explorer in the loop; designs must fit one power cycle's
    /// energy (C1) and latency includes reboots, preservation and recharge.
    Inas,
    /// HW-NAS: continuous power, S = 1, VM (C0) only. Its designs can be unsafe under
    /// intermittent power; [`Designed::intermittent`] says so.
    Hwnas,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Inas, Mode::Hwnas];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Inas => "inas",
            Mode::Hwnas => "hwnas",
        }
    }

    /// The power model the explorer uses during the search.
    pub fn power(self) -> Power {
        match self {
            Mode::Inas => Power::Int,
            Mode::Hwnas => Power::Cont,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "inas" | "int" | "intermittent" => Ok(Mode::Inas),
            "hwnas" | "hw-nas" | "cont" | "continuous" => Ok(Mode::Hwnas),
            _ => Err(format!("unknown mode '{s}' (expected inas or hwnas)")),
        }
    }
}

/// A candidate whose every layer has an execution design.
#[derive(Clone, Debug, PartialEq)]
pub struct Designed {
    /// The explorer's result under the mode's power model.
    pub result: NetworkResult,
    /// The modelled end-to-end latency the requirement is checked against: intermittent for
    /// iNAS, continuous for HW-NAS.
    pub latency_s: f64,
    /// HW-NAS only: its designs run under intermittent power (the "HW-NAS@INT" evaluation).
    pub intermittent: Option<FixedResult>,
}

impl Designed {
    /// The chosen design of every layer.
    pub fn designs(&self) -> Vec<ExecDesign> {
        self.result.layers.iter().map(|l| l.design.exec()).collect()
    }
}

/// What pricing a candidate found.
#[derive(Clone, Debug, PartialEq)]
pub enum DesignOutcome {
    /// The model-build check failed (kernel larger than its input, NVM overflow).
    Unbuildable(NetworkError),
    /// Some layer has no execution design under the mode's power model.
    NoDesign(Infeasible),
    Designed(Box<Designed>),
}

/// Whether a priced candidate is worth training.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gate {
    /// Not trained: this is its outcome.
    Skip(Outcome),
    /// Feasible within the requirement: train it, then report
    /// [`Outcome::Trained`] with this latency.
    Train { latency_s: f64 },
}

impl DesignOutcome {
    /// The reference's order of checks: build, designs, then `L > Lreq` (equal passes).
    pub fn gate(&self, l_req_s: f64) -> Gate {
        match self {
            DesignOutcome::Unbuildable(_) => Gate::Skip(Outcome::Unbuildable),
            DesignOutcome::NoDesign(_) => Gate::Skip(Outcome::NoDesign),
            DesignOutcome::Designed(d) if d.latency_s > l_req_s => Gate::Skip(Outcome::TooSlow {
                latency_s: d.latency_s,
            }),
            DesignOutcome::Designed(d) => Gate::Train {
                latency_s: d.latency_s,
            },
        }
    }

    /// The modelled latency, when every layer has a design.
    pub fn latency_s(&self) -> Option<f64> {
        match self {
            DesignOutcome::Designed(d) => Some(d.latency_s),
            _ => None,
        }
    }
}

/// The model-build check (cost-model.md §14.1): geometry, then feature maps and weights in the NVM.
pub fn build(
    space: &SearchSpace,
    memory: &Memory,
    actions: &[u32],
) -> Result<Network, NetworkError> {
    let net = space.network(actions)?;
    space.nvm_check(&net, memory.nvm_bytes, memory.element_bytes)?;
    Ok(net)
}

/// Explores a built network under the mode's power model. Errors only when the model itself
/// is inconsistent ([`ModelError`]); an infeasible network is an outcome.
pub fn evaluate_design(
    mode: Mode,
    platform: &Platform,
    network: &Network,
) -> Result<DesignOutcome, ModelError> {
    let result = explore_network(platform, network, mode.power())?;
    if let Some(why) = result.infeasible {
        return Ok(DesignOutcome::NoDesign(why));
    }
    let latency_s = result
        .latency_s
        .expect("a network result without an infeasible layer has a latency");
    let intermittent = match mode {
        Mode::Inas => None,
        Mode::Hwnas => {
            let designs: Vec<ExecDesign> = result.layers.iter().map(|l| l.design.exec()).collect();
            Some(evaluate_fixed_network(platform, network, &designs)?)
        }
    };
    Ok(DesignOutcome::Designed(Box::new(Designed {
        result,
        latency_s,
        intermittent,
    })))
}

/// [`build`] then [`evaluate_design`]: everything the loop does before deciding to train.
pub fn evaluate_candidate(
    mode: Mode,
    platform: &Platform,
    space: &SearchSpace,
    memory: &Memory,
    candidate: &Candidate,
) -> Result<DesignOutcome, ModelError> {
    match build(space, memory, &candidate.actions) {
        Ok(net) => evaluate_design(mode, platform, &net),
        Err(e) => Ok(DesignOutcome::Unbuildable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Overrides;
    use crate::network::{CIFAR, HAR};
    use crate::profile::Profile;

    fn platform(o: Overrides) -> Platform {
        Platform::new(&Profile::reference(), o).unwrap()
    }

    fn cand(a: &[u32]) -> Candidate {
        Candidate {
            actions: a.to_vec(),
        }
    }

    #[test]
    fn modes_use_their_power_model() {
        let p = platform(Overrides {
            capacitance_f: Some(0.005),
            r_ohm: Some(41.0),
            ..Default::default()
        });
        let mem = Profile::reference().memory;
        let net = HAR.network(HAR.example).unwrap();
        let int = explore_network(&p, &net, Power::Int).unwrap();
        let cont = explore_network(&p, &net, Power::Cont).unwrap();
        let DesignOutcome::Designed(i) =
            evaluate_candidate(Mode::Inas, &p, &HAR, &mem, &cand(HAR.example)).unwrap()
        else {
            panic!("HAR example is feasible")
        };
        assert_eq!(Some(i.latency_s), int.latency_s);
        assert_eq!(i.intermittent, None);
        let DesignOutcome::Designed(h) =
            evaluate_candidate(Mode::Hwnas, &p, &HAR, &mem, &cand(HAR.example)).unwrap()
        else {
            panic!("HAR example is feasible")
        };
        assert_eq!(Some(h.latency_s), cont.latency_s);
        assert!(h.designs().iter().all(|d| d.batch == 1));
        let fixed = evaluate_fixed_network(&p, &net, &h.designs()).unwrap();
        assert_eq!(h.intermittent.as_ref(), Some(&fixed));
        // Intermittent execution costs more than continuous power.
        assert!(i.latency_s > h.latency_s);
    }

    #[test]
    fn a_tiny_capacitor_separates_the_modes() {
        // 20 µF: far below the reference's 1 mF. HW-NAS still finds designs (no energy budget)
        // but they brown out; iNAS refuses the network for the energy budget.
        let p = platform(Overrides {
            capacitance_f: Some(0.00002),
            r_ohm: Some(62.0),
            ..Default::default()
        });
        let mem = Profile::reference().memory;
        let c = cand(CIFAR.example);
        let DesignOutcome::NoDesign(why) =
            evaluate_candidate(Mode::Inas, &p, &CIFAR, &mem, &c).unwrap()
        else {
            panic!("expected no intermittent design")
        };
        assert!(matches!(why, Infeasible::Energy { .. }), "{why}");
        let DesignOutcome::Designed(h) =
            evaluate_candidate(Mode::Hwnas, &p, &CIFAR, &mem, &c).unwrap()
        else {
            panic!("expected continuous designs")
        };
        let at_int = h.intermittent.unwrap();
        assert!(at_int.unsafe_layer.is_some() && at_int.latency_s.is_none());
    }

    #[test]
    fn build_failures_and_gates() {
        let p = platform(Overrides::default());
        let mut mem = Profile::reference().memory;
        let big = cand(&[7, 8, 7, 8, 7, 8, 7, 8, 9, 8]);
        let o = evaluate_candidate(Mode::Inas, &p, &CIFAR, &mem, &big).unwrap();
        assert!(matches!(
            o,
            DesignOutcome::Unbuildable(NetworkError::KernelTooLarge { .. })
        ));
        assert_eq!(o.gate(1e9), Gate::Skip(Outcome::Unbuildable));
        mem.nvm_bytes = 1000;
        let o = evaluate_candidate(Mode::Hwnas, &p, &CIFAR, &mem, &cand(CIFAR.example)).unwrap();
        assert!(matches!(
            o,
            DesignOutcome::Unbuildable(NetworkError::Nvm { .. })
        ));
        // A VM too small for any tile: no design in either mode.
        let small = platform(Overrides {
            vm_bytes: Some(8),
            ..Default::default()
        });
        let mem = Profile::reference().memory;
        for mode in Mode::ALL {
            let o = evaluate_candidate(mode, &small, &HAR, &mem, &cand(HAR.example)).unwrap();
            assert!(
                matches!(o, DesignOutcome::NoDesign(Infeasible::Memory { .. })),
                "{mode}"
            );
            assert_eq!(o.gate(1e9), Gate::Skip(Outcome::NoDesign));
        }
        let o = evaluate_candidate(Mode::Hwnas, &p, &HAR, &mem, &cand(HAR.example)).unwrap();
        let l = o.latency_s().unwrap();
        assert_eq!(o.gate(l), Gate::Train { latency_s: l });
        assert_eq!(
            o.gate(l * 0.999),
            Gate::Skip(Outcome::TooSlow { latency_s: l })
        );
    }

    #[test]
    fn mode_names_parse() {
        for m in Mode::ALL {
            assert_eq!(m.name().parse::<Mode>(), Ok(m));
        }
        assert!("battery".parse::<Mode>().is_err());
    }
}
