//! Training children with tch: the module against the float reference, learning on synthetic
//! data, determinism, and the Q15 evaluation against the device engine.

use std::ops::ControlFlow;

use inas::explore::explore_network;
use inas::model::{Overrides, Platform, Power};
use inas::network::{Dataset, ModelType, Network, SearchSpace};
use inas::planner;
use inas::profile::Profile;
use inas::quant::{forward_f32, FloatNet};
use inas::simdev::SimNvm;
use inas::train::{
    calibration_inputs, evaluate_q15, fit, init_float, DeviceChoice, Model, ModelOptions, Samples,
    TrainConfig, TrainError,
};
use inas_common::engine::Engine;
use inas_common::ExecDesign;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use tch::{Device, Tensor};

fn one_thread() {
    tch::set_num_threads(1);
}

/// A random architecture of a search space (kernels that fit their input).
fn random_network(space: &SearchSpace, rng: &mut ChaCha8Rng) -> Network {
    loop {
        let actions: Vec<u32> = match space.model {
            ModelType::Fc => (0..space.layers)
                .map(|_| space.filters[rng.random_range(0..space.filters.len())])
                .collect(),
            _ => (0..space.layers)
                .flat_map(|_| {
                    let k = space.kernels[rng.random_range(0..space.kernels.len())];
                    let f = space.filters[rng.random_range(0..space.filters.len())];
                    [k, f]
                })
                .collect(),
        };
        if let Ok(net) = space.network(&actions) {
            return net;
        }
    }
}

/// Random weights and (non-zero) biases everywhere they can be.
fn random_float(net: &Network, rng: &mut ChaCha8Rng) -> FloatNet {
    let mut f = init_float(net, ModelOptions { conv_bias: true }, rng.random());
    for l in &mut f.layers {
        for b in &mut l.bias {
            *b = rng.random_range(-0.2f32..0.2);
        }
    }
    f
}

fn input_len(net: &Network) -> usize {
    let l = &net.layers[0];
    (l.h * l.w * l.n) as usize
}

fn logits(model: &Model, xs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let l = &model.network().layers[0];
    let flat: Vec<f32> = xs.iter().flatten().copied().collect();
    let t = Tensor::from_slice(&flat).view([xs.len() as i64, l.h as i64, l.w as i64, l.n as i64]);
    let out = tch::no_grad(|| model.f_forward(&t)).unwrap();
    let classes = out.size()[1] as usize;
    let v = Vec::<f32>::try_from(out.flatten(0, -1)).unwrap();
    v.chunks(classes).map(<[f32]>::to_vec).collect()
}

#[test]
fn output_shapes_and_parameter_counts_per_space() {
    one_thread();
    for ds in Dataset::ALL {
        let space = ds.space();
        let net = space.network(space.example).unwrap();
        let model = Model::new(&net, ModelOptions::default(), 1, Device::Cpu).unwrap();
        let l = &net.layers[0];
        let x = Tensor::zeros(
            [3, l.h as i64, l.w as i64, l.n as i64],
            (tch::Kind::Float, Device::Cpu),
        );
        let y = model.f_forward(&x).unwrap();
        assert_eq!(y.size(), [3, space.classes as i64], "{ds}");
        // Weights everywhere, biases on dense layers only (the reference's convolutions have none).
        let want: u64 = net
            .layers
            .iter()
            .map(|l| {
                let dense = matches!(
                    l.kind,
                    inas::network::LayerKind::Dense | inas::network::LayerKind::Classifier
                );
                l.weight_elements() + if dense { u64::from(l.m) } else { 0 }
            })
            .sum();
        assert_eq!(model.parameters() as u64, want, "{ds}");
    }
}

#[test]
fn float_nets_round_trip_through_the_module() {
    one_thread();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for ds in Dataset::ALL {
        let net = random_network(ds.space(), &mut rng);
        let f = random_float(&net, &mut rng);
        let back = Model::from_float(&f, Device::Cpu)
            .unwrap()
            .export()
            .unwrap();
        assert_eq!(back, f, "{ds}");
    }
}

/// The module computes what the float reference computes on its exported weights.
#[test]
fn module_equals_forward_f32_on_random_nets() {
    one_thread();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for ds in Dataset::ALL {
        // Two random architectures per space (CIFAR's reference pass is slow in debug builds).
        for trial in 0..2 {
            let net = random_network(ds.space(), &mut rng);
            let model = Model::from_float(&random_float(&net, &mut rng), Device::Cpu).unwrap();
            let f = model.export().unwrap();
            let xs: Vec<Vec<f32>> = (0..2)
                .map(|_| {
                    (0..input_len(&net))
                        .map(|_| rng.random_range(-1f32..1.0))
                        .collect()
                })
                .collect();
            let got = logits(&model, &xs);
            for (x, got) in xs.iter().zip(&got) {
                let want = forward_f32(&f, x).pop().unwrap();
                let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
                for (a, b) in got.iter().zip(&want) {
                    assert!(
                        (a - b).abs() <= 1e-4 * scale,
                        "{ds} trial {trial}: {got:?} vs {want:?}"
                    );
                }
            }
        }
    }
}

/// A HAR-shaped problem that a linear model separates: the label's channel is raised by 1 over
/// Gaussian-ish noise.
fn synthetic(net: &Network, n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let l = &net.layers[0];
    let classes = net.layers.last().unwrap().m as usize;
    let (px, ch) = ((l.h * l.w) as usize, l.n as usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * px * ch);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let label = rng.random_range(0..classes);
        for _ in 0..px {
            for c in 0..ch {
                let noise: f32 = (0..3).map(|_| rng.random_range(-0.5f32..0.5)).sum();
                x.push(noise + if c == label % ch { 1.0 } else { 0.0 });
            }
        }
        y.push(label as u8);
    }
    (x, y)
}

struct Problem {
    net: Network,
    train: (Vec<f32>, Vec<u8>),
    val: (Vec<f32>, Vec<u8>),
}

impl Problem {
    fn har(n_train: usize, n_val: usize) -> Problem {
        let net = inas::network::HAR.network(&[3, 8, 3, 8, 3, 8]).unwrap();
        Problem {
            train: synthetic(&net, n_train, 1),
            val: synthetic(&net, n_val, 2),
            net,
        }
    }

    fn samples<'a>(&self, d: &'a (Vec<f32>, Vec<u8>)) -> Samples<'a> {
        let l = &self.net.layers[0];
        Samples {
            x: &d.0,
            y: &d.1,
            shape: [l.h as usize, l.w as usize, l.n as usize],
            classes: self.net.layers.last().unwrap().m as usize,
        }
    }

    fn fit(&self, cfg: &TrainConfig) -> Result<inas::train::Trained, TrainError> {
        fit(
            &self.net,
            &self.samples(&self.train),
            &self.samples(&self.val),
            cfg,
            |_| ControlFlow::Continue(()),
        )
    }
}

fn quick_config(seed: u64) -> TrainConfig {
    TrainConfig {
        epochs: 6,
        batch_size: 32,
        lr: 0.01,
        seed,
        device: DeviceChoice::Cpu,
        ..TrainConfig::paper(Dataset::Har)
    }
}

fn accuracy_f32(f: &FloatNet, val: &Samples) -> f64 {
    let hits = (0..val.len())
        .filter(|&i| {
            let out = forward_f32(f, val.sample(i)).pop().unwrap();
            let best = (0..out.len())
                .max_by(|&a, &b| out[a].total_cmp(&out[b]).then(b.cmp(&a)))
                .unwrap();
            best == usize::from(val.y[i])
        })
        .count();
    hits as f64 / val.len() as f64
}

#[test]
fn learns_a_separable_problem_and_keeps_the_best_epoch() {
    one_thread();
    let p = Problem::har(600, 300);
    let mut seen = vec![];
    let t = fit(
        &p.net,
        &p.samples(&p.train),
        &p.samples(&p.val),
        &quick_config(3),
        |e| {
            seen.push(e.epoch);
            ControlFlow::Continue(())
        },
    )
    .unwrap();
    eprintln!(
        "synthetic HAR: val acc {:.3} at epoch {}, {:.0} samples/s, {:.3} s/epoch; history {:?}",
        t.val_acc,
        t.best_epoch,
        t.timings.samples_per_s,
        t.timings.train_s / t.history.len() as f64,
        t.history
            .iter()
            .map(|e| (e.train_loss, e.val_acc))
            .collect::<Vec<_>>()
    );
    assert_eq!(seen, (1..=6).collect::<Vec<_>>());
    assert!(t.val_acc >= 0.95, "val acc {}", t.val_acc);
    assert!(t.history.last().unwrap().train_loss < t.history[0].train_loss);
    // The kept weights are those of the first epoch with the highest validation accuracy.
    let best = t.history.iter().map(|e| e.val_acc).fold(0.0, f64::max);
    let first = t.history.iter().find(|e| e.val_acc == best).unwrap();
    assert_eq!((t.best_epoch, t.val_acc), (first.epoch, best));
    assert!(t.history[t.best_epoch - 1].best);
    // ... and the exported network scores the same under the float reference (one sample of
    // slack for a near-tie that libtorch and the plain loop round differently).
    let val = p.samples(&p.val);
    let ref_acc = accuracy_f32(&t.float_net, &val);
    assert!(
        (ref_acc - t.val_acc).abs() <= 1.0 / val.len() as f64,
        "{ref_acc} vs {}",
        t.val_acc
    );
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    one_thread();
    let p = Problem::har(200, 100);
    let cfg = TrainConfig {
        epochs: 2,
        max_train_samples: Some(150),
        ..quick_config(5)
    };
    let a = p.fit(&cfg).unwrap();
    let b = p.fit(&cfg).unwrap();
    assert_eq!(a.float_net, b.float_net);
    assert_eq!(a.val_acc, b.val_acc);
    let loss =
        |t: &inas::train::Trained| t.history.iter().map(|e| e.train_loss).collect::<Vec<_>>();
    assert_eq!(loss(&a), loss(&b));
    let c = p.fit(&TrainConfig { seed: 6, ..cfg }).unwrap();
    assert_ne!(a.float_net, c.float_net);
}

#[test]
fn progress_can_stop_training() {
    one_thread();
    let p = Problem::har(100, 50);
    let t = fit(
        &p.net,
        &p.samples(&p.train),
        &p.samples(&p.val),
        &quick_config(1),
        |e| {
            if e.epoch == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    )
    .unwrap();
    assert!(t.stopped_early);
    assert_eq!(t.history.len(), 2);
    assert!(t.best_epoch <= 2);
}

#[test]
fn bad_data_and_settings_are_refused_with_a_reason() {
    let p = Problem::har(20, 10);
    let err = |train: Samples, val: Samples, cfg: &TrainConfig| {
        fit(&p.net, &train, &val, cfg, |_| ControlFlow::Continue(()))
            .unwrap_err()
            .to_string()
    };
    let cfg = quick_config(1);
    let (tr, va) = (p.samples(&p.train), p.samples(&p.val));

    let e = err(
        Samples {
            shape: [64, 1, 9],
            ..tr
        },
        va,
        &cfg,
    );
    assert!(e.contains("training") && e.contains("[64, 1, 9]"), "{e}");
    let labels = vec![9u8; 10];
    let e = err(tr, Samples { y: &labels, ..va }, &cfg);
    assert!(e.contains("validation") && e.contains("label 9"), "{e}");
    let e = err(
        Samples {
            y: &p.train.1[..5],
            ..tr
        },
        va,
        &cfg,
    );
    assert!(e.contains("values for 5 labels"), "{e}");
    let mut nan = p.val.0.clone();
    nan[128 * 9 + 4] = f32::NAN;
    let e = err(tr, Samples { x: &nan, ..va }, &cfg);
    assert!(e.contains("sample 1") && e.contains("non-finite"), "{e}");
    let e = err(
        tr,
        Samples {
            x: &[],
            y: &[],
            ..va
        },
        &cfg,
    );
    assert_eq!(e, "validation set is empty");
    let e = err(tr, Samples { classes: 7, ..va }, &cfg);
    assert!(e.contains("7 classes"), "{e}");
    let e = err(
        tr,
        va,
        &TrainConfig {
            epochs: 0,
            ..cfg.clone()
        },
    );
    assert!(e.contains("epochs"), "{e}");
    let count = tch::Cuda::device_count() as usize;
    let e = err(
        tr,
        va,
        &TrainConfig {
            device: DeviceChoice::Cuda(count),
            ..cfg
        },
    );
    assert!(
        e.contains("CUDA device") && e.contains("--device cpu"),
        "{e}"
    );
}

fn explorer_designs(net: &Network) -> Vec<ExecDesign> {
    let p = Platform::new(&Profile::reference(), Overrides::default()).unwrap();
    explore_network(&p, net, Power::Int)
        .unwrap()
        .layers
        .iter()
        .map(|l| l.design.exec())
        .collect()
}

/// The Q15 evaluation classifies with exactly the logits the device engine computes, and a
/// trained child keeps its accuracy after quantization.
#[test]
fn q15_accuracy_uses_the_engines_logits() {
    one_thread();
    let p = Problem::har(600, 200);
    let t = p.fit(&quick_config(9)).unwrap();
    let designs = explorer_designs(&p.net);
    let train = p.samples(&p.train);
    let val = p.samples(&p.val);
    let target = planner::target(2048, 1 << 20, "reference");
    let q = evaluate_q15(
        &t.float_net,
        &designs,
        target,
        42,
        &calibration_inputs(&train, 64),
        &val,
    )
    .unwrap();
    eprintln!(
        "float {:.3}, Q15 {:.3} ({} of {}) in {:.2} s",
        t.val_acc,
        q.accuracy(),
        q.correct,
        q.total,
        q.seconds
    );
    assert_eq!(q.total, 200);
    assert_eq!(q.logits.len(), 200 * 6);
    assert!(
        q.accuracy() >= t.val_acc - 0.03,
        "Q15 {} vs float {}",
        q.accuracy(),
        t.val_acc
    );

    let (source, plan) = planner::open(&q.plan).unwrap();
    assert_eq!(source.meta.plan_id, 42);
    let engine = Engine::new(&plan);
    for i in [0, 1, 57, 199] {
        let mut nvm = SimNvm::for_plan(&plan, &source);
        engine
            .start(&mut nvm, &q.quantized.input(val.sample(i)))
            .unwrap();
        engine
            .run(&mut nvm, &mut vec![0; engine.vm_words()])
            .unwrap();
        let (at, len) = engine.output();
        assert_eq!(
            &nvm.words[at as usize..(at + len) as usize],
            &q.logits[i * 6..(i + 1) * 6],
            "sample {i}"
        );
    }
}

#[test]
fn q15_evaluation_refuses_bad_calibration_and_designs() {
    let p = Problem::har(20, 10);
    let f = init_float(&p.net, ModelOptions::default(), 1);
    let designs = explorer_designs(&p.net);
    let target = planner::target(2048, 1 << 20, "reference");
    let val = p.samples(&p.val);
    let e = evaluate_q15(&f, &designs, target, 0, &[], &val).unwrap_err();
    assert_eq!(e.to_string(), "calibration set is empty");
    let e = evaluate_q15(&f, &designs, target, 0, &[vec![0.0; 3]], &val).unwrap_err();
    assert!(e.to_string().contains("3 values"), "{e}");
    let cal = calibration_inputs(&p.samples(&p.train), 4);
    assert_eq!(cal.len(), 4);
    let e = evaluate_q15(&f, &designs[1..], target, 0, &cal, &val).unwrap_err();
    assert!(e.to_string().contains("one design per layer"), "{e}");
}
