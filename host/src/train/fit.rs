//! The training loop: Adam on cross-entropy, one validation pass per epoch, and the weights of
//! the best validation epoch kept in memory (Keras' `ModelCheckpoint(save_best_only)`: a later
//! epoch replaces the best only when strictly better).

use std::ops::ControlFlow;
use std::time::Instant;

use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::nn::OptimizerConfig;
use tch::{nn, Device, Kind, Reduction, Tensor};

use super::model::{Model, ModelOptions};
use super::{Samples, TrainConfig, TrainError};
use crate::network::Network;
use crate::quant::FloatNet;

/// Distinct random streams derived from the one seed.
const SHUFFLE_STREAM: u64 = 0x5348_5546_464c_4531;
const SUBSET_STREAM: u64 = 0x5355_4253_4554_5f31;

/// What one epoch did. Accuracies are fractions in [0, 1].
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// Mean cross-entropy and accuracy over the epoch's training batches (as they went).
    pub train_loss: f64,
    pub train_acc: f64,
    pub val_acc: f64,
    /// This epoch's weights are now the best.
    pub best: bool,
    /// Seconds spent training and validating.
    pub train_s: f64,
    pub val_s: f64,
    /// Training throughput.
    pub samples_per_s: f64,
}

/// Where the time went, in seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timings {
    /// Checks, moving the data to the device, building the model.
    pub setup_s: f64,
    pub train_s: f64,
    pub val_s: f64,
    /// Training samples processed (epochs × training set).
    pub train_samples: usize,
    /// `train_samples / train_s`.
    pub samples_per_s: f64,
}

/// A trained child: the best validation epoch's weights.
#[derive(Clone, Debug)]
pub struct Trained {
    pub float_net: FloatNet,
    /// Validation accuracy of `float_net` (fraction).
    pub val_acc: f64,
    /// 1-based epoch the weights come from.
    pub best_epoch: usize,
    pub history: Vec<EpochStats>,
    pub timings: Timings,
    pub device: Device,
    /// Trainable values.
    pub parameters: usize,
    /// The progress callback asked to stop before the last epoch.
    pub stopped_early: bool,
}

/// A data set as tensors on the training device: inputs `[N, H, W, C]`, labels (int64) `[N]`.
struct OnDevice {
    x: Tensor,
    y: Tensor,
    len: usize,
}

impl OnDevice {
    fn new(s: &Samples, pick: Option<&[usize]>, device: Device) -> Result<OnDevice, TrainError> {
        let [h, w, c] = s.shape.map(|d| d as i64);
        let (x, y) = match pick {
            None => (
                Tensor::f_from_slice(s.x)?,
                Tensor::f_from_slice(s.y)?.f_to_kind(Kind::Int64)?,
            ),
            Some(idx) => {
                let x: Vec<f32> = idx.iter().flat_map(|&i| s.sample(i)).copied().collect();
                let y: Vec<i64> = idx.iter().map(|&i| i64::from(s.y[i])).collect();
                (Tensor::f_from_slice(&x)?, Tensor::f_from_slice(&y)?)
            }
        };
        let len = pick.map_or(s.len(), <[usize]>::len);
        Ok(OnDevice {
            x: x.f_view([len as i64, h, w, c])?.f_to_device(device)?,
            y: y.f_to_device(device)?,
            len,
        })
    }

    /// Correctly classified samples, in batches of `batch` without gradients.
    fn correct(&self, model: &Model, batch: usize) -> Result<i64, TrainError> {
        let _guard = tch::no_grad_guard();
        let mut correct = Tensor::f_zeros([], (Kind::Int64, model.device()))?;
        for start in (0..self.len).step_by(batch) {
            let n = batch.min(self.len - start) as i64;
            let logits = model.f_forward(&self.x.f_narrow(0, start as i64, n)?)?;
            let hits = logits
                .f_argmax(-1, false)?
                .f_eq_tensor(&self.y.f_narrow(0, start as i64, n)?)?
                .f_sum(Kind::Int64)?;
            correct = correct.f_add(&hits)?;
        }
        Ok(i64::try_from(&correct)?)
    }
}

/// Trains `net` on `train` and keeps the weights with the best accuracy on `val`.
///
/// `progress` sees every epoch and may stop training early by returning
/// [`ControlFlow::Break`]; the best weights so far are returned. On the CPU, the same `cfg`
/// (seed included), data and libtorch thread count give the same weights.
pub fn fit(
    net: &Network,
    train: &Samples,
    val: &Samples,
    cfg: &TrainConfig,
    mut progress: impl FnMut(&EpochStats) -> ControlFlow<()>,
) -> Result<Trained, TrainError> {
    let setup = Instant::now();
    cfg.check()?;
    train.check(net, "training")?;
    val.check(net, "validation")?;
    let device = cfg.device.resolve()?;

    let subset = cfg.max_train_samples.filter(|&k| k < train.len()).map(|k| {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ SUBSET_STREAM);
        let mut idx = rand::seq::index::sample(&mut rng, train.len(), k).into_vec();
        idx.sort_unstable();
        idx
    });
    let train_t = OnDevice::new(train, subset.as_deref(), device)?;
    let val_first: Option<Vec<usize>> = cfg
        .max_val_samples
        .filter(|&k| k < val.len())
        .map(|k| (0..k).collect());
    let val_t = OnDevice::new(val, val_first.as_deref(), device)?;

    let opts = ModelOptions {
        conv_bias: cfg.conv_bias,
    };
    let model = Model::new(net, opts, cfg.seed, device)?;
    let mut opt = nn::adam(0.9, 0.999, 0.0)
        .eps(cfg.adam_eps)
        .build(model.var_store(), cfg.lr)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ SHUFFLE_STREAM);
    let mut order: Vec<i64> = (0..train_t.len as i64).collect();

    let mut timings = Timings {
        setup_s: setup.elapsed().as_secs_f64(),
        ..Timings::default()
    };
    let mut history = vec![];
    let mut best: Option<(FloatNet, f64, usize)> = None;
    let mut stopped_early = false;
    for epoch in 1..=cfg.epochs {
        let t0 = Instant::now();
        order.shuffle(&mut rng);
        let perm = Tensor::f_from_slice(&order)?.f_to_device(device)?;
        let mut loss_sum = Tensor::f_zeros([], (Kind::Double, device))?;
        let mut hits = Tensor::f_zeros([], (Kind::Int64, device))?;
        for start in (0..train_t.len).step_by(cfg.batch_size) {
            let n = cfg.batch_size.min(train_t.len - start) as i64;
            let idx = perm.f_narrow(0, start as i64, n)?;
            let xb = train_t.x.f_index_select(0, &idx)?;
            let yb = train_t.y.f_index_select(0, &idx)?;
            let logits = model.f_forward(&xb)?;
            let loss =
                logits.f_cross_entropy_loss(&yb, None::<Tensor>, Reduction::Mean, -100, 0.0)?;
            opt.zero_grad();
            loss.f_backward()?;
            opt.step();
            tch::no_grad(|| -> Result<(), TrainError> {
                loss_sum = loss_sum.f_add(&(loss.f_to_kind(Kind::Double)? * n as f64))?;
                let h = logits
                    .f_argmax(-1, false)?
                    .f_eq_tensor(&yb)?
                    .f_sum(Kind::Int64)?;
                hits = hits.f_add(&h)?;
                Ok(())
            })?;
        }
        // Reading the sums waits for the device, so the time below is the epoch's.
        let train_loss = f64::try_from(&loss_sum)? / train_t.len as f64;
        let train_acc = i64::try_from(&hits)? as f64 / train_t.len as f64;
        let train_s = t0.elapsed().as_secs_f64();

        let t1 = Instant::now();
        let val_acc = val_t.correct(&model, cfg.eval_batch_size)? as f64 / val_t.len as f64;
        let improved = best.as_ref().is_none_or(|b| val_acc > b.1);
        if improved {
            best = Some((model.export()?, val_acc, epoch));
        }
        let val_s = t1.elapsed().as_secs_f64();

        timings.train_s += train_s;
        timings.val_s += val_s;
        timings.train_samples += train_t.len;
        let stats = EpochStats {
            epoch,
            epochs: cfg.epochs,
            train_loss,
            train_acc,
            val_acc,
            best: improved,
            train_s,
            val_s,
            samples_per_s: train_t.len as f64 / train_s,
        };
        let flow = progress(&stats);
        history.push(stats);
        if flow.is_break() {
            stopped_early = epoch < cfg.epochs;
            break;
        }
    }
    timings.samples_per_s = timings.train_samples as f64 / timings.train_s;
    let (float_net, val_acc, best_epoch) = best.expect("at least one epoch ran");
    Ok(Trained {
        float_net,
        val_acc,
        best_epoch,
        history,
        timings,
        device,
        parameters: model.parameters(),
        stopped_early,
    })
}
