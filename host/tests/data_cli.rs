//! `inas data`, run for real on a fixture cache in a temp dir (no network: only `--archive`
//! and cached data are used).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use inas::data::cache::{Manifest, SourceKind};
use inas::data::{idx, DatasetName};

fn inas(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inas"))
        .args(args)
        .current_dir(dir)
        .env_remove("INAS_DATA")
        .output()
        .expect("run inas")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A cached Fashion-MNIST of 40 training and 10 test images (raw IDX files).
fn fashion_cache(cache: &Path) {
    let d = cache.join("fashion-mnist");
    fs::create_dir_all(&d).unwrap();
    let img = |n: usize| idx::encode(&[n, 28, 28], &vec![7u8; n * 784]);
    let lab = |n: usize| idx::encode(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
    fs::write(d.join(idx::TRAIN_IMAGES), img(40)).unwrap();
    fs::write(d.join(idx::TRAIN_LABELS), lab(40)).unwrap();
    fs::write(d.join(idx::TEST_IMAGES), img(10)).unwrap();
    fs::write(d.join(idx::TEST_LABELS), lab(10)).unwrap();
    Manifest {
        dataset: DatasetName::FashionMnist,
        kind: SourceKind::Offline,
        origin: "Debian package dataset-fashion-mnist (fixture)".into(),
        checked: vec![],
        conversion: String::new(),
        fetched_at: 0,
        fetch_seconds: 0.0,
    }
    .write(&d)
    .unwrap();
}

#[test]
fn list_and_show_a_cached_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    fashion_cache(&cache);
    let c = cache.to_str().unwrap();
    let o = inas(tmp.path(), &["data", "list", "--cache", c]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("fashion-mnist") && out.contains("offline: Debian package"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("har ") && l.contains("not cached")),
        "{out}"
    );

    let o = inas(
        tmp.path(),
        &[
            "data",
            "show",
            "fashion-mnist",
            "--cache",
            c,
            "--val-fraction",
            "0.25",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("28 x 28 x 1"), "{out}");
    assert!(out.contains("9 Ankle boot"), "{out}");
    // 4 per class, 25 % held out: 3 / 1 / 1 per class.
    assert!(
        out.lines().any(|l| l.starts_with("total")
            && l.split_whitespace().collect::<Vec<_>>() == ["total", "30", "10", "10"]),
        "{out}"
    );

    let o = inas(
        tmp.path(),
        &["data", "show", "fashion-mnist", "--cache", c, "--json"],
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["test"]["samples"], 10);
    assert_eq!(j["shape"], serde_json::json!([28, 28, 1]));

    // The environment variable names the cache too.
    let o = Command::new(env!("CARGO_BIN_EXE_inas"))
        .args(["data", "list", "--json"])
        .env("INAS_DATA", c)
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let f = rows
        .iter()
        .find(|r| r["dataset"] == "fashion-mnist")
        .unwrap();
    assert_eq!(f["cached"], true);
    assert!(f["bytes"].as_u64().unwrap() > 40 * 784);
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("cache");
    let c = c.to_str().unwrap();
    let archive = tmp.path().join("cifar-10-binary.tar.gz");
    fs::write(&archive, b"not the real archive").unwrap();
    let o = inas(
        tmp.path(),
        &[
            "data",
            "fetch",
            "cifar10",
            "--cache",
            c,
            "--archive",
            archive.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("checksum mismatch") && err.contains("cifar-10-binary.tar.gz"),
        "{err}"
    );
    assert!(
        err.contains("c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),
        "{err}"
    );

    let o = inas(tmp.path(), &["data", "show", "kws", "--cache", c]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("inas data fetch kws"),
        "{}",
        text(&o.stderr)
    );

    let o = inas(tmp.path(), &["data", "fetch", "imagenet", "--cache", c]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("unknown dataset 'imagenet'"));

    let o = inas(
        tmp.path(),
        &["data", "show", "har", "--cache", c, "--val-fraction", "1.5"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("not a fraction in [0, 0.9]"));
}
