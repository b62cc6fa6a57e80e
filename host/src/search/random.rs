//! `--strategy random`: independent uniform choices per decision, the baseline every search
//! strategy has to beat.

use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;

use super::reward::{Outcome, Reward};
use super::strategy::{Candidate, Decisions, Score, Strategy, StrategyError, StrategyKind, Turn};

pub struct RandomSearch {
    decisions: Decisions,
    reward: Reward,
    rng: ChaCha8Rng,
    turn: Turn,
    trials: usize,
}

impl RandomSearch {
    pub fn new(decisions: Decisions, reward: Reward, seed: u64) -> RandomSearch {
        RandomSearch {
            decisions,
            reward,
            rng: ChaCha8Rng::seed_from_u64(seed),
            turn: Turn::default(),
            trials: 0,
        }
    }
}

impl Strategy for RandomSearch {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Random
    }

    fn propose(&mut self) -> Result<Candidate, StrategyError> {
        self.turn.begin()?;
        let c = self.decisions.encode(&self.decisions.random(&mut self.rng));
        self.turn.issue(&c);
        Ok(c)
    }

    fn observe(
        &mut self,
        candidate: &Candidate,
        outcome: &Outcome,
    ) -> Result<Score, StrategyError> {
        self.turn.check(candidate)?;
        let fitness = self.reward.fitness(outcome)?;
        let reward = self.reward.score(outcome)?;
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
