//! Properties of the model and the explorer that must hold for every network and supply.

use inas_common::{ExecDesign, LoopOrder};
use inas_core::explore::{explore_layer_cont, explore_layer_int, explore_network};
use inas_core::model::{evaluate_cont, evaluate_fixed, Overrides, Platform, Power};
use inas_core::network::{Dataset, Layer, LayerKind, ModelType, Network};
use inas_core::profile::Profile;
use proptest::prelude::*;

fn arch_strategy(ds: Dataset) -> impl Strategy<Value = Vec<u32>> {
    let s = ds.space();
    let per_layer: BoxedStrategy<Vec<u32>> = match s.model {
        ModelType::Fc => prop::sample::select(s.filters)
            .prop_map(|u| vec![u])
            .boxed(),
        _ => (
            prop::sample::select(s.kernels),
            prop::sample::select(s.filters),
        )
            .prop_map(|(k, f)| vec![k, f])
            .boxed(),
    };
    prop::collection::vec(per_layer, s.layers).prop_map(|v| v.concat())
}

fn net_strategy(datasets: &'static [Dataset]) -> impl Strategy<Value = (Dataset, Network)> {
    prop::sample::select(datasets)
        .prop_flat_map(|ds| arch_strategy(ds).prop_map(move |a| (ds, a)))
        .prop_filter_map("geometry", |(ds, a)| {
            ds.space().network(&a).ok().map(|n| (ds, n))
        })
}

fn platform(profile: &Profile, cap: f64, rehm: f64, margin: f64, vm: u64) -> Platform {
    Platform::new(
        profile,
        Overrides {
            capacitance_f: Some(cap),
            r_ohm: Some(rehm),
            margin: Some(margin),
            vm_bytes: Some(vm),
        },
    )
    .unwrap()
}

/// The reference profile without quirk Q2, so that the fixed-design path prices GAP layers the
/// way the intermittent sweep does.
fn no_q2() -> Profile {
    let mut p = Profile::reference();
    p.quirks.gap_ifm_tile_with_kernel = false;
    p
}

fn divisors(x: u32) -> Vec<u32> {
    (1..=x).filter(|d| x.is_multiple_of(*d)).collect()
}

fn one_and_even(x: u32) -> Vec<u32> {
    std::iter::once(1)
        .chain((2..=x).filter(|d| d % 2 == 0 && x.is_multiple_of(*d)))
        .collect()
}

/// Every candidate of cost-model.md §4, in enumeration order, written independently of the
/// explorer.
fn candidates(l: &Layer) -> Vec<ExecDesign> {
    let pool = l.kind == LayerKind::GlobalAvgPool;
    let (trs, tcs, tms, tns) = if pool {
        (
            one_and_even(l.h),
            one_and_even(l.w),
            one_and_even(l.m),
            vec![1],
        )
    } else {
        (
            divisors(l.r),
            divisors(l.c),
            divisors(l.m),
            one_and_even(l.n),
        )
    };
    let orders: &[LoopOrder] = if pool {
        &[LoopOrder::ReuseO]
    } else {
        &LoopOrder::ALL
    };
    let mut out = vec![];
    for &tr in &trs {
        for &tc in &tcs {
            for &tm in &tms {
                for &tn in &tns {
                    for &order in orders {
                        let it = if pool {
                            l.h.div_ceil(tr) * l.w.div_ceil(tc)
                        } else {
                            match order {
                                LoopOrder::ReuseI => l.m.div_ceil(tm),
                                LoopOrder::ReuseW => l.r.div_ceil(tr) * l.c.div_ceil(tc),
                                LoopOrder::ReuseO => l.n.div_ceil(tn),
                            }
                        };
                        for batch in one_and_even(it) {
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// The optimized sweep (hoisting, pruning) picks exactly what evaluating every candidate
    /// one by one and applying the choice rule picks, with the same counts and record.
    #[test]
    fn sweep_equals_brute_force(
        (_ds, net) in net_strategy(&[Dataset::Har, Dataset::Kws, Dataset::Har, Dataset::Cifar]),
        cap in 0.0005f64..0.02, rehm in 10.0f64..400.0, margin in 0.3f64..1.0,
        vm in prop::sample::select(vec![512u64, 1024, 2048, 4096]),
    ) {
        let p = platform(&no_q2(), cap, rehm, margin, vm);
        // CIFAR's big layers make the brute force slow in debug builds: check its small ones.
        for layer in net.layers.iter().filter(|l| candidates(l).len() <= 8000) {
            let mut feasible = 0u64;
            let mut best: Option<(f64, u64, ExecDesign)> = None;
            for d in candidates(layer) {
                if let Ok(rec) = evaluate_fixed(&p, layer, &d).unwrap() {
                    feasible += 1;
                    let better = match best {
                        None => true,
                        Some((l, vm, _)) => rec.le2e_s() < l || (rec.le2e_s() == l && rec.vm_bytes() < vm),
                    };
                    if better {
                        best = Some((rec.le2e_s(), rec.vm_bytes(), d));
                    }
                }
            }
            match explore_layer_int(&p, layer).unwrap() {
                Ok((design, stats)) => {
                    let (l, vm, d) = best.expect("the sweep found a design, so must brute force");
                    prop_assert_eq!(design.exec(), d, "{}", layer.name);
                    prop_assert_eq!((design.le2e_s(), design.vm_bytes()), (l, vm));
                    prop_assert_eq!(stats.feasible, feasible);
                    prop_assert_eq!(stats.enumerated, candidates(layer).len() as u64);
                    prop_assert_eq!(Ok(design), evaluate_fixed(&p, layer, &d).unwrap());
                }
                Err((why, stats)) => {
                    prop_assert!(best.is_none(), "{}: {why}", layer.name);
                    prop_assert_eq!(stats.feasible, 0);
                }
            }
        }
    }

    /// Whatever the explorer returns fits the VM and one power cycle's energy, and (for every
    /// layer but GAP, whose fixed-design pricing carries quirk Q2) re-evaluating it as a fixed
    /// design gives the same record.
    #[test]
    fn chosen_designs_satisfy_both_constraints(
        (_ds, net) in net_strategy(&Dataset::ALL),
        cap in 0.0005f64..0.02, rehm in 10.0f64..400.0, margin in 0.3f64..1.0,
        vm in prop::sample::select(vec![1024u64, 2048, 3696]),
    ) {
        let p = platform(&Profile::reference(), cap, rehm, margin, vm);
        let r = explore_network(&p, &net, Power::Int).unwrap();
        for (l, layer) in r.layers.iter().zip(&net.layers) {
            let d = &l.design;
            prop_assert!(d.vm_bytes() <= vm, "{} C0", l.name);
            prop_assert!(d.epc_max_j() <= p.budget_j(), "{} C1", l.name);
            prop_assert!(d.epc_min_j() <= d.epc_max_j());
            prop_assert!(d.le2e_s() > 0.0);
            let again = evaluate_fixed(&p, layer, &d.exec()).unwrap();
            if layer.is_pool() {
                // Q2 inflates the GAP fetch outside the sweep: never cheaper.
                if let Ok(again) = again {
                    prop_assert!(again.epc_max_j() >= d.epc_max_j());
                }
            } else {
                prop_assert_eq!(again, Ok(*d), "{}", l.name);
            }
        }
        match r.latency_s {
            Some(total) => {
                prop_assert_eq!(r.layers.len(), net.layers.len());
                let sum = r.layers.iter().fold(0.0, |acc, l| acc + l.design.le2e_s());
                prop_assert_eq!(total, sum);
            }
            None => {
                let why = r.infeasible.as_ref().unwrap();
                prop_assert_eq!(why.layer(), net.layers[r.layers.len()].name.as_str());
            }
        }
    }

    /// iNAS never loses to the HW-NAS baseline under intermittent power: the continuous-power
    /// design of each layer, run intermittently, is never faster than the explorer's choice.
    /// And the continuous records agree with evaluating their designs directly.
    #[test]
    fn cont_designs_never_beat_the_explorer_intermittently(
        (_ds, net) in net_strategy(&Dataset::ALL),
        cap in 0.001f64..0.02, rehm in 10.0f64..300.0,
    ) {
        let p = platform(&Profile::reference(), cap, rehm, 0.55, 2048);
        for layer in &net.layers {
            let (cont, _) = explore_layer_cont(&p, layer).unwrap();
            prop_assert_eq!(cont.exec().batch, 1);
            prop_assert_eq!(evaluate_cont(&p, layer, &cont.exec()), Ok(cont));
            if let Ok(fixed) = evaluate_fixed(&p, layer, &cont.exec()).unwrap() {
                let (int, _) = explore_layer_int(&p, layer).unwrap().expect("a feasible fixed design exists");
                prop_assert!(int.le2e_s() <= fixed.le2e_s(), "{}: {} vs {}", layer.name, int.le2e_s(), fixed.le2e_s());
            }
        }
    }

    /// More harvested power (a stiffer source) or more VM never makes a network slower, and
    /// never makes a feasible network infeasible.
    #[test]
    fn latency_is_monotone_in_harvested_power_and_vm(
        (_ds, net) in net_strategy(&Dataset::ALL),
        cap in 0.001f64..0.02, r1 in 10.0f64..400.0, r2 in 10.0f64..400.0,
        vm in prop::sample::select(vec![1024u64, 1536, 2048]),
    ) {
        let (lo, hi) = if r1 <= r2 { (r1, r2) } else { (r2, r1) };
        let prof = Profile::reference();
        let strong = explore_network(&platform(&prof, cap, lo, 0.55, vm), &net, Power::Int).unwrap();
        let weak = explore_network(&platform(&prof, cap, hi, 0.55, vm), &net, Power::Int).unwrap();
        let more_vm = explore_network(&platform(&prof, cap, hi, 0.55, vm + 512), &net, Power::Int).unwrap();
        // Feasibility depends on VM and energy, not on the source resistance.
        prop_assert_eq!(strong.latency_s.is_some(), weak.latency_s.is_some());
        if let (Some(s), Some(w)) = (strong.latency_s, weak.latency_s) {
            prop_assert!(s <= w, "R {lo}: {s} s > R {hi}: {w} s");
        }
        if let Some(w) = weak.latency_s {
            let m = more_vm.latency_s.expect("more VM keeps a feasible network feasible");
            prop_assert!(m <= w, "VM {}: {m} s > VM {vm}: {w} s", vm + 512);
        }
    }
}

#[test]
fn infeasible_networks_say_why_with_numbers() {
    let net = Dataset::Cifar
        .space()
        .network(Dataset::Cifar.space().example)
        .unwrap();
    let tiny_cap = platform(&Profile::reference(), 0.0001, 24.0, 0.55, 2048);
    let r = explore_network(&tiny_cap, &net, Power::Int).unwrap();
    assert_eq!(r.latency_s, None);
    let why = r.infeasible.unwrap();
    assert_eq!(why.intended_code(), 12);
    let msg = why.to_string();
    assert!(msg.starts_with("CONV_0: best energy per cycle "), "{msg}");
    assert!(msg.contains("µJ > budget 30.3 µJ"), "{msg}");

    let tiny_vm = platform(&Profile::reference(), 0.005, 24.0, 0.55, 32);
    let r = explore_network(&tiny_vm, &net, Power::Int).unwrap();
    let why = r.infeasible.unwrap();
    assert_eq!(why.intended_code(), 11);
    // The smallest CONV_0 design: 3x3x1 IFM tile + 3x3x1x1 weights + 1 output = 19 elements.
    assert_eq!(
        why.to_string(),
        "CONV_0: no design fits the VM: the smallest needs 38 B > 32 B"
    );
}

/// Another harvester model plugs in through the profile: a constant-power source explores the
/// same designs' feasibility (C0/C1 do not depend on the harvester) with its own recharge times.
#[test]
fn a_constant_power_profile_explores() {
    let text = inas_core::profile::BUILTIN[0].1.replace(
        "kind = \"rc\"\nv_sup = 3.0              # VSUP\nr_ohm = 300.0",
        "kind = \"constant_power\"\npower_w = 0.002 #",
    );
    let prof = Profile::from_toml(&text, "cp.toml").unwrap();
    assert!(matches!(
        prof.harvester,
        inas_core::supply::Harvester::ConstantPower(_)
    ));
    let p = Platform::new(&prof, Overrides::default()).unwrap();
    let rc = Platform::new(
        &Profile::reference(),
        Overrides {
            r_ohm: Some(41.0),
            ..Default::default()
        },
    )
    .unwrap();
    let net = Dataset::Har
        .space()
        .network(Dataset::Har.space().example)
        .unwrap();
    let a = explore_network(&p, &net, Power::Int).unwrap();
    let b = explore_network(&rc, &net, Power::Int).unwrap();
    let (a_total, b_total) = (a.latency_s.unwrap(), b.latency_s.unwrap());
    assert!(a_total > 0.0 && a_total != b_total);
    for (x, y) in a.layers.iter().zip(&b.layers) {
        assert_eq!(x.stats.feasible, y.stats.feasible, "{}", x.name);
    }
    let e = Platform::new(
        &prof,
        Overrides {
            r_ohm: Some(24.0),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("RC source"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// The model's VM for a design (constraint C0) is what the plan's check charges for it, and
    /// the engine's tile buffers fit inside it, for every design the explorer picks: one rule,
    /// three places that must agree (`model`, `plan::vm_need_bytes`, the engine's `Geo`).
    #[test]
    fn the_models_vm_is_the_plans_and_the_engine_fits_in_it(
        (_ds, net) in net_strategy(&[Dataset::Har, Dataset::Kws, Dataset::Cifar]),
        cap in 0.001f64..0.01, rehm in 20.0f64..100.0,
        vm in prop::sample::select(vec![1024u64, 2048, 4096]),
    ) {
        let profile = inas_core::profile::Profile::builtin("msp430fr5994-emu").unwrap();
        let p = platform(&profile, cap, rehm, 0.55, vm);
        let Ok(explored) = explore_network(&p, &net, Power::Int) else {
            return Ok(());
        };
        if explored.infeasible.is_some() {
            return Ok(());
        }
        let designs: Vec<ExecDesign> = explored.layers.iter().map(|l| l.design.exec()).collect();
        let target = inas_core::planner::target(vm, 1 << 24, "msp430fr5994-emu");
        let tensors = inas_core::planner::random_tensors(&net, 1);
        let bytes = inas_core::planner::build(&net, &designs, &tensors, 0, target, 1).unwrap();
        let (_, valid) = inas_core::planner::open(&bytes).unwrap();
        for ((l, desc), geo) in explored.layers.iter().zip(valid.layers()).zip(valid.geos()) {
            let plan_vm = u64::from(inas_common::plan::vm_need_bytes(desc));
            prop_assert_eq!(l.design.vm_bytes(), plan_vm, "{:?}", desc.design);
            prop_assert!(2 * u64::from(geo.vm_words()) <= plan_vm, "{:?}", desc.design);
        }
    }
}
