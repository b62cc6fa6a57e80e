//! Search-side costs per candidate: pricing (model-build check + explorer) in each mode, and one
//! controller step. The budget: intermittent-awareness overhead ≤ 0.5 % of search time,
//! i.e. the explorer must stay far below the seconds-to-minutes of training a child.

use criterion::{criterion_group, criterion_main, Criterion};
use inas::model::{Overrides, Platform};
use inas::network::Dataset;
use inas::profile::Profile;
use inas::search::{
    evaluate_candidate, Candidate, Decisions, Mode, Outcome, Settings, StrategyKind,
};

/// The digest's calibrated harvester for each dataset at 5 mF.
fn platform(ds: Dataset) -> Platform {
    let r_ohm = match ds {
        Dataset::Cifar => 24.0,
        Dataset::Har => 41.0,
        Dataset::Kws => 44.0,
    };
    Platform::new(
        &Profile::reference(),
        Overrides {
            capacitance_f: Some(0.005),
            r_ohm: Some(r_ohm),
            ..Default::default()
        },
    )
    .unwrap()
}

/// 32 candidates drawn by the random strategy (fixed seed), as a search would see them.
fn candidates(ds: Dataset) -> Vec<Candidate> {
    let mut s = Settings::paper(StrategyKind::Random, 1, 1e9)
        .build(Decisions::of(ds.space()).unwrap())
        .unwrap();
    (0..32)
        .map(|_| {
            let c = s.propose().unwrap();
            s.observe(&c, &Outcome::NoDesign).unwrap();
            c
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let memory = Profile::reference().memory;
    let mut g = c.benchmark_group("evaluate_candidate (32 random children)");
    g.sample_size(10);
    for ds in Dataset::ALL {
        let p = platform(ds);
        let kids = candidates(ds);
        for mode in Mode::ALL {
            g.bench_function(format!("{ds} {mode}"), |b| {
                b.iter(|| {
                    for k in &kids {
                        evaluate_candidate(mode, &p, ds.space(), &memory, k).unwrap();
                    }
                })
            });
        }
    }
    g.finish();

    tch::set_num_threads(1);
    let mut g = c.benchmark_group("controller");
    for ds in Dataset::ALL {
        let decisions = Decisions::of(ds.space()).unwrap();
        let mut s = Settings::paper(StrategyKind::Reinforce, 1, 10.0)
            .build(decisions)
            .unwrap();
        let trained = Outcome::Trained {
            latency_s: 5.0,
            accuracy: 0.5,
        };
        g.bench_function(
            format!("{ds} propose + observe (one REINFORCE step)"),
            |b| {
                b.iter(|| {
                    let c = s.propose().unwrap();
                    s.observe(&c, &trained).unwrap();
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
