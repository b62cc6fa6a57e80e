//! `inas devices`, `deploy`, `measure` and `calibrate`, run for real in a temp dir against the
//! in-process simulated board (`--simboard`) and the virtual LaunchPad (`--emulator`).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn inas(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inas"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run inas")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(o), stderr(o)))
}

/// A temp dir holding `net.plan`, a small HAR plan with the explorer's designs.
fn with_plan(extra: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let mut args = vec![
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
    ];
    args.extend_from_slice(extra);
    let o = inas(d.path(), &args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    d
}

#[test]
fn deploy_verifies_and_survives_a_damaged_line() {
    let d = with_plan(&[]);
    let o = inas(d.path(), &["deploy", "net.plan", "--simboard"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("deployed plan 1"), "{out}");
    assert!(
        out.contains("verified: a run's logits equal the host engine's"),
        "{out}"
    );

    let o = inas(
        d.path(),
        &[
            "deploy",
            "net.plan",
            "--simboard",
            "--fault-corrupt",
            "0.01",
            // Durations read as everywhere else (`--lat-req 500ms`): one SI parser.
            "--timeout",
            "500ms",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["verified"], true);
    assert_eq!(j["plan_id"], 1);
    assert!(j["stats"]["resends"].as_u64().unwrap() > 0, "{j}");
    assert!(j["link"].as_str().unwrap().contains("1% corrupted"), "{j}");
}

#[test]
fn deploy_gives_up_on_a_dead_line_and_refuses_a_plan_that_does_not_fit() {
    let d = with_plan(&[]);
    let o = inas(
        d.path(),
        &[
            "deploy",
            "net.plan",
            "--simboard",
            "--fault-drop",
            "0.99",
            "--tries",
            "2",
            "--timeout",
            "0.1",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("hello: gave up after 2 tries (last: no answer within 100.0ms)"),
        "{}",
        stderr(&o)
    );
    // Designs explored for 8 KB of VM do not fit the board's 2 KB.
    let o = inas(
        d.path(),
        &[
            "plan",
            "random",
            "--dataset",
            "har",
            "--arch",
            "5,4,5,8,5,8",
            "--vm",
            "8192",
            "--cap",
            "10mF",
            "--rehm",
            "41",
            "-o",
            "big.plan",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = inas(d.path(), &["deploy", "big.plan", "--simboard"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "the plan does not fit this device: layer 1: tile buffers need 3232 B of VM, \
             the device has 2048 B"
        ),
        "{err}"
    );
}

#[test]
fn measure_json_has_the_report_and_its_files() {
    let d = with_plan(&[]);
    let o = inas(
        d.path(),
        &[
            "measure",
            "--simboard",
            "--plan",
            "net.plan",
            "--samples",
            "3",
            "--json",
            "--out",
            "m",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = json(&o);
    for key in [
        "samples",
        "accuracy",
        "logits_match_host",
        "measured_latency_s",
        "predicted_latency_s",
        "power_cycles",
        "layers",
    ] {
        assert!(j.get(key).is_some(), "missing {key}: {j}");
    }
    assert_eq!(j["samples"], 3);
    assert_eq!(j["logits_match_host"], true);
    // The simulated board is priced by its --simboard-profile, which therefore predicts it.
    assert_eq!(j["predicted_by"], "reference");
    assert!(j["accuracy"].is_null(), "random inputs have no labels");
    let measured = j["measured_latency_s"].as_f64().unwrap();
    let predicted = j["predicted_latency_s"].as_f64().unwrap();
    assert!(measured > 0.0 && predicted > 0.0);
    assert!(j["power_cycles"].as_f64().unwrap() >= 1.0);
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    for l in layers {
        assert!(l["measured_latency_s"].as_f64().unwrap() > 0.0, "{l}");
        assert!(l["predicted_latency_s"].as_f64().unwrap() > 0.0, "{l}");
    }
    for f in ["measure.json", "samples.csv", "layers.csv", "latency.svg"] {
        let p = d.path().join("m").join(f);
        assert!(p.is_file(), "{f}");
    }
    let svg = std::fs::read_to_string(d.path().join("m/latency.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("predicted"),
        "{svg}"
    );
    let csv = std::fs::read_to_string(d.path().join("m/samples.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
}

#[test]
fn measure_takes_labelled_inputs_and_checks_their_length() {
    let d = with_plan(&[]);
    // 48 rows x 9 channels.
    let sample = |v: i16, label: u8| serde_json::json!({"input": vec![v; 48 * 9], "label": label});
    let file = serde_json::json!([sample(100, 0), sample(-200, 3)]);
    std::fs::write(d.path().join("in.json"), file.to_string()).unwrap();
    let o = inas(
        d.path(),
        &[
            "measure",
            "--simboard",
            "--plan",
            "net.plan",
            "--inputs",
            "in.json",
            "--mode",
            "cont",
            "--no-per-layer",
            "--json",
            "--out",
            "m",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["samples"], 2);
    let acc = j["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert_eq!(j["power_cycles"], 0.0);
    assert!(j["layers"][0]["measured_latency_s"].is_null());

    std::fs::write(d.path().join("short.json"), "[[1, 2, 3]]").unwrap();
    let o = inas(
        d.path(),
        &[
            "measure",
            "--simboard",
            "--plan",
            "net.plan",
            "--inputs",
            "short.json",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("short.json: sample 0 has 3 values, the plan's input 432"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn calibrate_writes_a_profile_explore_accepts() {
    let d = tempfile::tempdir().unwrap();
    let o = inas(
        d.path(),
        &[
            "calibrate",
            "--simboard",
            "-o",
            "cal.toml",
            "--reps",
            "4",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = json(&o);
    let mac = j["mac"]["slope"].as_f64().unwrap();
    // The board runs at 8 MHz, the reference model's MAC slope is 1.5 cycles at 16 MHz.
    assert!((mac - 0.75).abs() < 1e-3, "{j}");
    let o = inas(
        d.path(),
        &[
            "explore",
            "--dataset",
            "har",
            "--profile",
            "cal.toml",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(json(&o)["feasible"], true);
}

#[test]
fn devices_lists_ports_and_flags_need_a_target() {
    let d = tempfile::tempdir().unwrap();
    let o = inas(d.path(), &["devices", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(json(&o).is_array());
    let o = inas(d.path(), &["deploy", "x.plan"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--port"), "{}", stderr(&o));
    let o = inas(
        d.path(),
        &["deploy", "x.plan", "--simboard", "--port", "/dev/null"],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = inas(
        d.path(),
        &["deploy", "x.plan", "--simboard", "--fault-corrupt", "2"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a rate in [0, 1)"),
        "{}",
        stderr(&o)
    );
}

/// The board firmware ELF that `cargo xtask firmware` leaves (CI builds it before the tests).
fn board_elf() -> std::path::PathBuf {
    inas_emu::builds::firmware_elf(inas_emu::builds::Build::Board).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn measure_on_the_virtual_launchpad_runs_on_the_harvester_and_splits_boots_per_layer() {
    let d = with_plan(&[]);
    let elf = board_elf();
    let o = inas(
        d.path(),
        &[
            "measure",
            "--emulator",
            elf.to_str().unwrap(),
            "--plan",
            "net.plan",
            "--samples",
            "2",
            "--harvested",
            "--cap",
            "1mF",
            "--rehm",
            "400",
            // The reference model says CONV_0's batch needs more than a charge; the firmware
            // spends less, and completes: run it anyway.
            "--run-timeout",
            "600",
            "--json",
            "--out",
            "m",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["logits_match_host"], true, "{j}");
    assert!(j["link"].as_str().unwrap().contains("virtual LaunchPad"));
    // The prediction describes the device measured: our firmware's calibrated profile, whose
    // on-time is the firmware's within 5 % (the recharges differ: the model recharges to Von after
    // every power cycle, the emulated board only after a brown-out).
    assert_eq!(j["predicted_by"], "msp430fr5994-emu", "{j}");
    let (measured, predicted) = (
        j["measured_on_time_s"].as_f64().unwrap(),
        j["predicted_on_time_s"].as_f64().unwrap(),
    );
    assert!(
        (predicted - measured).abs() < 0.05 * measured,
        "on-time measured {measured} s, predicted {predicted} s"
    );
    let first = &j["per_sample"][0];
    let on = first["on_time_s"].as_f64().unwrap();
    let host = first["latency_s"].as_f64().unwrap();
    // Uploads ran on USB power, the runs on the harvester: the host waited out a recharge (at
    // 1 mF the run is about one charge of the capacitor; smaller ones leave the idle board too
    // short a power cycle to hear the run command).
    assert!(host > 1.05 * on, "host {host} s, on-time {on} s");
    assert!(j["power_cycles"].as_f64().unwrap() >= 5.0, "{j}");
    // Per-layer figures (continuous differences plus each layer's power cycles at the full
    // plan's cost) add up to the first sample's run.
    let layers = j["layers"].as_array().unwrap();
    let sum = |k: &str| layers.iter().map(|l| l[k].as_f64().unwrap()).sum::<f64>();
    assert!((sum("measured_on_time_s") - on).abs() < 1e-6 * on, "{j}");
    assert!(
        (sum("measured_latency_s") - host).abs() < 1e-6 * host,
        "{j}"
    );
    let pcs: i64 = layers
        .iter()
        .map(|l| l["measured_power_cycles"].as_i64().unwrap())
        .sum();
    assert_eq!(pcs, first["power_cycles"].as_i64().unwrap());
    assert!(layers
        .iter()
        .all(|l| l["measured_on_time_s"].as_f64().unwrap() > 0.0));
}

#[test]
fn calibrate_on_the_virtual_launchpad_fits_whole_layers() {
    let d = tempfile::tempdir().unwrap();
    let elf = board_elf();
    let o = inas(
        d.path(),
        &[
            "calibrate",
            "--emulator",
            elf.to_str().unwrap(),
            "-o",
            "emu.toml",
            "--reps",
            "2",
            "--layer-plans",
            "1",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["clock_hz"], 8_000_000);
    let fit = &j["layers"];
    // One plan of five layers, in both run modes.
    assert_eq!(fit["points"].as_array().unwrap().len(), 10, "{fit}");
    let rms = fit["rms_error_pct"].as_f64().unwrap();
    assert!(rms.is_finite() && rms < 50.0, "{fit}");
    let text = std::fs::read_to_string(d.path().join("emu.toml")).unwrap();
    assert!(
        text.contains("footprint") && text.contains("cycles"),
        "{text}"
    );
    let o = inas(
        d.path(),
        &[
            "explore",
            "--dataset",
            "har",
            "--profile",
            "emu.toml",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
