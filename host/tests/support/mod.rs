//! What the search tests share: the real binary, and a small HAR-format fixture cache.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use inas::data::cache::{Manifest, SourceKind};
use inas::data::split::Grouped;
use inas::data::{uci_har, DatasetName, Split};

pub fn inas(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inas"))
        .args(args)
        .current_dir(dir)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("run inas")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Class k lifts channel k in the middle of the window; subjects 1..=8 (2 and 4 are test).
pub fn grouped(subjects: &[u32], per_subject: usize) -> Grouped {
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut groups = Vec::new();
    let mut state = 12345u64;
    for &s in subjects {
        for i in 0..per_subject {
            let class = (i + s as usize) % 6;
            for t in 0..128 {
                for ch in 0..9 {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                    let noise = ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.4;
                    let signal = if ch == class && (32..96).contains(&t) {
                        1.0
                    } else {
                        0.0
                    };
                    x.push(signal + noise);
                }
            }
            y.push(class as u8);
            groups.push(s);
        }
    }
    Grouped {
        split: Split {
            x,
            y,
            shape: [128, 1, 9],
            classes: 6,
        },
        groups,
    }
}

pub fn fixture_cache(cache: &Path) {
    let dir = cache.join("har");
    let root = dir.join(uci_har::ROOT);
    uci_har::write_split(&root, "train", &grouped(&[1, 3, 5, 6, 7, 8], 12)).unwrap();
    uci_har::write_split(&root, "test", &grouped(&[2, 4], 12)).unwrap();
    Manifest {
        dataset: DatasetName::Har,
        kind: SourceKind::Offline,
        origin: "test fixture".into(),
        checked: vec![],
        conversion: "synthetic".into(),
        fetched_at: 0,
        fetch_seconds: 0.0,
    }
    .write(&dir)
    .unwrap();
}

/// A tiny search's flags on the fixture cache: `trials` trials of one epoch.
pub fn tiny(out: &str, trials: &str) -> Vec<String> {
    [
        "search",
        "--out",
        out,
        "--dataset",
        "har",
        "--strategy",
        "random",
        "--trials",
        trials,
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--data-cache",
        "cache",
    ]
    .map(String::from)
    .to_vec()
}

pub fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub fn journal_trials(run: &Path) -> Vec<u64> {
    fs::read_to_string(run.join("journal.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["trial"]
                .as_u64()
                .unwrap()
        })
        .collect()
}
