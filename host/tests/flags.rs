//! Every subcommand's flags, one at a time, set to values a hostile user would try (zero,
//! negatives, tiny, NaN, infinities, 1e308, integers past u32 and u64): the real binary must
//! end with one of its exit codes (0 done, 1 infeasible, 2 bad input, 3 device), never a panic
//! (101) or a signal.
//!
//! Each command starts from a baseline that is quick whatever the flag does, so an accepted
//! extreme value cannot turn into a long run: a tiny plan on the simulated board, a search
//! whose run directory already holds a search (every setting is checked first, then the search
//! is refused), firmware and archives that do not exist (read after the flags are checked).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use inas::data::cache::{Manifest, SourceKind};
use inas::data::DatasetName;

const HOSTILE: [&str; 9] = [
    "0",
    "-1",
    "1e-9",
    "NaN",
    "inf",
    "-inf",
    "1e308",
    "18446744073709551616",
    "99999999999",
];

/// For flags that take whole numbers, the non-numbers above all fail the same way; these reach
/// the range checks.
const HOSTILE_INTEGERS: [&str; 5] = ["0", "-1", "1e308", "18446744073709551616", "99999999999"];

fn inas(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inas"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .env("OMP_NUM_THREADS", "1")
        // Nothing here may reach the network or the user's cache.
        .env("INAS_DATA", dir.join("cache"))
        .stdin(Stdio::null())
        .output()
        .expect("run inas")
}

/// One command line per (flag, hostile value): `base` with `flag=value` (instead of the flag's
/// baseline value, if it has one), and `base` with `{}` replaced by the value (positional
/// arguments, `random:{}`). `reals` take every hostile value, `integers` the integer ones.
fn cases(base: &[&str], reals: &[&str], integers: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for v in HOSTILE {
        if base.iter().any(|a| a.contains("{}")) {
            out.push(base.iter().map(|a| a.replace("{}", v)).collect());
        }
        let flags = reals
            .iter()
            .chain(integers.iter().filter(|_| HOSTILE_INTEGERS.contains(&v)));
        for f in flags {
            let mut c: Vec<String> = base.iter().map(|a| a.to_string()).collect();
            // The baseline's own value of the flag gives way.
            if let Some(i) = c.iter().position(|a| a == f) {
                c.drain(i..i + 2);
            }
            // `--flag=value`: a value starting with '-' is not taken for a flag.
            c.push(format!("{f}={v}"));
            out.push(c);
        }
    }
    out
}

#[test]
fn hostile_flag_values_end_in_a_documented_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let plan = Command::new(env!("CARGO_BIN_EXE_inas"))
        .args([
            "plan",
            "random",
            "--dataset",
            "har",
            "--arch",
            "5,4,5,8,5,8",
            "--input-len",
            "48",
            "--rehm",
            "41",
            "-o",
            "net.plan",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(plan.status.success());
    // A cached HAR as far as `search` looks before refusing the used run directory.
    std::fs::create_dir_all(d.join("cache/har")).unwrap();
    Manifest {
        dataset: DatasetName::Har,
        kind: SourceKind::Offline,
        origin: "test".into(),
        checked: vec![],
        conversion: String::new(),
        fetched_at: 0,
        fetch_seconds: 0.0,
    }
    .write(&d.join("cache/har"))
    .unwrap();
    std::fs::create_dir_all(d.join("used")).unwrap();
    std::fs::write(d.join("used/journal.jsonl"), "").unwrap();

    // Real-valued supply flags; --vm is a whole number.
    let supply = ["--cap", "--rehm", "--margin"];
    let mut all = Vec::new();
    all.extend(cases(
        &["explore", "--dataset", "har"],
        &supply,
        &["--vm", "--arch"],
    ));
    all.extend(cases(
        &["explore", "--dataset", "har", "--arch", "{},{},5,8,5,8"],
        &[],
        &[],
    ));
    all.extend(cases(
        &["plan", "random", "--dataset", "har", "-o", "r.plan"],
        &["--cap"],
        &["--vm", "--seed", "--input-len"],
    ));
    all.extend(cases(&["plan", "show", "{}"], &[], &[]));
    all.extend(cases(&["simulate", "net.plan"], &["--rehm"], &["--seed"]));
    all.extend(cases(
        &["simulate", "net.plan", "--failures", "random:{}"],
        &[],
        &[],
    ));
    all.extend(cases(
        &["search", "--out", "used", "--device", "cpu"],
        &[&supply[..], &["--lat-req", "--val-fraction"]].concat(),
        &[
            "--vm",
            "--trials",
            "--epochs",
            "--batch-size",
            "--seed",
            "--max-train-samples",
            "--max-val-samples",
        ],
    ));
    all.extend(cases(
        &["export", "used", "-o", "x.plan"],
        &[],
        &["--trial"],
    ));
    all.extend(cases(&["export", "{}", "-o", "x.plan"], &[], &[]));
    all.extend(cases(
        &["data", "show", "har", "--cache", "nowhere"],
        &["--val-fraction"],
        &["--seed"],
    ));
    all.extend(cases(
        &[
            "data",
            "fetch",
            "har",
            "--archive",
            "missing.tar.gz",
            "--cache",
            "c2",
        ],
        &["--timeout"],
        &[],
    ));
    all.extend(cases(
        &["deploy", "net.plan", "--simboard", "--no-verify"],
        &[
            "--timeout",
            "--run-timeout",
            "--fault-corrupt",
            "--fault-drop",
        ],
        &["--baud", "--tries", "--fault-seed"],
    ));
    all.extend(cases(
        &[
            "measure",
            "--plan",
            "net.plan",
            "--simboard",
            "--harvested",
            "--samples",
            "1",
            "--no-per-layer",
            "--out",
            "m",
        ],
        &[&supply[..], &["--run-timeout"]].concat(),
        &["--vm", "--samples", "--seed"],
    ));
    all.extend(cases(
        &[
            "calibrate",
            "--simboard",
            "-o",
            "p.toml",
            "--reps",
            "1",
            "--layer-plans",
            "0",
        ],
        &["--active-power-w"],
        &["--reps", "--layer-plans", "--seed"],
    ));
    all.extend(cases(
        &["emulate", "missing.elf"],
        &["--cap", "--rehm", "--max-seconds"],
        &["--max-instructions"],
    ));
    all.extend(cases(
        &["emulate", "missing.elf", "--pty"],
        &["--speed"],
        &[],
    ));
    all.extend(cases(&["profile", "{}"], &[], &[]));
    assert!(all.len() > 250, "{} command lines", all.len());

    // Two at a time: the machine may be shared.
    let failures: Vec<String> = std::thread::scope(|s| {
        let halves: Vec<_> = all
            .chunks(all.len().div_ceil(2))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|args| {
                            let o = inas(d, args);
                            let err = String::from_utf8_lossy(&o.stderr);
                            let clean =
                                matches!(o.status.code(), Some(0..=3)) && !err.contains("panicked");
                            (!clean).then(|| format!("{args:?}: {:?}\n{err}", o.status))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
