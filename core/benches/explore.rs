//! Explorer speed. Targets: a full intermittent sweep of a 5-layer CIFAR-10 child in
//! ≤ 2 ms on one core (the reference Python explorer: about 1.5 s), and 100 CIFAR children in
//! ≤ 0.3 s (see also `inas explore --batch`, which this mirrors without the I/O).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use inas_core::explore::explore_network;
use inas_core::model::{Overrides, Platform, Power};
use inas_core::network::CIFAR;
use inas_core::profile::Profile;

fn children(n: usize) -> Vec<Vec<u32>> {
    // A fixed pseudo-random walk over the CIFAR space (no rand dependency needed).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            (0..10)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let choices = if i % 2 == 0 {
                        CIFAR.kernels
                    } else {
                        CIFAR.filters
                    };
                    choices[(x % choices.len() as u64) as usize]
                })
                .collect()
        })
        .filter(|a: &Vec<u32>| CIFAR.network(a).is_ok())
        .collect()
}

fn bench(c: &mut Criterion) {
    let profile = Profile::reference();
    let p = Platform::new(
        &profile,
        Overrides {
            capacitance_f: Some(0.005),
            r_ohm: Some(24.0),
            ..Default::default()
        },
    )
    .unwrap();
    let net = CIFAR.network(CIFAR.example).unwrap();
    c.bench_function(
        "int sweep, reference CIFAR-10 child (7 layers, ~76k points)",
        |b| b.iter(|| explore_network(&p, &net, Power::Int).unwrap()),
    );
    c.bench_function("cont sweep, reference CIFAR-10 child", |b| {
        b.iter(|| explore_network(&p, &net, Power::Cont).unwrap())
    });
    let kids = children(100);
    let mut g = c.benchmark_group("batch");
    g.sample_size(10);
    g.bench_function("100 CIFAR-10 children, int, one core", |b| {
        b.iter_batched(
            || kids.clone(),
            |kids| {
                for a in kids {
                    explore_network(&p, &CIFAR.network(&a).unwrap(), Power::Int).unwrap();
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
