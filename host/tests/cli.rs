//! The `inas` binary, run for real in a temp dir: outputs, exit codes, error messages.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const CIFAR_REF: [&str; 8] = [
    "explore",
    "--dataset",
    "cifar",
    "--arch",
    "3,8,5,24,3,24,5,16,5,16",
    "--cap",
    "5mF",
    "--rehm=24",
];

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

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn table_for_the_reference_cifar_network() {
    let d = tmp();
    let o = inas(d.path(), &CIFAR_REF);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    expect_test::expect![[r#"
        cifar [3,8,5,24,3,24,5,16,5,16]: explore, intermittent power; profile reference
        supply: 5 mF, Von 2.99 V, Voff 2.8 V, margin 0.55, budget 1512.6 µJ per cycle; RC source 3 V through 24 Ω; VM 2048 B

        layer       shape                           design                    Epc max µJ  Epc min µJ  cycles   latency s   VM B   Eu %
        CONV_0      32x32x3 -> 30x30x8, 3x3         3_15_8_1_reuse_O_S1           1490.1      1466.6      60      42.544   1034   98.5
        CONV_1      30x30x8 -> 26x26x24, 5x5        1_13_1_8_reuse_I_S8           1311.8      1311.8     156     103.406   1968   86.7
        CONV_2      26x26x24 -> 24x24x24, 3x3       2_4_1_24_reuse_I_S24          1053.5      1053.5      72      42.677   1968   69.6
        CONV_3      24x24x24 -> 20x20x16, 5x5       1_5_1_12_reuse_I_S16          1247.4      1219.3     160     101.335   1840   82.5
        CONV_4      20x20x16 -> 16x16x16, 5x5       1_2_1_16_reuse_W_S32          1509.2      1509.2      64      43.136   1888   99.8
        GAVGPOOL_0  16x16x16 -> 1x1x16, 16x16       1_16_16_1_reuse_O_S16          401.9       401.9       1       0.419   1024   26.6
        FC_END      1x1x16 -> 1x1x10, 1x1           1_1_10_16_reuse_O_S1            92.3        92.3       1       0.349    372    6.1

        total latency 333.868 s over 514 power cycles
    "#]]
    .assert_eq(&stdout(&o));
}

#[test]
fn json_follows_the_schema() {
    let d = tmp();
    let o = inas(d.path(), &[&CIFAR_REF[..], &["--json"]].concat());
    assert_eq!(o.status.code(), Some(0));
    let j = json(&o);
    assert_eq!(j["feasible"], true);
    assert_eq!(j["latency_s"].as_f64(), Some(333.86752767503583));
    assert_eq!(j["error"], Value::Null);
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 7);
    for key in [
        "name",
        "tr",
        "tc",
        "tm",
        "tn",
        "order",
        "batch",
        "epc_max_j",
        "epc_min_j",
        "npc",
        "le2e_s",
        "vm_bytes",
    ] {
        assert!(layers.iter().all(|l| l.get(key).is_some()), "missing {key}");
    }
    let conv1 = &layers[1];
    assert_eq!(
        (
            conv1["name"].as_str(),
            conv1["tr"].as_u64(),
            conv1["tc"].as_u64(),
            conv1["order"].as_str(),
            conv1["batch"].as_u64()
        ),
        (Some("CONV_1"), Some(1), Some(13), Some("reuse_I"), Some(8))
    );
    assert_eq!(layers[5]["name"], "GAVGPOOL_0");
    assert_eq!(layers[6]["name"], "FC_END");
}

#[test]
fn capacitance_takes_farads_with_or_without_prefix() {
    let d = tmp();
    let base = [
        "explore",
        "--dataset",
        "har",
        "--rehm",
        "41",
        "--json",
        "--cap",
    ];
    let outs: Vec<Value> = ["0.005", "5mF", "5000uF", "5000µF", "5 mF"]
        .iter()
        .map(|c| json(&inas(d.path(), &[&base[..], &[c]].concat())))
        .collect();
    assert_eq!(outs[0]["latency_s"].as_f64(), Some(18.014985105606456));
    assert!(outs.iter().all(|o| o == &outs[0]));
}

fn assert_bad(args: &[&str], needle: &str) {
    let d = tmp();
    let o = inas(d.path(), args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    assert!(
        stderr(&o).contains(needle),
        "{args:?}: expected '{needle}' in: {}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn bad_input_is_a_clear_error_with_exit_code_2() {
    assert_bad(
        &["explore", "--dataset", "mnist"],
        "unknown dataset 'mnist'",
    );
    assert_bad(
        &["explore", "--arch", "3,8,5"],
        "expected 10 architecture choices",
    );
    assert_bad(
        &["explore", "--arch", "3,8,x"],
        "'x' in '3,8,x' is not a whole number",
    );
    assert_bad(
        &["explore", "--arch", "7,8,7,8,7,8,7,8,9,8"],
        "CONV_4: kernel 9 does not fit its 8x8 input",
    );
    assert_bad(
        &["explore", "--dataset", "har", "--arch", "200,4,5,8,5,8"],
        "CONV_0: kernel 200",
    );
    assert_bad(&["explore", "--cap", "-5mF"], "'-5mF' must be a positive");
    assert_bad(&["explore", "--cap", "5qF"], "unknown unit prefix 'q'");
    assert_bad(&["explore", "--rehm", "0"], "'0' must be a positive");
    assert_bad(
        &["explore", "--margin", "1.5"],
        "'1.5' is not a margin in (0, 1]",
    );
    assert_bad(
        &["explore", "--vm", "0"],
        "VM capacity must be between 1 and",
    );
    assert_bad(&["explore", "--vm", "-3"], "--vm");
    assert_bad(&["explore", "--power", "solar"], "solar");
    assert_bad(
        &["explore", "--profile", "msp999"],
        "unknown built-in profile 'msp999'",
    );
    assert_bad(
        &["explore", "--profile", "nope.toml"],
        "cannot read profile nope.toml",
    );
    assert_bad(
        &["explore", "--designs", "1_1_1_1_reuse_Q_S1"],
        "the loop order must be I, W or O",
    );
    assert_bad(
        &["explore", "--designs", "1_1_1_1_reuse_I_S1"],
        "expected 7 designs, one per layer (CONV_0,",
    );
    assert_bad(
        &["explore", "--batch", "missing.jsonl"],
        "cannot open batch file missing.jsonl",
    );
    assert_bad(&["frobnicate"], "unrecognized subcommand");
}

#[test]
fn an_infeasible_network_says_why_and_exits_1() {
    let d = tmp();
    let o = inas(d.path(), &["explore", "--cap", "100uF", "--rehm", "24"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("infeasible: CONV_0: best energy per cycle"),
        "{out}"
    );
    assert!(out.contains("> budget 30.3 µJ"), "{out}");
    let j = json(&inas(d.path(), &["explore", "--cap", "100uF", "--json"]));
    assert_eq!(j["feasible"], false);
    assert_eq!(j["latency_s"], Value::Null);
    assert_eq!(j["error_code"], -1);
    assert_eq!(j["intended_code"], 12);
    assert!(j["error"]
        .as_str()
        .unwrap()
        .starts_with("CONV_0: best energy per cycle"));
}

#[test]
fn batch_keeps_order_and_goes_past_bad_lines() {
    let d = tmp();
    let lines = [
        r#"{"dataset":"cifar","arch":[3,8,5,24,3,24,5,16,5,16],"cap_f":0.005,"rehm_ohm":24}"#,
        r#"{"dataset":"har","arch":[5,4,5,16,5,24],"cap_f":0.005,"rehm_ohm":41,"margin":0.55,"vm_bytes":2048,"power":"int"}"#,
        "",
        r#"{"dataset":"kws","cap_f":-1}"#,
        r#"{"dataset":"kws","arch":[48,128,48,128],"rehm_ohm":44}"#,
        r#"not json"#,
        r#"{"dataset":"har","capf":0.005}"#,
        r#"{"dataset":"har","power":"cont"}"#,
    ];
    std::fs::write(d.path().join("cases.jsonl"), lines.join("\n")).unwrap();
    let o = inas(d.path(), &["explore", "--batch", "cases.jsonl", "--json"]);
    assert_eq!(o.status.code(), Some(2), "bad lines make the exit code 2");
    let out: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out.len(), 7, "one output line per non-empty input line");
    assert_eq!(out[0]["latency_s"].as_f64(), Some(333.86752767503583));
    assert_eq!(out[1]["latency_s"].as_f64(), Some(18.014985105606456));
    assert!(out[2]["error"]
        .as_str()
        .unwrap()
        .contains("cases.jsonl:4: --cap (cap_f): capacitance must be a positive"));
    // cap_f missing: the default 5 mF of the profile, as in the spec's example.
    assert_eq!(out[3]["latency_s"].as_f64(), Some(10.178574254572823));
    assert!(out[4]["error"]
        .as_str()
        .unwrap()
        .contains("cases.jsonl:6: not a case object"));
    assert!(out[5]["error"]
        .as_str()
        .unwrap()
        .contains("unknown field `capf`"));
    assert_eq!(out[6]["power"], "cont");
    assert_eq!(out[6]["feasible"], true);
    let err = stderr(&o);
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("error: cases.jsonl:"))
            .count(),
        3,
        "{err}"
    );
}

#[test]
fn batch_lines_equal_single_runs_and_flags_fill_defaults() {
    let d = tmp();
    std::fs::write(
        d.path().join("b.jsonl"),
        "{\"dataset\":\"har\"}\n{\"arch\":[7,24,7,24,7,24]}\n",
    )
    .unwrap();
    let o = inas(
        d.path(),
        &[
            "explore",
            "--batch",
            "b.jsonl",
            "--dataset",
            "har",
            "--cap",
            "10mF",
            "--rehm",
            "28",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let single0 = json(&inas(
        d.path(),
        &[
            "explore",
            "--dataset",
            "har",
            "--cap",
            "10mF",
            "--rehm",
            "28",
            "--json",
        ],
    ));
    let single1 = json(&inas(
        d.path(),
        &[
            "explore",
            "--dataset",
            "har",
            "--arch",
            "7,24,7,24,7,24",
            "--cap",
            "0.01",
            "--rehm",
            "28",
            "--json",
        ],
    ));
    assert_eq!(out, vec![single0, single1]);
}

#[test]
fn continuous_power_and_fixed_designs() {
    let d = tmp();
    let cont = json(&inas(
        d.path(),
        &["explore", "--dataset", "har", "--power", "cont", "--json"],
    ));
    assert_eq!(cont["feasible"], true);
    let layers = cont["layers"].as_array().unwrap();
    assert!(layers.iter().all(|l| l["batch"] == 1));
    assert_eq!(cont["budget_j"], Value::Null);
    // Judge the HW-NAS designs under intermittent power (cost-model.md §11), at 1 mF.
    let designs: Vec<&str> = layers
        .iter()
        .map(|l| l["design"].as_str().unwrap())
        .collect();
    let joined = designs.join(",");
    let o = inas(
        d.path(),
        &[
            "explore",
            "--dataset",
            "har",
            "--cap",
            "1mF",
            "--rehm",
            "62",
            "--designs",
            &joined,
            "--json",
        ],
    );
    let fixed = json(&o);
    assert_eq!(fixed["layers"].as_array().unwrap().len(), 5);
    if fixed["feasible"] == true {
        assert_eq!(o.status.code(), Some(0));
        let int = json(&inas(
            d.path(),
            &[
                "explore",
                "--dataset",
                "har",
                "--cap",
                "1mF",
                "--rehm",
                "62",
                "--json",
            ],
        ));
        assert!(int["latency_s"].as_f64().unwrap() <= fixed["latency_s"].as_f64().unwrap());
    } else {
        assert_eq!(o.status.code(), Some(1));
        let unsafe_layers: Vec<_> = fixed["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l.get("reason").is_some())
            .collect();
        assert!(!unsafe_layers.is_empty());
        assert!(fixed["error"].as_str().unwrap().contains("is unsafe"));
    }
    assert_bad(
        &["explore", "--power", "cont", "--designs", &joined],
        "cannot be used with",
    );
}

#[test]
fn a_profile_printed_and_edited_is_accepted() {
    let d = tmp();
    let o = inas(d.path(), &["profile", "reference"]);
    assert_eq!(o.status.code(), Some(0));
    std::fs::write(d.path().join("mine.toml"), stdout(&o)).unwrap();
    let a = json(&inas(
        d.path(),
        &[
            "explore",
            "--dataset",
            "kws",
            "--rehm",
            "44",
            "--profile",
            "mine.toml",
            "--json",
        ],
    ));
    assert_eq!(a["latency_s"].as_f64(), Some(10.178574254572823));
    // A bigger VM in one's own profile changes the answer; a broken one is refused by name.
    let bigger = stdout(&o).replace("vm_bytes = 2048", "vm_bytes = 4096");
    std::fs::write(d.path().join("big.toml"), bigger).unwrap();
    let b = json(&inas(
        d.path(),
        &[
            "explore",
            "--dataset",
            "kws",
            "--rehm",
            "44",
            "--profile",
            "./big.toml",
            "--json",
        ],
    ));
    assert!(b["latency_s"].as_f64().unwrap() <= 10.178574254572823);
    std::fs::write(d.path().join("bad.toml"), "name = 3").unwrap();
    assert_bad(
        &[
            "explore",
            "--profile",
            d.path().join("bad.toml").to_str().unwrap(),
        ],
        "bad.toml is not valid TOML",
    );
    let list = stdout(&inas(d.path(), &["profile"]));
    assert!(list.starts_with("reference\t"), "{list}");
}

#[test]
fn plan_random_show_and_simulate() {
    let d = tmp();
    let o = inas(
        d.path(),
        &[
            "plan",
            "random",
            "--dataset",
            "har",
            "--arch",
            "5,4,5,16,5,24",
            "--cap",
            "5mF",
            "--rehm",
            "41",
            "--seed",
            "1",
            "-o",
            "net.plan",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("wrote net.plan: "), "{}", stdout(&o));
    let show = inas(d.path(), &["plan", "show", "net.plan"]);
    assert_eq!(show.status.code(), Some(0));
    let text = stdout(&show);
    assert!(
        text.contains("124_1_4_1_reuse_O_S1") && text.contains("GlobalAvgPool"),
        "{text}"
    );
    let j = json(&inas(d.path(), &["plan", "show", "net.plan", "--json"]));
    assert_eq!(j["layers"].as_array().unwrap().len(), 5);
    assert_eq!(j["layers"][2]["design"], "2_1_4_16_reuse_W_S58");
    // Uniform random Q15 weights are far larger than trained ones: wide layers can drive the
    // accumulator past its range, and the text names exactly the layers whose peak says so.
    let over: Vec<String> = j["layers"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, l)| l["accumulator_peak"].as_i64().unwrap() > i64::from(i32::MAX))
        .map(|(i, _)| i.to_string())
        .collect();
    assert!(!over.is_empty() && over.len() < 5, "{over:?}");
    let line = format!("inputs can saturate it in layer(s) {} (", over.join(", "));
    assert!(text.contains(&line), "{line}\n{text}");

    let o = inas(
        d.path(),
        &[
            "simulate",
            "net.plan",
            "--failures",
            "random:300",
            "--cap",
            "5mF",
            "--rehm",
            "41",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = json(&o);
    assert_eq!(s["mismatches"], 0);
    assert_eq!(s["failures_injected"], 300);
    assert_eq!(s["outputs"], s["reference_outputs"]);
    assert_eq!(s["outputs"].as_array().unwrap().len(), 6);
    assert_eq!(s["power_cycles"], 21);
    let (sim, model) = (
        s["latency_s"].as_f64().unwrap(),
        s["predicted_latency_s"].as_f64().unwrap(),
    );
    assert!((sim - model).abs() / model < 0.05, "{sim} vs {model}");

    // An input file of the wrong size is refused; one of the right size is used.
    std::fs::write(d.path().join("short.json"), "[1,2,3]").unwrap();
    assert_bad(
        &[
            "simulate",
            d.path().join("net.plan").to_str().unwrap(),
            "--input",
            d.path().join("short.json").to_str().unwrap(),
        ],
        "the plan's input has 1152 values, the file 3",
    );
    let zeros = format!("[{}]", vec!["0"; 1152].join(","));
    std::fs::write(d.path().join("zeros.json"), zeros).unwrap();
    let z = json(&inas(
        d.path(),
        &[
            "simulate",
            "net.plan",
            "--input",
            "zeros.json",
            "--harvest",
            "none",
            "--json",
        ],
    ));
    assert_eq!(z["mismatches"], 0);
    assert_eq!(z["power_cycles"], Value::Null);
}

#[test]
fn hwnas_designs_that_cannot_complete_are_reported() {
    let d = tmp();
    let o = inas(
        d.path(),
        &[
            "plan",
            "random",
            "--dataset",
            "har",
            "--power",
            "cont",
            "--seed",
            "2",
            "-o",
            "hw.plan",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = inas(
        d.path(),
        &[
            "simulate", "hw.plan", "--cap", "1mF", "--rehm", "62", "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let s = json(&o);
    assert_eq!(s["completed"], false);
    assert_eq!(s["latency_s"], Value::Null);
    assert!(
        s["unsafe_layer"].as_str().unwrap().contains("is unsafe"),
        "{s}"
    );
    // The same designs complete with a 5 mF capacitor, slower than iNAS's own.
    let s = json(&inas(
        d.path(),
        &[
            "simulate", "hw.plan", "--cap", "5mF", "--rehm", "41", "--json",
        ],
    ));
    assert_eq!(s["completed"], true);
    assert!(s["latency_s"].as_f64().unwrap() > 18.0);
}

#[test]
fn bad_plans_and_flags_are_clear_errors() {
    let d = tmp();
    inas(
        d.path(),
        &[
            "plan",
            "random",
            "--dataset",
            "kws",
            "--seed",
            "3",
            "-o",
            "k.plan",
        ],
    );
    let good = std::fs::read(d.path().join("k.plan")).unwrap();
    let mut flipped = good.clone();
    *flipped.last_mut().unwrap() ^= 1;
    std::fs::write(d.path().join("flipped.plan"), &flipped).unwrap();
    let mut newer = good.clone();
    newer[4] = 9;
    std::fs::write(d.path().join("newer.plan"), &newer).unwrap();
    std::fs::write(d.path().join("short.plan"), &good[..30]).unwrap();
    let p = |f: &str| d.path().join(f).to_str().unwrap().to_owned();
    assert_bad(&["simulate", &p("flipped.plan")], "plan CRC mismatch");
    assert_bad(
        &["plan", "show", &p("newer.plan")],
        "plan format version 9 is not supported (this side reads version 2)",
    );
    assert_bad(&["plan", "show", &p("short.plan")], "plan truncated");
    assert_bad(&["simulate", &p("missing.plan")], "cannot read plan");
    assert_bad(
        &["simulate", &p("k.plan"), "--failures", "sometimes"],
        "'sometimes' is not none, random:N (N up to 1000000) or every-write",
    );
    assert_bad(
        &[
            "plan",
            "random",
            "--dataset",
            "har",
            "--arch",
            "9,9",
            "-o",
            "x.plan",
        ],
        "expected 6 architecture choices",
    );
    let o = inas(
        d.path(),
        &["plan", "random", "--cap", "100uF", "-o", "x.plan"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no feasible design"), "{}", stderr(&o));
    assert!(
        !d.path().join("x.plan").exists(),
        "no plan file is written for an infeasible network"
    );
}

#[test]
fn plan_random_takes_a_smaller_input() {
    let dir = tmp();
    let args = [
        "plan",
        "random",
        "--dataset",
        "har",
        "--arch",
        "3,4,3,4,3,4",
        "--input-len",
        "48",
        "-o",
        "small.plan",
    ];
    let o = inas(dir.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let show = inas(dir.path(), &["plan", "show", "small.plan", "--json"]);
    let j = json(&show);
    assert_eq!(j["layers"][0]["input"], serde_json::json!([48, 1, 9]));
    let mut zero = args;
    zero[7] = "0";
    let o = inas(dir.path(), &zero);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--input-len must be at least 1"));
    let mut tiny = args;
    tiny[7] = "3";
    let o = inas(dir.path(), &tiny);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("kernel 3 does not fit"),
        "{}",
        stderr(&o)
    );
}

/// `search` and `trial` run in `inas-torch` beside `inas`, with the same arguments; without it,
/// `inas` says where it looked, and every other command still runs.
#[test]
fn search_and_trial_are_handed_to_inas_torch() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let alone = dir.path().join("inas");
    std::fs::hard_link(env!("CARGO_BIN_EXE_inas"), &alone)
        .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_inas"), &alone).map(|_| ()))
        .unwrap();
    let run = |args: &[&str]| {
        Command::new(&alone)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let o = run(&["search", "--dataset", "har", "--out", "r"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let want = dir.path().join("inas-torch");
    assert!(
        stderr(&o).contains(&want.display().to_string()),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("r").exists());
    let o = run(&["trial", "--run", "r", "--trial", "0"]);
    assert!(stderr(&o).contains("inas-torch"), "{}", stderr(&o));
    let o = run(&CIFAR_REF);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Beside the real one, `inas-torch` answers: a bad search setting is its error.
    let o = inas(dir.path(), &["search", "--dataset", "har", "--trials", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains("inas-torch"), "{}", stderr(&o));
}
