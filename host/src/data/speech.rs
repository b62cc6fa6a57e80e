//! Speech Commands v0.02 as the paper's KWS task: one folder of 16 kHz mono 16-bit WAV clips
//! per word, `_background_noise_/`, and `validation_list.txt` / `testing_list.txt` naming the
//! validation and test clips (`word/file.wav`; speakers never straddle splits). The rest is
//! training data.
//!
//! 12 classes, as the TensorFlow speech-commands recipe the reference used: `_silence_`,
//! `_unknown_`, then yes, no, up, down, left, right, on, off, stop, go. Per split, with `n`
//! clips of the ten words: `ceil(n/10)` unknown clips drawn (seeded) from the other words of
//! that split, and `ceil(n/10)` silence clips — a random second of a random background-noise
//! recording at a random volume in [0, 0.1] (all zeros when there is no noise folder). With
//! the full dataset that gives the paper's 36,923 training and 4,890 test samples. Features:
//! [`super::mfcc::KWS`], 25 frames x 10 coefficients.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::rngs::ChaCha8Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;

use super::mfcc::{Mfcc, KWS};
use super::Split;

/// The folder the official archive is unpacked to (it has no top folder of its own).
pub const ROOT: &str = "speech_commands_v0.02";
pub const FRAMES: usize = 25;
pub const COEFFS: usize = 10;
pub const LABELS: [&str; 12] = [
    "_silence_",
    "_unknown_",
    "yes",
    "no",
    "up",
    "down",
    "left",
    "right",
    "on",
    "off",
    "stop",
    "go",
];
pub const NOISE_DIR: &str = "_background_noise_";
pub const VALIDATION_LIST: &str = "validation_list.txt";
pub const TESTING_LIST: &str = "testing_list.txt";
const SILENCE: u8 = 0;
const UNKNOWN: u8 = 1;
/// Silence and unknown clips, each as a percentage of a split's keyword clips.
const EXTRA_PERCENT: usize = 10;
const NOISE_VOLUME: f32 = 0.1;

/// Reads a WAV clip as samples in [-1, 1]. Refuses anything but 16 kHz mono 16-bit PCM.
pub fn read_wav(path: &Path) -> Result<Vec<f32>> {
    let mut r = hound::WavReader::open(path)
        .with_context(|| format!("{}: not a readable WAV file", path.display()))?;
    let spec = r.spec();
    if spec.channels != 1
        || spec.sample_rate != KWS.rate as u32
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        bail!(
            "{}: {} Hz, {} channel(s), {}-bit {:?}; expected 16000 Hz mono 16-bit PCM",
            path.display(),
            spec.sample_rate,
            spec.channels,
            spec.bits_per_sample,
            spec.sample_format
        );
    }
    r.samples::<i16>()
        .map(|s| s.map(|v| v as f32 / 32768.0))
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: truncated or corrupt samples", path.display()))
}

/// A list file's entries (`word/file.wav`), each checked to exist.
fn read_list(root: &Path, name: &str) -> Result<HashSet<String>> {
    let path = root.join(name);
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.trim();
        if entry.is_empty() {
            continue;
        }
        if entry.contains("..") || !root.join(entry).is_file() {
            bail!("{}:{}: no clip {entry}", path.display(), i + 1);
        }
        out.insert(entry.to_owned());
    }
    Ok(out)
}

/// Clips of one split before features: keyword clips with labels, unknown candidates.
#[derive(Default)]
struct Pool {
    words: Vec<(PathBuf, u8)>,
    unknown: Vec<PathBuf>,
}

/// The three KWS splits.
pub struct KwsSets {
    pub train: Split,
    pub val: Split,
    pub test: Split,
}

/// Reads the dataset folder and computes features. `seed` draws the unknown and silence
/// clips.
pub fn load_dir(root: &Path, seed: u64) -> Result<KwsSets> {
    let val_list = read_list(root, VALIDATION_LIST)?;
    let test_list = read_list(root, TESTING_LIST)?;
    let mut pools: [Pool; 3] = Default::default();
    let mut words: Vec<PathBuf> = fs::read_dir(root)
        .with_context(|| format!("cannot list {}", root.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('_'))
        })
        .collect();
    words.sort();
    for dir in &words {
        let word = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = LABELS.iter().position(|l| *l == word).map(|l| l as u8);
        let mut clips: Vec<PathBuf> = fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "wav"))
            .collect();
        clips.sort();
        for clip in clips {
            let rel = format!(
                "{word}/{}",
                clip.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            let which = if test_list.contains(&rel) {
                2
            } else if val_list.contains(&rel) {
                1
            } else {
                0
            };
            match label {
                Some(l) => pools[which].words.push((clip, l)),
                None => pools[which].unknown.push(clip),
            }
        }
    }
    let noise = read_noise(root)?;
    let mfcc = Mfcc::new(KWS);
    let mut sets = Vec::new();
    for (i, pool) in pools.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(3).wrapping_add(i as u64));
        sets.push(build_split(pool, &noise, &mfcc, &mut rng)?);
    }
    let test = sets.pop().expect("three splits");
    let val = sets.pop().expect("three splits");
    let train = sets.pop().expect("three splits");
    Ok(KwsSets { train, val, test })
}

fn read_noise(root: &Path) -> Result<Vec<Vec<f32>>> {
    let dir = root.join(NOISE_DIR);
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    files.sort();
    files.iter().map(|f| read_wav(f)).collect()
}

/// One split's clips as audio jobs, then features in parallel.
fn build_split(
    pool: &Pool,
    noise: &[Vec<f32>],
    mfcc: &Mfcc,
    rng: &mut ChaCha8Rng,
) -> Result<Split> {
    enum Job<'a> {
        Clip(&'a Path, u8),
        Silence(Vec<f32>),
    }
    let extra = pool.words.len().div_ceil(100 / EXTRA_PERCENT);
    let mut jobs: Vec<Job> = pool.words.iter().map(|(p, l)| Job::Clip(p, *l)).collect();
    let mut unknown: Vec<&PathBuf> = pool.unknown.iter().collect();
    unknown.shuffle(rng);
    jobs.extend(unknown.iter().take(extra).map(|p| Job::Clip(p, UNKNOWN)));
    for _ in 0..extra {
        let clip = match noise.choose(rng) {
            Some(n) if n.len() >= KWS.clip => {
                let start = rng.random_range(0..=n.len() - KWS.clip);
                let vol = rng.random_range(0.0..NOISE_VOLUME);
                n[start..start + KWS.clip].iter().map(|v| v * vol).collect()
            }
            _ => vec![0.0; KWS.clip],
        };
        jobs.push(Job::Silence(clip));
    }
    let features: Vec<(Vec<f32>, u8)> = jobs
        .par_iter()
        .map(|job| match job {
            Job::Clip(p, l) => Ok((mfcc.compute(&read_wav(p)?), *l)),
            Job::Silence(a) => Ok((mfcc.compute(a), SILENCE)),
        })
        .collect::<Result<_>>()?;
    let mut split = Split::empty([FRAMES, 1, COEFFS], LABELS.len());
    for (f, l) in &features {
        split.push(f, *l)?;
    }
    Ok(split)
}
