//! The intermittent engine against the independent Q15 reference, and under power failures
//! injected at every write and every torn-write point.

use inas_common::plan::{self, Plan, ValidPlan};
use inas_common::{ExecDesign, LoopOrder};
use inas_core::network::{ModelType, Network, SearchSpace};
use inas_core::planner::{self, random_input, random_tensors};
use inas_core::q15ref;
use inas_core::simdev::{run_with_cuts, write_log, Cut, SimNvm};
use proptest::prelude::*;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

const CONV1D: SearchSpace = SearchSpace {
    model: ModelType::Conv1d,
    input: 16,
    channels: 4,
    layers: 2,
    kernels: &[3],
    filters: &[4, 6],
    classes: 3,
    example: &[3, 4, 3, 6],
};

const FC: SearchSpace = SearchSpace {
    model: ModelType::Fc,
    input: 12,
    channels: 1,
    layers: 2,
    kernels: &[],
    filters: &[8, 6],
    classes: 3,
    example: &[8, 6],
};

fn divisors(x: u32) -> Vec<u32> {
    (1..=x).filter(|d| x.is_multiple_of(*d)).collect()
}

/// Every design of a layer that the plan validator accepts, in enumeration order.
fn valid_designs(net: &Network, i: usize) -> Vec<ExecDesign> {
    let l = &net.layers[i];
    let (rows, cols) = if l.is_pool() { (l.h, l.w) } else { (l.r, l.c) };
    let orders: &[LoopOrder] = if l.is_pool() {
        &[LoopOrder::ReuseO]
    } else {
        &LoopOrder::ALL
    };
    let tns = if l.is_pool() { vec![1] } else { divisors(l.n) };
    let mut out = vec![];
    for tr in divisors(rows) {
        for tc in divisors(cols) {
            for tm in divisors(l.m) {
                for &tn in &tns {
                    for &order in orders {
                        let it = if l.is_pool() {
                            rows / tr * (cols / tc)
                        } else {
                            match order {
                                LoopOrder::ReuseI => l.m / tm,
                                LoopOrder::ReuseW => rows / tr * (cols / tc),
                                LoopOrder::ReuseO => l.n / tn,
                            }
                        };
                        for batch in divisors(it) {
                            out.push(ExecDesign {
                                tr,
                                tc,
                                tm,
                                tn,
                                order,
                                batch,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

fn plan_bytes(net: &Network, designs: &[ExecDesign], seed: u64) -> Vec<u8> {
    let tensors = random_tensors(net, seed);
    planner::build(
        net,
        designs,
        &tensors,
        0,
        planner::target(2048, 1 << 20, "test"),
        seed as u32,
    )
    .unwrap()
}

/// A decoded plan and its validation.
type Checked<'a> = (Plan<'a>, ValidPlan);

/// Validated against the target the test plans record (2048 B VM, 1 MiB NVM).
fn valid(bytes: &[u8]) -> Result<Checked<'_>, plan::PlanError> {
    planner::open(bytes)
}

fn run(
    plan: &Checked<'_>,
    input: &[i16],
    next_cut: impl FnMut(&SimNvm) -> Option<Cut>,
) -> (Vec<i16>, u64) {
    run_with_cuts(&plan.1, &plan.0, input, next_cut).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the design of each layer (all loop orders, batches, tiles), the engine computes
    /// exactly the reference forward pass.
    #[test]
    fn engine_equals_reference_for_any_design(
        fc in any::<bool>(), picks in prop::collection::vec(any::<prop::sample::Index>(), 4), seed in any::<u64>()
    ) {
        let space = if fc { FC } else { CONV1D };
        let net = space.network(space.example).unwrap();
        let designs: Vec<ExecDesign> = (0..net.layers.len())
            .map(|i| {
                let all: Vec<_> = valid_designs(&net, i);
                all[picks[i % picks.len()].index(all.len())]
            })
            .collect();
        let bytes = plan_bytes(&net, &designs, seed);
        let Ok(plan) = valid(&bytes) else { return Ok(()) }; // too big for the VM
        let input = random_input(plan.1.meta().input.elements() as usize, seed);
        let (out, _) = run(&plan, &input, |_| None);
        let want = q15ref::forward(&plan.0, &input);
        prop_assert_eq!(&out, want.last().unwrap());
    }
}

/// Design sets that exercise each loop order with several input-channel tiles and batches.
fn stress_designs(net: &Network) -> Vec<Vec<ExecDesign>> {
    let mut sets = vec![];
    for order in LoopOrder::ALL {
        let set: Vec<ExecDesign> = (0..net.layers.len())
            .map(|i| {
                let all = valid_designs(net, i);
                let score = |d: &ExecDesign| {
                    let l = &net.layers[i];
                    let (rows, cols) = if l.is_pool() { (l.h, l.w) } else { (l.r, l.c) };
                    let n_tiles = if l.is_pool() { 1 } else { l.n / d.tn };
                    let tiles = rows / d.tr * (cols / d.tc) * (l.m / d.tm) * n_tiles;
                    // The wanted order, several input-channel tiles (partial sums fetched back),
                    // batches of more than one tile, and then as many batches as possible.
                    (
                        d.order == order || l.is_pool(),
                        n_tiles > 1,
                        d.batch > 1,
                        tiles / d.batch,
                    )
                };
                *all.iter().max_by_key(|d| score(d)).unwrap()
            })
            .collect();
        sets.push(set);
    }
    sets
}

fn exhaustive(space: &SearchSpace) {
    let net = space.network(space.example).unwrap();
    let mut runs = 0u64;
    for (k, designs) in stress_designs(&net).iter().enumerate() {
        let bytes = plan_bytes(&net, designs, 40 + k as u64);
        let plan = valid(&bytes).unwrap_or_else(|e| panic!("{designs:?}: {e}"));
        let input = random_input(plan.1.meta().input.elements() as usize, 9);
        let want = q15ref::forward(&plan.0, &input).pop().unwrap();
        let (first, lens) = write_log(&plan.1, &plan.0, &input).unwrap();
        assert!(lens.len() as u64 > first + 10);
        for w in first..lens.len() as u64 {
            for keep in 0..=lens[w as usize] {
                let mut armed = Some(Cut { write: w, keep });
                let (out, failures) = run(&plan, &input, |_| armed.take());
                assert_eq!(failures, 1);
                assert_eq!(
                    out, want,
                    "design set {k}, cut at write {w} keeping {keep} words"
                );
                runs += 1;
            }
        }
    }
    assert!(runs > 100, "only {runs} injections");
    eprintln!("{runs} single-failure runs, 0 mismatches");
}

#[test]
fn every_write_and_torn_point_conv1d() {
    exhaustive(&CONV1D);
}

#[test]
fn every_write_and_torn_point_fc() {
    exhaustive(&FC);
}

/// A CIFAR-10-sized network (32x32x3 input, 5 conv layers, GAP, classifier) under thousands of
/// random power failures, each at a random write and torn at a random word.
#[test]
fn random_failures_on_a_cifar_sized_net() {
    let space = inas_core::network::CIFAR;
    let net = space.network(&[3, 4, 3, 4, 3, 4, 3, 4, 3, 4]).unwrap();
    let profile = inas_core::profile::Profile::reference();
    let p = inas_core::model::Platform::new(
        &profile,
        inas_core::model::Overrides {
            r_ohm: Some(24.0),
            ..Default::default()
        },
    )
    .unwrap();
    let r = inas_core::explore::explore_network(&p, &net, inas_core::model::Power::Int).unwrap();
    let designs: Vec<ExecDesign> = r.layers.iter().map(|l| l.design.exec()).collect();
    let bytes = plan_bytes(&net, &designs, 3);
    let plan = valid(&bytes).unwrap();
    let input = random_input(plan.1.meta().input.elements() as usize, 3);
    let (clean, _) = run(&plan, &input, |_| None);
    assert_eq!(clean, q15ref::forward(&plan.0, &input).pop().unwrap());
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut total = 0;
    while total < 10_000 {
        // Up to 1000 failures per run, each within the next few hundred writes (so anywhere in
        // a batch, its outputs or its commit) and torn at a random word; then the run finishes.
        let mut left = 1000;
        let (out, failures) = run(&plan, &input, |nvm| {
            left -= 1;
            (left > 0).then(|| Cut {
                write: nvm.writes + rng.random_range(0..300u64),
                keep: rng.random_range(0..=64usize),
            })
        });
        assert_eq!(out, clean);
        total += failures;
    }
    eprintln!("{total} random failures, 0 mismatches");
}
