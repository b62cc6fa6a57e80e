//! Per-channel standardisation, fitted on the training split only.

use serde::{Deserialize, Serialize};

use super::Split;

/// `x' = (x - mean[c]) / std[c]` for the channel `c` of every value (the last axis of HWC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: Vec<f32>,
    /// Never below [`Normalization::MIN_STD`], so a constant channel maps to 0, not NaN.
    pub std: Vec<f32>,
}

impl Normalization {
    pub const MIN_STD: f32 = 1e-6;

    /// Mean and population standard deviation per channel, accumulated in f64.
    pub fn fit(split: &Split) -> Normalization {
        let c = split.shape[2];
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for (i, &v) in split.x.iter().enumerate() {
            sum[i % c] += v as f64;
        }
        let per = (split.x.len() / c.max(1)).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / per).collect();
        for (i, &v) in split.x.iter().enumerate() {
            let d = v as f64 - mean[i % c];
            sq[i % c] += d * d;
        }
        Normalization {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: sq
                .iter()
                .map(|s| ((s / per).sqrt() as f32).max(Self::MIN_STD))
                .collect(),
        }
    }

    /// Standardises `split` in place. Panics if the channel counts differ (a programming error:
    /// statistics of one dataset applied to another).
    pub fn apply(&self, split: &mut Split) {
        let c = split.shape[2];
        assert_eq!(
            c,
            self.mean.len(),
            "normalization for {} channels applied to {c}",
            self.mean.len()
        );
        for (i, v) in split.x.iter_mut().enumerate() {
            *v = (*v - self.mean[i % c]) / self.std[i % c];
        }
    }

    /// The inverse of [`Normalization::apply`] for one sample.
    pub fn restore(&self, sample: &mut [f32]) {
        let c = self.mean.len();
        for (i, v) in sample.iter_mut().enumerate() {
            *v = *v * self.std[i % c] + self.mean[i % c];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_on_train_gives_zero_mean_unit_std_per_channel() {
        let x: Vec<f32> = (0..600)
            .map(|i| {
                if i % 2 == 0 {
                    3.0 + (i as f32).sin()
                } else {
                    -10.0 * (i as f32).cos()
                }
            })
            .collect();
        let mut s = Split {
            x,
            y: vec![0; 300],
            shape: [1, 1, 2],
            classes: 1,
        };
        let raw = s.clone();
        let n = Normalization::fit(&s);
        n.apply(&mut s);
        let again = Normalization::fit(&s);
        for c in 0..2 {
            assert!(again.mean[c].abs() < 1e-5, "{again:?}");
            assert!((again.std[c] - 1.0).abs() < 1e-4, "{again:?}");
        }
        let mut back = s.sample(5).to_vec();
        n.restore(&mut back);
        for (a, b) in back.iter().zip(raw.sample(5)) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    #[test]
    fn constant_channel_becomes_zero_not_nan() {
        let mut s = Split {
            x: vec![5.0; 8],
            y: vec![0; 8],
            shape: [1, 1, 1],
            classes: 1,
        };
        let n = Normalization::fit(&s);
        n.apply(&mut s);
        assert!(s.x.iter().all(|&v| v == 0.0));
    }
}
