//! `--strategy reinforce`: the iNAS controller (cost-model.md §14.3), an LSTM policy
//! with one softmax head per decision, trained by REINFORCE on the latest trial's reward.
//!
//! [`ReinforceConfig::PAPER`] reproduces the reference (`NASBase/controller.py`, `top.py`):
//! * one LSTM cell of 32 units shared by all decisions; one embedding table of size
//!   (choices + 1) × 20 per decision kind, initialised U(−1, 1); glorot-uniform kernels, zero
//!   biases and the cell's constant forget bias of 1, as TF's `LSTMCell`;
//! * the first input is the previous architecture's first decision, encoded as the reference
//!   does (a length-`choices` sequence, zero except index + 1 at its index); each decision's
//!   argmax index + 1 is embedded with its kind's table and fed to the next step;
//! * proposals are the argmax chain, or with probability 0.1 a uniformly random architecture;
//!   the decay of that probability (×0.99 every 20 steps) only runs above 0.5, so never here;
//! * one training step per trial on the observed architecture: loss = Σ cross-entropies of the
//!   heads (their logits from the argmax chain) against labels holding index + 1 at the chosen
//!   index (a quirk: higher indices weigh more) + 1e-3 · Σ‖w‖²; every gradient is multiplied by
//!   the trial's reward; RMSProp as TF 1 implements it (ρ 0.9, ε 1e-10 inside the root,
//!   accumulators starting at 1), learning rate 0.1 · 0.95^⌊step/500⌋;
//! * a proposal equal to the previous one raises the reward's moving accuracy by 1.2; the
//!   second repeat in a row raises it again and is replaced by a random architecture.
//!
//! [`ReinforceConfig::sampled`] is textbook REINFORCE on the same network and reward: actions are
//! sampled from the softmaxes, training is teacher-forced on the observed actions with plain
//! one-hot labels, the regularizer is not scaled by the reward, and there is no extra
//! exploration (sampling explores).
//!
//! Why both: on a synthetic reward peaked at one architecture (`tests/strategy.rs`), the
//! reference's controller does not reliably learn. Its index + 1 labels push least on index 0,
//! and a run of penalties (−0.1) times the reward-scaled regularizer *grows* the weights until
//! the softmaxes saturate, so a greedy chain can lock onto low-index choices that keep failing.
//! In 200 trials, 2 of 4 seeds collapsed (mean fitness of the last 40 ≈ 0, from 0.33–0.40 in the
//! first 40). Plain labels alone fixed that for all 4 seeds; the sampled variant learns for
//! every seed tried.
//!
//! All randomness (initial weights, exploration, sampling) comes from one ChaCha8 stream seeded
//! at construction; libtorch's global generator is never used, so concurrent controllers (and
//! tests) cannot disturb each other. The arithmetic is f32 on the CPU.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig, RNN};
use tch::{Device, Kind, Tensor};

use super::reward::{Outcome, Reward};
use super::strategy::{Candidate, Decisions, Score, Strategy, StrategyError, StrategyKind, Turn};

/// How the controller turns its softmaxes into a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The reference: argmax of every head, fed forward; training recomputes the same chain.
    Greedy,
    /// Sample every head; training is teacher-forced on the observed actions.
    Sample,
}

/// Label value at the chosen index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelWeight {
    /// The reference's encoding: index + 1.
    IndexPlusOne,
    /// A plain one-hot label.
    One,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ControllerOptimizer {
    /// TF 1's RMSProp: ms ← ms + (g² − ms)(1 − ρ), w ← w − lr·g/√(ms + ε), ms starting at 1.
    RmsProp { rho: f64, epsilon: f64 },
    /// libtorch's Adam with its defaults (β 0.9/0.999, ε 1e-8).
    Adam,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReinforceConfig {
    /// LSTM units.
    pub cells: i64,
    /// Embedding width.
    pub embedding: i64,
    /// Probability of a uniformly random proposal.
    pub exploration: f64,
    /// Weight of Σ‖w‖² in the loss.
    pub l2: f64,
    pub learning_rate: f64,
    /// Staircase decay: lr · decay^⌊step / decay_steps⌋.
    pub lr_decay: f64,
    pub lr_decay_steps: u64,
    pub optimizer: ControllerOptimizer,
    pub selection: Selection,
    pub labels: LabelWeight,
    /// The reference multiplies *every* gradient by the reward, the regularizer's included, so
    /// a negative reward grows the weights instead of shrinking them. `false` scales only the
    /// policy-gradient term.
    pub reward_scales_l2: bool,
}

impl ReinforceConfig {
    pub const PAPER: ReinforceConfig = ReinforceConfig {
        cells: 32,
        embedding: 20,
        exploration: 0.1,
        l2: 1e-3,
        learning_rate: 0.1,
        lr_decay: 0.95,
        lr_decay_steps: 500,
        optimizer: ControllerOptimizer::RmsProp {
            rho: 0.9,
            epsilon: 1e-10,
        },
        selection: Selection::Greedy,
        labels: LabelWeight::IndexPlusOne,
        reward_scales_l2: true,
    };

    /// Textbook REINFORCE on the paper's network and reward.
    pub fn sampled() -> ReinforceConfig {
        ReinforceConfig {
            exploration: 0.0,
            selection: Selection::Sample,
            labels: LabelWeight::One,
            reward_scales_l2: false,
            ..ReinforceConfig::PAPER
        }
    }

    fn validate(&self) -> Result<(), StrategyError> {
        let bad = |what: &str| Err(StrategyError::Config(format!("controller: {what}")));
        if !(1..=4096).contains(&self.cells) || !(1..=4096).contains(&self.embedding) {
            return bad("cells and embedding must be between 1 and 4096");
        }
        if !(0.0..=1.0).contains(&self.exploration) {
            return bad("exploration must be a probability");
        }
        let reals = [self.l2, self.learning_rate, self.lr_decay];
        if reals.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return bad("l2, learning_rate and lr_decay must be finite and non-negative");
        }
        if self.lr_decay_steps == 0 {
            return bad("lr_decay_steps must be positive");
        }
        if let ControllerOptimizer::RmsProp { rho, epsilon } = self.optimizer {
            let epsilon_ok = epsilon.is_finite() && epsilon >= 0.0;
            if !(0.0..1.0).contains(&rho) || !epsilon_ok {
                return bad("RMSProp needs 0 <= rho < 1 and a finite epsilon >= 0");
            }
        }
        Ok(())
    }
}

impl Default for ReinforceConfig {
    fn default() -> Self {
        ReinforceConfig::PAPER
    }
}

/// Where a proposal came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The policy network.
    Policy,
    /// The exploration draw.
    Explored,
    /// A second consecutive repeat, replaced by a random architecture.
    RepeatReplaced,
}

/// How the chain of heads is fed.
enum Feed<'a> {
    Argmax,
    Sample(&'a mut ChaCha8Rng),
    Force(&'a [usize]),
}

enum Opt {
    RmsProp {
        rho: f64,
        epsilon: f64,
        /// One accumulator per parameter.
        ms: Vec<Tensor>,
    },
    Adam(nn::Optimizer),
}

/// The policy network.
struct Net {
    embedding: i64,
    lstm: nn::LSTM,
    /// One table per decision kind.
    embeddings: Vec<Tensor>,
    /// Per decision: (kernel [cells, choices], bias [choices]).
    heads: Vec<(Tensor, Tensor)>,
}

impl Net {
    /// Runs the chain of heads from the previous architecture's first decision: the logits of
    /// every head and the chosen indices.
    fn run(
        &self,
        decisions: &Decisions,
        first: usize,
        mut feed: Feed<'_>,
    ) -> Result<(Vec<Tensor>, Vec<usize>), StrategyError> {
        let e = self.embedding;
        let n0 = decisions.choices(0).len();
        let start: Vec<i64> = (0..n0)
            .map(|j| if j == first { first as i64 + 1 } else { 0 })
            .collect();
        let table0 = &self.embeddings[decisions.kind_of(0)];
        let x = table0
            .f_index_select(0, &Tensor::from_slice(&start))?
            .f_view([1, n0 as i64, e])?;
        let (out, mut state) = self.lstm.seq_init(&x, &self.lstm.zero_state(1));
        let mut hidden = out.f_select(1, -1)?;
        let mut logits = Vec::with_capacity(decisions.len());
        let mut chosen = Vec::with_capacity(decisions.len());
        for i in 0..decisions.len() {
            let (w, b) = &self.heads[i];
            let l = hidden.f_matmul(w)?.f_add(b)?;
            let a = match &mut feed {
                Feed::Argmax => argmax(&values(&l)?),
                Feed::Force(a) => a[i],
                Feed::Sample(rng) => {
                    let p = softmax(&values(&l)?);
                    let u: f64 = rng.random();
                    let mut acc = 0.0;
                    p.iter()
                        .position(|&q| {
                            acc += q;
                            u < acc
                        })
                        .unwrap_or(p.len() - 1)
                }
            };
            logits.push(l);
            chosen.push(a);
            if i + 1 < decisions.len() {
                let table = &self.embeddings[decisions.kind_of(i)];
                let x = table.f_get(a as i64 + 1)?.f_view([1, 1, e])?;
                let (out, next) = self.lstm.seq_init(&x, &state);
                state = next;
                hidden = out.f_select(1, -1)?;
            }
        }
        Ok((logits, chosen))
    }
}

/// The iNAS controller.
pub struct Reinforce {
    decisions: Decisions,
    config: ReinforceConfig,
    reward: Reward,
    rng: ChaCha8Rng,
    turn: Turn,
    // Keeps the variables alive (and names them for debugging).
    _vs: nn::VarStore,
    net: Net,
    /// Everything trained and regularized (not the constant forget bias).
    params: Vec<Tensor>,
    opt: Opt,
    exploration: f64,
    steps: u64,
    /// First decision of the last observed architecture: the next proposal's input.
    prev_first: usize,
    last: Option<Candidate>,
    repeats: u8,
    origin: Option<Origin>,
    trials: usize,
    /// The observed episodes (choice indices, reward) of the batch in progress: one training
    /// step takes them all when its last outcome comes in.
    episodes: Vec<(Vec<usize>, f64)>,
}

fn uniform(rng: &mut ChaCha8Rng, dims: &[i64], limit: f64) -> Tensor {
    let n: i64 = dims.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| rng.random_range(-limit..limit) as f32)
        .collect();
    Tensor::from_slice(&v).view(dims)
}

fn glorot(rng: &mut ChaCha8Rng, dims: &[i64], fan_in: i64, fan_out: i64) -> Tensor {
    uniform(rng, dims, (6.0 / (fan_in + fan_out) as f64).sqrt())
}

/// Index of the first maximum, as TF's argmax.
fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

fn softmax(v: &[f32]) -> Vec<f64> {
    let m = v
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| m.max(f64::from(x)));
    let e: Vec<f64> = v.iter().map(|&x| (f64::from(x) - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

fn values(t: &Tensor) -> Result<Vec<f32>, tch::TchError> {
    Vec::<f32>::try_from(t.flatten(0, -1))
}

impl Reinforce {
    pub fn new(
        decisions: Decisions,
        config: ReinforceConfig,
        reward: Reward,
        seed: u64,
    ) -> Result<Reinforce, StrategyError> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (h, e) = (config.cells, config.embedding);
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let zero = nn::Init::Const(0.0);
        // Constant initialisers draw nothing from libtorch's generator; the values are copied
        // in below from our own stream.
        let lstm = nn::lstm(
            &root / "lstm",
            e,
            h,
            nn::RNNConfig {
                w_ih_init: zero,
                w_hh_init: zero,
                b_ih_init: Some(zero),
                b_hh_init: Some(zero),
                ..Default::default()
            },
        );
        let vars = vs.variables();
        let var = |name: &str| {
            vars.get(name).map(Tensor::shallow_clone).ok_or_else(|| {
                StrategyError::Config(format!("libtorch LSTM has no variable {name}"))
            })
        };
        let (mut w_ih, mut w_hh) = (var("lstm.weight_ih_l0")?, var("lstm.weight_hh_l0")?);
        let (b_ih, mut b_hh) = (var("lstm.bias_ih_l0")?, var("lstm.bias_hh_l0")?);
        // TF's LSTMCell kernel is one [E + H, 4H] glorot matrix; torch splits it in two.
        let (fan_in, fan_out) = (e + h, 4 * h);
        let forget: Vec<f32> = (0..4 * h)
            .map(|i| if (h..2 * h).contains(&i) { 1.0 } else { 0.0 })
            .collect();
        tch::no_grad(|| -> Result<(), tch::TchError> {
            w_ih.f_copy_(&glorot(&mut rng, &[4 * h, e], fan_in, fan_out))?;
            w_hh.f_copy_(&glorot(&mut rng, &[4 * h, h], fan_in, fan_out))?;
            // torch's gate order is i, f, g, o: rows h..2h are the forget gate.
            b_hh.f_copy_(&Tensor::from_slice(&forget))?;
            Ok(())
        })?;
        // The constant forget bias: part of the cell, not of the policy's parameters.
        let _frozen = b_hh.set_requires_grad(false);
        let mut embeddings = Vec::with_capacity(decisions.kinds().len());
        for (k, kind) in decisions.kinds().iter().enumerate() {
            let t = uniform(&mut rng, &[kind.values.len() as i64 + 1, e], 1.0);
            embeddings.push(root.f_var_copy(&format!("embedding_{k}"), &t)?);
        }
        let mut heads = Vec::with_capacity(decisions.len());
        for i in 0..decisions.len() {
            let n = decisions.choices(i).len() as i64;
            let head = &root / format!("head_{i}");
            let w = head.f_var_copy("weight", &glorot(&mut rng, &[h, n], h, n))?;
            let b = head.f_var_copy("bias", &Tensor::zeros([n], (Kind::Float, Device::Cpu)))?;
            heads.push((w, b));
        }
        let mut params: Vec<Tensor> = embeddings.iter().map(Tensor::shallow_clone).collect();
        params.extend([w_ih, w_hh, b_ih]);
        for (w, b) in &heads {
            params.push(w.shallow_clone());
            params.push(b.shallow_clone());
        }
        let opt = match config.optimizer {
            ControllerOptimizer::RmsProp { rho, epsilon } => Opt::RmsProp {
                rho,
                epsilon,
                ms: params.iter().map(Tensor::ones_like).collect(),
            },
            ControllerOptimizer::Adam => {
                Opt::Adam(nn::Adam::default().build(&vs, config.learning_rate)?)
            }
        };
        let prev_first = rng.random_range(0..decisions.choices(0).len());
        Ok(Reinforce {
            exploration: config.exploration,
            decisions,
            config,
            reward,
            rng,
            turn: Turn::default(),
            _vs: vs,
            net: Net {
                embedding: e,
                lstm,
                embeddings,
                heads,
            },
            params,
            opt,
            steps: 0,
            prev_first,
            last: None,
            repeats: 0,
            origin: None,
            trials: 0,
            episodes: Vec::new(),
        })
    }

    /// The reward's moving accuracy (raised by repeats).
    pub fn moving_accuracy(&self) -> f64 {
        self.reward.moving_accuracy()
    }

    /// The current exploration probability.
    pub fn exploration(&self) -> f64 {
        self.exploration
    }

    /// Where the latest proposal came from.
    pub fn last_origin(&self) -> Option<Origin> {
        self.origin
    }

    /// Training steps taken (one per observed batch; a batch is one trial by default).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The learning rate of the next training step.
    pub fn learning_rate(&self) -> f64 {
        let stairs = (self.steps / self.config.lr_decay_steps) as i32;
        self.config.learning_rate * self.config.lr_decay.powi(stairs)
    }

    /// The policy's softmaxes along its greedy chain from the next proposal's input: what the
    /// controller currently believes, one probability list per decision.
    pub fn policy(&self) -> Result<Vec<Vec<f64>>, StrategyError> {
        let (logits, _) =
            tch::no_grad(|| self.net.run(&self.decisions, self.prev_first, Feed::Argmax))?;
        logits.iter().map(|l| Ok(softmax(&values(l)?))).collect()
    }

    /// Σ log-probabilities of a candidate's decisions in the chain a training step would build
    /// for it (the argmax chain for greedy selection, the candidate's own actions for sampled):
    /// the quantity one step raises for a positive reward and lowers for a negative one.
    pub fn training_log_prob(&self, candidate: &Candidate) -> Result<f64, StrategyError> {
        let actions = self.decisions.decode(candidate)?;
        let feed = match self.config.selection {
            Selection::Greedy => Feed::Argmax,
            Selection::Sample => Feed::Force(&actions),
        };
        let (logits, _) = tch::no_grad(|| self.net.run(&self.decisions, actions[0], feed))?;
        let mut total = 0.0;
        for (l, &a) in logits.iter().zip(&actions) {
            let p = softmax(&values(l)?);
            total += p[a].ln();
        }
        Ok(total)
    }

    /// One REINFORCE step on a batch of observed architectures and their rewards: the mean
    /// of the episodes' reward-weighted losses (for one episode, exactly the reference's step).
    fn train(&mut self, episodes: &[(Vec<usize>, f64)]) -> Result<(), StrategyError> {
        let mut policy: Option<Tensor> = None;
        let mut reward_sum = 0.0;
        for (actions, reward) in episodes {
            let feed = match self.config.selection {
                Selection::Greedy => Feed::Argmax,
                Selection::Sample => Feed::Force(actions),
            };
            let (logits, _) = self.net.run(&self.decisions, actions[0], feed)?;
            let mut loss = Tensor::zeros([], (Kind::Float, Device::Cpu));
            for (l, &a) in logits.iter().zip(actions) {
                let weight = match self.config.labels {
                    LabelWeight::IndexPlusOne => a as f64 + 1.0,
                    LabelWeight::One => 1.0,
                };
                let nll = l
                    .f_log_softmax(-1, Kind::Float)?
                    .f_get(0)?
                    .f_get(a as i64)?;
                loss = loss.f_sub(&nll.f_mul_scalar(weight)?)?;
            }
            let term = loss.f_mul_scalar(*reward)?;
            policy = Some(match policy {
                None => term,
                Some(sum) => sum.f_add(&term)?,
            });
            reward_sum += reward;
        }
        let Some(policy) = policy else {
            return Ok(());
        };
        let n = episodes.len();
        let (policy, reward) = if n == 1 {
            (policy, reward_sum)
        } else {
            (policy.f_mul_scalar(1.0 / n as f64)?, reward_sum / n as f64)
        };
        let mut reg = Tensor::zeros([], (Kind::Float, Device::Cpu));
        for p in &self.params {
            reg = reg.f_add(&p.f_square()?.f_sum(Kind::Float)?)?;
        }
        // Every gradient is linear in the loss, so scaling the loss scales the gradients.
        let l2 = if self.config.reward_scales_l2 {
            self.config.l2 * reward
        } else {
            self.config.l2
        };
        let loss = policy.f_add(&reg.f_mul_scalar(l2)?)?;
        for p in &mut self.params {
            p.zero_grad();
        }
        loss.f_backward()?;
        let lr = self.learning_rate();
        tch::no_grad(|| -> Result<(), tch::TchError> {
            match &mut self.opt {
                Opt::RmsProp { rho, epsilon, ms } => {
                    for (p, ms) in self.params.iter_mut().zip(ms.iter_mut()) {
                        let g = p.grad();
                        let delta = g.f_square()?.f_sub(ms)?.f_mul_scalar(1.0 - *rho)?;
                        let _ = ms.f_add_(&delta)?;
                        let step = g
                            .f_mul_scalar(lr)?
                            .f_div(&ms.f_add_scalar(*epsilon)?.f_sqrt()?)?;
                        let _ = p.f_sub_(&step)?;
                    }
                }
                Opt::Adam(opt) => {
                    opt.set_lr(lr);
                    opt.step();
                }
            }
            Ok(())
        })?;
        for p in &mut self.params {
            p.zero_grad();
        }
        self.steps += 1;
        // The reference decays exploration only while it is above 0.5.
        if self.steps.is_multiple_of(20) && self.exploration > 0.5 {
            self.exploration *= 0.99;
        }
        Ok(())
    }
}

impl Strategy for Reinforce {
    fn kind(&self) -> StrategyKind {
        StrategyKind::Reinforce
    }

    fn propose(&mut self) -> Result<Candidate, StrategyError> {
        self.turn.begin()?;
        let explore = self.rng.random::<f64>() < self.exploration;
        let (mut indices, mut origin) = if explore {
            (self.decisions.random(&mut self.rng), Origin::Explored)
        } else {
            let feed = match self.config.selection {
                Selection::Greedy => Feed::Argmax,
                Selection::Sample => Feed::Sample(&mut self.rng),
            };
            let (net, decisions, first) = (&self.net, &self.decisions, self.prev_first);
            let (_, chosen) = tch::no_grad(|| net.run(decisions, first, feed))?;
            (chosen, Origin::Policy)
        };
        let mut cand = self.decisions.encode(&indices);
        if self.last.as_ref() == Some(&cand) {
            self.reward.on_repeat();
            if self.repeats < 1 {
                self.repeats += 1;
            } else {
                indices = self.decisions.random(&mut self.rng);
                cand = self.decisions.encode(&indices);
                origin = Origin::RepeatReplaced;
                self.repeats = 0;
            }
        } else {
            self.repeats = 0;
        }
        self.last = Some(cand.clone());
        self.origin = Some(origin);
        self.turn.issue(&cand);
        Ok(cand)
    }

    fn observe(
        &mut self,
        candidate: &Candidate,
        outcome: &Outcome,
    ) -> Result<Score, StrategyError> {
        self.turn.check(candidate)?;
        let actions = self.decisions.decode(candidate)?;
        let fitness = self.reward.fitness(outcome)?;
        let reward = self.reward.score(outcome)?;
        let first = actions[0];
        self.episodes.push((actions, reward));
        if self.turn.end() {
            let episodes = std::mem::take(&mut self.episodes);
            self.train(&episodes)?;
            self.prev_first = first;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.5, 0.5, 0.2]), 1);
        assert_eq!(argmax(&[1.0]), 0);
        let p = softmax(&[0.0, 0.0]);
        assert!((p[0] - 0.5).abs() < 1e-15 && (p[1] - 0.5).abs() < 1e-15);
    }

    #[test]
    fn a_batch_takes_one_step_on_all_its_episodes() {
        let d = Decisions::of(&crate::network::KWS).unwrap();
        let r = Reward::new(super::super::reward::RewardParams::PAPER, 1.0).unwrap();
        let mut c = Reinforce::new(d, ReinforceConfig::sampled(), r, 1).unwrap();
        c.set_batch(3).unwrap();
        let cands: Vec<Candidate> = (0..3).map(|_| c.propose().unwrap()).collect();
        assert!(c.propose().is_err());
        let before = c.policy().unwrap();
        let outcome = Outcome::Trained {
            latency_s: 0.5,
            accuracy: 0.9,
        };
        for (i, cand) in cands.iter().enumerate() {
            assert_eq!(
                c.steps(),
                0,
                "no step before the batch's last outcome ({i})"
            );
            c.observe(cand, &outcome).unwrap();
        }
        assert_eq!(c.steps(), 1);
        assert_eq!(c.trials(), 3);
        assert_ne!(c.policy().unwrap(), before, "the step moved the policy");
        c.propose().unwrap();
    }

    #[test]
    fn learning_rate_is_a_staircase() {
        let d = Decisions::of(&crate::network::KWS).unwrap();
        let r = Reward::new(super::super::reward::RewardParams::PAPER, 1.0).unwrap();
        let mut c = Reinforce::new(d, ReinforceConfig::PAPER, r, 1).unwrap();
        assert_eq!(c.learning_rate(), 0.1);
        c.steps = 499;
        assert_eq!(c.learning_rate(), 0.1);
        c.steps = 1000;
        assert!((c.learning_rate() - 0.1 * 0.95 * 0.95).abs() < 1e-15);
    }
}
