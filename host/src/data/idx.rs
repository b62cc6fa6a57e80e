//! IDX files (MNIST, Fashion-MNIST): a big-endian header (two zero bytes, a type code, the
//! number of dimensions, one u32 per dimension) and the values. Images are u8 28 x 28
//! (`idx3`), labels u8 (`idx1`). Files may be gzipped (`.gz`), as distributed.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;

use super::Split;

pub const SIDE: usize = 28;
pub const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
pub const FASHION: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// The four files, by stem; each may carry `.gz`.
pub const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
pub const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
pub const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
pub const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// The u8 type code.
const UBYTE: u8 = 0x08;

/// A decoded u8 IDX array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxU8 {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Decodes a u8 IDX array with `ndims` dimensions. Errors say what is wrong.
pub fn decode(bytes: &[u8], ndims: usize) -> Result<IdxU8> {
    if bytes.len() < 4 {
        bail!("{} bytes: too short for an IDX header", bytes.len());
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        bail!(
            "bad magic {:02x}{:02x}{:02x}{:02x} (an IDX file starts with two zero bytes)",
            bytes[0],
            bytes[1],
            bytes[2],
            bytes[3]
        );
    }
    if bytes[2] != UBYTE {
        bail!(
            "type code 0x{:02x}, expected 0x08 (unsigned bytes)",
            bytes[2]
        );
    }
    if bytes[3] as usize != ndims {
        bail!("{} dimensions, expected {ndims}", bytes[3]);
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        bail!("truncated header: {} bytes, need {header}", bytes.len());
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .context("dimensions overflow")?;
    let body = bytes.len() - header;
    if body != count {
        bail!(
            "dimensions {dims:?} need {count} values but the file holds {body}{}",
            if body < count {
                " (truncated)"
            } else {
                " (trailing bytes)"
            }
        );
    }
    Ok(IdxU8 {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Encodes a u8 IDX array.
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, UBYTE, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// Images and labels → a split of `[28, 28, 1]` samples scaled to [0, 1] (byte / 255).
pub fn to_split(images: &IdxU8, labels: &IdxU8, classes: usize) -> Result<Split> {
    if images.dims.len() != 3 || images.dims[1] != SIDE || images.dims[2] != SIDE {
        bail!("images are {:?}, expected [n, 28, 28]", images.dims);
    }
    if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
        bail!(
            "{} labels for {} images",
            labels.dims.first().copied().unwrap_or(0),
            images.dims[0]
        );
    }
    if let Some((i, &l)) = labels
        .data
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)
    {
        bail!("label {l} of sample {i} is not below {classes}");
    }
    Ok(Split {
        x: images.data.iter().map(|&b| b as f32 / 255.0).collect(),
        y: labels.data.clone(),
        shape: [SIDE, SIDE, 1],
        classes,
    })
}

/// The path of `stem` in `dir`: the raw file if present, else `stem.gz`.
pub fn find(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [stem.to_owned(), format!("{stem}.gz")] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("{} has neither {stem} nor {stem}.gz", dir.display())
}

/// Reads an IDX file, gunzipping `.gz` files.
pub fn read_file(path: &Path, ndims: usize) -> Result<IdxU8> {
    let raw = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .with_context(|| format!("{}: not a valid gzip file", path.display()))?;
        out
    } else {
        raw
    };
    decode(&bytes, ndims).with_context(|| format!("{}", path.display()))
}

/// Train and test splits from the four files in `dir`.
pub fn load_dir(dir: &Path) -> Result<(Split, Split)> {
    let read = |stem: &str, n| read_file(&find(dir, stem)?, n);
    let train = to_split(&read(TRAIN_IMAGES, 3)?, &read(TRAIN_LABELS, 1)?, 10)
        .with_context(|| format!("training files in {}", dir.display()))?;
    let test = to_split(&read(TEST_IMAGES, 3)?, &read(TEST_LABELS, 1)?, 10)
        .with_context(|| format!("test files in {}", dir.display()))?;
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_and_errors() {
        let data: Vec<u8> = (0..2 * 28 * 28).map(|i| i as u8).collect();
        let bytes = encode(&[2, 28, 28], &data);
        let idx = decode(&bytes, 3).unwrap();
        assert_eq!(idx.dims, vec![2, 28, 28]);
        assert_eq!(idx.data, data);
        let e = decode(&bytes[..bytes.len() - 1], 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
        let e = decode(&bytes, 1).unwrap_err().to_string();
        assert!(e.contains("3 dimensions, expected 1"), "{e}");
        let mut bad = bytes.clone();
        bad[0] = 0x1f;
        assert!(decode(&bad, 3)
            .unwrap_err()
            .to_string()
            .contains("bad magic"));
        bad = bytes.clone();
        bad[2] = 0x0d;
        assert!(decode(&bad, 3)
            .unwrap_err()
            .to_string()
            .contains("type code 0x0d"));
    }

    proptest! {
        #[test]
        fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..200), n in 0usize..4) {
            let _ = decode(&bytes, n);
        }
    }
}
