//! The energy-driven simulation of a plan against the performance model's prediction for the
//! same designs: power cycles exactly, latency within ±5 %, and every batch's energy exactly
//! what the model prices for our engine (so the designs a plan carries keep C1).

use inas_common::engine::{Engine, Step};
use inas_common::plan::{Plan, ValidPlan};
use inas_common::ExecDesign;
use inas_core::explore::{evaluate_fixed_network, explore_network};
use inas_core::model::evaluate_fixed;
use inas_core::model::{Overrides, Platform, Power};
use inas_core::network::Dataset;
use inas_core::planner::{self, random_input, random_tensors};
use inas_core::profile::Profile;
use inas_core::q15ref;
use inas_core::simdev::{EnergyDevice, Pricing, SimNvm};

fn check(dataset: Dataset, arch: &[u32], cap: f64, rehm: f64) -> (u64, f64, f64) {
    let profile = Profile::reference();
    // The platform of our engine: what plans are explored for and predicted with.
    let p = Platform::for_engine(
        &profile,
        Overrides {
            capacitance_f: Some(cap),
            r_ohm: Some(rehm),
            ..Default::default()
        },
    )
    .unwrap();
    let net = dataset.space().network(arch).unwrap();
    let r = explore_network(&p, &net, Power::Int).unwrap();
    let designs: Vec<ExecDesign> = r.layers.iter().map(|l| l.design.exec()).collect();
    let tensors = random_tensors(&net, 1);
    let bytes = planner::build(
        &net,
        &designs,
        &tensors,
        0,
        planner::target(2048, 1 << 20, "reference"),
        1,
    )
    .unwrap();
    let (source, plan) = planner::open(&bytes).unwrap();
    let input = random_input(plan.meta().input.elements() as usize, 1);
    let mut nvm = SimNvm::for_plan(&plan, &source);
    let engine = Engine::new(&plan);
    engine.start(&mut nvm, &input).unwrap();
    let mut dev = EnergyDevice::new(nvm, p.costs, p.cap, p.harvester);
    let run = dev.run_intermittent(&plan).unwrap();
    assert!(run.completed);
    assert_eq!(run.brownouts, 0, "explorer designs fit one power cycle");
    let (at, len) = engine.output();
    assert_eq!(
        dev.nvm.words[at as usize..(at + len) as usize].to_vec(),
        q15ref::forward(&source, &input).pop().unwrap()
    );
    let fixed = evaluate_fixed_network(&p, &net, &designs).unwrap();
    let predicted = fixed.latency_s.unwrap();
    let cycles: f64 = r.layers.iter().map(|l| l.design.counts().npc).sum();
    assert_eq!(
        run.power_cycles as f64, cycles,
        "power cycles equal the model's count"
    );
    let err = (run.latency_s() - predicted) / predicted;
    eprintln!(
        "{dataset}: {} cycles, simulated {:.4} s, model {:.4} s, {:+.3} %",
        run.power_cycles,
        run.latency_s(),
        predicted,
        err * 100.0
    );
    assert!(err.abs() < 0.05, "{err}");
    (run.power_cycles, run.latency_s(), predicted)
}

#[test]
fn har_reference_network() {
    check(Dataset::Har, Dataset::Har.space().example, 0.005, 41.0);
}

#[test]
fn kws_reference_network() {
    check(Dataset::Kws, Dataset::Kws.space().example, 0.005, 44.0);
}

#[test]
fn cifar_small_network_at_1mf() {
    check(Dataset::Cifar, &[3, 4, 3, 4, 3, 4, 3, 4, 3, 4], 0.001, 52.0);
}

/// The energy of every batch the engine runs on `plan`, priced as `p` prices each operation
/// (reboot included), the largest per layer.
fn worst_batches(p: &Platform, plan: &ValidPlan, source: &Plan<'_>) -> Vec<f64> {
    let mut nvm = SimNvm::for_plan(plan, source);
    nvm.pricing = Some(Pricing {
        latency: p.costs.l,
        energy: p.costs.e,
        clock_hz: 1e6,
    });
    let engine = Engine::new(plan);
    let input = random_input(plan.meta().input.elements() as usize, 3);
    engine.start(&mut nvm, &input).unwrap();
    let mut vm = vec![0i16; engine.vm_words()];
    let mut worst = vec![0f64; plan.layers().len()];
    let mut layer = 0;
    while let Step::Committed { layer: next, .. } = {
        nvm.spent_j = 0.0;
        engine.step(&mut nvm, &mut vm).unwrap()
    } {
        worst[layer] = worst[layer].max(nvm.spent_j + p.costs.e.reboot);
        layer = usize::from(next);
    }
    worst
}

/// The model prices exactly what our engine does in a batch — its transfers, the footprint's
/// two slots, the two-write commit, a fresh tile's bias read, GAP's weight read — so the worst
/// batch of every convolution is the model's worst power cycle to the last bits, GAP's at most
/// it (the model prices a bias read the engine skips for a layer without biases), and every
/// batch fits the capacitor's budget: the plans' designs keep C1 for what the engine runs.
#[test]
fn every_batch_costs_what_the_model_prices_for_our_engine() {
    let cases: [(Dataset, &[u32], f64, f64, u64); 4] = [
        (Dataset::Har, &[5, 4, 1, 8, 5, 4], 0.005, 41.0, 1),
        (Dataset::Kws, Dataset::Kws.space().example, 0.005, 44.0, 3),
        (
            Dataset::Cifar,
            &[3, 8, 5, 24, 3, 24, 5, 16, 5, 16],
            0.005,
            24.0,
            12,
        ),
        (
            Dataset::Cifar,
            &[3, 4, 3, 4, 3, 4, 3, 4, 3, 4],
            0.001,
            52.0,
            2,
        ),
    ];
    for (dataset, arch, cap, rehm, seed) in cases {
        let o = Overrides {
            capacitance_f: Some(cap),
            r_ohm: Some(rehm),
            ..Default::default()
        };
        let profile = Profile::reference();
        let bytes =
            planner::random_plan(&profile, o, dataset.space(), arch, Power::Int, seed).unwrap();
        let (source, plan) = planner::open(&bytes).unwrap();
        let p = Platform::for_engine(&profile, o).unwrap();
        let net = planner::network_of(plan.meta());
        let worst = worst_batches(&p, &plan, &source);
        for ((layer, desc), engine) in net.layers.iter().zip(plan.layers()).zip(worst) {
            let model = evaluate_fixed(&p, layer, &desc.design).unwrap().unwrap();
            let (m, what) = (
                model.epc_max_j(),
                format!("{dataset} {} {}", layer.name, desc.design),
            );
            assert!(
                engine <= m * (1.0 + 1e-12),
                "{what}: engine {engine} J > model {m} J"
            );
            if !layer.is_pool() {
                assert!(
                    (m - engine) / m < 1e-9,
                    "{what}: engine {engine} J, model {m} J"
                );
            }
            assert!(
                engine <= p.budget_j(),
                "{what}: {engine} J > budget {} J",
                p.budget_j()
            );
        }
    }
}

/// The paper's CIFAR-10 network, explored for our engine at 5 mF and 24 Ω, completes on
/// harvested energy without a brown-out (priced by the reference's model alone, one batch of
/// CONV_4 needed 7.5 µJ more than a charge holds, and the run never completed).
#[test]
fn the_papers_cifar_network_completes_on_harvested_energy() {
    let o = Overrides {
        capacitance_f: Some(0.005),
        r_ohm: Some(24.0),
        ..Default::default()
    };
    let profile = Profile::reference();
    let arch = [3, 8, 5, 24, 3, 24, 5, 16, 5, 16];
    let bytes =
        planner::random_plan(&profile, o, Dataset::Cifar.space(), &arch, Power::Int, 12).unwrap();
    let (source, plan) = planner::open(&bytes).unwrap();
    let p = Platform::for_engine(&profile, o).unwrap();
    let input = random_input(plan.meta().input.elements() as usize, 1);
    let engine = Engine::new(&plan);
    let mut nvm = SimNvm::for_plan(&plan, &source);
    engine.start(&mut nvm, &input).unwrap();
    let mut dev = EnergyDevice::new(nvm, p.costs, p.cap, p.harvester);
    let run = dev.run_intermittent(&plan).unwrap();
    assert!(run.completed && run.brownouts == 0, "{run:?}");
    let (at, len) = engine.output();
    assert_eq!(
        dev.nvm.words[at as usize..(at + len) as usize].to_vec(),
        q15ref::forward(&source, &input).pop().unwrap()
    );
}
