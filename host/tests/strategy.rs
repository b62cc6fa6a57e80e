//! Search strategies on a tiny synthetic space: they learn, they are deterministic from a seed,
//! and a replayed journal restores them exactly.

use inas::search::reinforce::{ControllerOptimizer, Origin};
use inas::search::strategy::DecisionKind;
use inas::search::{
    Candidate, Decisions, Evolution, EvolutionConfig, Outcome, Reinforce, ReinforceConfig, Reward,
    RewardParams, Settings, Strategy, StrategyError, StrategyKind,
};

const L_REQ: f64 = 10.0;

/// Two layers of (kernel, filters) with three choices each: 81 architectures.
fn tiny() -> Decisions {
    Decisions::new(
        vec![
            DecisionKind {
                name: "kernel".into(),
                values: vec![1, 3, 5],
            },
            DecisionKind {
                name: "filters".into(),
                values: vec![4, 8, 16],
            },
        ],
        2,
    )
    .unwrap()
}

const PEAK: [u32; 4] = [5, 4, 3, 16];

/// A synthetic evaluation peaked at one architecture: accuracy falls by 0.15 per decision away
/// from the peak; architectures with kernel 1 in the first layer have no design, and those
/// with 16 filters in both layers miss the latency requirement.
fn synthetic(c: &Candidate) -> Outcome {
    let a = &c.actions;
    if a[0] == 1 {
        return Outcome::NoDesign;
    }
    if a[1] == 16 && a[3] == 16 {
        return Outcome::TooSlow { latency_s: 12.0 };
    }
    let off = a.iter().zip(PEAK).filter(|(x, p)| **x != *p).count();
    Outcome::Trained {
        latency_s: 5.0,
        accuracy: 0.9 - 0.15 * off as f64,
    }
}

fn fitness(o: &Outcome) -> f64 {
    Reward::new(RewardParams::PAPER, L_REQ)
        .unwrap()
        .fitness(o)
        .unwrap()
}

/// Runs `n` trials; returns the candidates and their fitness.
fn run(s: &mut dyn Strategy, n: usize) -> (Vec<Candidate>, Vec<f64>) {
    let mut cands = Vec::with_capacity(n);
    let mut fits = Vec::with_capacity(n);
    for _ in 0..n {
        let c = s.propose().unwrap();
        let o = synthetic(&c);
        let score = s.observe(&c, &o).unwrap();
        assert_eq!(score.fitness, fitness(&o));
        fits.push(score.fitness);
        cands.push(c);
    }
    (cands, fits)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn strategy(kind: StrategyKind, seed: u64, reinforce: ReinforceConfig) -> Box<dyn Strategy> {
    tch::set_num_threads(1);
    Settings {
        reinforce,
        evolution: EvolutionConfig {
            population: 10,
            sample: 3,
        },
        ..Settings::paper(kind, seed, L_REQ)
    }
    .build(tiny())
    .unwrap()
}

/// Mean fitness of a uniform draw: every architecture of the space, enumerated.
fn uniform_fitness() -> f64 {
    let d = tiny();
    let mut all = vec![vec![]];
    for i in 0..d.len() {
        all = all
            .into_iter()
            .flat_map(|a: Vec<u32>| {
                d.choices(i).iter().map(move |&v| {
                    let mut b = a.clone();
                    b.push(v);
                    b
                })
            })
            .collect();
    }
    assert_eq!(all.len(), 81);
    mean(
        &all.into_iter()
            .map(|actions| fitness(&synthetic(&Candidate { actions })))
            .collect::<Vec<_>>(),
    )
}

fn near_peak(c: &Candidate) -> bool {
    c.actions
        .iter()
        .zip(PEAK)
        .filter(|(x, p)| **x != *p)
        .count()
        <= 1
}

/// Learning curve summary over `n` trials: mean fitness of the first and last `k` and how
/// many of the last `k` are the peak or one decision away from it (a uniform draw: 9/81).
fn learn(s: &mut dyn Strategy, n: usize, k: usize) -> (f64, f64, usize) {
    let (cands, fits) = run(s, n);
    let near = cands[n - k..].iter().filter(|c| near_peak(c)).count();
    let peak = cands[n - k..].iter().filter(|c| c.actions == PEAK).count();
    let (first, last) = (mean(&fits[..k]), mean(&fits[n - k..]));
    eprintln!(
        "{}: mean fitness first {k} {first:.3}, last {k} {last:.3}; last {k}: {near} near the peak, {peak} on it",
        s.kind()
    );
    (first, last, near)
}

#[test]
fn sampled_controller_learns_the_peak() {
    for seed in [1, 2, 3] {
        let mut s = strategy(StrategyKind::Reinforce, seed, ReinforceConfig::sampled());
        let (first, last, near) = learn(s.as_mut(), 200, 40);
        assert!(last > first + 0.15, "seed {seed}: {first} -> {last}");
        assert!(last > uniform_fitness() + 0.25, "seed {seed}: {last}");
        // Once converged, every third proposal is a repeat replaced by a random one.
        assert!(
            near >= 20,
            "seed {seed}: {near} of the last 40 near the peak"
        );
    }
}

#[test]
fn adam_controller_learns_the_peak() {
    let config = ReinforceConfig {
        optimizer: ControllerOptimizer::Adam,
        learning_rate: 0.01,
        ..ReinforceConfig::sampled()
    };
    let mut s = strategy(StrategyKind::Reinforce, 5, config);
    let (_, last, near) = learn(s.as_mut(), 200, 40);
    assert!(last > uniform_fitness() + 0.25, "{last}");
    assert!(near >= 20, "{near} of the last 40 near the peak");
}

#[test]
fn one_step_moves_the_policy_with_the_reward_sign() {
    tch::set_num_threads(1);
    for config in [ReinforceConfig::PAPER, ReinforceConfig::sampled()] {
        for (outcome, up) in [
            (
                Outcome::Trained {
                    latency_s: 5.0,
                    accuracy: 0.7,
                },
                true,
            ),
            (Outcome::NoDesign, false),
        ] {
            let config = ReinforceConfig {
                exploration: 0.0,
                ..config
            };
            let reward = Reward::new(RewardParams::PAPER, L_REQ).unwrap();
            let mut s = Reinforce::new(tiny(), config, reward, 4).unwrap();
            let c = s.propose().unwrap();
            let before = s.training_log_prob(&c).unwrap();
            let score = s.observe(&c, &outcome).unwrap();
            assert_eq!(score.reward > 0.0, up);
            let after = s.training_log_prob(&c).unwrap();
            assert!(
                (after > before) == up && (after - before).abs() > 1e-3,
                "{:?}, reward {}: log-prob {before} -> {after}",
                config.selection,
                score.reward
            );
        }
    }
}

#[test]
fn evolution_beats_uniform_sampling() {
    let uniform = uniform_fitness();
    for seed in [1, 2, 3] {
        let mut s = strategy(StrategyKind::Evolution, seed, ReinforceConfig::PAPER);
        let (_, fits) = run(s.as_mut(), 150);
        // After the random initial population (10) and a few generations. Children are
        // one-decision mutants, which here often hit a penalty even next to the peak.
        let evolved = mean(&fits[50..]);
        eprintln!("evolution seed {seed}: mean fitness of trials 50..150 {evolved:.3}, uniform {uniform:.3}");
        assert!(
            evolved > uniform + 0.12,
            "seed {seed}: {evolved} vs {uniform}"
        );
    }
}

#[test]
fn random_search_is_uniform_and_does_not_learn() {
    let mut s = strategy(StrategyKind::Random, 7, ReinforceConfig::PAPER);
    let n = 3000;
    let (cands, fits) = run(s.as_mut(), n);
    // Each decision's three values appear about n/3 times: chi-square with 2 degrees of
    // freedom, 13.8 is its 0.999 quantile.
    let d = tiny();
    for i in 0..4 {
        let mut counts = [0usize; 3];
        for c in &cands {
            counts[d
                .choices(i)
                .iter()
                .position(|&v| v == c.actions[i])
                .unwrap()] += 1;
        }
        let e = n as f64 / 3.0;
        let chi2: f64 = counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
        assert!(chi2 < 13.8, "decision {i}: {counts:?}");
    }
    let k = n / 2;
    let (first, last) = (mean(&fits[..k]), mean(&fits[k..]));
    assert!((first - last).abs() < 0.05, "{first} vs {last}");
}

#[test]
fn same_seed_same_sequence_other_seed_other_sequence() {
    for kind in StrategyKind::ALL {
        for config in [ReinforceConfig::PAPER, ReinforceConfig::sampled()] {
            let (a, fa) = run(strategy(kind, 11, config).as_mut(), 40);
            let (b, fb) = run(strategy(kind, 11, config).as_mut(), 40);
            assert_eq!(a, b, "{kind}");
            assert_eq!(fa, fb, "{kind}");
            let (c, _) = run(strategy(kind, 12, config).as_mut(), 40);
            assert_ne!(a, c, "{kind}: seeds 11 and 12 gave the same 40 proposals");
        }
    }
}

#[test]
fn replay_restores_the_exact_state() {
    for kind in StrategyKind::ALL {
        for config in [ReinforceConfig::PAPER, ReinforceConfig::sampled()] {
            let mut original = strategy(kind, 21, config);
            let (cands, _) = run(original.as_mut(), 30);
            let journal: Vec<(Candidate, Outcome)> =
                cands.iter().map(|c| (c.clone(), synthetic(c))).collect();
            let mut restored = strategy(kind, 21, config);
            restored.replay(&journal).unwrap();
            assert_eq!(restored.trials(), 30);
            // The next 15 proposals agree, learning included.
            let (next_a, _) = run(original.as_mut(), 15);
            let (next_b, _) = run(restored.as_mut(), 15);
            assert_eq!(next_a, next_b, "{kind}");
        }
    }
}

#[test]
fn replay_detects_a_foreign_journal() {
    let mut s = strategy(StrategyKind::Random, 1, ReinforceConfig::PAPER);
    let (cands, _) = run(s.as_mut(), 5);
    let journal: Vec<(Candidate, Outcome)> =
        cands.iter().map(|c| (c.clone(), synthetic(c))).collect();
    let mut other = strategy(StrategyKind::Random, 2, ReinforceConfig::PAPER);
    let e = other.replay(&journal).unwrap_err();
    assert!(matches!(e, StrategyError::Diverged { trial: 0, .. }), "{e}");
}

#[test]
fn the_protocol_is_enforced() {
    for kind in StrategyKind::ALL {
        let mut s = strategy(kind, 3, ReinforceConfig::PAPER);
        let c = s.propose().unwrap();
        assert!(
            matches!(s.propose(), Err(StrategyError::Pending(_))),
            "{kind}"
        );
        let other = Candidate {
            actions: if c.actions == PEAK {
                vec![3, 4, 3, 4]
            } else {
                PEAK.to_vec()
            },
        };
        let e = s.observe(&other, &synthetic(&other)).unwrap_err();
        assert!(matches!(e, StrategyError::NotPending { .. }), "{kind}: {e}");
        // An impossible outcome is refused and the candidate stays pending.
        let bad = Outcome::Trained {
            latency_s: 1.0,
            accuracy: 1.5,
        };
        assert!(matches!(
            s.observe(&c, &bad),
            Err(StrategyError::Outcome(_))
        ));
        s.observe(&c, &synthetic(&c)).unwrap();
        assert_eq!(s.trials(), 1);
        let e = s.observe(&c, &synthetic(&c)).unwrap_err();
        assert!(
            matches!(e, StrategyError::NotPending { expected: None, .. }),
            "{kind}"
        );
    }
}

#[test]
fn repeated_architectures_raise_the_baseline_then_get_replaced() {
    tch::set_num_threads(1);
    // A frozen greedy policy without exploration proposes the same architecture once its
    // input (the previous first decision) settles, so repeats must occur.
    let config = ReinforceConfig {
        exploration: 0.0,
        learning_rate: 0.0,
        ..ReinforceConfig::PAPER
    };
    let reward = Reward::new(RewardParams::PAPER, L_REQ).unwrap();
    let mut s = Reinforce::new(tiny(), config, reward, 9).unwrap();
    let mut shadow = Reward::new(RewardParams::PAPER, L_REQ).unwrap();
    let mut prev: Option<Candidate> = None;
    let mut streak = 0;
    let mut replaced = 0;
    for _ in 0..30 {
        let c = s.propose().unwrap();
        let origin = s.last_origin().unwrap();
        let repeat = prev.as_ref() == Some(&c);
        match origin {
            Origin::Policy if repeat => {
                streak += 1;
                shadow.on_repeat();
            }
            Origin::Policy => streak = 0,
            Origin::RepeatReplaced => {
                // The policy's proposal was a second repeat: boosted, then replaced.
                assert_eq!(streak, 1);
                shadow.on_repeat();
                replaced += 1;
                streak = 0;
            }
            Origin::Explored => panic!("exploration is off"),
        }
        assert!(streak <= 1, "three identical proposals in a row");
        let o = Outcome::Trained {
            latency_s: 5.0,
            accuracy: 0.5,
        };
        shadow.score(&o).unwrap();
        s.observe(&c, &o).unwrap();
        assert!((s.moving_accuracy() - shadow.moving_accuracy()).abs() < 1e-12);
        prev = Some(c);
    }
    assert!(replaced >= 5, "only {replaced} replacements in 30 trials");
}

#[test]
fn evolution_settings_are_validated() {
    let reward = Reward::new(RewardParams::PAPER, L_REQ).unwrap();
    let bad = EvolutionConfig {
        population: 0,
        sample: 1,
    };
    assert!(matches!(
        Evolution::new(tiny(), bad, reward, 1),
        Err(StrategyError::Config(_))
    ));
    let reward = Reward::new(RewardParams::PAPER, L_REQ).unwrap();
    let bad = ReinforceConfig {
        exploration: 1.5,
        ..ReinforceConfig::PAPER
    };
    assert!(matches!(
        Reinforce::new(tiny(), bad, reward, 1),
        Err(StrategyError::Config(_))
    ));
}

#[test]
fn greedy_proposals_are_the_policy_argmax() {
    tch::set_num_threads(1);
    let config = ReinforceConfig {
        exploration: 0.0,
        ..ReinforceConfig::PAPER
    };
    let reward = Reward::new(RewardParams::PAPER, L_REQ).unwrap();
    let mut s = Reinforce::new(tiny(), config, reward, 13).unwrap();
    let d = tiny();
    for _ in 0..5 {
        let policy = s.policy().unwrap();
        assert_eq!(policy.len(), d.len());
        let greedy: Vec<u32> = policy
            .iter()
            .enumerate()
            .map(|(i, p)| {
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                let best = (0..p.len()).fold(0, |b, j| if p[j] > p[b] { j } else { b });
                d.choices(i)[best]
            })
            .collect();
        let c = s.propose().unwrap();
        if s.last_origin() == Some(Origin::Policy) {
            assert_eq!(c.actions, greedy);
        }
        s.observe(&c, &synthetic(&c)).unwrap();
    }
}

#[test]
fn settings_and_outcomes_round_trip_through_json() {
    let mut settings = Settings::paper(StrategyKind::Evolution, 99, 29.25);
    settings.reinforce = ReinforceConfig::sampled();
    let text = serde_json::to_string(&settings).unwrap();
    assert_eq!(serde_json::from_str::<Settings>(&text).unwrap(), settings);
    for o in [
        Outcome::Unbuildable,
        Outcome::NoDesign,
        Outcome::TooSlow { latency_s: 12.5 },
        Outcome::Trained {
            latency_s: 3.25,
            accuracy: 0.875,
        },
    ] {
        let text = serde_json::to_string(&o).unwrap();
        assert_eq!(serde_json::from_str::<Outcome>(&text).unwrap(), o, "{text}");
    }
    let c = Candidate {
        actions: PEAK.to_vec(),
    };
    assert_eq!(c.to_string(), "5,4,3,16");
}
