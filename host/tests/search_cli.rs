//! `inas search` and `inas export`, the real binary on a small HAR-format fixture cache.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use inas::data::cache::{Manifest, SourceKind};
use inas::data::split::Grouped;
use inas::data::{uci_har, DatasetName, Split};

fn inas(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inas"))
        .args(args)
        .current_dir(dir)
        .env("OMP_NUM_THREADS", "1")
        .output()
        .expect("run inas")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Class k lifts channel k in the middle of the window; subjects 1..=8 (2 and 4 are test).
fn grouped(subjects: &[u32], per_subject: usize) -> Grouped {
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

fn fixture_cache(cache: &Path) {
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

#[test]
fn search_export_resume_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture_cache(&d.join("cache"));
    fs::write(
        d.join("search.toml"),
        "strategy = \"random\"\ntrials = 9\nepochs = 1\nbatch_size = 16\ndevice = \"cpu\"\ncalibration_samples = 8\n",
    )
    .unwrap();
    // The flag wins over the file's 9 trials.
    let o = inas(
        d,
        &[
            "search",
            "--out",
            "run",
            "--config",
            "search.toml",
            "--trials",
            "3",
            "--data-cache",
            "cache",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["summary"]["trials"], 3);
    assert!(summary["data_source"]
        .as_str()
        .unwrap()
        .contains("test fixture"));
    let run: serde_json::Value =
        serde_json::from_slice(&fs::read(d.join("run/run.json")).unwrap()).unwrap();
    assert_eq!(run["config"]["strategy"], "random");
    assert_eq!(run["config"]["trials"], 3);
    assert_eq!(run["config"]["cap_f"], 0.005);

    // Resume may only raise --trials.
    let o = inas(d, &["search", "--out", "run", "--resume", "--seed", "4"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("drop --seed"), "{}", text(&o));
    let o = inas(
        d,
        &[
            "search",
            "--out",
            "run",
            "--resume",
            "--trials",
            "4",
            "--data-cache",
            "cache",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let journal = fs::read_to_string(d.join("run/journal.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 4);

    // Export a trained trial and check the plan decodes; an untrained or missing one is refused.
    let trained: Vec<u64> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["status"] == "trained")
        .map(|r| r["trial"].as_u64().unwrap())
        .collect();
    let t = trained.first().expect("a trained trial").to_string();
    let o = inas(d, &["export", "run", "--trial", &t, "-o", "net.plan"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = inas(d, &["plan", "show", "net.plan"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = inas(d, &["export", "run", "--trial", "99", "-o", "x.plan"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("trial 99 does not exist"), "{}", text(&o));

    // Bad flags and files are named.
    let o = inas(d, &["search", "--out", "run2", "--lat-req", "soon"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--lat-req"), "{}", text(&o));
    fs::write(d.join("bad.toml"), "trails = 3\n").unwrap();
    let o = inas(d, &["search", "--out", "run3", "--config", "bad.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("bad.toml") && text(&o).contains("trails"),
        "{}",
        text(&o)
    );
}
