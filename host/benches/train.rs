//! Training throughput of search children with tch: samples per second of one epoch of
//! `train::fit` (Adam, the paper's batch sizes, random data), validation and set-up excluded.
//! `scripts/bench_train_pytorch.py` trains the same networks the same way in PyTorch from Python;
//! the expected tch/PyTorch ratio is at least 1.0.
//!
//! `q15_eval` measures the Q15 accuracy pass (quantization with a small calibration set, plan
//! build, the bit-exact forward pass over validation samples on all cores).
//!
//! Run with the same thread count on both sides, e.g. `cargo bench -p inas --bench train` and
//! `OMP_WAIT_POLICY=PASSIVE python scripts/bench_train_pytorch.py` (cargo sets that variable for
//! the bench through `.cargo/config.toml`). On a busy machine wall time mostly measures the
//! neighbours: `INAS_BENCH_CLOCK=cpu` (with `OMP_NUM_THREADS=1`, and `--clock cpu` on the Python
//! side) makes `train_epoch` report the process's CPU time instead.

use std::ops::ControlFlow;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use inas::explore::explore_network;
use inas::model::{Overrides, Platform, Power};
use inas::network::{Dataset, Network};
use inas::planner;
use inas::profile::Profile;
use inas::train::{
    calibration_inputs, evaluate_q15, fit, init_float, DeviceChoice, ModelOptions, Samples,
    TrainConfig,
};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// One case: the dataset's example child (the reference's worked example, docs/cost-model.md §13) and the epoch size.
struct Case {
    dataset: Dataset,
    batches: usize,
}

const CASES: [Case; 3] = [
    Case {
        dataset: Dataset::Har,
        batches: 8,
    },
    Case {
        dataset: Dataset::Cifar,
        batches: 4,
    },
    Case {
        dataset: Dataset::Kws,
        batches: 40,
    },
];

/// The process's user + system CPU time (all threads), from `/proc/self/stat` in USER_HZ ticks
/// (100 per second in the Linux ABI).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse().expect("stat tick count"))
        .collect();
    Duration::from_millis((f[0] + f[1]) * 10)
}

fn bench(c: &mut Criterion) {
    let cpu_clock = match std::env::var("INAS_BENCH_CLOCK").as_deref() {
        Ok("cpu") => true,
        Ok("wall") | Err(_) => false,
        Ok(other) => panic!("INAS_BENCH_CLOCK={other}: expected cpu or wall"),
    };
    let mut group = c.benchmark_group("train_epoch");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for case in CASES {
        let space = case.dataset.space();
        let net = space.network(space.example).unwrap();
        let base = TrainConfig {
            device: DeviceChoice::Auto,
            ..TrainConfig::paper(case.dataset)
        };
        let n = base.batch_size * case.batches;
        let l = &net.layers[0];
        let shape = [l.h as usize, l.w as usize, l.n as usize];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let classes = space.classes as usize;
        let x: Vec<f32> = (0..n * shape.iter().product::<usize>())
            .map(|_| rng.random_range(-1f32..1.0))
            .collect();
        let y: Vec<u8> = (0..n).map(|i| (i % classes) as u8).collect();
        let train = Samples {
            x: &x,
            y: &y,
            shape,
            classes,
        };
        // A token validation set: fit validates every epoch, the measurement leaves it out.
        let val_len = 8 * shape.iter().product::<usize>();
        let val = Samples {
            x: &x[..val_len],
            y: &y[..8],
            ..train
        };
        group.throughput(Throughput::Elements(n as u64));
        let name = format!("{}_{}_batch{}", case.dataset, n, base.batch_size);
        group.bench_function(name, |b| {
            b.iter_custom(|epochs| {
                // One extra, untimed first epoch: set-up and warm-up stay out, as in the script.
                let cfg = TrainConfig {
                    epochs: epochs as usize + 1,
                    ..base.clone()
                };
                let mut mark = None;
                let t = fit(&net, &train, &val, &cfg, |e| {
                    if e.epoch == 1 {
                        mark = Some(cpu_time());
                    }
                    ControlFlow::Continue(())
                })
                .unwrap();
                if cpu_clock {
                    // Includes the token validation passes (8 samples an epoch).
                    cpu_time().saturating_sub(mark.expect("epoch 1 ran"))
                } else {
                    Duration::from_secs_f64(t.history[1..].iter().map(|e| e.train_s).sum())
                }
            })
        });
    }
    group.finish();
}

fn random_samples(net: &Network, n: usize, seed: u64) -> (Vec<f32>, Vec<u8>, [usize; 3]) {
    let l = &net.layers[0];
    let shape = [l.h as usize, l.w as usize, l.n as usize];
    let classes = net.layers.last().unwrap().m as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = (0..n * shape.iter().product::<usize>())
        .map(|_| rng.random_range(-1f32..1.0))
        .collect();
    let y = (0..n).map(|i| (i % classes) as u8).collect();
    (x, y, shape)
}

fn bench_q15(c: &mut Criterion) {
    let mut group = c.benchmark_group("q15_eval");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let platform = Platform::new(&Profile::reference(), Overrides::default()).unwrap();
    for (dataset, n) in [
        (Dataset::Har, 1024),
        (Dataset::Cifar, 128),
        (Dataset::Kws, 1024),
    ] {
        let space = dataset.space();
        let net = space.network(space.example).unwrap();
        let float = init_float(&net, ModelOptions::default(), 1);
        let designs: Vec<_> = explore_network(&platform, &net, Power::Int)
            .unwrap()
            .layers
            .iter()
            .map(|l| l.design.exec())
            .collect();
        let (x, y, shape) = random_samples(&net, n, 2);
        let val = Samples {
            x: &x,
            y: &y,
            shape,
            classes: space.classes as usize,
        };
        let calibration = calibration_inputs(&val, 16);
        let target = planner::target(2048, 1 << 20, "reference");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("{dataset}_{n}"), |b| {
            b.iter(|| evaluate_q15(&float, &designs, target, 1, &calibration, &val).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench, bench_q15);
criterion_main!(benches);
