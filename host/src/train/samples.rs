//! The trainer's view of a labelled data set: borrowed slices, checked once.

use super::TrainError;
use crate::network::Network;

/// `len` labelled samples, each `shape = [h, w, c]` values in HWC order (as the engine reads its
/// input), stored back to back in `x`.
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a> {
    pub x: &'a [f32],
    pub y: &'a [u8],
    pub shape: [usize; 3],
    pub classes: usize,
}

impl<'a> Samples<'a> {
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

    /// Sample `i` (HWC). Panics when `i` is out of range, like slice indexing.
    pub fn sample(&self, i: usize) -> &'a [f32] {
        let n = self.sample_len();
        &self.x[i * n..(i + 1) * n]
    }

    /// Checks the set against itself and against the network it will feed: sizes, the input
    /// shape, the class count, labels and finite values. `what` names the set in errors.
    pub fn check(&self, net: &Network, what: &'static str) -> Result<(), TrainError> {
        let data = |detail: String| TrainError::Data { what, detail };
        if self.is_empty() {
            return Err(TrainError::Empty { what });
        }
        let first = net
            .layers
            .first()
            .ok_or_else(|| TrainError::Network("it has no layers".into()))?;
        let want = [first.h as usize, first.w as usize, first.n as usize];
        if self.shape != want {
            return Err(data(format!(
                "samples are {:?} (HWC), the network's input is {want:?}",
                self.shape
            )));
        }
        let classes = net.layers.last().map_or(0, |l| l.m as usize);
        if self.classes != classes {
            return Err(data(format!(
                "{} classes, the network has {classes} outputs",
                self.classes
            )));
        }
        if self.x.len() != self.len() * self.sample_len() {
            return Err(data(format!(
                "{} values for {} labels of {} values each",
                self.x.len(),
                self.len(),
                self.sample_len()
            )));
        }
        if let Some(i) = self.y.iter().position(|&c| usize::from(c) >= classes) {
            return Err(data(format!(
                "sample {i} has label {}, the network has {classes} classes",
                self.y[i]
            )));
        }
        if let Some(i) = self.x.iter().position(|v| !v.is_finite()) {
            return Err(data(format!(
                "sample {} holds a non-finite value ({})",
                i / self.sample_len(),
                self.x[i]
            )));
        }
        Ok(())
    }
}

impl<'a> From<&'a crate::data::Split> for Samples<'a> {
    fn from(s: &'a crate::data::Split) -> Samples<'a> {
        Samples {
            x: &s.x,
            y: &s.y,
            shape: s.shape,
            classes: s.classes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Split;
    use crate::network::HAR;

    #[test]
    fn a_data_split_is_read_in_place() {
        let net = HAR.network(HAR.example).unwrap();
        let n = 128 * 9;
        let split = Split {
            x: (0..3 * n).map(|v| v as f32).collect(),
            y: vec![0, 5, 2],
            shape: [128, 1, 9],
            classes: 6,
        };
        let s = Samples::from(&split);
        assert_eq!((s.len(), s.sample_len()), (3, n));
        assert_eq!(s.sample(1), &split.x[n..2 * n]);
        assert!(s.check(&net, "training").is_ok());
        let e = Samples { classes: 5, ..s }
            .check(&net, "training")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "training: 5 classes, the network has 6 outputs"
        );
    }
}
