//! The samples `measure` runs: from a JSON file, a cached dataset's test split (standardised and
//! quantized as the plan says), or seeded random inputs.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use inas_common::plan::PlanMeta;

use super::Sample;
use crate::data::{self, DatasetName, Limit, LoadOptions};
use crate::planner;
use crate::quant::{sample_to_q15, to_q15};

/// One entry of a sample file: a bare input array or `{"input": [...], "label": N}`. Read by
/// hand rather than as an untagged enum, whose only error is that nothing matched: a bad entry
/// is named down to the value.
fn sample_json(i: usize, v: &serde_json::Value, classes: u16) -> Result<Sample, String> {
    use serde_json::Value;
    let (input, label) = match v {
        Value::Array(a) => (a, &Value::Null),
        Value::Object(o) => {
            if let Some(k) = o.keys().find(|k| *k != "input" && *k != "label") {
                return Err(format!(
                    "sample {i}: unknown key \"{k}\" (expected input, label)"
                ));
            }
            match o.get("input") {
                Some(Value::Array(a)) => (a, o.get("label").unwrap_or(&Value::Null)),
                _ => {
                    return Err(format!(
                        "sample {i}: \"input\" must be an array of Q15 integers"
                    ))
                }
            }
        }
        _ => {
            return Err(format!(
            "sample {i}: expected an array of Q15 integers or {{\"input\": [...], \"label\": N}}"
        ))
        }
    };
    let input = input
        .iter()
        .enumerate()
        .map(|(j, x)| {
            x.as_i64()
                .and_then(|x| i16::try_from(x).ok())
                .ok_or_else(|| {
                    format!("sample {i}, value {j}: {x} is not a Q15 integer (-32768..=32767)")
                })
        })
        .collect::<Result<Vec<i16>, _>>()?;
    let label = match label {
        Value::Null => None,
        l => match l.as_u64().filter(|&l| l < u64::from(classes)) {
            Some(l) => Some(l as u8),
            None => {
                return Err(format!(
                    "sample {i}: label {l} is not one of the plan's {classes} classes (0..={})",
                    classes.saturating_sub(1)
                ))
            }
        },
    };
    Ok(Sample { input, label })
}

/// Up to `n` samples of a JSON file: a list of Q15 input arrays or of `{"input": [...],
/// "label": N}` objects, each the plan's input length, labels among its `classes`.
pub fn from_file(path: &Path, n: usize, meta: &PlanMeta, classes: u16) -> Result<Vec<Sample>> {
    let input_len = meta.input.elements() as usize;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read inputs {}", path.display()))?;
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected a JSON list of Q15 arrays or of {{\"input\": [...], \"label\": N}}",
            path.display()
        )
    })?;
    let samples: Vec<Sample> = list
        .iter()
        .take(n)
        .enumerate()
        .map(|(i, v)| sample_json(i, v, classes))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if let Some((i, s)) = samples
        .iter()
        .enumerate()
        .find(|(_, s)| s.input.len() != input_len)
    {
        bail!(
            "{}: sample {i} has {} values, the plan's input {input_len}",
            path.display(),
            s.input.len()
        );
    }
    if samples.is_empty() {
        bail!("{}: no samples", path.display());
    }
    Ok(samples)
}

/// The first `n` samples of `name`'s test split in `cache` (drawn with `seed`), labelled,
/// standardised as the plan says its network was trained (a search writes that into every plan)
/// and quantized to its input. A plan that does not say gets statistics fitted on the training
/// split here, which match training only if the split did.
pub fn from_dataset(
    name: DatasetName,
    cache: &Path,
    seed: u64,
    n: usize,
    meta: &PlanMeta,
    classes: u16,
) -> Result<Vec<Sample>> {
    let input_len = meta.input.elements() as usize;
    let opts = LoadOptions {
        seed,
        test_limit: Limit {
            total: Some(n),
            ..Limit::NONE
        },
        ..LoadOptions::default()
    };
    let mut splits = data::load(name, cache, &opts)?;
    if meta.preprocess.is_empty() {
        splits.normalize();
    }
    let test = &splits.test;
    if test.classes != usize::from(classes) {
        bail!(
            "{name} has {} classes, the plan's output {classes}",
            test.classes
        );
    }
    if test.sample_len() != input_len {
        bail!(
            "{name}: a sample has {} values ({:?}), the plan's input {input_len}",
            test.sample_len(),
            test.shape
        );
    }
    Ok((0..test.len().min(n))
        .map(|i| Sample {
            input: if meta.preprocess.is_empty() {
                test.sample(i)
                    .iter()
                    .map(|&x| to_q15(x, meta.input_exp))
                    .collect()
            } else {
                sample_to_q15(meta, test.sample(i))
            },
            label: Some(test.y[i]),
        })
        .collect())
}

/// `n` seeded random inputs (seeds `seed`, `seed + 1`, …), unlabelled.
pub fn random(n: usize, meta: &PlanMeta, seed: u64) -> Vec<Sample> {
    let input_len = meta.input.elements() as usize;
    (0..n as u64)
        .map(|i| Sample {
            input: planner::random_input(input_len, seed.wrapping_add(i)),
            label: None,
        })
        .collect()
}
