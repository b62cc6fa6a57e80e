//! `--strategy evolution`: aging (regularized) evolution as in μNAS. The first `population`
//! candidates are uniformly random; after that each candidate is a one-decision mutation of the
//! fittest of `sample` members drawn (with replacement) from the population, and the oldest
//! member dies when a child joins.

use std::collections::VecDeque;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::reward::{Outcome, Reward};
use super::strategy::{Candidate, Decisions, Score, Strategy, StrategyError, StrategyKind, Turn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvolutionConfig {
    /// Population size P (also the number of random initial candidates).
    pub population: usize,
    /// Tournament size S.
    pub sample: usize,
}

impl Default for EvolutionConfig {
    /// Scaled to the paper's 100-trial budget: a fifth of it seeds the population.
    fn default() -> Self {
        EvolutionConfig {
            population: 20,
            sample: 5,
        }
    }
}

pub struct Evolution {
    decisions: Decisions,
    config: EvolutionConfig,
    reward: Reward,
    rng: ChaCha8Rng,
    turn: Turn,
    /// Oldest first: choice indices and fitness.
    population: VecDeque<(Vec<usize>, f64)>,
    trials: usize,
}

impl Evolution {
    pub fn new(
        decisions: Decisions,
        config: EvolutionConfig,
        reward: Reward,
        seed: u64,
    ) -> Result<Evolution, StrategyError> {
        if config.population == 0 || config.sample == 0 {
            return Err(StrategyError::Config(format!(
                "evolution needs a population and a sample of at least 1, got P = {}, S = {}",
                config.population, config.sample
            )));
        }
        Ok(Evolution {
            decisions,
            config,
            reward,
            rng: ChaCha8Rng::seed_from_u64(seed),
            turn: Turn::default(),
            population: VecDeque::with_capacity(config.population + 1),
            trials: 0,
        })
    }

    /// The current population, oldest first, with fitness.
    pub fn population(&self) -> impl Iterator<Item = (Candidate, f64)> + '_ {
        self.population
            .iter()
            .map(|(idx, f)| (self.decisions.encode(idx), *f))
    }

    /// The parent's choices with one decision changed to another of its values.
    fn mutate(&mut self, parent: &[usize]) -> Vec<usize> {
        let mutable: Vec<usize> = (0..parent.len())
            .filter(|&i| self.decisions.choices(i).len() > 1)
            .collect();
        let mut child = parent.to_vec();
        if mutable.is_empty() {
            return child;
        }
        let i = mutable[self.rng.random_range(0..mutable.len())];
        let n = self.decisions.choices(i).len();
        // Uniform over the n − 1 other values.
        let v = self.rng.random_range(0..n - 1);
        child[i] = if v >= parent[i] { v + 1 } else { v };
        child
    }
}

impl Strategy for Evolution {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Evolution
    }

    fn propose(&mut self) -> Result<Candidate, StrategyError> {
        self.turn.begin()?;
        let idx = if self.trials < self.config.population {
            self.decisions.random(&mut self.rng)
        } else {
            let mut best: Option<usize> = None;
            for _ in 0..self.config.sample {
                let j = self.rng.random_range(0..self.population.len());
                // The first of equally fit members wins.
                if best.is_none_or(|b| self.population[j].1 > self.population[b].1) {
                    best = Some(j);
                }
            }
            let parent = self.population[best.expect("sample >= 1")].0.clone();
            self.mutate(&parent)
        };
        let c = self.decisions.encode(&idx);
        self.turn.issue(&c);
        Ok(c)
    }

    fn observe(
        &mut self,
        candidate: &Candidate,
        outcome: &Outcome,
    ) -> Result<Score, StrategyError> {
        self.turn.check(candidate)?;
        let idx = self.decisions.decode(candidate)?;
        let fitness = self.reward.fitness(outcome)?;
        let reward = self.reward.score(outcome)?;
        self.population.push_back((idx, fitness));
        if self.population.len() > self.config.population {
            self.population.pop_front();
        }
        self.turn.end();
        self.trials += 1;
        Ok(Score { reward, fitness })
    }

    fn trials(&self) -> usize {
        self.trials
    }

    fn set_batch(&mut self, batch: usize) -> Result<(), StrategyError> {
        self.turn.set_batch(batch)
    }
}
