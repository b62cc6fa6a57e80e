//! What every search strategy shares: the decision space, candidates, the [`Strategy`] trait and
//! its propose/observe protocol, and resumption by replaying a journal.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::reward::{Outcome, RewardError};
use crate::network::{ModelType, SearchSpace};

/// One architecture, in the action encoding of [`SearchSpace::network`]: choice *values*
/// (kernel, filters per layer; units per layer for FC), not indices.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Candidate {
    pub actions: Vec<u32>,
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

/// One kind of decision (kernel size, filter count) and its choices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionKind {
    pub name: String,
    pub values: Vec<u32>,
}

/// The ordered decisions of an architecture: the kinds, repeated per layer
/// (`[k1, f1, k2, f2, …]`), as the reference's controller emits them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decisions {
    kinds: Vec<DecisionKind>,
    layers: usize,
}

impl Decisions {
    /// Kinds repeated `layers` times. Every kind needs at least one choice, all distinct and
    /// non-zero.
    pub fn new(kinds: Vec<DecisionKind>, layers: usize) -> Result<Decisions, StrategyError> {
        if kinds.is_empty() || layers == 0 {
            return Err(StrategyError::Space(
                "a search space needs at least one decision kind and one layer".into(),
            ));
        }
        for k in &kinds {
            if k.values.is_empty() {
                return Err(StrategyError::Space(format!("'{}' has no choices", k.name)));
            }
            if k.values.contains(&0) {
                return Err(StrategyError::Space(format!("'{}' offers 0", k.name)));
            }
            let mut sorted = k.values.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != k.values.len() {
                return Err(StrategyError::Space(format!(
                    "'{}' lists a choice twice",
                    k.name
                )));
            }
        }
        Ok(Decisions { kinds, layers })
    }

    /// The decisions of a dataset's search space.
    pub fn of(space: &SearchSpace) -> Result<Decisions, StrategyError> {
        let kind = |name: &str, values: &[u32]| DecisionKind {
            name: name.into(),
            values: values.to_vec(),
        };
        let kinds = match space.model {
            ModelType::Fc => vec![kind("units", space.filters)],
            ModelType::Conv2d | ModelType::Conv1d => {
                vec![
                    kind("kernel", space.kernels),
                    kind("filters", space.filters),
                ]
            }
        };
        Decisions::new(kinds, space.layers)
    }

    pub fn kinds(&self) -> &[DecisionKind] {
        &self.kinds
    }

    pub fn layers(&self) -> usize {
        self.layers
    }

    /// Number of decisions per architecture.
    pub fn len(&self) -> usize {
        self.kinds.len() * self.layers
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Which kind decision `i` is.
    pub fn kind_of(&self, i: usize) -> usize {
        i % self.kinds.len()
    }

    /// The choices of decision `i`.
    pub fn choices(&self, i: usize) -> &[u32] {
        &self.kinds[self.kind_of(i)].values
    }

    /// Number of architectures in the space (saturating).
    pub fn size(&self) -> u128 {
        (0..self.len()).fold(1u128, |n, i| {
            n.saturating_mul(self.choices(i).len() as u128)
        })
    }

    /// Choice indices → candidate. Panics on an index out of range (internal use only).
    pub(crate) fn encode(&self, indices: &[usize]) -> Candidate {
        Candidate {
            actions: indices
                .iter()
                .enumerate()
                .map(|(i, &x)| self.choices(i)[x])
                .collect(),
        }
    }

    /// Candidate → choice indices, refusing values outside the space.
    pub fn decode(&self, c: &Candidate) -> Result<Vec<usize>, StrategyError> {
        if c.actions.len() != self.len() {
            return Err(StrategyError::Length {
                expected: self.len(),
                got: c.actions.len(),
            });
        }
        c.actions
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                self.choices(i).iter().position(|&x| x == v).ok_or_else(|| {
                    StrategyError::NotInSpace {
                        position: i,
                        kind: self.kinds[self.kind_of(i)].name.clone(),
                        value: v,
                    }
                })
            })
            .collect()
    }

    /// A uniformly random architecture (independent uniform choice per decision).
    pub(crate) fn random(&self, rng: &mut impl Rng) -> Vec<usize> {
        (0..self.len())
            .map(|i| rng.random_range(0..self.choices(i).len()))
            .collect()
    }
}

/// The strategies `--strategy` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyKind {
    /// The iNAS controller: an LSTM policy trained with REINFORCE.
    Reinforce,
    /// Uniform random sampling.
    Random,
    /// Aging evolution (regularized evolution), as μNAS.
    Evolution,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 3] = [
        StrategyKind::Reinforce,
        StrategyKind::Random,
        StrategyKind::Evolution,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Reinforce => "reinforce",
            StrategyKind::Random => "random",
            StrategyKind::Evolution => "evolution",
        }
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StrategyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "reinforce" | "inas" | "rl" => Ok(StrategyKind::Reinforce),
            "random" => Ok(StrategyKind::Random),
            "evolution" | "aging-evolution" | "evo" => Ok(StrategyKind::Evolution),
            _ => Err(format!(
                "unknown strategy '{s}' (expected reinforce, random or evolution)"
            )),
        }
    }
}

/// What a strategy made of an outcome.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// The paper's reward under this strategy's moving accuracy (the controller's training
    /// signal).
    pub reward: f64,
    /// The stationary score ([`Reward::fitness`](super::reward::Reward::fitness)): comparable
    /// across trials and strategies; evolution ranks by it.
    pub fitness: f64,
}

#[derive(Debug, Error)]
pub enum StrategyError {
    #[error("search space: {0}")]
    Space(String),
    #[error("expected {expected} architecture choices, got {got}")]
    Length { expected: usize, got: usize },
    #[error("choice {position} ({kind}) = {value} is not in the search space")]
    NotInSpace {
        position: usize,
        kind: String,
        value: u32,
    },
    #[error("propose called while candidate {0} awaits its outcome")]
    Pending(Candidate),
    #[error("observe called for {got}, but the pending candidate is {}", .expected.as_ref().map_or("none".to_string(), |c| c.to_string()))]
    NotPending {
        expected: Option<Candidate>,
        got: Candidate,
    },
    #[error("outcome: {0}")]
    Outcome(RewardError),
    #[error("strategy settings: {0}")]
    Config(String),
    #[error("journal entry {trial}: the strategy proposes {proposed}, the journal says {journal} (different seed, settings or version?)")]
    Diverged {
        trial: usize,
        proposed: Candidate,
        journal: Candidate,
    },
    #[error("controller: {0}")]
    Torch(tch::TchError),
}

// By hand rather than `#[from]`, which would also make the inner error the source: the message
// already holds it, and a report of the chain would print it twice.
impl From<RewardError> for StrategyError {
    fn from(e: RewardError) -> Self {
        StrategyError::Outcome(e)
    }
}

impl From<tch::TchError> for StrategyError {
    fn from(e: tch::TchError) -> Self {
        StrategyError::Torch(e)
    }
}

/// A search strategy. With batches of one (the default) the loop alternates strictly:
///
/// ```text
/// let cand = strategy.propose()?;      // evaluate: build check, explorer, maybe train
/// let score = strategy.observe(&cand, &outcome)?;
/// ```
///
/// With [`Strategy::set_batch`]`(k)` it proposes up to k candidates, then observes their
/// outcomes in the order proposed (trials running in parallel).
///
/// A strategy owns all its randomness (seeded at construction), so its proposals are a pure
/// function of its settings, its seed and the outcomes it has observed. That makes resumption
/// exact by replay: a fresh strategy built with the same settings and seed, fed the journal of
/// (candidate, outcome) pairs through [`Strategy::replay`], is in the same state as the one that
/// wrote the journal, down to the controller's weights and optimizer slots.
pub trait Strategy {
    fn kind(&self) -> StrategyKind;

    /// The next candidate. Errors if the previous one has not been observed.
    fn propose(&mut self) -> Result<Candidate, StrategyError>;

    /// The outcome of the pending candidate.
    fn observe(&mut self, candidate: &Candidate, outcome: &Outcome)
        -> Result<Score, StrategyError>;

    /// Number of observed trials.
    fn trials(&self) -> usize;

    /// Lets up to `batch` proposals await their outcomes (default 1): the search proposes a
    /// batch, then observes its outcomes in the order proposed. Only between batches.
    fn set_batch(&mut self, batch: usize) -> Result<(), StrategyError>;

    /// Restores the state after `journal` by re-running it: each proposal must equal the
    /// journal's candidate (else [`StrategyError::Diverged`]), then its outcome is observed.
    fn replay(&mut self, journal: &[(Candidate, Outcome)]) -> Result<(), StrategyError> {
        for (trial, (cand, outcome)) in journal.iter().enumerate() {
            let proposed = self.propose()?;
            if &proposed != cand {
                return Err(StrategyError::Diverged {
                    trial,
                    proposed,
                    journal: cand.clone(),
                });
            }
            self.observe(cand, outcome)?;
        }
        Ok(())
    }
}

/// The propose/observe protocol, shared by the strategies: up to `batch` proposals, then
/// their outcomes in the order proposed, then the next batch. With a batch of 1 (the default)
/// it is the strict alternation of the paper's search.
#[derive(Clone, Debug)]
pub(crate) struct Turn {
    batch: usize,
    pending: std::collections::VecDeque<Candidate>,
    /// An outcome of the current batch has been observed: no proposal until all are.
    observing: bool,
}

impl Default for Turn {
    fn default() -> Self {
        Turn {
            batch: 1,
            pending: std::collections::VecDeque::new(),
            observing: false,
        }
    }
}

impl Turn {
    /// Sets how many proposals may await their outcomes (at least 1). Only between batches.
    pub(crate) fn set_batch(&mut self, batch: usize) -> Result<(), StrategyError> {
        if batch == 0 {
            return Err(StrategyError::Config(
                "a batch needs at least 1 trial".into(),
            ));
        }
        if let Some(c) = self.pending.front() {
            return Err(StrategyError::Pending(c.clone()));
        }
        self.batch = batch;
        Ok(())
    }

    pub(crate) fn begin(&self) -> Result<(), StrategyError> {
        match self.pending.front() {
            Some(c) if self.observing || self.pending.len() >= self.batch => {
                Err(StrategyError::Pending(c.clone()))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn issue(&mut self, c: &Candidate) {
        self.pending.push_back(c.clone());
    }

    pub(crate) fn check(&self, c: &Candidate) -> Result<(), StrategyError> {
        match self.pending.front() {
            Some(p) if p == c => Ok(()),
            other => Err(StrategyError::NotPending {
                expected: other.cloned(),
                got: c.clone(),
            }),
        }
    }

    /// The oldest proposal is observed. True when that ends the batch.
    pub(crate) fn end(&mut self) -> bool {
        self.pending.pop_front();
        self.observing = !self.pending.is_empty();
        !self.observing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::{CIFAR, KWS};

    #[test]
    fn decisions_follow_the_reference_order() {
        let d = Decisions::of(&CIFAR).unwrap();
        assert_eq!(d.len(), 10);
        assert_eq!(d.choices(0), &[1, 3, 5, 7]);
        assert_eq!(d.choices(1), &[4, 8, 16, 24]);
        assert_eq!(d.size(), 16u128.pow(5));
        let idx = d
            .decode(&Candidate {
                actions: CIFAR.example.to_vec(),
            })
            .unwrap();
        assert_eq!(idx, vec![1, 1, 2, 3, 1, 3, 2, 2, 2, 2]);
        assert_eq!(d.encode(&idx).actions, CIFAR.example);
        let k = Decisions::of(&KWS).unwrap();
        assert_eq!((k.len(), k.size()), (4, 256));
    }

    #[test]
    fn foreign_candidates_are_refused() {
        let d = Decisions::of(&KWS).unwrap();
        let e = d.decode(&Candidate {
            actions: vec![48, 50, 64, 96],
        });
        assert_eq!(
            e.unwrap_err().to_string(),
            "choice 1 (units) = 50 is not in the search space"
        );
        assert!(matches!(
            d.decode(&Candidate { actions: vec![48] }),
            Err(StrategyError::Length {
                expected: 4,
                got: 1
            })
        ));
        let dup = DecisionKind {
            name: "k".into(),
            values: vec![3, 3],
        };
        assert!(Decisions::new(vec![dup], 2).is_err());
        assert!(Decisions::new(vec![], 2).is_err());
    }

    #[test]
    fn a_batch_is_proposed_whole_then_observed_in_order() {
        let c = |a: u32| Candidate { actions: vec![a] };
        let mut t = Turn::default();
        t.begin().unwrap();
        t.issue(&c(1));
        assert!(matches!(t.begin(), Err(StrategyError::Pending(_))));
        t.end();
        t.set_batch(3).unwrap();
        for a in [1, 2, 3] {
            t.begin().unwrap();
            t.issue(&c(a));
        }
        assert!(t.begin().is_err(), "a fourth proposal in a batch of 3");
        assert!(
            t.check(&c(2)).is_err(),
            "outcomes come in the order proposed"
        );
        t.check(&c(1)).unwrap();
        assert!(!t.end());
        assert!(
            t.begin().is_err(),
            "no proposal while the batch is observed"
        );
        assert!(t.set_batch(1).is_err(), "nor a new batch size");
        t.check(&c(2)).unwrap();
        assert!(!t.end());
        t.check(&c(3)).unwrap();
        assert!(t.end(), "the last outcome ends the batch");
        t.begin().unwrap();
        assert!(t.set_batch(0).is_err());
    }

    #[test]
    fn strategy_names_parse() {
        for k in StrategyKind::ALL {
            assert_eq!(k.name().parse::<StrategyKind>(), Ok(k));
        }
        assert!("annealing".parse::<StrategyKind>().is_err());
    }
}
