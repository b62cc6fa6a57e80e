//! `inas search` and `inas export`, the real binary on a small HAR-format fixture cache.

use std::fs;
use std::process::Command;

use inas::data::DatasetName;

mod support;
use support::*;

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

#[test]
fn a_second_writer_is_refused_while_a_search_holds_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture_cache(&d.join("cache"));
    // Long enough to still run while the others are tried: many trials of many epochs.
    let mut first = tiny("cc", "200");
    let epochs = first.iter().position(|a| a == "--epochs").unwrap() + 1;
    first[epochs] = "20".into();
    let mut search = Command::new(env!("CARGO_BIN_EXE_inas"))
        .args(&first)
        .current_dir(d)
        .env("OMP_NUM_THREADS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while journal_trials(&d.join("cc")).is_empty() {
        assert!(
            search.try_wait().unwrap().is_none(),
            "the search ended early"
        );
        assert!(started.elapsed().as_secs() < 120, "no trial after 2 min");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // A few more trials than done: were the second writer let in, it would end soon.
    let few_more = (journal_trials(&d.join("cc")).len() + 10).to_string();
    let o = inas(
        d,
        &[
            "search",
            "--out",
            "cc",
            "--resume",
            "--trials",
            &few_more,
            "--data-cache",
            "cache",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("cc is in use: another search is writing it"),
        "{}",
        text(&o)
    );
    // A new search there is refused as before; reading the run still works.
    let o = inas(d, &args(&tiny("cc", "2")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("already holds a search"), "{}", text(&o));
    let o = inas(d, &["export", "cc", "--trial", "0", "-o", "t0.plan"]);
    assert_ne!(o.status.code(), Some(101), "{}", text(&o));
    assert!(!text(&o).contains("in use"), "{}", text(&o));

    // Killed, the search's lock goes with it: the run resumes, each trial once.
    search.kill().unwrap();
    search.wait().unwrap();
    let done = journal_trials(&d.join("cc")).len();
    let more = (done + 1).to_string();
    let o = inas(
        d,
        &[
            "search",
            "--out",
            "cc",
            "--resume",
            "--trials",
            &more,
            "--data-cache",
            "cache",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        journal_trials(&d.join("cc")),
        (0..=done as u64).collect::<Vec<_>>()
    );
}

#[test]
fn a_search_with_bad_settings_leaves_no_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture_cache(&d.join("cache"));
    for (extra, needle) in [
        (&["--val-fraction", "0"][..], "--val-fraction"),
        (&["--val-fraction", "NaN"][..], "--val-fraction"),
        (&["--cap", "1e308"][..], "--cap"),
        (&["--margin", "0"][..], "--margin"),
        (&["--margin", "NaN"][..], "--margin"),
        (&["--margin", "2"][..], "--margin"),
        (&["--rehm", "0"][..], "--rehm"),
        (&["--rehm", "1e300"][..], "--rehm"),
        (&["--vm", "0"][..], "--vm"),
        (&["--profile", "missing.toml"][..], "missing.toml"),
        (&["--device", "cuda:99"][..], "--device cuda:99"),
        (&["--lat-req", "inf"][..], "--lat-req"),
        (&["--max-val-samples", "0"][..], "sample limits"),
    ] {
        let mut a = tiny("v0", "1");
        match a.iter().position(|f| f == extra[0]) {
            Some(i) => a[i + 1] = extra[1].to_string(),
            None => a.extend(extra.iter().map(|s| s.to_string())),
        }
        let o = inas(d, &args(&a));
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o));
        assert!(text(&o).contains(needle), "{extra:?}: {}", text(&o));
        assert!(!d.join("v0").exists(), "{extra:?} left v0 behind");
    }
    // The corrected command runs.
    let o = inas(d, &args(&tiny("v0", "1")));
    assert!(o.status.success(), "{}", text(&o));
    // A bad command on an existing run leaves it as it was.
    let before = fs::read(d.join("v0/run.json")).unwrap();
    let mut a = tiny("v0", "1");
    a.extend(["--cap".to_string(), "1e308".to_string()]);
    let o = inas(d, &args(&a));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(fs::read(d.join("v0/run.json")).unwrap(), before);
    assert_eq!(journal_trials(&d.join("v0")), [0]);
}

#[test]
fn resume_trials_sets_the_count_and_cannot_undo_trials() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture_cache(&d.join("cache"));
    let o = inas(d, &args(&tiny("run", "2")));
    assert!(o.status.success(), "{}", text(&o));
    let resume = |n: Option<&str>| {
        let mut a = vec![
            "search",
            "--out",
            "run",
            "--resume",
            "--data-cache",
            "cache",
        ];
        if let Some(n) = n {
            a.extend(["--trials", n]);
        }
        inas(d, &a)
    };
    let trials_in_run_json = || {
        let run: serde_json::Value =
            serde_json::from_slice(&fs::read(d.join("run/run.json")).unwrap()).unwrap();
        run["config"]["trials"].as_u64().unwrap()
    };
    let o = resume(Some("1"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--trials 1 is fewer than the 2 trials this search already ran"),
        "{}",
        text(&o)
    );
    assert_eq!(trials_in_run_json(), 2);
    let o = resume(Some("3"));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(journal_trials(&d.join("run")), [0, 1, 2]);
    assert_eq!(trials_in_run_json(), 3, "a larger --trials is recorded");
    // Without --trials, the recorded count: nothing left to do.
    let o = resume(None);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(journal_trials(&d.join("run")), [0, 1, 2]);
}

#[cfg(unix)]
#[test]
fn run_files_honour_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture_cache(&d.join("cache"));
    for (umask, want) in [("022", 0o644), ("027", 0o640)] {
        let out = format!("run{umask}");
        let line = args(&tiny(&out, "2")).join(" ");
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" {line}",))
            .arg(env!("CARGO_BIN_EXE_inas"))
            .current_dir(d)
            .env("OMP_NUM_THREADS", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let run = d.join(&out);
        let mut files = vec![
            "run.json",
            "journal.jsonl",
            "summary.json",
            "trials.csv",
            "pareto.svg",
        ]
        .into_iter()
        .map(|f| run.join(f))
        .collect::<Vec<_>>();
        files.extend(
            fs::read_dir(run.join("trials"))
                .unwrap()
                .map(|e| e.unwrap().path()),
        );
        if run.join("best.plan").exists() {
            files.push(run.join("best.plan"));
        }
        for f in files {
            let mode = fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, want, "{} under umask {umask}: {mode:o}", f.display());
        }
    }
}

/// A search standardises its inputs with training-split statistics that depend on `--seed` and
/// `--val-fraction`; its plans carry them, so `measure --dataset` on the best plan, with its own
/// (default) seed, feeds the device the inputs training saw: the same Q15 accuracy on the same
/// test samples as the search reported.
#[test]
fn a_searched_plan_carries_its_preprocessing_to_measure() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture_cache(&d.join("cache"));
    let mut a = tiny("run", "3");
    a.extend(["--seed", "7", "--val-fraction", "0.3"].map(String::from));
    let o = inas(d, &args(&a));
    assert!(o.status.success(), "{}", text(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(d.join("run/summary.json")).unwrap()).unwrap();
    let test = &summary["test"];
    let samples = test["samples"].as_u64().unwrap();
    assert!(samples > 0, "{summary}");
    let bytes = fs::read(d.join("run/best.plan")).unwrap();
    let plan = inas_common::plan::Plan::decode(&bytes).unwrap();
    assert_eq!(plan.meta.preprocess.len(), 9, "one entry per HAR channel");

    let n = samples.to_string();
    let o = inas(
        d,
        &[
            "measure",
            "--plan",
            "run/best.plan",
            "--simboard",
            "--dataset",
            "har",
            "--cache",
            "cache",
            "--samples",
            &n,
            "--no-per-layer",
            "--mode",
            "cont",
            "--out",
            "m",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("warning"), "{}", text(&o));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["samples"].as_u64(), Some(samples), "{m}");
    assert_eq!(
        m["accuracy"], test["q15_acc"],
        "measure {m}\nsearch {summary}"
    );
    // Sample by sample: the device's logits are the plan's on the inputs as training scaled
    // them (statistics of the search's own carve).
    let opts = inas::data::LoadOptions {
        seed: 7,
        val_fraction: 0.3,
        ..Default::default()
    };
    let mut splits = inas::data::load(DatasetName::Har, &d.join("cache"), &opts).unwrap();
    splits.normalize();
    for (i, s) in m["per_sample"].as_array().unwrap().iter().enumerate() {
        let input: Vec<i16> = splits
            .test
            .sample(i)
            .iter()
            .map(|&x| inas::quant::to_q15(x, plan.meta.input_exp))
            .collect();
        let want = inas::q15ref::forward(&plan, &input).pop().unwrap();
        let got: Vec<i16> = serde_json::from_value(s["logits"].clone()).unwrap();
        assert_eq!(got, want, "sample {i}");
    }
}
