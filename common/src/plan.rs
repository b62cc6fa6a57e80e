//! The plan: everything a device needs to run one network, as bytes.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | content |
//! |---|---|
//! | 0..4 | magic `INPL` |
//! | 4..6 | format version |
//! | 6..8 | flags (0) |
//! | 8..12 | total length in bytes |
//! | 12..16 | length of the metadata section |
//! | 16..20 | CRC-32 (ISO-HDLC) of the whole plan without these 4 bytes |
//! | 20.. | metadata: postcard [`PlanMeta`], at most [`META_MAX_LEN`] bytes |
//! | .. | tensor section: Q15 values (i16), referenced by [`TensorRef`] |
//!
//! The preamble never changes shape, so any device can read a newer plan's version and refuse
//! it cleanly. The metadata is small and bounded, so a device decodes it from a static buffer;
//! the tensor section can stay where the device stored it (on the MSP430: FRAM above 64 KB,
//! reached by DMA).
//!
//! [`Plan::decode`] checks the container; [`validate`] checks the contents against a device's
//! limits and returns a [`ValidPlan`], the only thing the engine runs.

use core::fmt;

use postcard::experimental::max_size::MaxSize;
use serde::{Deserialize, Serialize};

use crate::crc::crc32_parts;
use crate::design::{ExecDesign, LoopOrder};
use crate::engine::Geo;

pub const MAGIC: [u8; 4] = *b"INPL";
/// The plan format this build writes and reads.
pub const FORMAT_VERSION: u16 = 2;
pub const PREAMBLE_LEN: usize = 20;
/// Most layers a plan may hold (the search spaces produce at most 7). The device decodes the
/// metadata into a fixed-capacity list, so this bounds its RAM and stack use.
pub const MAX_LAYERS: usize = 8;
/// Upper bound of the encoded metadata section.
pub const META_MAX_LEN: usize = PlanMeta::POSTCARD_MAX_SIZE;
/// Largest feature-map dimension, tile size or batch.
pub const MAX_DIM: u32 = u16::MAX as u32;
/// Most tile-buffer memory a layer may use: the engine's offsets and strides within its tile
/// buffers are 16-bit word counts.
pub const MAX_VM_BYTES: u32 = 2 * u16::MAX as u32;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub enum LayerKind {
    Conv2d,
    Conv1d,
    /// Fully connected, executed as a convolution whose kernel covers the whole input.
    Dense,
    GlobalAvgPool,
    /// The final fully connected classifier: a 1x1 convolution producing the logits.
    Classifier,
}

/// A feature map: rows, columns, channels (stored HWC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Shape {
    pub h: u16,
    pub w: u16,
    pub c: u16,
}

impl Shape {
    /// Number of values; valid plans guarantee it fits (see [`Shape::checked_elements`]).
    pub const fn elements(&self) -> u32 {
        self.h as u32 * self.w as u32 * self.c as u32
    }

    /// Number of values, or `None` if it does not fit a u32.
    pub fn checked_elements(&self) -> Option<u32> {
        mul(
            mul(u32::from(self.h), u32::from(self.w))?,
            u32::from(self.c),
        )
    }
}

/// Overflow-checked u32 product, by division: 64-bit arithmetic is off limits on the device.
/// Not inlined: on the 16-bit device every call site would carry a division and a multiply.
#[inline(never)]
pub(crate) fn mul(a: u32, b: u32) -> Option<u32> {
    if b != 0 && a > u32::MAX / b {
        None
    } else {
        Some(a * b)
    }
}

/// Checked u32 sum; out of line for the same reason as [`mul`].
#[inline(never)]
fn add(a: u32, b: u32) -> Option<u32> {
    a.checked_add(b)
}

/// Whether `d` divides `n` (`d` > 0); out of line, as [`mul`].
#[inline(never)]
fn divides(n: u32, d: u32) -> bool {
    n.is_multiple_of(d)
}

/// Checked product `a·b·c·d`, left to right (pass 1 for fewer factors). Four arguments rather
/// than a slice: on the 16-bit device building the arrays cost more than the products.
#[inline(never)]
fn product(a: u32, b: u32, c: u32, d: u32) -> Option<u32> {
    mul(mul(mul(a, b)?, c)?, d)
}

/// A run of Q15 values in the tensor section, in elements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct TensorRef {
    pub offset: u32,
    pub len: u32,
}

/// One layer of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct LayerDesc {
    pub kind: LayerKind,
    pub input: Shape,
    pub output: Shape,
    pub kh: u16,
    pub kw: u16,
    pub relu: bool,
    /// CONV/FC: `[kh][kw][m][n]`. GAP: one value, the pooling weight (≈ 1 / (H·W)).
    pub weights: TensorRef,
    /// `m` values in the output's Q format, or empty for no bias.
    pub bias: TensorRef,
    /// Right shift from the i32 accumulator to the output's Q15 (0..=31).
    pub shift: u8,
    /// Output exponent: real value = q · 2^(out_exp − 15).
    pub out_exp: i8,
    pub design: ExecDesign,
}

/// What the plan was made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Target {
    pub vm_bytes: u32,
    pub nvm_bytes: u32,
    /// Platform profile name, zero-padded.
    #[serde(deserialize_with = "bytes16")]
    pub profile: [u8; 16],
}

/// Deserializes a `[u8; 16]` exactly as serde's array impl does (a 16-tuple), with a loop:
/// serde unrolls its array visitor, which costs the device's decoder a few hundred bytes.
fn bytes16<'de, D: serde::Deserializer<'de>>(d: D) -> Result<[u8; 16], D::Error> {
    struct Bytes16;
    impl<'de> serde::de::Visitor<'de> for Bytes16 {
        type Value = [u8; 16];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of length 16")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; 16], A::Error> {
            let mut out = [0u8; 16];
            for (i, b) in out.iter_mut().enumerate() {
                *b = seq
                    .next_element()?
                    .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }
    d.deserialize_tuple(16, Bytes16)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct PlanMeta {
    pub plan_id: u32,
    pub target: Target,
    pub input: Shape,
    /// Input exponent: real value = q · 2^(input_exp − 15).
    pub input_exp: i8,
    /// How a raw sample was standardised before training, one entry per input channel (the
    /// last axis), or none: the host applies it before [`PlanMeta::input_exp`], so a plan alone
    /// is enough to feed a device what the network was trained on. Devices never read it.
    pub preprocess: heapless::Vec<Standardize, MAX_CHANNELS>,
    pub layers: heapless::Vec<LayerDesc, MAX_LAYERS>,
}

/// Most input channels a plan's preprocessing describes.
pub const MAX_CHANNELS: usize = 16;

/// `x' = (x − mean) / std` for one input channel; f32 values as their IEEE-754 bits, so that a
/// device decodes them without floating-point code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct Standardize {
    pub mean_bits: u32,
    pub std_bits: u32,
}

/// The fixed-layout start of every plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preamble {
    pub version: u16,
    pub flags: u16,
    pub total_len: u32,
    pub meta_len: u32,
    pub crc32: u32,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Preamble {
    /// Reads and checks the preamble: magic and version only (the rest needs the whole plan).
    pub fn read(bytes: &[u8]) -> Result<Preamble, PlanError> {
        if bytes.len() < PREAMBLE_LEN {
            return Err(PlanError::Truncated {
                need: PREAMBLE_LEN as u32,
                got: bytes.len() as u32,
            });
        }
        if bytes[0..4] != MAGIC {
            return Err(PlanError::Magic);
        }
        let p = Preamble {
            version: le16(bytes, 4),
            flags: le16(bytes, 6),
            total_len: le32(bytes, 8),
            meta_len: le32(bytes, 12),
            crc32: le32(bytes, 16),
        };
        if p.version != FORMAT_VERSION {
            return Err(PlanError::Version {
                found: p.version,
                supported: FORMAT_VERSION,
            });
        }
        if p.flags != 0 {
            return Err(PlanError::Flags(p.flags));
        }
        // In u32: a 16-bit usize (the MSP430's) would truncate lengths past 64 KB.
        if p.meta_len > META_MAX_LEN as u32 || p.total_len < PREAMBLE_LEN as u32 + p.meta_len {
            return Err(PlanError::Lengths {
                total: p.total_len,
                meta: p.meta_len,
            });
        }
        Ok(p)
    }

    fn write(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&self.version.to_le_bytes());
        out[6..8].copy_from_slice(&self.flags.to_le_bytes());
        out[8..12].copy_from_slice(&self.total_len.to_le_bytes());
        out[12..16].copy_from_slice(&self.meta_len.to_le_bytes());
        out[16..20].copy_from_slice(&self.crc32.to_le_bytes());
    }
}

/// The CRC a plan's preamble must carry: over everything except the CRC field.
pub fn plan_crc(bytes: &[u8]) -> u32 {
    crc32_parts(&[&bytes[..16], &bytes[PREAMBLE_LEN..]])
}

/// Bytes needed to encode a plan with this metadata and this many tensor elements.
pub fn encoded_len(meta: &PlanMeta, tensor_elements: usize) -> Result<usize, PlanError> {
    let mut buf = [0u8; META_MAX_LEN];
    let meta_len = postcard::to_slice(meta, &mut buf)
        .map_err(|_| PlanError::Meta)?
        .len();
    Ok(PREAMBLE_LEN + meta_len + 2 * tensor_elements)
}

/// Encodes a plan into `out`, which must be exactly [`encoded_len`] bytes; returns the length.
pub fn encode(meta: &PlanMeta, tensors: &[i16], out: &mut [u8]) -> Result<usize, PlanError> {
    let need = encoded_len(meta, tensors.len())?;
    if out.len() < need {
        return Err(PlanError::Truncated {
            need: need as u32,
            got: out.len() as u32,
        });
    }
    let meta_len = postcard::to_slice(meta, &mut out[PREAMBLE_LEN..])
        .map_err(|_| PlanError::Meta)?
        .len();
    let mut at = PREAMBLE_LEN + meta_len;
    for v in tensors {
        out[at..at + 2].copy_from_slice(&v.to_le_bytes());
        at += 2;
    }
    let mut pre = Preamble {
        version: FORMAT_VERSION,
        flags: 0,
        total_len: need as u32,
        meta_len: meta_len as u32,
        crc32: 0,
    };
    pre.write(out);
    pre.crc32 = plan_crc(&out[..need]);
    pre.write(out);
    Ok(need)
}

/// A decoded plan: metadata plus a view of its tensor section. Not yet validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan<'a> {
    pub meta: PlanMeta,
    tensors: &'a [u8],
}

impl<'a> Plan<'a> {
    /// Checks the container (magic, version, lengths, CRC) and decodes the metadata.
    pub fn decode(bytes: &'a [u8]) -> Result<Plan<'a>, PlanError> {
        let pre = Preamble::read(bytes)?;
        if bytes.len() != pre.total_len as usize {
            return Err(PlanError::Truncated {
                need: pre.total_len,
                got: bytes.len() as u32,
            });
        }
        let crc = plan_crc(bytes);
        if crc != pre.crc32 {
            return Err(PlanError::Crc {
                expected: pre.crc32,
                computed: crc,
            });
        }
        let meta_end = PREAMBLE_LEN + pre.meta_len as usize;
        let meta: PlanMeta = match postcard::take_from_bytes(&bytes[PREAMBLE_LEN..meta_end]) {
            Ok((m, [])) => m,
            _ => return Err(PlanError::Meta),
        };
        let tensors = &bytes[meta_end..];
        if !tensors.len().is_multiple_of(2) {
            return Err(PlanError::Lengths {
                total: pre.total_len,
                meta: pre.meta_len,
            });
        }
        Ok(Plan { meta, tensors })
    }

    /// Number of Q15 values in the tensor section.
    pub fn tensor_elements(&self) -> u32 {
        (self.tensors.len() / 2) as u32
    }

    /// Value `i` of the tensor section (0 past its end; validated plans never ask for that).
    pub fn tensor_value(&self, i: u32) -> i16 {
        let at = i as usize * 2;
        match self.tensors.get(at..at + 2) {
            Some(b) => i16::from_le_bytes([b[0], b[1]]),
            None => 0,
        }
    }
}

/// What a device offers a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub vm_bytes: u32,
    pub nvm_bytes: u32,
}

/// Where a validated plan keeps things in the device's NVM, in 16-bit words. Tensors first,
/// then three feature-map buffers (a layer reads one and alternates its partial-sum versions
/// between the other two), then the two footprint slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NvmLayout {
    pub tensors: u32,
    pub feature_maps: [u32; 3],
    pub feature_map_words: u32,
    pub footprint: u32,
    pub total_words: u32,
}

/// Words of one footprint slot.
pub const FOOTPRINT_SLOT_WORDS: u32 = 4;

/// A plan that passed [`validate`] (or [`validate_meta`]): the engine runs nothing else. It
/// holds the metadata and the NVM layout, not the tensor bytes: the engine reads tensors from
/// NVM, and a device keeps them where the CPU may not even address them (the MSP430's FRAM
/// above 64 KB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidPlan {
    meta: PlanMeta,
    tensor_elements: u32,
    layout: NvmLayout,
    /// Each layer as the engine walks it, computed here once rather than at every batch.
    geos: [Geo; MAX_LAYERS],
}

impl ValidPlan {
    /// A placeholder that [`validate_meta_bytes`] fills in place.
    const EMPTY: ValidPlan = ValidPlan {
        meta: PlanMeta {
            plan_id: 0,
            target: Target {
                vm_bytes: 0,
                nvm_bytes: 0,
                profile: [0; 16],
            },
            input: Shape { h: 0, w: 0, c: 0 },
            input_exp: 0,
            preprocess: heapless::Vec::new(),
            layers: heapless::Vec::new(),
        },
        tensor_elements: 0,
        layout: NvmLayout {
            tensors: 0,
            feature_maps: [0; 3],
            feature_map_words: 0,
            footprint: 0,
            total_words: 0,
        },
        geos: [Geo::EMPTY; MAX_LAYERS],
    };

    pub fn meta(&self) -> &PlanMeta {
        &self.meta
    }
    pub fn layers(&self) -> &[LayerDesc] {
        &self.meta.layers
    }
    pub fn layout(&self) -> &NvmLayout {
        &self.layout
    }
    /// Moves the plan's NVM layout where a device keeps it: tensors from word `tensors_at`, and
    /// every feature map and the footprint by `maps_by` words (wrapping: a device may put them
    /// below the tensors). The engine then addresses NVM directly, with no mapping per access.
    pub fn relocate(&mut self, tensors_at: u32, maps_by: u32) {
        let l = &mut self.layout;
        l.tensors = l.tensors.wrapping_add(tensors_at);
        for m in &mut l.feature_maps {
            *m = m.wrapping_add(maps_by);
        }
        l.footprint = l.footprint.wrapping_add(maps_by);
        for g in &mut self.geos[..self.meta.layers.len()] {
            g.relocate(maps_by);
        }
    }

    /// The engine's view of each layer, in layer order.
    pub fn geos(&self) -> &[Geo] {
        &self.geos[..self.meta.layers.len()]
    }
    /// Number of Q15 values in the plan's tensor section.
    pub fn tensor_elements(&self) -> u32 {
        self.tensor_elements
    }
}

/// Which part of a layer is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerFault {
    /// Its input is not the previous layer's output (or the plan's input).
    Chain,
    /// A zero dimension, or one above the limit.
    Dimension,
    /// Output, kernel and input do not fit the layer kind's geometry.
    Geometry,
    /// A tile size does not divide its dimension (or Tn is not 1 for GAP).
    Tile,
    /// The batch S does not divide the innermost loop count.
    Batch,
    /// GAP layers run with loop order reuse_O only.
    Order,
    /// Tile buffers need more VM than the device has.
    Vm {
        need_bytes: u32,
        have_bytes: u32,
    },
    Weights {
        expected: u32,
        got: u32,
    },
    Bias {
        expected: u32,
        got: u32,
    },
    /// A tensor reference points outside the tensor section.
    TensorRange,
    /// The shift is above 31.
    Shift(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    Truncated {
        need: u32,
        got: u32,
    },
    Magic,
    /// The plan was written by a newer (or unknown) format version.
    Version {
        found: u16,
        supported: u16,
    },
    Flags(u16),
    Lengths {
        total: u32,
        meta: u32,
    },
    Crc {
        expected: u32,
        computed: u32,
    },
    /// The metadata section does not decode.
    Meta,
    NoLayers,
    /// The input shape has a zero dimension.
    Input,
    Layer {
        index: u8,
        fault: LayerFault,
    },
    /// Tensors plus feature maps plus footprint need more NVM than the device has.
    Nvm {
        need_bytes: u32,
        have_bytes: u32,
    },
}

impl PlanError {
    /// A compact code for a wire `Error` reply's `detail`: the error kind in bits 16..24, for a
    /// layer error its index in bits 8..16 and the fault kind in bits 0..8.
    pub fn detail(&self) -> u32 {
        let kind = |k: u32| k << 16;
        match self {
            PlanError::Truncated { .. } => kind(1),
            PlanError::Magic => kind(2),
            PlanError::Version { .. } => kind(3),
            PlanError::Flags(_) => kind(4),
            PlanError::Lengths { .. } => kind(5),
            PlanError::Crc { .. } => kind(6),
            PlanError::Meta => kind(7),
            PlanError::NoLayers => kind(8),
            PlanError::Input => kind(9),
            PlanError::Layer { index, fault } => {
                let f = match fault {
                    LayerFault::Chain => 1,
                    LayerFault::Dimension => 2,
                    LayerFault::Geometry => 3,
                    LayerFault::Tile => 4,
                    LayerFault::Batch => 5,
                    LayerFault::Order => 6,
                    LayerFault::Vm { .. } => 7,
                    LayerFault::Weights { .. } => 8,
                    LayerFault::Bias { .. } => 9,
                    LayerFault::TensorRange => 10,
                    LayerFault::Shift(_) => 11,
                };
                kind(10) | (u32::from(*index) << 8) | f
            }
            PlanError::Nvm { .. } => kind(11),
        }
    }
}

impl fmt::Display for LayerFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerFault::Chain => f.write_str("its input shape is not the previous layer's output"),
            LayerFault::Dimension => write!(f, "a dimension is 0 or above {MAX_DIM}"),
            LayerFault::Geometry => {
                f.write_str("output, kernel and input do not agree for this layer kind")
            }
            LayerFault::Tile => f.write_str("a tile size does not divide its dimension"),
            LayerFault::Batch => f.write_str("the batch does not divide the innermost loop count"),
            LayerFault::Order => f.write_str("global average pooling runs with reuse_O only"),
            LayerFault::Vm {
                need_bytes,
                have_bytes,
            } => {
                write!(
                    f,
                    "tile buffers need {need_bytes} B of VM, the device has {have_bytes} B"
                )
            }
            LayerFault::Weights { expected, got } => {
                write!(f, "expected {expected} weights, got {got}")
            }
            LayerFault::Bias { expected, got } => {
                write!(f, "expected {expected} or 0 biases, got {got}")
            }
            LayerFault::TensorRange => {
                f.write_str("a tensor reference points outside the tensor section")
            }
            LayerFault::Shift(s) => write!(f, "shift {s} is above 31"),
        }
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Truncated { need, got } => {
                write!(f, "plan truncated: need {need} bytes, got {got}")
            }
            PlanError::Magic => f.write_str("not a plan (bad magic)"),
            PlanError::Version { found, supported } => {
                write!(f, "plan format version {found} is not supported (this side reads version {supported})")
            }
            PlanError::Flags(x) => write!(f, "unknown plan flags {x:#06x}"),
            PlanError::Lengths { total, meta } => {
                write!(
                    f,
                    "inconsistent plan lengths (total {total} bytes, metadata {meta} bytes)"
                )
            }
            PlanError::Crc { expected, computed } => {
                write!(f, "plan CRC mismatch: header says {expected:#010x}, content gives {computed:#010x}")
            }
            PlanError::Meta => f.write_str("plan metadata does not decode"),
            PlanError::NoLayers => f.write_str("plan has no layers"),
            PlanError::Input => {
                f.write_str("plan input shape has a zero dimension or more than 2^32 values")
            }
            PlanError::Layer { index, fault } => write!(f, "layer {index}: {fault}"),
            PlanError::Nvm {
                need_bytes,
                have_bytes,
            } => {
                write!(
                    f,
                    "plan needs {need_bytes} B of NVM, the device has {have_bytes} B"
                )
            }
        }
    }
}

/// Innermost loop count of a design on a layer: the batch S must divide it.
pub fn innermost_count(l: &LayerDesc) -> u32 {
    let d = &l.design;
    let (o, i) = (l.output, l.input);
    if l.kind == LayerKind::GlobalAvgPool {
        return (i.h as u32 / d.tr) * (i.w as u32 / d.tc);
    }
    match d.order {
        LoopOrder::ReuseI => o.c as u32 / d.tm,
        LoopOrder::ReuseW => (o.h as u32 / d.tr) * (o.w as u32 / d.tc),
        LoopOrder::ReuseO => i.c as u32 / d.tn,
    }
}

/// VM bytes the engine's tile buffers need for a layer (the model's rule, spec §6);
/// `u32::MAX` if that overflows.
#[inline(never)]
pub fn vm_need_bytes(l: &LayerDesc) -> u32 {
    vm_need_elements(l)
        .and_then(|e| mul(e, 2))
        .unwrap_or(u32::MAX)
}

/// [`vm_need_bytes`] in elements, `None` on overflow.
fn vm_need_elements(l: &LayerDesc) -> Option<u32> {
    let d = &l.design;
    let (tr, tc, tm, tn, s) = (d.tr, d.tc, d.tm, d.tn, d.batch);
    let tile = product(tr, tc, tm, 1)?;
    if l.kind == LayerKind::GlobalAvgPool {
        return add(tile, mul(tm, s)?);
    }
    let (kh, kw) = (u32::from(l.kh), u32::from(l.kw));
    let b_in = product(tr.saturating_add(kh - 1), tc.saturating_add(kw - 1), tn, 1)?;
    let b_w = product(kh, kw, tm, tn)?;
    let b_out = if d.order == LoopOrder::ReuseO {
        tile
    } else {
        mul(tile, s)?
    };
    add(add(b_in, b_w)?, b_out)
}

#[inline(never)]
fn check_layer(
    l: &LayerDesc,
    prev: Shape,
    tensor_elements: u32,
    limits: &Limits,
) -> Result<(), LayerFault> {
    let (i, o, d) = (l.input, l.output, &l.design);
    if i != prev {
        return Err(LayerFault::Chain);
    }
    // Spelled out rather than as arrays: on the 16-bit device the arrays cost more than the
    // compares. `t - 1 >= MAX_DIM` (wrapping) is `t == 0 || t > MAX_DIM`.
    let zero_dim = i.h == 0
        || i.w == 0
        || i.c == 0
        || o.h == 0
        || o.w == 0
        || o.c == 0
        || l.kh == 0
        || l.kw == 0;
    let bad_tile = |t: u32| t.wrapping_sub(1) >= MAX_DIM;
    if zero_dim
        || bad_tile(d.tr)
        || bad_tile(d.tc)
        || bad_tile(d.tm)
        || bad_tile(d.tn)
        || bad_tile(d.batch)
        || o.checked_elements().is_none()
    {
        return Err(LayerFault::Dimension);
    }
    let geometry_ok = match l.kind {
        LayerKind::Conv2d | LayerKind::Conv1d => {
            l.kh <= i.h
                && l.kw <= i.w
                && o.h == i.h - l.kh + 1
                && o.w == i.w - l.kw + 1
                && (l.kind == LayerKind::Conv2d || (i.w == 1 && l.kw == 1))
        }
        LayerKind::Dense | LayerKind::GlobalAvgPool => {
            l.kh == i.h
                && l.kw == i.w
                && o.h == 1
                && o.w == 1
                && (l.kind == LayerKind::Dense || o.c == i.c)
        }
        LayerKind::Classifier => {
            i.h == 1 && i.w == 1 && l.kh == 1 && l.kw == 1 && o.h == 1 && o.w == 1
        }
    };
    if !geometry_ok {
        return Err(LayerFault::Geometry);
    }
    let tiles_into = |dim: u16, t: u32| divides(u32::from(dim), t);
    if l.kind == LayerKind::GlobalAvgPool {
        if !(tiles_into(i.h, d.tr) && tiles_into(i.w, d.tc) && tiles_into(o.c, d.tm) && d.tn == 1) {
            return Err(LayerFault::Tile);
        }
        if d.order != LoopOrder::ReuseO {
            return Err(LayerFault::Order);
        }
    } else if !(tiles_into(o.h, d.tr)
        && tiles_into(o.w, d.tc)
        && tiles_into(o.c, d.tm)
        && tiles_into(i.c, d.tn))
    {
        return Err(LayerFault::Tile);
    }
    if !divides(innermost_count(l), d.batch) {
        return Err(LayerFault::Batch);
    }
    // The engine numbers a layer's tiles (and its footprint stores them) in a u32.
    let (rows, cols) = if l.kind == LayerKind::GlobalAvgPool {
        (i.h, i.w)
    } else {
        (o.h, o.w)
    };
    let n_tiles = if l.kind == LayerKind::GlobalAvgPool {
        1
    } else {
        u32::from(i.c) / d.tn
    };
    let tile_count = product(
        u32::from(rows) / d.tr,
        u32::from(cols) / d.tc,
        u32::from(o.c) / d.tm,
        n_tiles,
    );
    if tile_count.is_none() {
        return Err(LayerFault::Dimension);
    }
    // The engine addresses its tile buffers in 16-bit words, whatever the device offers.
    let have = limits.vm_bytes.min(MAX_VM_BYTES);
    let need = vm_need_bytes(l);
    if need > have {
        return Err(LayerFault::Vm {
            need_bytes: need,
            have_bytes: have,
        });
    }
    let expected_w = if l.kind == LayerKind::GlobalAvgPool {
        Some(1)
    } else {
        product(
            u32::from(l.kh),
            u32::from(l.kw),
            u32::from(o.c),
            u32::from(i.c),
        )
    };
    let Some(expected_w) = expected_w else {
        return Err(LayerFault::Dimension);
    };
    if l.weights.len != expected_w {
        return Err(LayerFault::Weights {
            expected: expected_w,
            got: l.weights.len,
        });
    }
    if l.bias.len != 0 && l.bias.len != u32::from(o.c) {
        return Err(LayerFault::Bias {
            expected: u32::from(o.c),
            got: l.bias.len,
        });
    }
    let in_range = |t: TensorRef| add(t.offset, t.len).is_some_and(|end| end <= tensor_elements);
    if !in_range(l.weights) || !in_range(l.bias) {
        return Err(LayerFault::TensorRange);
    }
    if l.shift > 31 {
        return Err(LayerFault::Shift(l.shift));
    }
    Ok(())
}

/// Checks a decoded plan's contents against a device: a total function, every failure a typed
/// error.
pub fn validate(plan: &Plan<'_>, limits: &Limits) -> Result<ValidPlan, PlanError> {
    validate_meta(plan.meta.clone(), plan.tensor_elements(), limits)
}

/// Checks metadata whose tensor section (of `tensor_elements` values) is stored elsewhere, as
/// on a device that received the plan in chunks.
pub fn validate_meta(
    meta: PlanMeta,
    tensor_elements: u32,
    limits: &Limits,
) -> Result<ValidPlan, PlanError> {
    let layout = check_meta(&meta, tensor_elements, limits)?;
    let mut plan = ValidPlan {
        meta,
        tensor_elements,
        layout,
        geos: [Geo::EMPTY; MAX_LAYERS],
    };
    fill_geos(&plan.meta, &plan.layout, &mut plan.geos);
    Ok(plan)
}

/// Decodes postcard metadata and validates it into `place` (left `None` on refusal), the way a
/// small device wants it: a validated plan is over a kilobyte, so it is built in `place`, field
/// by field, instead of moving through a chain of return values on a stack of a few kilobytes.
pub fn validate_meta_bytes(
    meta: &[u8],
    tensor_elements: u32,
    limits: &Limits,
    place: &mut Option<ValidPlan>,
) -> Result<(), PlanError> {
    if place.is_none() {
        // A constant assigned in place: no kilobyte temporary on the stack.
        *place = Some(ValidPlan::EMPTY);
    }
    let result = match place.as_mut() {
        Some(plan) => fill_plan(plan, meta, tensor_elements, limits),
        None => Err(PlanError::Meta),
    };
    if result.is_err() {
        *place = None;
    }
    result
}

/// Decodes, checks and lays out a plan into `plan`'s fields.
#[inline(never)]
fn fill_plan(
    plan: &mut ValidPlan,
    meta: &[u8],
    tensor_elements: u32,
    limits: &Limits,
) -> Result<(), PlanError> {
    plan.meta = decode_meta(meta).ok_or(PlanError::Meta)?;
    plan.tensor_elements = tensor_elements;
    plan.layout = check_meta(&plan.meta, tensor_elements, limits)?;
    fill_geos(&plan.meta, &plan.layout, &mut plan.geos);
    Ok(())
}

/// Not inlined: the decoder's temporaries are gone before validation runs.
#[inline(never)]
fn decode_meta(bytes: &[u8]) -> Option<PlanMeta> {
    match postcard::take_from_bytes(bytes) {
        Ok((m, [])) => Some(m),
        _ => None,
    }
}

#[inline(never)]
fn check_meta(
    meta: &PlanMeta,
    tensor_elements: u32,
    limits: &Limits,
) -> Result<NvmLayout, PlanError> {
    if meta.layers.is_empty() {
        return Err(PlanError::NoLayers);
    }
    let Some(input_elements) = meta.input.checked_elements().filter(|&n| n != 0) else {
        return Err(PlanError::Input);
    };
    // Preprocessing, if any, names every input channel.
    if !meta.preprocess.is_empty() && meta.preprocess.len() != usize::from(meta.input.c) {
        return Err(PlanError::Input);
    }
    let mut prev = meta.input;
    let mut fm = input_elements;
    for (index, l) in meta.layers.iter().enumerate() {
        check_layer(l, prev, tensor_elements, limits).map_err(|fault| PlanError::Layer {
            index: index as u8,
            fault,
        })?;
        prev = l.output;
        // check_layer bounded the output's size.
        fm = fm.max(l.output.checked_elements().unwrap_or(0));
    }
    let tensors = tensor_elements;
    let total = mul(3, fm)
        .and_then(|f| add(f, tensors))
        .and_then(|t| add(t, 2 * FOOTPRINT_SLOT_WORDS))
        .unwrap_or(u32::MAX / 2);
    let need_bytes = mul(total, 2).unwrap_or(u32::MAX);
    if need_bytes > limits.nvm_bytes {
        return Err(PlanError::Nvm {
            need_bytes,
            have_bytes: limits.nvm_bytes,
        });
    }
    // Running sums (no multiplies on the device); `total` bounds them all.
    let (fm1, fm2) = (tensors + fm, tensors + fm + fm);
    Ok(NvmLayout {
        tensors: 0,
        feature_maps: [tensors, fm1, fm2],
        feature_map_words: fm,
        footprint: fm2 + fm,
        total_words: total,
    })
}

/// Each checked layer as the engine walks it. A layer reads one feature map and alternates its
/// output versions between the other two; the next layer reads the one its final version
/// landed in.
#[inline(never)]
fn fill_geos(meta: &PlanMeta, layout: &NvmLayout, geos: &mut [Geo; MAX_LAYERS]) {
    let maps = layout.feature_maps;
    let mut input = 0;
    for (g, l) in geos.iter_mut().zip(&meta.layers) {
        let outs = match input {
            0 => [1, 2],
            1 => [0, 2],
            _ => [0, 1],
        };
        *g = Geo::of(l, maps[input], [maps[outs[0]], maps[outs[1]]]);
        input = if g.output_buffer() == maps[outs[0]] {
            outs[0]
        } else {
            outs[1]
        };
    }
}

#[cfg(test)]
pub(crate) mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn d(tr: u32, tc: u32, tm: u32, tn: u32, order: LoopOrder, batch: u32) -> ExecDesign {
        ExecDesign {
            tr,
            tc,
            tm,
            tn,
            order,
            batch,
        }
    }

    /// conv1d 8x1x2 -k3-> 6x1x4, GAP -> 1x1x4, classifier -> 1x1x3.
    pub(crate) fn small_meta() -> (PlanMeta, Vec<i16>) {
        let sh = |h, w, c| Shape { h, w, c };
        let mut tensors = vec![];
        let mut tref = |n: u32, seed: i16| {
            let r = TensorRef {
                offset: tensors.len() as u32,
                len: n,
            };
            tensors.extend((0..n as i16).map(|i| seed.wrapping_mul(i + 7) % 9000));
            r
        };
        let conv = LayerDesc {
            kind: LayerKind::Conv1d,
            input: sh(8, 1, 2),
            output: sh(6, 1, 4),
            kh: 3,
            kw: 1,
            relu: true,
            weights: tref(3 * 4 * 2, 311),
            bias: tref(4, 17),
            shift: 15,
            out_exp: 0,
            design: d(3, 1, 2, 2, LoopOrder::ReuseI, 2),
        };
        let gap = LayerDesc {
            kind: LayerKind::GlobalAvgPool,
            input: sh(6, 1, 4),
            output: sh(1, 1, 4),
            kh: 6,
            kw: 1,
            relu: false,
            weights: tref(1, 5461),
            bias: TensorRef::default(),
            shift: 15,
            out_exp: 0,
            design: d(2, 1, 4, 1, LoopOrder::ReuseO, 1),
        };
        let fc = LayerDesc {
            kind: LayerKind::Classifier,
            input: sh(1, 1, 4),
            output: sh(1, 1, 3),
            kh: 1,
            kw: 1,
            relu: false,
            weights: tref(12, 1234),
            bias: tref(3, 99),
            shift: 15,
            out_exp: 0,
            design: d(1, 1, 3, 4, LoopOrder::ReuseO, 1),
        };
        let meta = PlanMeta {
            plan_id: 7,
            target: Target {
                vm_bytes: 2048,
                nvm_bytes: 100_000,
                profile: *b"reference\0\0\0\0\0\0\0",
            },
            input: sh(8, 1, 2),
            input_exp: 0,
            preprocess: heapless::Vec::new(),
            layers: heapless::Vec::from_slice(&[conv, gap, fc]).unwrap(),
        };
        (meta, tensors)
    }

    pub(crate) fn bytes_of(meta: &PlanMeta, tensors: &[i16]) -> Vec<u8> {
        let mut out = vec![0u8; encoded_len(meta, tensors.len()).unwrap()];
        let n = encode(meta, tensors, &mut out).unwrap();
        assert_eq!(n, out.len());
        out
    }

    const LIMITS: Limits = Limits {
        vm_bytes: 2048,
        nvm_bytes: 100_000,
    };

    #[test]
    fn round_trip_and_layout() {
        let (meta, tensors) = small_meta();
        let bytes = bytes_of(&meta, &tensors);
        let plan = Plan::decode(&bytes).unwrap();
        assert_eq!(plan.meta, meta);
        assert_eq!(plan.tensor_elements() as usize, tensors.len());
        assert!((0..tensors.len()).all(|i| plan.tensor_value(i as u32) == tensors[i]));
        let v = validate(&plan, &LIMITS).unwrap();
        let l = v.layout();
        assert_eq!(l.feature_map_words, 24);
        assert_eq!(l.feature_maps, [44, 68, 92]);
        assert_eq!(l.footprint, 116);
    }

    #[test]
    fn preprocessing_names_every_input_channel_or_none() {
        let (meta, tensors) = small_meta();
        let limits = Limits {
            vm_bytes: 2048,
            nvm_bytes: 100_000,
        };
        let with = |n: usize| {
            let mut m = meta.clone();
            for c in 0..n {
                m.preprocess
                    .push(Standardize {
                        mean_bits: (c as f32).to_bits(),
                        std_bits: 1f32.to_bits(),
                    })
                    .unwrap();
            }
            let bytes = bytes_of(&m, &tensors);
            let decoded = Plan::decode(&bytes).map(|p| p.meta.preprocess.len());
            (
                decoded,
                validate_meta(m, tensors.len() as u32, &limits).err(),
            )
        };
        // The small plan's input has 2 channels.
        assert_eq!(with(0), (Ok(0), None));
        assert_eq!(with(2), (Ok(2), None));
        assert_eq!(with(1).1, Some(PlanError::Input));
        assert_eq!(with(3).1, Some(PlanError::Input));
    }

    #[test]
    fn container_errors_are_typed() {
        let (meta, tensors) = small_meta();
        let good = bytes_of(&meta, &tensors);
        let mut newer = good.clone();
        newer[4] = 3;
        assert_eq!(
            Plan::decode(&newer),
            Err(PlanError::Version {
                found: 3,
                supported: 2
            })
        );
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(Plan::decode(&bad), Err(PlanError::Magic));
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(Plan::decode(&flipped), Err(PlanError::Crc { .. })));
        assert!(matches!(
            Plan::decode(&good[..good.len() - 2]),
            Err(PlanError::Truncated { .. })
        ));
        assert!(matches!(
            Plan::decode(&good[..10]),
            Err(PlanError::Truncated { need: 20, got: 10 })
        ));
        let msg = std::format!("{}", Plan::decode(&newer).unwrap_err());
        assert_eq!(
            msg,
            "plan format version 3 is not supported (this side reads version 2)"
        );
    }

    fn fault(meta: &PlanMeta, tensors: &[i16], limits: &Limits) -> PlanError {
        let bytes = bytes_of(meta, tensors);
        validate(&Plan::decode(&bytes).unwrap(), limits).unwrap_err()
    }

    #[test]
    fn validation_names_the_layer_and_the_fault() {
        let (meta, tensors) = small_meta();
        let mut m = meta.clone();
        m.layers[1].input.c = 5;
        assert_eq!(
            fault(&m, &tensors, &LIMITS),
            PlanError::Layer {
                index: 1,
                fault: LayerFault::Chain
            }
        );
        let mut m = meta.clone();
        m.layers[0].design.tr = 4;
        assert_eq!(
            fault(&m, &tensors, &LIMITS),
            PlanError::Layer {
                index: 0,
                fault: LayerFault::Tile
            }
        );
        let mut m = meta.clone();
        m.layers[0].design.batch = 3;
        assert_eq!(
            fault(&m, &tensors, &LIMITS),
            PlanError::Layer {
                index: 0,
                fault: LayerFault::Batch
            }
        );
        let mut m = meta.clone();
        m.layers[1].design.order = LoopOrder::ReuseI;
        assert_eq!(
            fault(&m, &tensors, &LIMITS),
            PlanError::Layer {
                index: 1,
                fault: LayerFault::Order
            }
        );
        let mut m = meta.clone();
        m.layers[2].shift = 40;
        assert_eq!(
            fault(&m, &tensors, &LIMITS),
            PlanError::Layer {
                index: 2,
                fault: LayerFault::Shift(40)
            }
        );
        let mut m = meta.clone();
        m.layers[2].weights.len = 11;
        assert_eq!(
            fault(&m, &tensors, &LIMITS),
            PlanError::Layer {
                index: 2,
                fault: LayerFault::Weights {
                    expected: 12,
                    got: 11
                }
            }
        );
        let mut m = meta.clone();
        m.layers[2].bias.offset = 1000;
        assert_eq!(
            fault(&m, &tensors, &LIMITS),
            PlanError::Layer {
                index: 2,
                fault: LayerFault::TensorRange
            }
        );
        let mut m = meta.clone();
        m.layers[0].output.h = 5;
        assert_eq!(
            fault(&m, &tensors, &LIMITS),
            PlanError::Layer {
                index: 0,
                fault: LayerFault::Geometry
            }
        );
        let small = Limits {
            vm_bytes: 64,
            nvm_bytes: 100_000,
        };
        assert!(matches!(
            fault(&meta, &tensors, &small),
            PlanError::Layer {
                index: 0,
                fault: LayerFault::Vm { .. }
            }
        ));
        let tiny = Limits {
            vm_bytes: 2048,
            nvm_bytes: 100,
        };
        assert_eq!(
            fault(&meta, &tensors, &tiny),
            PlanError::Nvm {
                need_bytes: 248,
                have_bytes: 100
            }
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(p) = Plan::decode(&bytes) {
                let _ = validate(&p, &LIMITS);
            }
        }

        /// Mutations of a valid plan (with the CRC fixed up, so the decoder goes deep) are either
        /// refused with a typed error or still validate: never a panic.
        #[test]
        fn mutated_plans_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
                                     cut in any::<prop::sample::Index>()) {
            let (meta, tensors) = small_meta();
            let mut bytes = bytes_of(&meta, &tensors);
            for (i, v) in edits {
                let at = PREAMBLE_LEN + i.index(bytes.len() - PREAMBLE_LEN);
                bytes[at] = v;
            }
            let crc = plan_crc(&bytes);
            bytes[16..20].copy_from_slice(&crc.to_le_bytes());
            if let Ok(p) = Plan::decode(&bytes) {
                let _ = validate(&p, &LIMITS);
            }
            let n = cut.index(bytes.len());
            let _ = Plan::decode(&bytes[..n]);
        }
    }
}
