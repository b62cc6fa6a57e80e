//! The iNAS reward (cost-model.md §14.2): penalties for children that cannot be
//! built, have no execution design or miss the latency requirement, and for trained children
//! accuracy against a moving average plus a latency term.
//!
//! Every constant of the reward lives in [`RewardParams::PAPER`].

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The reward's constants. [`RewardParams::PAPER`] holds the reference's values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RewardParams {
    /// Reward of a child that cannot be built or has no execution design (−0.1).
    pub failure: f64,
    /// Final clip: rewards lie in [−clip, clip] (0.1).
    pub clip: f64,
    /// The latency term is `(L / Lreq) / perf_divisor` (10), so it lies in (0, 0.1].
    pub perf_divisor: f64,
    /// Smoothing of the moving accuracy (β = 0.8).
    pub beta: f64,
    /// Factor on the moving accuracy when the controller proposes the previous architecture
    /// again (1.2).
    pub repeat_boost: f64,
    /// The reference's optional intermediate clip to ±0.05 before the moving-average update;
    /// disabled in every evaluation configuration (`CLIP_REWARDS` 0.0).
    pub pre_clip: Option<f64>,
}

impl RewardParams {
    pub const PAPER: RewardParams = RewardParams {
        failure: -0.1,
        clip: 0.1,
        perf_divisor: 10.0,
        beta: 0.8,
        repeat_boost: 1.2,
        pre_clip: None,
    };

    fn validate(&self) -> Result<(), RewardError> {
        let finite = [
            self.failure,
            self.clip,
            self.perf_divisor,
            self.beta,
            self.repeat_boost,
        ]
        .iter()
        .chain(self.pre_clip.iter())
        .all(|v| v.is_finite());
        if !finite {
            return Err(RewardError::Param("every reward constant must be finite"));
        }
        if self.clip <= 0.0 || self.pre_clip.is_some_and(|c| c <= 0.0) {
            return Err(RewardError::Param("clip bounds must be positive"));
        }
        if self.perf_divisor <= 0.0 {
            return Err(RewardError::Param("perf_divisor must be positive"));
        }
        // The reference updates (and clips) only for 0 < β < 1; other values disable the reward's
        // baseline entirely, which no configuration uses.
        if !(self.beta > 0.0 && self.beta < 1.0) {
            return Err(RewardError::Param("beta must lie strictly between 0 and 1"));
        }
        if self.repeat_boost <= 0.0 {
            return Err(RewardError::Param("repeat_boost must be positive"));
        }
        Ok(())
    }
}

impl Default for RewardParams {
    fn default() -> Self {
        RewardParams::PAPER
    }
}

/// What the search loop learnt about one candidate: all a strategy needs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The model-build check failed: a kernel larger than its input, or feature maps and
    /// weights that overflow the NVM. Not trained.
    Unbuildable,
    /// The explorer found no execution design for some layer (VM overflow, or under
    /// intermittent power the energy budget). Not trained.
    NoDesign,
    /// Designs exist but the modelled latency exceeds the requirement. Not trained.
    TooSlow { latency_s: f64 },
    /// Trained: best validation accuracy as a fraction in [0, 1].
    Trained { latency_s: f64, accuracy: f64 },
}

/// Why a reward cannot be computed.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum RewardError {
    #[error("reward parameters: {0}")]
    Param(&'static str),
    #[error("latency requirement must be positive and finite, got {0} s")]
    Requirement(f64),
    #[error("outcome latency must be finite and non-negative, got {0} s")]
    Latency(f64),
    #[error("outcome accuracy must be a fraction in [0, 1], got {0}")]
    Accuracy(f64),
    #[error("a trained child's latency {latency_s} s exceeds the requirement {l_req_s} s: it should not have been trained")]
    TrainedTooSlow { latency_s: f64, l_req_s: f64 },
    #[error(
        "a child reported too slow has latency {latency_s} s within the requirement {l_req_s} s"
    )]
    NotTooSlow { latency_s: f64, l_req_s: f64 },
}

/// The reward with its running state: the moving accuracy A and its first-step bias term.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reward {
    params: RewardParams,
    l_req_s: f64,
    moving_acc: f64,
    /// β until the first trained child, then 0: makes A equal the first accuracy.
    bias: f64,
}

impl Reward {
    /// A fresh reward (A = 0) for a latency requirement `l_req_s` in seconds.
    pub fn new(params: RewardParams, l_req_s: f64) -> Result<Reward, RewardError> {
        params.validate()?;
        if !(l_req_s.is_finite() && l_req_s > 0.0) {
            return Err(RewardError::Requirement(l_req_s));
        }
        Ok(Reward {
            params,
            l_req_s,
            moving_acc: 0.0,
            bias: params.beta,
        })
    }

    pub fn params(&self) -> &RewardParams {
        &self.params
    }

    pub fn latency_req_s(&self) -> f64 {
        self.l_req_s
    }

    /// The moving accuracy A, the baseline of trained children's rewards.
    pub fn moving_accuracy(&self) -> f64 {
        self.moving_acc
    }

    /// Checks that an outcome is possible under this requirement.
    pub fn check(&self, outcome: &Outcome) -> Result<(), RewardError> {
        let latency = |l: f64| {
            if l.is_finite() && l >= 0.0 {
                Ok(())
            } else {
                Err(RewardError::Latency(l))
            }
        };
        match *outcome {
            Outcome::Unbuildable | Outcome::NoDesign => Ok(()),
            Outcome::TooSlow { latency_s } => {
                latency(latency_s)?;
                if latency_s <= self.l_req_s {
                    return Err(RewardError::NotTooSlow {
                        latency_s,
                        l_req_s: self.l_req_s,
                    });
                }
                Ok(())
            }
            Outcome::Trained {
                latency_s,
                accuracy,
            } => {
                latency(latency_s)?;
                if !(0.0..=1.0).contains(&accuracy) {
                    return Err(RewardError::Accuracy(accuracy));
                }
                if latency_s > self.l_req_s {
                    return Err(RewardError::TrainedTooSlow {
                        latency_s,
                        l_req_s: self.l_req_s,
                    });
                }
                Ok(())
            }
        }
    }

    /// The reward of one outcome; a trained child also updates the moving accuracy.
    /// Formulas keep the reference's grouping (`manager.py`).
    pub fn score(&mut self, outcome: &Outcome) -> Result<f64, RewardError> {
        self.check(outcome)?;
        let p = self.params;
        let clip = |r: f64| r.clamp(-p.clip, p.clip);
        Ok(match *outcome {
            Outcome::Unbuildable | Outcome::NoDesign => p.failure,
            // ((Lreq − L) / 10 / Lreq) − 1 < −1 for any L > Lreq: always the lower clip.
            Outcome::TooSlow { latency_s } => {
                clip((self.l_req_s - latency_s) / p.perf_divisor / self.l_req_s - 1.0)
            }
            Outcome::Trained {
                latency_s,
                accuracy,
            } => {
                // Using more of the latency budget raises the reward (as in the reference).
                let perf = latency_s / self.l_req_s / p.perf_divisor;
                let mut reward = accuracy - self.moving_acc + perf;
                if let Some(c) = p.pre_clip {
                    reward = reward.clamp(-c, c);
                }
                self.moving_acc = p.beta * self.moving_acc + (1.0 - p.beta) * accuracy;
                self.moving_acc /= 1.0 - self.bias;
                self.bias = 0.0;
                clip(reward)
            }
        })
    }

    /// The controller proposed the previous architecture again: A ← 1.2·A.
    pub fn on_repeat(&mut self) {
        self.moving_acc *= self.params.repeat_boost;
    }

    /// A stationary score of an outcome, for strategies that rank candidates (evolution) and for
    /// comparing strategies: the reward without its moving baseline and without the clip,
    /// `acc + (L / Lreq) / 10` for trained children and the failure penalty otherwise. Any
    /// trained child outranks any failed one.
    pub fn fitness(&self, outcome: &Outcome) -> Result<f64, RewardError> {
        self.check(outcome)?;
        let p = self.params;
        Ok(match *outcome {
            Outcome::Unbuildable | Outcome::NoDesign | Outcome::TooSlow { .. } => p.failure,
            Outcome::Trained {
                latency_s,
                accuracy,
            } => accuracy + latency_s / self.l_req_s / p.perf_divisor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reward() -> Reward {
        Reward::new(RewardParams::PAPER, 10.0).unwrap()
    }

    #[test]
    fn failures_get_the_penalty_and_leave_the_baseline_alone() {
        let mut r = reward();
        assert_eq!(r.score(&Outcome::Unbuildable), Ok(-0.1));
        assert_eq!(r.score(&Outcome::NoDesign), Ok(-0.1));
        // Barely over, and far over: ((10 − L)/10/10) − 1 is below −1 either way.
        assert_eq!(r.score(&Outcome::TooSlow { latency_s: 10.001 }), Ok(-0.1));
        assert_eq!(r.score(&Outcome::TooSlow { latency_s: 1e6 }), Ok(-0.1));
        assert_eq!(r.moving_accuracy(), 0.0);
    }

    #[test]
    fn trained_children_follow_the_reference_formula() {
        let mut r = reward();
        // First child: A = 0, so 0.6 + 0.05 clips to 0.1; bias correction makes A = 0.6.
        let first = Outcome::Trained {
            latency_s: 5.0,
            accuracy: 0.6,
        };
        assert_eq!(r.score(&first), Ok(0.1));
        assert!((r.moving_accuracy() - 0.6).abs() < 1e-15);
        // Second: (0.62 − 0.6) + (2/10)/10 = 0.04; A = 0.8·0.6 + 0.2·0.62 = 0.604.
        let second = Outcome::Trained {
            latency_s: 2.0,
            accuracy: 0.62,
        };
        let got = r.score(&second).unwrap();
        assert!((got - 0.04).abs() < 1e-12, "{got}");
        assert!((r.moving_accuracy() - 0.604).abs() < 1e-12);
        // A much worse child clips at −0.1 but still moves A: 0.8·0.604 + 0.2·0.1.
        let bad = Outcome::Trained {
            latency_s: 0.0,
            accuracy: 0.1,
        };
        assert_eq!(r.score(&bad), Ok(-0.1));
        assert!((r.moving_accuracy() - 0.5032).abs() < 1e-12);
        // The latency term rewards using the budget: L = Lreq adds exactly 0.1.
        let mut a = reward();
        let mut b = reward();
        a.score(&first).unwrap();
        b.score(&first).unwrap();
        let slow = a
            .score(&Outcome::Trained {
                latency_s: 10.0,
                accuracy: 0.55,
            })
            .unwrap();
        let fast = b
            .score(&Outcome::Trained {
                latency_s: 0.0,
                accuracy: 0.55,
            })
            .unwrap();
        assert!((slow - 0.05).abs() < 1e-12 && (fast + 0.05).abs() < 1e-12);
    }

    #[test]
    fn repeats_raise_the_baseline() {
        let mut r = reward();
        r.score(&Outcome::Trained {
            latency_s: 1.0,
            accuracy: 0.5,
        })
        .unwrap();
        r.on_repeat();
        r.on_repeat();
        assert!((r.moving_accuracy() - 0.72).abs() < 1e-12);
        // Now the same child scores (0.5 − 0.72) + 0.01 → clipped to −0.1.
        let got = r
            .score(&Outcome::Trained {
                latency_s: 1.0,
                accuracy: 0.5,
            })
            .unwrap();
        assert_eq!(got, -0.1);
    }

    #[test]
    fn optional_pre_clip_applies_before_the_final_clip() {
        let params = RewardParams {
            pre_clip: Some(0.05),
            ..RewardParams::PAPER
        };
        let mut r = Reward::new(params, 10.0).unwrap();
        let got = r.score(&Outcome::Trained {
            latency_s: 5.0,
            accuracy: 0.6,
        });
        assert_eq!(got, Ok(0.05));
    }

    #[test]
    fn fitness_is_stationary_and_ranks_failures_last() {
        let mut r = reward();
        let t = Outcome::Trained {
            latency_s: 5.0,
            accuracy: 0.3,
        };
        let f = r.fitness(&t).unwrap();
        assert!((f - 0.35).abs() < 1e-12);
        r.score(&t).unwrap();
        assert_eq!(r.fitness(&t).unwrap(), f);
        assert_eq!(r.fitness(&Outcome::NoDesign), Ok(-0.1));
        assert_eq!(r.fitness(&Outcome::TooSlow { latency_s: 11.0 }), Ok(-0.1));
        let zero = Outcome::Trained {
            latency_s: 0.0,
            accuracy: 0.0,
        };
        assert!(r.fitness(&zero).unwrap() > -0.1);
    }

    #[test]
    fn impossible_outcomes_and_settings_are_refused() {
        let mut r = reward();
        let e = r
            .score(&Outcome::Trained {
                latency_s: 11.0,
                accuracy: 0.5,
            })
            .unwrap_err();
        assert!(matches!(e, RewardError::TrainedTooSlow { .. }), "{e}");
        let e = r.score(&Outcome::TooSlow { latency_s: 10.0 }).unwrap_err();
        assert!(matches!(e, RewardError::NotTooSlow { .. }), "{e}");
        for acc in [-0.01, 1.01, f64::NAN] {
            let o = Outcome::Trained {
                latency_s: 1.0,
                accuracy: acc,
            };
            assert!(matches!(r.score(&o), Err(RewardError::Accuracy(_))));
        }
        let o = Outcome::Trained {
            latency_s: f64::INFINITY,
            accuracy: 0.5,
        };
        assert!(matches!(r.score(&o), Err(RewardError::Latency(_))));
        assert_eq!(
            r.moving_accuracy(),
            0.0,
            "a refused outcome changes nothing"
        );
        assert!(Reward::new(RewardParams::PAPER, 0.0).is_err());
        assert!(Reward::new(RewardParams::PAPER, f64::NAN).is_err());
        let bad = RewardParams {
            beta: 1.0,
            ..RewardParams::PAPER
        };
        assert!(Reward::new(bad, 1.0).is_err());
    }
}
