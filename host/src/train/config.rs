//! Training settings: the paper's per-dataset defaults and where the tensors live.

use std::fmt;
use std::str::FromStr;

use super::TrainError;
use crate::network::Dataset;

/// Where training runs (`--device`).
///
/// `Auto` takes the first CUDA device when libtorch reports one, the CPU otherwise. Note that a
/// Rust binary linked the default way never sees CUDA even with a CUDA libtorch: rustc links
/// with `--as-needed`, which drops `libtorch_cuda.so` because no symbol of it is referenced
/// directly (tch-rs issue #980). A GPU build needs
/// `-Wl,--no-as-needed,-ltorch_cuda,--as-needed` in the linking package's build script and the
/// CUDA libraries of the PyTorch wheel; this project's default setup (`scripts/setup-libtorch.sh`)
/// extracts the CPU libraries only, so `auto` resolves to the CPU and `cuda` is refused with an
/// error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    /// A CUDA device by index (`cuda` is `cuda:0`).
    Cuda(usize),
    #[default]
    Auto,
}

impl DeviceChoice {
    /// The tch device, or an error when CUDA was asked for and libtorch has none.
    pub fn resolve(self) -> Result<tch::Device, TrainError> {
        match self {
            DeviceChoice::Cpu => Ok(tch::Device::Cpu),
            DeviceChoice::Auto => Ok(tch::Device::cuda_if_available()),
            DeviceChoice::Cuda(index) => {
                let count = tch::Cuda::device_count();
                if (index as i64) < count {
                    Ok(tch::Device::Cuda(index))
                } else {
                    Err(TrainError::NoCuda { index, count })
                }
            }
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("unknown device '{s}' (expected cpu, cuda, cuda:N or auto)");
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "auto" => Ok(DeviceChoice::Auto),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(bad),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceChoice::Auto => f.write_str("auto"),
        }
    }
}

/// How one child is trained. [`TrainConfig::paper`] gives the reference's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Adam's epsilon (Keras uses 1e-7, PyTorch 1e-8).
    pub adam_eps: f64,
    /// Seeds the initial weights, the subsets and the shuffling: the same seed, data and thread
    /// count give the same weights (on the CPU).
    pub seed: u64,
    pub device: DeviceChoice,
    /// Train on a random subset of at most this many samples (drawn with `seed`).
    pub max_train_samples: Option<usize>,
    /// Validate on the first this many validation samples.
    pub max_val_samples: Option<usize>,
    /// Samples per forward pass during validation (memory, not results).
    pub eval_batch_size: usize,
    /// Give convolutions a bias. The reference's convolutions have none; its dense layers do.
    pub conv_bias: bool,
}

impl TrainConfig {
    /// The reference's training set-up for a dataset: Keras Adam (learning rate 1e-3, epsilon
    /// 1e-7), 25 epochs, batch 256 (CIFAR), 512 (HAR) or 100 (KWS), no bias in convolutions.
    pub fn paper(dataset: Dataset) -> TrainConfig {
        TrainConfig {
            epochs: 25,
            batch_size: match dataset {
                Dataset::Cifar => 256,
                Dataset::Har => 512,
                Dataset::Kws => 100,
            },
            lr: 1e-3,
            adam_eps: 1e-7,
            seed: 0,
            device: DeviceChoice::Auto,
            max_train_samples: None,
            max_val_samples: None,
            eval_batch_size: 1024,
            conv_bias: false,
        }
    }

    /// Refuses settings that cannot train.
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |s: String| Err(TrainError::Config(s));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return bad("batch sizes must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("learning rate {} must be positive", self.lr));
        }
        if !(self.adam_eps.is_finite() && self.adam_eps > 0.0) {
            return bad(format!("Adam epsilon {} must be positive", self.adam_eps));
        }
        if self.max_train_samples == Some(0) || self.max_val_samples == Some(0) {
            return bad("sample limits must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print() {
        for (s, d) in [
            ("cpu", DeviceChoice::Cpu),
            ("CUDA", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
            ("auto", DeviceChoice::Auto),
        ] {
            assert_eq!(s.parse::<DeviceChoice>(), Ok(d));
            assert_eq!(d.to_string().parse::<DeviceChoice>(), Ok(d));
        }
        let e = "cuda:x".parse::<DeviceChoice>().unwrap_err();
        assert!(e.contains("cuda:x") && e.contains("expected"), "{e}");
        assert!("tpu".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn cpu_resolves_and_missing_cuda_is_an_error() {
        assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), tch::Device::Cpu);
        let count = tch::Cuda::device_count();
        let e = DeviceChoice::Cuda(count as usize).resolve().unwrap_err();
        assert!(e.to_string().contains("--device cpu"), "{e}");
        if count == 0 {
            assert_eq!(DeviceChoice::Auto.resolve().unwrap(), tch::Device::Cpu);
        }
    }

    #[test]
    fn paper_settings_and_checks() {
        assert_eq!(TrainConfig::paper(Dataset::Cifar).batch_size, 256);
        assert_eq!(TrainConfig::paper(Dataset::Har).batch_size, 512);
        assert_eq!(TrainConfig::paper(Dataset::Kws).batch_size, 100);
        assert_eq!(TrainConfig::paper(Dataset::Kws).epochs, 25);
        assert!(TrainConfig::paper(Dataset::Har).check().is_ok());
        let mut c = TrainConfig::paper(Dataset::Har);
        c.lr = f64::NAN;
        assert!(c.check().unwrap_err().to_string().contains("learning rate"));
        c = TrainConfig::paper(Dataset::Har);
        c.batch_size = 0;
        assert!(c.check().is_err());
        c = TrainConfig::paper(Dataset::Har);
        c.max_train_samples = Some(0);
        assert!(c.check().is_err());
    }
}
