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
