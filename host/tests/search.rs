//! The search loop end to end on small synthetic HAR-shaped data: journal, reports, resume after
//! a kill, determinism.

use std::path::Path;

use inas::data::{Split, Splits};
use inas::network::Dataset;
use inas::runs::{Journal, TrialOutcome, TrialRecord};
use inas::search::run::{search, DataSource, Quiet, SearchConfig};
use inas::search::{Mode, StrategyKind};

/// 6 classes; class k lifts channel k over the middle of the window, plus noise.
fn split(n: usize, seed: u64) -> Split {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut noise = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.6
    };
    let mut x = Vec::with_capacity(n * 128 * 9);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 6;
        for t in 0..128 {
            for ch in 0..9 {
                let signal = if ch == class && (32..96).contains(&t) {
                    1.0
                } else {
                    0.0
                };
                x.push(signal + noise());
            }
        }
        y.push(class as u8);
    }
    Split {
        x,
        y,
        shape: [128, 1, 9],
        classes: 6,
    }
}

fn data() -> Splits {
    Splits {
        train: split(96, 1),
        val: split(48, 2),
        test: split(60, 3),
        source: "synthetic".into(),
        val_rule: "synthetic".into(),
        normalization: None,
    }
}

fn config(trials: usize) -> SearchConfig {
    SearchConfig {
        trials,
        epochs: 2,
        batch_size: Some(32),
        strategy: StrategyKind::Random,
        calibration_samples: 16,
        device: "cpu".into(),
        ..SearchConfig::defaults(Dataset::Har)
    }
}

/// Journal lines without the wall-clock timings.
fn stable(root: &Path) -> Vec<TrialRecord> {
    let (_, mut rs) = Journal::read(root).unwrap();
    for r in &mut rs {
        r.timings = Default::default();
    }
    rs
}

#[test]
fn search_writes_its_run_and_resumes_exactly() {
    tch::set_num_threads(1);
    let d = data();
    let dir = tempfile::tempdir().unwrap();

    let full = dir.path().join("full");
    let r = search(&config(4), &full, false, DataSource::Loaded(&d), &mut Quiet).unwrap();
    assert_eq!(r.summary.trials, 4);
    for f in [
        "run.json",
        "journal.jsonl",
        "summary.json",
        "trials.csv",
        "pareto.svg",
    ] {
        assert!(full.join(f).is_file(), "{f} missing");
    }
    let records = stable(&full);
    let trained: Vec<&TrialRecord> = records.iter().filter(|r| r.trained().is_some()).collect();
    assert!(!trained.is_empty(), "no trial trained: {records:#?}");
    for r in &trained {
        assert!(full.join(TrialRecord::plan_file(r.trial)).is_file());
        assert_eq!(
            r.designs.len(),
            r.actions.len() / 2 + 2,
            "conv layers + GAP + head"
        );
        let (float_acc, q15_acc) = r.trained().unwrap();
        assert!((0.0..=1.0).contains(&float_acc) && (0.0..=1.0).contains(&q15_acc));
    }
    match &r.summary.best {
        Some(b) => {
            assert!(full.join("best.plan").is_file());
            let t = r.summary.test.as_ref().expect("the best trial is tested");
            assert_eq!((t.trial, t.samples), (b.trial, 60));
        }
        None => assert!(r.summary.test.is_none()),
    }

    // Killed after two trials, with half a line written: resume finishes the same search.
    let part = dir.path().join("part");
    search(&config(2), &part, false, DataSource::Loaded(&d), &mut Quiet).unwrap();
    let third = serde_json::to_string(&records[2]).unwrap();
    let mut j = std::fs::OpenOptions::new()
        .append(true)
        .open(part.join("journal.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut j, &third.as_bytes()[..third.len() / 3]).unwrap();
    drop(j);
    // Flags other than --trials are the run's own on resume.
    let mut resumed = config(4);
    resumed.seed = 99;
    search(&resumed, &part, true, DataSource::Loaded(&d), &mut Quiet).unwrap();
    assert_eq!(
        stable(&part),
        records,
        "resume lost, repeated or changed a trial"
    );

    // Starting over in a used directory is refused.
    let e = search(&config(4), &full, false, DataSource::Loaded(&d), &mut Quiet).unwrap_err();
    assert!(format!("{e:#}").contains("--resume"), "{e:#}");
}

#[test]
fn modes_record_their_latencies() {
    tch::set_num_threads(1);
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(3);
    c.mode = Mode::Hwnas;
    // A tiny capacitor: continuous-power designs are often unsafe under intermittent power.
    c.cap_f = Some(100e-6);
    c.epochs = 1;
    search(&c, dir.path(), false, DataSource::Loaded(&d), &mut Quiet).unwrap();
    for r in stable(dir.path()) {
        if let TrialOutcome::Trained { .. } = r.outcome {
            assert!(r.latency_s.is_some());
            // meets_requirement is about intermittent power, whatever the search mode.
            assert_eq!(
                r.meets_requirement,
                r.intermittent_latency_s.is_some_and(|l| l <= c.lat_req_s)
            );
        }
    }
}

#[test]
fn bad_configurations_are_refused_before_work() {
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    for (c, what) in [
        (
            SearchConfig {
                trials: 0,
                ..config(1)
            },
            "--trials",
        ),
        (
            SearchConfig {
                lat_req_s: -1.0,
                ..config(1)
            },
            "--lat-req",
        ),
        (
            SearchConfig {
                device: "tpu".into(),
                ..config(1)
            },
            "tpu",
        ),
    ] {
        let e = search(
            &c,
            &dir.path().join(what),
            false,
            DataSource::Loaded(&d),
            &mut Quiet,
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains(what), "{e:#}");
        assert!(!dir.path().join(what).join("journal.jsonl").exists());
    }
}

#[test]
fn the_sampled_controller_is_recorded_and_resumes_exactly() {
    use inas::search::run::Controller;
    tch::set_num_threads(1);
    let d = data();
    let dir = tempfile::tempdir().unwrap();
    let c = |trials| SearchConfig {
        strategy: StrategyKind::Reinforce,
        controller: Controller::Sampled,
        epochs: 1,
        ..config(trials)
    };
    let full = dir.path().join("full");
    search(&c(3), &full, false, DataSource::Loaded(&d), &mut Quiet).unwrap();
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(full.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["config"]["controller"], "sampled");
    let part = dir.path().join("part");
    search(&c(1), &part, false, DataSource::Loaded(&d), &mut Quiet).unwrap();
    search(&c(3), &part, true, DataSource::Loaded(&d), &mut Quiet).unwrap();
    assert_eq!(stable(&part), stable(&full));
}
