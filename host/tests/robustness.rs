//! What a hostile user tried, on the real binary: every outcome is a clean exit code with a
//! message that names what is wrong, never a panic (101), a signal or a silent wrong answer.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn inas(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inas"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run inas")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A clean exit: a code (no signal), not a panic, and no panic message.
fn assert_clean(o: &Output, what: &str) {
    let code = o.status.code();
    assert!(
        code.is_some() && code != Some(101),
        "{what}: {:?}\n{}",
        o.status,
        stderr(o)
    );
    assert!(!stderr(o).contains("panicked"), "{what}: {}", stderr(o));
}

/// A temp dir holding `net.plan`, a small HAR plan.
fn with_plan() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let o = inas(
        d.path(),
        &[
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
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    d
}

/// Runs `args` with stdout (and stderr, with `both`) on a pipe nobody reads any more.
fn into_closed_pipe(dir: &Path, args: &[&str], both: bool) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut c = Command::new(env!("CARGO_BIN_EXE_inas"));
    c.args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(writer.try_clone().unwrap());
    if both {
        c.stderr(writer);
    } else {
        c.stderr(Stdio::piped());
    }
    c.output().expect("run inas")
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let d = with_plan();
    for (args, code) in [
        (&["profile", "reference"][..], 0),
        (&["profile"][..], 0),
        (&["plan", "show", "net.plan"][..], 0),
        (&["plan", "show", "net.plan", "--json"][..], 0),
        (&["simulate", "net.plan"][..], 0),
        (&["simulate", "net.plan", "--json"][..], 0),
        (&["devices"][..], 0),
        (&["explore", "--dataset", "har"][..], 0),
        (&["explore", "--dataset", "har", "--cap", "100uF"][..], 1),
        (&["data", "list", "--cache", "nowhere"][..], 0),
    ] {
        let o = into_closed_pipe(d.path(), args, false);
        assert_clean(&o, &format!("{args:?}"));
        // The command's own outcome, and no complaint about a reader that left.
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?}");
    }
    // An error message on a closed stderr as well.
    let o = into_closed_pipe(d.path(), &["explore", "--dataset", "mnist"], true);
    assert_clean(&o, "bad dataset, closed stderr");
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn output_that_cannot_be_written_is_an_error() {
    let d = with_plan();
    for args in [
        &["profile", "reference"][..],
        &["plan", "show", "net.plan", "--json"][..],
        &["simulate", "net.plan", "--json"][..],
        &["devices", "--json"][..],
        &["explore", "--dataset", "har", "--json"][..],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_inas"))
            .args(args)
            .current_dir(d.path())
            .env("RUST_BACKTRACE", "0")
            .stdout(full)
            .output()
            .unwrap();
        assert_clean(&o, &format!("{args:?}"));
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).contains("cannot write the output to stdout: No space left"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn a_reply_timeout_under_the_data_frame_floor_is_honoured() {
    let d = with_plan();
    for args in [
        &["deploy", "net.plan", "--simboard", "--timeout", "0.01"][..],
        &["deploy", "net.plan", "--simboard", "--timeout", "1e-9"][..],
        &[
            "measure",
            "--plan",
            "net.plan",
            "--simboard",
            "--timeout",
            "0.01",
            "--samples",
            "1",
            "--no-per-layer",
            "--out",
            "m",
        ][..],
    ] {
        let o = inas(d.path(), args);
        assert_clean(&o, &format!("{args:?}"));
        // Either the line was fast enough or the client gave up: both are device outcomes.
        assert!(
            matches!(o.status.code(), Some(0 | 3)),
            "{args:?}: {:?} {}",
            o.status,
            stderr(&o)
        );
    }
}

#[test]
fn settings_that_overflow_a_budget_or_a_latency_are_input_errors_naming_the_flag() {
    let d = with_plan();
    for (args, flag) in [
        (
            &["explore", "--dataset", "har", "--cap", "1e308"][..],
            "--cap",
        ),
        (
            &["explore", "--dataset", "har", "--cap", "1e308", "--json"][..],
            "--cap",
        ),
        (
            &["explore", "--dataset", "har", "--rehm", "1e308"][..],
            "--rehm",
        ),
        (
            &[
                "explore",
                "--dataset",
                "har",
                "--power",
                "cont",
                "--cap",
                "1e308",
            ][..],
            "--cap",
        ),
        (
            &[
                "plan",
                "random",
                "--dataset",
                "har",
                "--cap",
                "1e308",
                "-o",
                "x",
            ][..],
            "--cap",
        ),
        (&["simulate", "net.plan", "--cap", "1e308"][..], "--cap"),
        (&["simulate", "net.plan", "--rehm", "1e300"][..], "--rehm"),
        (
            &[
                "measure",
                "--plan",
                "net.plan",
                "--simboard",
                "--harvested",
                "--cap",
                "1e308",
            ][..],
            "--cap",
        ),
    ] {
        let o = inas(d.path(), args);
        assert_clean(&o, &format!("{args:?}"));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        assert!(stderr(&o).contains(flag), "{args:?}: {}", stderr(&o));
        assert!(!stdout(&o).contains("feasible"), "{args:?}: {}", stdout(&o));
    }
    // A batch line names its field and is a bad line, not a result.
    std::fs::write(
        d.path().join("b.jsonl"),
        "{\"dataset\":\"har\",\"cap_f\":1e308}\n{\"dataset\":\"har\",\"rehm_ohm\":1e300}\n",
    )
    .unwrap();
    let o = inas(d.path(), &["explore", "--batch", "b.jsonl", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["error"].as_str().unwrap().contains("cap_f"));
    assert!(lines[1]["error"].as_str().unwrap().contains("rehm_ohm"));
    assert!(lines.iter().all(|l| l["feasible"] == false));

    // The extremes that are accepted give finite numbers.
    for args in [
        &[
            "explore",
            "--dataset",
            "har",
            "--cap",
            "1e6",
            "--rehm",
            "1e12",
        ][..],
        &[
            "explore",
            "--dataset",
            "har",
            "--cap",
            "1e-12",
            "--rehm",
            "1e-12",
        ][..],
        &[
            "explore",
            "--dataset",
            "kws",
            "--cap",
            "1e6",
            "--margin",
            "1e-300",
        ][..],
        &[
            "explore",
            "--dataset",
            "cifar",
            "--cap",
            "1e6",
            "--rehm",
            "1e12",
        ][..],
    ] {
        let o = inas(d.path(), args);
        assert_clean(&o, &format!("{args:?}"));
        assert!(matches!(o.status.code(), Some(0 | 1)), "{args:?}");
        let out = stdout(&o);
        let words = out.split(|c: char| !c.is_ascii_alphanumeric() && c != '-');
        assert!(
            !words
                .into_iter()
                .any(|w| ["inf", "-inf", "NaN"].contains(&w)),
            "{args:?}: {out}"
        );
    }
}

#[test]
fn explore_batch_tables_say_each_bad_line_once() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("b.jsonl"),
        "{\"dataset\":\"har\"}\n{\"dataset\":\"kws\",\"cap_f\":-1}\nnot json\n",
    )
    .unwrap();
    let o = inas(d.path(), &["explore", "--batch", "b.jsonl"]);
    assert_eq!(o.status.code(), Some(2));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    for needle in [
        "b.jsonl:2: --cap (cap_f): capacitance",
        "b.jsonl:3: not a case",
    ] {
        assert_eq!(all.matches(needle).count(), 1, "{needle}: {all}");
    }
    assert!(stdout(&o).starts_with("line 1: har"), "{}", stdout(&o));
}

/// Runs `inas args` with at most `kib` KiB of address space.
fn inas_within(dir: &Path, kib: u64, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_inas"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run inas")
}

#[test]
fn a_plan_too_large_for_the_device_is_refused_before_memory_is_spent() {
    let d = tempfile::tempdir().unwrap();
    // The binary with libtorch needs about 450 MB of address space; these plans' tensors
    // alone would take 0.5 and 8.6 GB.
    for (arch, dataset) in [
        ("1,8000,1,8000,1,4", "har"),
        ("65535,65535,65535,65535", "kws"),
    ] {
        let o = inas_within(
            d.path(),
            800_000,
            &[
                "plan",
                "random",
                "--dataset",
                dataset,
                "--arch",
                arch,
                "-o",
                "x",
            ],
        );
        assert_clean(&o, arch);
        assert_eq!(o.status.code(), Some(2), "{arch}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("plan needs") && stderr(&o).contains("B of NVM, the device has"),
            "{arch}: {}",
            stderr(&o)
        );
        assert!(!d.path().join("x").exists());
    }
}

#[test]
fn the_nvm_a_plan_needs_is_known_before_its_tensors() {
    use inas::explore::explore_network;
    use inas::model::{Overrides, Platform, Power};
    use inas::network::{HAR, KWS};
    use inas::planner;
    use inas::profile::Profile;
    let p = Platform::new(&Profile::reference(), Overrides::default()).unwrap();
    for (space, arch) in [
        (&HAR, &[5, 4, 5, 16, 5, 24][..]),
        (&HAR, &[3, 8, 7, 4, 1, 16][..]),
        (&KWS, &[48, 128, 48, 128][..]),
        (&KWS, &[16, 32, 64, 8][..]),
    ] {
        let net = space.network(arch).unwrap();
        let r = explore_network(&p, &net, Power::Cont).unwrap();
        let designs: Vec<_> = r.layers.iter().map(|l| l.design.exec()).collect();
        let target = planner::target(p.vm_bytes, 1 << 30, "reference");
        let tensors = planner::random_tensors(&net, 1);
        let bytes = planner::build(&net, &designs, &tensors, 0, target, 1).unwrap();
        let (_, valid) = planner::open(&bytes).unwrap();
        assert_eq!(
            planner::nvm_need_bytes(&net),
            u64::from(valid.layout().total_words) * 2,
            "{arch:?}"
        );
    }
}

/// `measure` on the simulated board with `extra` flags, 2 samples, no per-layer runs.
fn measure(dir: &Path, extra: &[&str]) -> Output {
    let mut a = vec![
        "measure",
        "--plan",
        "net.plan",
        "--simboard",
        "--samples",
        "2",
        "--no-per-layer",
        "--out",
        "m",
    ];
    a.extend_from_slice(extra);
    inas(dir, &a)
}

#[test]
fn a_harvested_run_that_cannot_complete_says_why_and_every_link_honours_harvested() {
    let d = with_plan();
    let weak = ["--harvested", "--cap", "1mF", "--rehm", "400"];
    let o = measure(d.path(), &weak);
    assert_clean(&o, "weak harvester");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("on this harvester the plan cannot complete")
            && stderr(&o).contains("µJ > budget 302.5 µJ"),
        "{}",
        stderr(&o)
    );
    // Asked to run anyway, the simulated board finds a power cycle over the budget.
    let o = measure(d.path(), &[&weak[..], &["--run-timeout", "30"]].concat());
    assert_clean(&o, "weak harvester, run anyway");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("would brown out at that batch forever")
            && stderr(&o).contains("note: the model said the plan cannot complete"),
        "{}",
        stderr(&o)
    );

    // On a harvester that can run it, the simulated board waits out every recharge.
    let timing = |extra: &[&str]| {
        let o = measure(
            d.path(),
            &[&["--json", "--cap", "5mF", "--rehm", "41"], extra].concat(),
        );
        assert_eq!(o.status.code(), Some(0), "{extra:?}: {}", stderr(&o));
        let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
        (
            j["measured_latency_s"].as_f64().unwrap(),
            j["predicted_latency_s"].as_f64().unwrap(),
        )
    };
    let (usb, _) = timing(&[]);
    let (harvested, predicted) = timing(&["--harvested"]);
    assert!(
        harvested > 2.0 * usb,
        "harvested {harvested} s, USB {usb} s"
    );
    assert!(
        (harvested - predicted).abs() < 0.15 * predicted,
        "measured {harvested} s, predicted {predicted} s"
    );
}

#[test]
fn measure_inputs_are_checked_value_by_value_and_labels_against_the_classes() {
    let d = with_plan();
    let good: Vec<i64> = (0..48 * 9).collect();
    let mut bad = good.clone();
    bad[5] = 40000;
    for (text, needle) in [
        (
            serde_json::json!([good, bad]).to_string(),
            "sample 1, value 5: 40000 is not a Q15 integer",
        ),
        (
            serde_json::json!([{"input": good, "label": 6}]).to_string(),
            "sample 0: label 6 is not one of the plan's 6 classes (0..=5)",
        ),
        (
            serde_json::json!([{"input": good, "label": -1}]).to_string(),
            "sample 0: label -1 is not one of the plan's 6 classes",
        ),
        (
            serde_json::json!([{"input": good, "lable": 1}]).to_string(),
            "sample 0: unknown key \"lable\"",
        ),
        (
            serde_json::json!(["x"]).to_string(),
            "sample 0: expected an array of Q15 integers",
        ),
    ] {
        std::fs::write(d.path().join("in.json"), &text).unwrap();
        let o = measure(d.path(), &["--inputs", "in.json"]);
        assert_clean(&o, needle);
        assert_eq!(o.status.code(), Some(2), "{needle}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("in.json: {needle}")),
            "{needle}: {}",
            stderr(&o)
        );
    }
    std::fs::write(
        d.path().join("in.json"),
        serde_json::json!([{"input": good, "label": 5}]).to_string(),
    )
    .unwrap();
    let o = measure(d.path(), &["--inputs", "in.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn errors_name_what_is_missing_and_say_each_cause_once() {
    let d = with_plan();
    let o = inas(d.path(), &["export", "nonexist", "-o", "x.plan"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("nonexist holds no search (run.json is missing)"),
        "{}",
        stderr(&o)
    );
    for args in [
        &["deploy", "net.plan", "--emulator", "nope.elf"][..],
        &["explore", "--profile", "nope.toml"][..],
        &["search", "--out", "s", "--profile", "nope.toml"][..],
        &["plan", "show", "nope.plan"][..],
        &["emulate", "nope.elf"][..],
    ] {
        let o = inas(d.path(), args);
        assert_clean(&o, &format!("{args:?}"));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o).matches("(os error 2)").count(),
            1,
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn measuring_over_a_pseudo_terminal_warns_that_its_timings_may_mean_nothing() {
    let d = with_plan();
    let pty = inas_emu::bridge::Pty::open().unwrap();
    let o = inas(
        d.path(),
        &[
            "measure",
            "--plan",
            "net.plan",
            "--port",
            pty.path(),
            "--timeout",
            "0.05",
            "--tries",
            "1",
            "--samples",
            "1",
        ],
    );
    assert_clean(&o, "pty");
    assert_eq!(o.status.code(), Some(3), "nothing answers: {}", stderr(&o));
    assert!(
        stderr(&o).contains("is a pseudo-terminal") && stderr(&o).contains("--speed max"),
        "{}",
        stderr(&o)
    );
    // A serial port that is not a pseudo-terminal gets no such note.
    let o = inas(
        d.path(),
        &[
            "measure",
            "--plan",
            "net.plan",
            "--port",
            "/dev/null",
            "--tries",
            "1",
        ],
    );
    assert!(!stderr(&o).contains("pseudo-terminal"), "{}", stderr(&o));
}

#[test]
fn an_unpaced_pty_says_its_timings_are_not_the_boards() {
    let elf = inas_emu::builds::firmware_elf(inas_emu::builds::Build::Board)
        .unwrap_or_else(|e| panic!("{e}"));
    let d = tempfile::tempdir().unwrap();
    let elf = elf.to_str().unwrap();
    let run = |speed: &str| {
        let o = inas(
            d.path(),
            &[
                "emulate",
                elf,
                "--pty",
                "--speed",
                speed,
                "--max-instructions",
                "10000",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stderr(&o)
    };
    assert!(run("max").contains("at speed max the board is not held to the wall clock"));
    assert!(!run("1").contains("speed max"));
}
