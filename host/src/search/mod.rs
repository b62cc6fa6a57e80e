//! Architecture search strategies and what they are scored on.
//!
//! [`strategy`] holds the [`Strategy`] trait (propose a [`Candidate`], observe its [`Outcome`])
//! and the decision space; [`reinforce`] the iNAS controller, [`random`] and [`evolution`] the
//! baselines; [`reward`] the paper's reward; [`mode`] how a candidate is priced before training
//! (`--mode inas` or `hwnas`). The search loop drives them:
//!
//! ```text
//! let cand = strategy.propose()?;
//! let outcome = match evaluate_candidate(mode, &platform, space, &memory, &cand)?.gate(l_req) {
//!     Gate::Skip(outcome) => outcome,
//!     Gate::Train { latency_s } => Outcome::Trained { latency_s, accuracy: train(&cand)? },
//! };
//! let score = strategy.observe(&cand, &outcome)?;   // journal (cand, outcome)
//! ```
//!
//! Resumption is by replay: rebuild the strategy from the same [`Settings`] and call
//! [`Strategy::replay`] on the journal's (candidate, outcome) pairs. The controller's arithmetic
//! is f32 libtorch on the CPU; a replay on another CPU or libtorch build could round
//! differently, which `replay` reports as [`StrategyError::Diverged`] rather than resuming
//! from a different state.

pub mod evolution;
pub mod executor;
pub mod mode;
pub mod random;
pub mod reinforce;
pub mod reward;
pub mod run;
pub mod strategy;
pub mod trial;

use serde::{Deserialize, Serialize};

pub use evolution::{Evolution, EvolutionConfig};
pub use mode::{build, evaluate_candidate, evaluate_design, DesignOutcome, Designed, Gate, Mode};
pub use random::RandomSearch;
pub use reinforce::{Reinforce, ReinforceConfig};
pub use reward::{Outcome, Reward, RewardError, RewardParams};
pub use strategy::{Candidate, Decisions, Score, Strategy, StrategyError, StrategyKind};

/// Everything that determines a strategy's proposals, apart from the outcomes it observes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub kind: StrategyKind,
    pub seed: u64,
    pub reward: RewardParams,
    /// The latency requirement Lreq, in seconds.
    pub latency_req_s: f64,
    pub reinforce: ReinforceConfig,
    pub evolution: EvolutionConfig,
}

impl Settings {
    /// The paper's settings for a strategy, seed and requirement.
    pub fn paper(kind: StrategyKind, seed: u64, latency_req_s: f64) -> Settings {
        Settings {
            kind,
            seed,
            reward: RewardParams::PAPER,
            latency_req_s,
            reinforce: ReinforceConfig::PAPER,
            evolution: EvolutionConfig::default(),
        }
    }

    /// A fresh strategy over `decisions`.
    pub fn build(&self, decisions: Decisions) -> Result<Box<dyn Strategy>, StrategyError> {
        let reward = Reward::new(self.reward, self.latency_req_s)?;
        Ok(match self.kind {
            StrategyKind::Reinforce => Box::new(Reinforce::new(
                decisions,
                self.reinforce,
                reward,
                self.seed,
            )?),
            StrategyKind::Random => Box::new(RandomSearch::new(decisions, reward, self.seed)),
            StrategyKind::Evolution => Box::new(Evolution::new(
                decisions,
                self.evolution,
                reward,
                self.seed,
            )?),
        })
    }
}
