//! The energy-driven simulation of a plan against the performance model's prediction for the
//! same designs: power cycles exactly, latency within ±5 %.

use inas::explore::{evaluate_fixed_network, explore_network};
use inas::model::{Overrides, Platform, Power};
use inas::network::Dataset;
use inas::planner::{self, random_input, random_tensors};
use inas::profile::Profile;
use inas::q15ref;
use inas::simdev::{EnergyDevice, SimNvm};
use inas_common::engine::Engine;
use inas_common::ExecDesign;

fn check(dataset: Dataset, arch: &[u32], cap: f64, rehm: f64) -> (u64, f64, f64) {
    let profile = Profile::reference();
    let p = Platform::new(
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
    // The model for the same designs, pricing GAP as our engine fetches it (no Q2 halo).
    let mut ours = profile.clone();
    ours.quirks.gap_ifm_tile_with_kernel = false;
    let p2 = Platform::new(
        &ours,
        Overrides {
            capacitance_f: Some(cap),
            r_ohm: Some(rehm),
            ..Default::default()
        },
    )
    .unwrap();
    let fixed = evaluate_fixed_network(&p2, &net, &designs).unwrap();
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
