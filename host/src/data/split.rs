//! Carving a validation split out of the training data, and subset limits. Pure and seeded:
//! the same options always give the same samples.

use anyhow::{bail, Result};
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::Split;

/// How a split is cut down for quick runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limit {
    /// At most this many samples of each class.
    pub per_class: Option<usize>,
    /// At most this many samples in all, drawn round-robin over the classes so the class
    /// balance is kept.
    pub total: Option<usize>,
}

impl Limit {
    pub const NONE: Limit = Limit {
        per_class: None,
        total: None,
    };

    /// The limited split: a seeded choice, in the original order.
    pub fn apply(&self, split: Split, seed: u64) -> Split {
        if self.per_class.is_none() && self.total.is_none() {
            return split;
        }
        let mut by_class = indices_by_class(&split, seed);
        if let Some(k) = self.per_class {
            by_class.iter_mut().for_each(|v| v.truncate(k));
        }
        let total = self.total.unwrap_or(usize::MAX);
        let mut keep = Vec::new();
        let mut round = 0;
        while keep.len() < total && by_class.iter().any(|v| round < v.len()) {
            for v in &by_class {
                if keep.len() < total && round < v.len() {
                    keep.push(v[round]);
                }
            }
            round += 1;
        }
        keep.sort_unstable();
        split.subset(&keep)
    }
}

/// What [`super::load`] does besides reading.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadOptions {
    /// Fraction of the training data held out for validation, in [0, 0.9]. KWS ignores it:
    /// Speech Commands ships its own validation list.
    pub val_fraction: f64,
    /// Seed of the validation carve, the subset limits and KWS's silence/unknown draws.
    pub seed: u64,
    /// Applied to train and validation after carving.
    pub train_limit: Limit,
    /// Applied to the test split.
    pub test_limit: Limit,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            val_fraction: 0.1,
            seed: 0,
            train_limit: Limit::NONE,
            test_limit: Limit::NONE,
        }
    }
}

impl LoadOptions {
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=0.9).contains(&self.val_fraction) {
            bail!(
                "validation fraction {} is outside [0, 0.9]",
                self.val_fraction
            );
        }
        Ok(())
    }
}

/// A split whose samples belong to groups (HAR: subjects) that must not straddle a carve.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouped {
    pub split: Split,
    /// One group id per sample.
    pub groups: Vec<u32>,
}

fn indices_by_class(split: &Split, seed: u64) -> Vec<Vec<usize>> {
    let mut by_class = vec![Vec::new(); split.classes];
    for (i, &y) in split.y.iter().enumerate() {
        by_class[y as usize].push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for v in &mut by_class {
        v.shuffle(&mut rng);
    }
    by_class
}

/// Holds out `round(n_c * fraction)` random samples of every class c.
pub fn carve_stratified(train: Split, opts: &LoadOptions) -> Result<(Split, Split, String)> {
    opts.validate()?;
    let mut val = Vec::new();
    for v in indices_by_class(&train, opts.seed) {
        let k = (v.len() as f64 * opts.val_fraction).round() as usize;
        val.extend_from_slice(&v[..k]);
    }
    val.sort_unstable();
    let rest = complement(train.len(), &val);
    let rule = format!(
        "stratified random {:.0} % of the training data (seed {})",
        opts.val_fraction * 100.0,
        opts.seed
    );
    Ok((train.subset(&rest), train.subset(&val), rule))
}

/// Holds out whole groups, drawn in seeded random order until at least `fraction` of the
/// samples are held out (at least one group when the fraction is positive).
pub fn carve_by_group(train: Grouped, opts: &LoadOptions) -> Result<(Split, Split, String)> {
    opts.validate()?;
    let Grouped { split, groups } = train;
    if groups.len() != split.len() {
        bail!("{} group ids for {} samples", groups.len(), split.len());
    }
    let mut ids: Vec<u32> = groups.clone();
    ids.sort_unstable();
    ids.dedup();
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(opts.seed));
    let target = (split.len() as f64 * opts.val_fraction).round() as usize;
    // Greedy in the seeded order: take a subject when it brings the held-out count closer
    // to the target (the first one always, for a positive fraction).
    let mut held = Vec::new();
    let mut count = 0usize;
    for &id in &ids {
        let c = groups.iter().filter(|&&g| g == id).count();
        let closer = (count + c).abs_diff(target) < count.abs_diff(target);
        if closer || (held.is_empty() && target > 0) {
            count += c;
            held.push(id);
        }
    }
    if !ids.is_empty() && held.len() == ids.len() {
        bail!(
            "validation fraction {} would hold out every one of the {} subjects",
            opts.val_fraction,
            ids.len()
        );
    }
    let val: Vec<usize> = (0..split.len())
        .filter(|&i| held.contains(&groups[i]))
        .collect();
    let rest = complement(split.len(), &val);
    held.sort_unstable();
    let rule = format!(
        "whole subjects {held:?} ({count} windows, {:.1} % of the training data; seed {})",
        100.0 * count as f64 / split.len().max(1) as f64,
        opts.seed
    );
    Ok((split.subset(&rest), split.subset(&val), rule))
}

/// Indices `0..n` not in the sorted list `taken`.
fn complement(n: usize, taken: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(n - taken.len());
    let mut t = taken.iter().peekable();
    for i in 0..n {
        if t.peek() == Some(&&i) {
            t.next();
        } else {
            out.push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(n: usize, classes: usize) -> Split {
        Split {
            x: (0..n).map(|i| i as f32).collect(),
            y: (0..n).map(|i| (i % classes) as u8).collect(),
            shape: [1, 1, 1],
            classes,
        }
    }

    #[test]
    fn stratified_carve_is_disjoint_balanced_and_seeded() {
        let opts = LoadOptions::default();
        let (tr, va, _) = carve_stratified(toy(1000, 4), &opts).unwrap();
        assert_eq!((tr.len(), va.len()), (900, 100));
        assert_eq!(va.histogram(), vec![25; 4]);
        let mut all: Vec<f32> = tr.x.iter().chain(&va.x).copied().collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, (0..1000).map(|i| i as f32).collect::<Vec<_>>());
        let (_, again, _) = carve_stratified(toy(1000, 4), &opts).unwrap();
        assert_eq!(va, again);
        let other = LoadOptions { seed: 7, ..opts };
        let (_, va7, _) = carve_stratified(toy(1000, 4), &other).unwrap();
        assert_ne!(va, va7);
    }

    #[test]
    fn group_carve_keeps_groups_whole() {
        let split = toy(300, 3);
        let groups: Vec<u32> = (0..300).map(|i| (i / 30) as u32).collect();
        let opts = LoadOptions {
            val_fraction: 0.2,
            ..LoadOptions::default()
        };
        let (tr, va, rule) = carve_by_group(Grouped { split, groups }, &opts).unwrap();
        assert_eq!(va.len(), 60, "{rule}");
        assert_eq!(tr.len(), 240);
        // Samples of one group are consecutive values i/30: every held value's group is whole.
        for &v in &va.x {
            let g = v as usize / 30;
            assert_eq!(va.x.iter().filter(|&&w| w as usize / 30 == g).count(), 30);
        }
    }

    #[test]
    fn limits_cap_per_class_and_total_keeping_balance() {
        let lim = Limit {
            per_class: Some(10),
            total: Some(25),
        };
        let s = lim.apply(toy(1000, 4), 3);
        assert_eq!(s.len(), 25);
        let h = s.histogram();
        assert!(h.iter().all(|&c| (6..=7).contains(&c)), "{h:?}");
        let s = Limit {
            per_class: Some(2),
            total: None,
        }
        .apply(toy(1000, 4), 3);
        assert_eq!(s.histogram(), vec![2; 4]);
    }

    #[test]
    fn bad_fraction_is_refused() {
        let opts = LoadOptions {
            val_fraction: 1.5,
            ..LoadOptions::default()
        };
        let e = carve_stratified(toy(10, 2), &opts).unwrap_err();
        assert!(e.to_string().contains("outside [0, 0.9]"), "{e}");
    }
}
