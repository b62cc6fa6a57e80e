//! Search spaces and the networks they produce: an action list (kernel/filter choices per
//! searched layer) becomes an ordered list of layers with their geometry (cost-model.md §3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest value accepted for any layer dimension: plans store dimensions as u16.
pub const MAX_DIM: u32 = u16::MAX as u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dataset {
    /// CIFAR-10: CONV2D search space.
    Cifar,
    /// UCI-HAR: CONV1D search space.
    Har,
    /// KWS (Speech Commands, MFCC): FC search space.
    Kws,
}

impl Dataset {
    pub const ALL: [Dataset; 3] = [Dataset::Cifar, Dataset::Har, Dataset::Kws];

    pub fn name(self) -> &'static str {
        match self {
            Dataset::Cifar => "cifar",
            Dataset::Har => "har",
            Dataset::Kws => "kws",
        }
    }

    pub fn space(self) -> &'static SearchSpace {
        match self {
            Dataset::Cifar => &CIFAR,
            Dataset::Har => &HAR,
            Dataset::Kws => &KWS,
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "cifar" | "cifar10" | "cifar-10" => Ok(Dataset::Cifar),
            "har" | "uci-har" | "ucihar" => Ok(Dataset::Har),
            "kws" => Ok(Dataset::Kws),
            _ => Err(format!(
                "unknown dataset '{s}' (expected cifar, har or kws)"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelType {
    Conv2d,
    Conv1d,
    Fc,
}

/// One dataset's search space (cost-model.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchSpace {
    pub model: ModelType,
    /// Input rows (and columns for 2-D), channels.
    pub input: u32,
    pub channels: u32,
    /// Number of searched layers.
    pub layers: usize,
    pub kernels: &'static [u32],
    /// Filter (CONV) or unit (FC) choices.
    pub filters: &'static [u32],
    pub classes: u32,
    /// The network of the worked example for this dataset (docs/cost-model.md §13).
    pub example: &'static [u32],
}

pub const CIFAR: SearchSpace = SearchSpace {
    model: ModelType::Conv2d,
    input: 32,
    channels: 3,
    layers: 5,
    kernels: &[1, 3, 5, 7],
    filters: &[4, 8, 16, 24],
    classes: 10,
    example: &[3, 8, 5, 24, 3, 24, 5, 16, 5, 16],
};

pub const HAR: SearchSpace = SearchSpace {
    model: ModelType::Conv1d,
    input: 128,
    channels: 9,
    layers: 3,
    kernels: &[1, 3, 5, 7],
    filters: &[4, 8, 16, 24],
    classes: 6,
    example: &[5, 4, 5, 16, 5, 24],
};

pub const KWS: SearchSpace = SearchSpace {
    model: ModelType::Fc,
    input: 250,
    channels: 1,
    layers: 4,
    kernels: &[],
    filters: &[48, 64, 96, 128],
    classes: 12,
    example: &[48, 128, 48, 128],
};

impl SearchSpace {
    /// Number of values an action list holds.
    pub fn actions(&self) -> usize {
        match self.model {
            ModelType::Fc => self.layers,
            ModelType::Conv2d | ModelType::Conv1d => 2 * self.layers,
        }
    }

    /// Builds the layer list of an action list. Values outside the space's choice lists are
    /// accepted (users explore custom networks); geometry that cannot work is refused.
    pub fn network(&self, actions: &[u32]) -> Result<Network, NetworkError> {
        if actions.len() != self.actions() {
            return Err(NetworkError::ActionCount {
                expected: self.actions(),
                got: actions.len(),
                model: self.model,
            });
        }
        if let Some(&v) = actions.iter().find(|&&v| v == 0 || v > MAX_DIM) {
            return Err(NetworkError::OutOfRange(v));
        }
        let mut layers = Vec::with_capacity(self.layers + 2);
        let (mut h, mut w, mut n) = match self.model {
            ModelType::Conv2d => (self.input, self.input, self.channels),
            ModelType::Conv1d | ModelType::Fc => (self.input, 1, self.channels),
        };
        match self.model {
            ModelType::Conv2d | ModelType::Conv1d => {
                let two_d = self.model == ModelType::Conv2d;
                for (i, pair) in actions.chunks_exact(2).enumerate() {
                    let (k, f) = (pair[0], pair[1]);
                    let name = format!("CONV_{i}");
                    // The reference requires the IFM to be strictly larger than the kernel.
                    if k >= h {
                        return Err(NetworkError::KernelTooLarge {
                            layer: name,
                            kernel: k,
                            rows: h,
                            cols: w,
                        });
                    }
                    let kw = if two_d { k } else { 1 };
                    let kind = if two_d {
                        LayerKind::Conv2d
                    } else {
                        LayerKind::Conv1d
                    };
                    let layer = Layer::new(name, kind, (h, w, n), (k, kw), f);
                    (h, w, n) = (layer.r, layer.c, layer.m);
                    layers.push(layer);
                }
                layers.push(Layer::new(
                    "GAVGPOOL_0".into(),
                    LayerKind::GlobalAvgPool,
                    (h, w, n),
                    (h, w),
                    n,
                ));
            }
            ModelType::Fc => {
                for (i, &u) in actions.iter().enumerate() {
                    layers.push(Layer::new(
                        format!("FC_{i}"),
                        LayerKind::Dense,
                        (h, w, n),
                        (h, w),
                        u,
                    ));
                    (h, w, n) = (1, 1, u);
                }
            }
        }
        layers.push(Layer::new(
            "FC_END".into(),
            LayerKind::Classifier,
            (1, 1, n),
            (1, 1),
            self.classes,
        ));
        Ok(Network { layers })
    }

    /// The reference's model-build check (cost-model.md §14.1), run before the cost model in a search:
    /// feature maps and weights must fit the NVM. Reproduces the reference's FC weight count.
    pub fn nvm_check(
        &self,
        net: &Network,
        nvm_bytes: u64,
        element_bytes: u64,
    ) -> Result<(), NetworkError> {
        let mut max_ofm = u64::from(self.input) * u64::from(self.channels);
        if self.model == ModelType::Conv2d {
            max_ofm *= u64::from(self.input);
        }
        let mut weights = 0u64;
        let mut n = u64::from(self.channels);
        let need = |max_ofm: u64, weights: u64| (2 * max_ofm + weights) * element_bytes;
        for l in net.layers.iter().filter(|l| {
            matches!(
                l.kind,
                LayerKind::Conv2d | LayerKind::Conv1d | LayerKind::Dense
            )
        }) {
            max_ofm = max_ofm.max(l.ofm_elements());
            weights += match l.kind {
                // Quirk: the reference counts FC weights with the running channel count only.
                LayerKind::Dense => u64::from(l.m) * n,
                _ => l.weight_elements(),
            };
            n = u64::from(l.m);
            if need(max_ofm, weights) > nvm_bytes {
                return Err(NetworkError::Nvm {
                    layer: l.name.clone(),
                    need: need(max_ofm, weights),
                    have: nvm_bytes,
                });
            }
        }
        weights += u64::from(self.classes) * n;
        if need(max_ofm, weights) > nvm_bytes {
            return Err(NetworkError::Nvm {
                layer: "FC_END".into(),
                need: need(max_ofm, weights),
                have: nvm_bytes,
            });
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum NetworkError {
    #[error("expected {expected} architecture choices for a {model:?} network ({}), got {got}",
            if *model == ModelType::Fc { "one unit count per layer" } else { "kernel,filters per layer" })]
    ActionCount {
        expected: usize,
        got: usize,
        model: ModelType,
    },
    #[error("architecture choice {0} is out of range (1..={MAX_DIM})")]
    OutOfRange(u32),
    #[error("{layer}: kernel {kernel} does not fit its {rows}x{cols} input (the input must be larger than the kernel)")]
    KernelTooLarge {
        layer: String,
        kernel: u32,
        rows: u32,
        cols: u32,
    },
    #[error("{layer}: feature maps and weights need {need} B of NVM, the platform has {have} B")]
    Nvm { layer: String, need: u64, have: u64 },
}

/// Layer kinds are the contract's: the plan names them the same way.
pub use inas_common::plan::LayerKind;

/// One layer's geometry. Stride is 1 and there is no padding everywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    pub kind: LayerKind,
    /// IFM rows, columns, channels.
    pub h: u32,
    pub w: u32,
    pub n: u32,
    /// OFM rows, columns, channels.
    pub r: u32,
    pub c: u32,
    pub m: u32,
    /// Kernel rows and columns (the whole map for GAP and FC).
    pub kh: u32,
    pub kw: u32,
}

impl Layer {
    fn new(
        name: String,
        kind: LayerKind,
        (h, w, n): (u32, u32, u32),
        (kh, kw): (u32, u32),
        m: u32,
    ) -> Layer {
        let (r, c) = (h - kh + 1, w - kw + 1);
        Layer {
            name,
            kind,
            h,
            w,
            n,
            r,
            c,
            m,
            kh,
            kw,
        }
    }

    pub fn is_pool(&self) -> bool {
        self.kind == LayerKind::GlobalAvgPool
    }

    pub fn ofm_elements(&self) -> u64 {
        u64::from(self.r) * u64::from(self.c) * u64::from(self.m)
    }

    pub fn weight_elements(&self) -> u64 {
        if self.is_pool() {
            0
        } else {
            u64::from(self.kh) * u64::from(self.kw) * u64::from(self.m) * u64::from(self.n)
        }
    }

    /// `HxWxN -> RxCxM, KhxKw`, as in the reference's tables.
    pub fn shape(&self) -> String {
        format!(
            "{}x{}x{} -> {}x{}x{}, {}x{}",
            self.h, self.w, self.n, self.r, self.c, self.m, self.kh, self.kw
        )
    }
}

/// An ordered list of layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub layers: Vec<Layer>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(net: &Network) -> Vec<String> {
        net.layers
            .iter()
            .map(|l| format!("{} {}", l.name, l.shape()))
            .collect()
    }

    #[test]
    fn worked_example_networks() {
        let cifar = CIFAR.network(CIFAR.example).unwrap();
        expect_test::expect![[r#"
            [
                "CONV_0 32x32x3 -> 30x30x8, 3x3",
                "CONV_1 30x30x8 -> 26x26x24, 5x5",
                "CONV_2 26x26x24 -> 24x24x24, 3x3",
                "CONV_3 24x24x24 -> 20x20x16, 5x5",
                "CONV_4 20x20x16 -> 16x16x16, 5x5",
                "GAVGPOOL_0 16x16x16 -> 1x1x16, 16x16",
                "FC_END 1x1x16 -> 1x1x10, 1x1",
            ]
        "#]]
        .assert_debug_eq(&shapes(&cifar));
        let har = HAR.network(HAR.example).unwrap();
        expect_test::expect![[r#"
            [
                "CONV_0 128x1x9 -> 124x1x4, 5x1",
                "CONV_1 124x1x4 -> 120x1x16, 5x1",
                "CONV_2 120x1x16 -> 116x1x24, 5x1",
                "GAVGPOOL_0 116x1x24 -> 1x1x24, 116x1",
                "FC_END 1x1x24 -> 1x1x6, 1x1",
            ]
        "#]]
        .assert_debug_eq(&shapes(&har));
        let kws = KWS.network(KWS.example).unwrap();
        expect_test::expect![[r#"
            [
                "FC_0 250x1x1 -> 1x1x48, 250x1",
                "FC_1 1x1x48 -> 1x1x128, 1x1",
                "FC_2 1x1x128 -> 1x1x48, 1x1",
                "FC_3 1x1x48 -> 1x1x128, 1x1",
                "FC_END 1x1x128 -> 1x1x12, 1x1",
            ]
        "#]]
        .assert_debug_eq(&shapes(&kws));
    }

    #[test]
    fn bad_action_lists_name_the_problem() {
        let e = CIFAR.network(&[3, 8]).unwrap_err().to_string();
        assert_eq!(e, "expected 10 architecture choices for a Conv2d network (kernel,filters per layer), got 2");
        let e = CIFAR
            .network(&[7, 8, 7, 8, 7, 8, 7, 8, 9, 8])
            .unwrap_err()
            .to_string();
        assert_eq!(e, "CONV_4: kernel 9 does not fit its 8x8 input (the input must be larger than the kernel)");
        let e = KWS.network(&[48, 0, 48, 48]).unwrap_err().to_string();
        assert!(e.contains("choice 0 is out of range"), "{e}");
    }

    #[test]
    fn every_space_network_passes_the_nvm_check() {
        // The reference says these errors never occur with its settings; check the largest.
        for ds in Dataset::ALL {
            let s = ds.space();
            let big: Vec<u32> = match s.model {
                ModelType::Fc => vec![128; s.layers],
                _ => (0..s.layers).flat_map(|_| [1, 24]).collect(),
            };
            let net = s.network(&big).unwrap();
            assert_eq!(s.nvm_check(&net, 1_000_000, 2), Ok(()), "{ds}");
            assert!(s.nvm_check(&net, 1000, 2).is_err(), "{ds}");
        }
    }
}
