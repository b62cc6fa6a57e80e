//! CIFAR-10, binary version: `cifar-10-batches-bin/data_batch_{1..5}.bin` and
//! `test_batch.bin`, each 10,000 records of 3,073 bytes: the label, then 1,024 red, 1,024
//! green and 1,024 blue bytes, each plane row-major 32 x 32.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::Split;

pub const SIDE: usize = 32;
/// The folder the official archive unpacks to.
pub const ROOT: &str = "cifar-10-batches-bin";
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
pub const TEST_FILE: &str = "test_batch.bin";
pub const RECORD: usize = 1 + 3 * SIDE * SIDE;
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Decodes one batch file's bytes into `split`: planes become HWC `[row][col][rgb]`, bytes
/// scale to [0, 1] (byte / 255).
pub fn decode_into(bytes: &[u8], split: &mut Split) -> Result<()> {
    if bytes.is_empty() {
        bail!("empty file");
    }
    if !bytes.len().is_multiple_of(RECORD) {
        bail!(
            "{} bytes is not a whole number of {RECORD}-byte records ({} whole, {} bytes left: truncated?)",
            bytes.len(),
            bytes.len() / RECORD,
            bytes.len() % RECORD
        );
    }
    let plane = SIDE * SIDE;
    let mut sample = vec![0f32; 3 * plane];
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        let label = rec[0];
        if label as usize >= CLASSES.len() {
            bail!("record {i}: label {label} is not below 10");
        }
        for px in 0..plane {
            for ch in 0..3 {
                sample[px * 3 + ch] = rec[1 + ch * plane + px] as f32 / 255.0;
            }
        }
        split.push(&sample, label)?;
    }
    Ok(())
}

/// Encodes samples (HWC, [0, 1]) as batch records: the inverse of [`decode_into`], for
/// fixtures and exports.
pub fn encode(split: &Split) -> Vec<u8> {
    let plane = SIDE * SIDE;
    let mut out = Vec::with_capacity(split.len() * RECORD);
    for i in 0..split.len() {
        out.push(split.y[i]);
        let s = split.sample(i);
        for ch in 0..3 {
            out.extend((0..plane).map(|px| (s[px * 3 + ch] * 255.0).round() as u8));
        }
    }
    out
}

fn read_batches(dir: &Path, files: &[&str]) -> Result<Split> {
    let mut split = Split::empty([SIDE, SIDE, 3], CLASSES.len());
    for f in files {
        let path = dir.join(f);
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        decode_into(&bytes, &mut split).with_context(|| format!("{}", path.display()))?;
    }
    Ok(split)
}

/// The 50,000 training and 10,000 test images from `dir` (`cifar-10-batches-bin`).
pub fn load_dir(dir: &Path) -> Result<(Split, Split)> {
    Ok((
        read_batches(dir, &TRAIN_FILES)?,
        read_batches(dir, &[TEST_FILE])?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn planes_become_hwc() {
        let mut rec = vec![0u8; RECORD];
        rec[0] = 7;
        rec[1] = 10; // red (0, 0)
        rec[1 + 1024 + 33] = 20; // green (1, 1)
        rec[1 + 2048 + 1023] = 255; // blue (31, 31)
        let mut s = Split::empty([32, 32, 3], 10);
        decode_into(&rec, &mut s).unwrap();
        assert_eq!(s.y, vec![7]);
        let x = s.sample(0);
        assert_eq!(x[0], 10.0 / 255.0);
        assert_eq!(x[(32 + 1) * 3 + 1], 20.0 / 255.0);
        assert_eq!(x[1023 * 3 + 2], 1.0);
        assert_eq!(x.iter().filter(|&&v| v != 0.0).count(), 3);
        assert_eq!(encode(&s), rec);
    }

    #[test]
    fn truncated_and_bad_labels_are_named() {
        let mut s = Split::empty([32, 32, 3], 10);
        let e = decode_into(&vec![0u8; RECORD + 5], &mut s)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 whole, 5 bytes left"), "{e}");
        let mut rec = vec![0u8; 2 * RECORD];
        rec[RECORD] = 10;
        let e = decode_into(&rec, &mut s).unwrap_err().to_string();
        assert!(e.contains("record 1: label 10"), "{e}");
    }

    proptest! {
        #[test]
        fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..3 * RECORD)) {
            let mut s = Split::empty([32, 32, 3], 10);
            let _ = decode_into(&bytes, &mut s);
        }
    }
}
