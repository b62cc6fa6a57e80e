//! The Q15 plan (as the engine runs it) against the float network it was quantized from:
//! bounded error and argmax agreement on random inputs.

use inas_common::engine::Engine;
use inas_core::explore::explore_network;
use inas_core::model::{Overrides, Platform, Power};
use inas_core::network::Dataset;
use inas_core::planner;
use inas_core::profile::Profile;
use inas_core::quant::{forward_f32, quantize, FloatLayer, FloatNet};
use inas_core::simdev::SimNvm;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

fn random_net(dataset: Dataset, rng: &mut ChaCha8Rng) -> FloatNet {
    let space = dataset.space();
    let network = space.network(space.example).unwrap();
    let layers = network
        .layers
        .iter()
        .map(|l| {
            if l.is_pool() {
                return FloatLayer {
                    weights: vec![],
                    bias: vec![],
                };
            }
            let a = (3.0 / (l.kh * l.kw * l.n) as f32).sqrt();
            FloatLayer {
                weights: (0..l.weight_elements())
                    .map(|_| rng.random_range(-a..a))
                    .collect(),
                bias: (0..l.m).map(|_| rng.random_range(-0.1f32..0.1)).collect(),
            }
        })
        .collect();
    FloatNet { network, layers }
}

fn check(dataset: Dataset) {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let net = random_net(dataset, &mut rng);
    let n_in =
        (net.network.layers[0].h * net.network.layers[0].w * net.network.layers[0].n) as usize;
    let sample = |rng: &mut ChaCha8Rng| -> Vec<f32> {
        (0..n_in).map(|_| rng.random_range(-1f32..1.0)).collect()
    };
    let calibration: Vec<Vec<f32>> = (0..16).map(|_| sample(&mut rng)).collect();
    let q = quantize(&net, &calibration);

    let p = Platform::new(&Profile::reference(), Overrides::default()).unwrap();
    let designs: Vec<_> = explore_network(&p, &net.network, Power::Int)
        .unwrap()
        .layers
        .iter()
        .map(|l| l.design.exec())
        .collect();
    let bytes = planner::build(
        &net.network,
        &designs,
        &q.layers,
        q.input_exp,
        planner::target(2048, 1 << 20, "reference"),
        1,
    )
    .unwrap();
    let (source, plan) = planner::open(&bytes).unwrap();
    let engine = Engine::new(&plan);
    let last = net.network.layers.len() - 1;

    let (mut agree, mut worst, mut sum) = (0, 0f32, 0f32);
    let trials = 50;
    for _ in 0..trials {
        let x = sample(&mut rng);
        let want = forward_f32(&net, &x).pop().unwrap();
        let mut nvm = SimNvm::for_plan(&plan, &source);
        engine.start(&mut nvm, &q.input(&x)).unwrap();
        engine
            .run(&mut nvm, &mut vec![0; engine.vm_words()])
            .unwrap();
        let (at, len) = engine.output();
        let got = q.dequantize(last, &nvm.words[at as usize..(at + len) as usize]);
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
        let err = got
            .iter()
            .zip(&want)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
            / scale;
        worst = worst.max(err);
        sum += err;
        let argmax = |v: &[f32]| {
            v.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0
        };
        agree += usize::from(argmax(&got) == argmax(&want));
    }
    let mean = sum / trials as f32;
    eprintln!("{dataset}: logit error relative to the largest logit: mean {mean:.4}, worst {worst:.4}; argmax agreement {agree}/{trials}");
    assert!(mean < 0.03, "{dataset}: mean relative error {mean}");
    assert!(worst < 0.10, "{dataset}: worst relative error {worst}");
    assert!(
        agree * 10 >= trials * 9,
        "{dataset}: argmax agreed on {agree}/{trials}"
    );
}

#[test]
fn har_q15_tracks_float() {
    check(Dataset::Har);
}

#[test]
fn kws_q15_tracks_float() {
    check(Dataset::Kws);
}
