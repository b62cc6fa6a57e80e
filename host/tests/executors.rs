//! Trials run by workers: `local:N` processes and Slurm job arrays give the journal of a search
//! in one process; a worker that dies is retried, one that always fails is journaled as
//! failed; a killed coordinator's finished trials are adopted on `--resume`.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use inas::network::Dataset;
use inas::runs::{Journal, TrialOutcome, TrialRecord};
use inas::search::executor::ExecutorSpec;
use inas::search::run::{search_with, DataSource, Execution, Quiet, SearchConfig};
use inas::search::StrategyKind;

mod support;
use support::*;

/// The journal without what differs between runs of the same search: wall times, and the
/// reasons of failed attempts.
fn journal(run: &Path) -> Vec<TrialRecord> {
    let (_, records) = Journal::read(run).unwrap();
    records
        .into_iter()
        .map(|mut r| {
            r.timings = Default::default();
            r.retries.clear();
            r
        })
        .collect()
}

fn search_flags(out: &str, trials: &str, batch: &str, extra: &[&str]) -> Vec<String> {
    let mut v = tiny(out, trials);
    v.extend(["--batch", batch].map(String::from));
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// The flags with `--epochs` set to `epochs`.
fn with_epochs(mut v: Vec<String>, epochs: &str) -> Vec<String> {
    let i = v.iter().position(|a| a == "--epochs").unwrap() + 1;
    v[i] = epochs.into();
    v
}

fn trained(run: &Path) -> Vec<u32> {
    journal(run)
        .iter()
        .filter(|r| r.trained().is_some())
        .map(|r| r.trial)
        .collect()
}

#[test]
fn local_workers_give_the_journal_of_one_process_and_resume_adopts_finished_trials() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture_cache(&d.join("cache"));
    let o = inas(d, &args(&search_flags("one", "4", "4", &[])));
    assert!(o.status.success(), "{}", text(&o));
    let o = inas(
        d,
        &args(&search_flags("two", "4", "4", &["--executor", "local:2"])),
    );
    assert!(o.status.success(), "{}", text(&o));
    let reference = journal(&d.join("one"));
    assert_eq!(reference.len(), 4);
    assert_eq!(journal(&d.join("two")), reference);
    let work = trained(&d.join("one"));
    assert!(work.len() >= 2, "the fixture search trains {work:?}");
    // Every trained trial ran in a worker, which logged it and left its result.
    for &t in &work {
        assert!(d.join(format!("two/logs/trial-{t}.log")).exists());
        assert!(d.join(format!("two/trials/{t}.result.json")).exists());
    }

    // A coordinator killed mid-batch: no journal line yet, one worker's result on disk.
    let cut = d.join("cut");
    fs::create_dir_all(cut.join("trials")).unwrap();
    fs::copy(d.join("two/run.json"), cut.join("run.json")).unwrap();
    fs::write(cut.join("journal.jsonl"), "").unwrap();
    for t in 0..4 {
        let p = format!("trials/{t}.proposal.json");
        fs::copy(d.join("two").join(&p), cut.join(&p)).unwrap();
    }
    let adopted = work[0];
    for f in [format!("{adopted}.result.json"), format!("{adopted}.plan")] {
        fs::copy(d.join("two/trials").join(&f), cut.join("trials").join(&f)).unwrap();
    }
    let o = inas(
        d,
        &[
            "search",
            "--out",
            "cut",
            "--resume",
            "--executor",
            "local:2",
            "--data-cache",
            "cache",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(journal(&cut), reference);
    // The finished trial was adopted, the others trained again.
    assert!(!cut.join(format!("logs/trial-{adopted}.log")).exists());
    for &t in &work[1..] {
        assert!(cut.join(format!("logs/trial-{t}.log")).exists(), "{t}");
    }
    // A worker asked for a trial that is done does nothing.
    let o = inas(
        d,
        &["trial", "--run", "cut", "--trial", &adopted.to_string()],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("already done"), "{}", text(&o));
}

#[test]
fn a_batched_reinforce_search_killed_mid_batch_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture_cache(&d.join("cache"));
    let mut flags = search_flags("rf", "4", "2", &[]);
    let s = flags.iter().position(|a| a == "--strategy").unwrap() + 1;
    flags[s] = "reinforce".into();
    let o = inas(d, &args(&flags));
    assert!(o.status.success(), "{}", text(&o));
    // Killed after the first trial of the second batch: its journal line is there, the
    // batch's proposals too.
    let cut = d.join("cut");
    fs::create_dir_all(cut.join("trials")).unwrap();
    for f in [
        "run.json",
        "trials/0.plan",
        "trials/1.plan",
        "trials/2.plan",
        "trials/3.plan",
    ] {
        let _ = fs::copy(d.join("rf").join(f), cut.join(f));
    }
    for t in 0..4 {
        let p = format!("trials/{t}.proposal.json");
        fs::copy(d.join("rf").join(&p), cut.join(&p)).unwrap();
    }
    let lines: Vec<String> = fs::read_to_string(d.join("rf/journal.jsonl"))
        .unwrap()
        .lines()
        .map(|l| format!("{l}\n"))
        .collect();
    let killed_and_resumed = || {
        fs::write(cut.join("journal.jsonl"), lines[..3].concat()).unwrap();
        let resume = [
            "search",
            "--out",
            "cut",
            "--resume",
            "--data-cache",
            "cache",
        ];
        inas(d, &resume)
    };
    let o = killed_and_resumed();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(journal(&cut), journal(&d.join("rf")));
    // A batch the journal does not start where the proposals say is refused, not guessed.
    let p = fs::read_to_string(cut.join("trials/2.proposal.json")).unwrap();
    fs::write(
        cut.join("trials/2.proposal.json"),
        p.replace("\"start\": 2", "\"start\": 1"),
    )
    .unwrap();
    let o = killed_and_resumed();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("2.proposal.json"), "{}", text(&o));
}

#[test]
fn a_worker_that_dies_is_retried_and_one_that_always_fails_is_journaled_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture_cache(&d.join("cache"));
    let mut config = SearchConfig::defaults(Dataset::Har);
    config.strategy = StrategyKind::Random;
    config.trials = 4;
    config.epochs = 1;
    config.batch_size = Some(16);
    config.device = "cpu".into();
    config.batch = 4;
    // The reference: the same search in one process.
    search_with(
        &config,
        &d.join("one"),
        false,
        DataSource::Cache(d.join("cache")),
        &mut Quiet,
        &Execution::default(),
    )
    .unwrap();
    let work = trained(&d.join("one"));
    assert!(work.len() >= 2, "the fixture search trains {work:?}");
    let (dies_once, always_fails) = (work[0], work[1]);
    // A stand-in for `inas trial --serve --run DIR`: kills itself on its first attempt at one
    // trial, exits 7 at every attempt at another, and runs the real worker otherwise.
    let script = d.join("worker.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             while read t; do\n\
             if [ \"$t\" = {dies_once} ] && [ ! -e {m} ]; then touch {m}; kill -9 $$; fi\n\
             if [ \"$t\" = {always_fails} ]; then echo no luck >&2; exit 7; fi\n\
             if {inas} trial --run \"$4\" --trial \"$t\" >&2; then echo \"done $t\"; \
             else echo \"failed $t\"; fi\n\
             done\n",
            m = d.join("died").display(),
            inas = env!("CARGO_BIN_EXE_inas"),
        ),
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status()
        .unwrap();
    let result = search_with(
        &config,
        &d.join("two"),
        false,
        DataSource::Cache(d.join("cache")),
        &mut Quiet,
        &Execution {
            executor: ExecutorSpec::Local(2),
            retries: 1,
            worker_exe: Some(script),
            ..Execution::default()
        },
    )
    .unwrap();
    assert_eq!(result.summary.failed, 1);
    let (_, records) = Journal::read(&d.join("two")).unwrap();
    assert_eq!(
        records.iter().map(|r| r.trial).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    let died = &records[dies_once as usize];
    assert!(died.trained().is_some(), "{died:?}");
    assert_eq!(died.retries.len(), 1, "{:?}", died.retries);
    assert!(died.retries[0].contains("signal: 9"), "{:?}", died.retries);
    let failed = &records[always_fails as usize];
    assert!(
        matches!(failed.outcome, TrialOutcome::Failed { .. }),
        "{failed:?}"
    );
    assert_eq!(failed.retries.len(), 2, "{:?}", failed.retries);
    assert!(failed.retries[1].contains("exit status: 7"));
    // Everything else is the one-process search's, but the rewards after the failure: the
    // strategy scored it as accuracy 0.
    let reference = journal(&d.join("one"));
    for (r, want) in journal(&d.join("two")).iter().zip(&reference) {
        if r.trial != always_fails {
            let (mut r, mut want) = (r.clone(), want.clone());
            if r.trial > always_fails {
                (r.reward, want.reward) = (0.0, 0.0);
            }
            assert_eq!(r, want);
        }
    }
}

/// The test cluster `cargo xtask ci` started (its slurm.conf), if it answers. Only that one:
/// the suite never submits to a cluster it was not given.
fn test_cluster() -> Option<std::ffi::OsString> {
    let conf = std::env::var_os("INAS_TEST_SLURM_CONF")?;
    Command::new("sinfo")
        .args(["-h", "-o", "%t"])
        .env("SLURM_CONF", &conf)
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
        .then_some(conf)
}

#[test]
fn a_slurm_search_gives_the_journal_of_one_process_and_retries_a_cancelled_task() {
    let Some(conf) = test_cluster() else {
        eprintln!(
            "NOT RUN: no test Slurm cluster (`cargo xtask ci` starts one as root with \
             scripts/slurm-test-cluster.sh and names it in INAS_TEST_SLURM_CONF); the Slurm \
             executor is untested in this run"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture_cache(&d.join("cache"));
    // Trials long enough to be cancelled while they train.
    let epochs = "60";
    let flags = with_epochs(search_flags("one", "4", "4", &[]), epochs);
    let o = inas(d, &args(&flags));
    assert!(o.status.success(), "{}", text(&o));
    let slurm = ["--executor", "slurm", "--slurm-poll", "0.2"];
    let flags = with_epochs(search_flags("sl", "4", "4", &slurm), epochs);
    let search = Command::new(env!("CARGO_BIN_EXE_inas"))
        .args(&flags)
        .current_dir(d)
        .env("OMP_NUM_THREADS", "1")
        .env("SLURM_CONF", &conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Cancel the first array task seen running.
    let started = Instant::now();
    let cancelled = loop {
        assert!(started.elapsed() < Duration::from_secs(120), "no task ran");
        let o = Command::new("squeue")
            .args([
                "-h",
                "-r",
                "-n",
                "inas-trial",
                "-t",
                "RUNNING",
                "-o",
                "%A %K %F",
            ])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let script_dir = d.join("sl/slurm");
        if let Some(line) = out.lines().next().filter(|_| script_dir.exists()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let task = format!("{}_{}", f[2], f[1]);
            std::thread::sleep(Duration::from_millis(300));
            let s = Command::new("scancel")
                .arg(&task)
                .env("SLURM_CONF", &conf)
                .status()
                .unwrap();
            assert!(s.success());
            break task;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = search.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(journal(&d.join("sl")), journal(&d.join("one")));
    let (_, records) = Journal::read(&d.join("sl")).unwrap();
    let retried: Vec<&TrialRecord> = records.iter().filter(|r| !r.retries.is_empty()).collect();
    assert_eq!(retried.len(), 1, "cancelled {cancelled}: {records:?}");
    assert!(
        retried[0].retries[0].contains(&format!("slurm task {cancelled}")),
        "{:?}",
        retried[0].retries
    );
}
