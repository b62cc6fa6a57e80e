//! The protocol client over the virtual LaunchPad: the real board firmware (`cargo xtask
//! firmware` builds it; CI does before the tests) in the emulator, under an RC harvester, in
//! lockstep simulated time.

use std::path::PathBuf;
use std::time::Duration;

use inas::device::client::Options;
use inas::device::client::RunStatus;
use inas::device::emulator::{supply, EmulatorLink};
use inas::device::link::byte_time;
use inas::device::{host_logits, Client, Link};
use inas::network::HAR;
use inas::planner::{self, random_input, random_tensors};
use inas::profile::Profile;
use inas_common::plan::Plan;
use inas_common::wire::RunMode;
use inas_common::{ExecDesign, LoopOrder};

fn board_elf() -> PathBuf {
    let dir = std::env::var_os("INAS_FIRMWARE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../firmware/target"),
        PathBuf::from,
    );
    let elf = dir.join("inas-firmware.elf");
    assert!(
        elf.is_file(),
        "{} is missing: build the firmware with `cargo xtask firmware` (or set INAS_FIRMWARE_DIR)",
        elf.display()
    );
    elf
}

/// A client of the board firmware on a fresh virtual LaunchPad (USB power, as on a bench).
fn board_client() -> Client<EmulatorLink> {
    let link = EmulatorLink::start(&board_elf(), None).unwrap();
    let opts = Options {
        reply_timeout: Duration::from_millis(500),
        run_timeout: Duration::from_secs(120),
        tries: 4,
        byte_time: byte_time(115_200),
    };
    Client::new(link, opts)
}

/// A plan of `space` at `arch` with random weights and the explorer's designs for `cap` behind
/// `rehm` under `profile`.
fn random_plan(
    profile: &Profile,
    space: &inas::network::SearchSpace,
    arch: &[u32],
    (cap, rehm): (f64, f64),
    seed: u64,
) -> Vec<u8> {
    let overrides = inas::model::Overrides {
        capacitance_f: Some(cap),
        r_ohm: Some(rehm),
        ..Default::default()
    };
    planner::random_plan(
        profile,
        overrides,
        space,
        arch,
        inas::model::Power::Int,
        seed,
    )
    .unwrap()
}

/// Writes a seeded input, runs `bytes` (deployed) continuously, and checks the board's logits
/// against the host engine's.
fn runs_with_the_host_logits(c: &mut Client<EmulatorLink>, bytes: &[u8], seed: u64) {
    let (_, valid) = planner::open(bytes).unwrap();
    let input = random_input(valid.meta().input.elements() as usize, seed);
    let want = host_logits(bytes, &input).unwrap();
    c.write_input(&input).unwrap();
    let r = c
        .run(RunMode::Continuous, valid.layers().len() as u16)
        .unwrap();
    assert_eq!(r.result.logits.to_vec(), want);
}

/// A HAR-shaped plan with 96 rows, batches of one tile per power cycle.
fn plan() -> Vec<u8> {
    let mut space = HAR;
    space.input = 96;
    let net = space.network(&[3, 4, 3, 8, 3, 8]).unwrap();
    let designs: Vec<ExecDesign> = net
        .layers
        .iter()
        .map(|l| ExecDesign {
            tr: if l.is_pool() {
                2
            } else if l.r % 2 == 0 {
                l.r / 2
            } else {
                l.r
            },
            tc: l.c,
            tm: l.m,
            tn: 1,
            order: if l.is_pool() {
                LoopOrder::ReuseO
            } else {
                LoopOrder::ReuseI
            },
            batch: 1,
        })
        .collect();
    let target = planner::target(2048, 1 << 20, "reference");
    planner::build(&net, &designs, &random_tensors(&net, 5), 0, target, 42).unwrap()
}

#[test]
fn the_firmware_runs_a_deployed_plan_under_harvested_power() {
    // Deployed on USB power, as on a real bench.
    let mut c = board_client();
    let caps = c.hello().unwrap();
    assert_eq!(caps.clock_hz, 8_000_000);
    let bytes = plan();
    let d = c.deploy(&bytes, &mut |_, _| {}).unwrap();
    assert_eq!(d.plan_id, 42);
    let layers = Plan::decode(&bytes).unwrap().meta.layers.len() as u16;
    let input = random_input(96 * 9, 3);
    let want = host_logits(&bytes, &input).unwrap();
    c.write_input(&input).unwrap();

    // Then onto a small capacitor and a weak harvester: the board browns out again and again
    // and resumes from its footprint with no help from the host.
    let profile = Profile::reference();
    let s = supply(&profile, Some(150e-6), Some(400.0)).unwrap();
    c.link_mut().set_supply(Some(s)).unwrap();
    let t0 = c.link().now();
    let r = c.run(RunMode::Continuous, layers).unwrap();
    assert_eq!(r.result.logits.to_vec(), want);
    // Simulated time: the host's end-to-end latency includes every recharge.
    let on_s = r.result.on_cycles.get() as f64 / 8e6;
    let host_s = (c.link().now() - t0).as_secs_f64();
    // Idle, the board sleeps in LPM0 until the UART wakes it: on this supply it stays powered
    // (awake it would brown out every 0.2 s), hears the host, and still has the result.
    let idle = Duration::from_secs(2);
    let until = c.link().now() + idle;
    let quiet = c.link_mut().recv(&mut [0; 16], until).unwrap();
    assert_eq!(quiet, 0);
    assert_eq!(c.status().unwrap(), RunStatus::Finished(r.result.clone()));
    let report = c.into_link().finish().unwrap();
    eprintln!(
        "{} power cycles (device), {} brown-outs (emulator); on {on_s:.3} s, host {host_s:.3} s, \
         off {:.3} s, {} instructions",
        r.result.power_cycles, report.power_cycles, report.off_time_s, report.instructions
    );
    assert!(
        r.result.power_cycles > 3,
        "{} power cycles",
        r.result.power_cycles
    );
    assert!(
        host_s > on_s + report.off_time_s * 0.5,
        "host {host_s} s vs on-time {on_s} s"
    );
    assert!(
        report.power_cycles > 3 && report.off_time_s > 0.0,
        "{report:?}"
    );
    assert!(
        report.power_cycles <= u64::from(r.result.power_cycles) + 1,
        "brown-outs while idle: {report:?}, {} in the run",
        r.result.power_cycles
    );
    assert_eq!(report.unmodelled_accesses, 0, "{report:?}");
}

/// The built-in profile of our firmware (`msp430fr5994-emu`, made by `inas calibrate
/// --emulator`) must keep predicting the firmware it was calibrated on: a plan it never saw,
/// with the explorer's designs, measured in intermittent runs on the virtual LaunchPad.
#[test]
fn the_built_in_firmware_profile_predicts_the_firmware() {
    use inas::measure::{self, predict, Sample, Setup};
    let profile = inas::profile::load("msp430fr5994-emu").unwrap();
    let mut space = HAR;
    space.input = 64;
    let net = space.network(&[5, 8, 3, 8, 3, 16]).unwrap();
    let platform = inas::model::Platform::new(&profile, Default::default()).unwrap();
    let explored =
        inas::explore::explore_network(&platform, &net, inas::model::Power::Int).unwrap();
    assert!(explored.infeasible.is_none(), "{:?}", explored.infeasible);
    let designs: Vec<ExecDesign> = explored.layers.iter().map(|l| l.design.exec()).collect();
    let target = planner::target(2048, 1 << 20, "msp430fr5994-emu");
    let bytes = planner::build(&net, &designs, &random_tensors(&net, 9), 0, target, 77).unwrap();
    let (_, valid) = planner::open(&bytes).unwrap();
    let predicted = predict::predict(
        &profile,
        Default::default(),
        &valid,
        RunMode::Intermittent,
        false,
    )
    .unwrap();
    let mut c = board_client();
    let samples = [Sample {
        input: random_input(64 * 9, 5),
        label: None,
    }];
    let setup = Setup {
        mode: RunMode::Intermittent,
        per_layer: true,
        predicted: Some(predicted),
    };
    let r = measure::measure(&mut c, &bytes, &samples, &setup, &mut |_, _| {}).unwrap();
    assert!(r.logits_match_host);
    let errors: Vec<f64> = r
        .layers
        .iter()
        .map(|l| {
            let (m, p) = (
                l.measured_on_time_s.unwrap(),
                l.predicted_on_time_s.unwrap(),
            );
            (p - m) / m * 100.0
        })
        .collect();
    let total =
        (r.predicted_on_time_s.unwrap() - r.measured_on_time_s) / r.measured_on_time_s * 100.0;
    eprintln!("end to end {total:+.1} %, per layer {errors:+.1?} %");
    assert!(
        total.abs() < 3.0,
        "end to end {total:+.1} %, per layer {errors:+.1?}"
    );
    assert!(
        errors.iter().all(|e| e.abs() < 5.0),
        "end to end {total:+.1} %, per layer {errors:+.1?}"
    );
}

/// The paper's CIFAR-10 example network (3,8,5,24,3,24,5,16,5,16: feature maps of up to 24 K
/// words, three buffers of them) fits the board since the plan slots share one scratch region
/// (it needed 150,278 B where one slot offered 105,810 B), deploys and runs with the host
/// engine's logits; so does the same plan uploaded again, into the other slot.
#[test]
fn the_papers_cifar_network_fits_and_runs_on_the_firmware() {
    let cifar = random_plan(
        &inas::profile::load("msp430fr5994-emu").unwrap(),
        &inas::network::CIFAR,
        &[3, 8, 5, 24, 3, 24, 5, 16, 5, 16],
        (5e-3, 41.0),
        1,
    );
    let mut c = board_client();
    let caps = c.hello().unwrap();
    let (_, valid) = planner::open(&cifar).unwrap();
    let need = 2 * valid.layout().total_words;
    assert!(
        need > caps.max_plan_bytes && need <= caps.nvm_bytes,
        "needs {need} B: more than half the plan area, within the whole"
    );
    // Twice, so that it runs from each slot (slot 1's layout grows down from the area's end).
    for _ in 0..2 {
        let d = c.deploy(&cifar, &mut |_, _| {}).unwrap();
        assert_eq!(d.plan_id, 1);
        runs_with_the_host_logits(&mut c, &cifar, 11);
    }
}

/// A plan past 64 KB (the KWS space at 64,96,48,128: 69.7 KB) deploys and runs on the board
/// firmware: upload offsets beyond 65,535 bytes once wrapped on the MSP430's 16-bit usize and
/// wrote the plan's tail over its head ("check 0x020000", bad magic, at byte 65,472).
#[test]
fn a_plan_past_64_kb_deploys_and_runs_on_the_firmware() {
    let bytes = random_plan(
        &Profile::reference(),
        &inas::network::KWS,
        &[64, 96, 48, 128],
        (5e-3, 41.0),
        5,
    );
    assert!(bytes.len() > 65_536 + 4_096, "{} B", bytes.len());
    let mut c = board_client();
    c.hello().unwrap();
    let mut seen = 0;
    let d = c
        .deploy(&bytes, &mut |done, _| seen = seen.max(done))
        .unwrap();
    assert_eq!(d.plan_id, 5);
    assert_eq!(seen as usize, bytes.len());
    runs_with_the_host_logits(&mut c, &bytes, 7);
}

/// The link's clock is the board's simulated clock, whatever the host's speed: a host that
/// dawdles over every reply (a loaded CI machine) sees the same times as a quick one, on USB
/// power and on a harvester. (The emulator once ran on towards the host's deadline while the
/// host worked, so a command arrived later on a slow host, and under a harvester could land
/// in a brown-out.)
#[test]
fn simulated_time_does_not_depend_on_the_hosts_speed() {
    let session = |dawdle: Duration| {
        let mut c = board_client();
        let mut marks = vec![];
        c.hello().unwrap();
        std::thread::sleep(dawdle);
        marks.push(c.link().now());
        let bytes = plan();
        c.deploy(&bytes, &mut |_, _| std::thread::sleep(dawdle))
            .unwrap();
        marks.push(c.link().now());
        std::thread::sleep(dawdle);
        c.write_input(&random_input(96 * 9, 3)).unwrap();
        marks.push(c.link().now());
        std::thread::sleep(dawdle);
        let profile = Profile::reference();
        let s = supply(&profile, Some(150e-6), Some(400.0)).unwrap();
        c.link_mut().set_supply(Some(s)).unwrap();
        std::thread::sleep(dawdle);
        let layers = Plan::decode(&bytes).unwrap().meta.layers.len() as u16;
        let r = c.run(RunMode::Continuous, layers).unwrap();
        marks.push(c.link().now());
        (marks, r.host_latency, r.result.power_cycles)
    };
    let quick = session(Duration::ZERO);
    let slow = session(Duration::from_millis(3));
    assert_eq!(quick, slow);
}

/// On a supply too weak to keep even the sleeping board up (470 uF behind 1 kOhm), a 9.6 KB
/// upload is cut by brown-outs again and again; after each the host's `PlanBegin` is answered
/// with where the upload stood, so it goes on instead of starting over, and the plan runs
/// with the host engine's logits.
#[test]
fn an_upload_cut_by_brown_outs_goes_on_where_it_stood() {
    let bytes = random_plan(
        &Profile::reference(),
        &HAR,
        &[5, 16, 5, 24, 5, 16],
        (470e-6, 300.0),
        3,
    );
    let link = EmulatorLink::start(&board_elf(), None).unwrap();
    let opts = Options {
        reply_timeout: Duration::from_millis(200),
        run_timeout: Duration::from_secs(120),
        tries: 50,
        byte_time: byte_time(115_200),
    };
    let mut c = Client::new(link, opts);
    c.hello().unwrap();
    let s = supply(&Profile::reference(), Some(470e-6), Some(1000.0)).unwrap();
    c.link_mut().set_supply(Some(s)).unwrap();
    // Progress as the host saw it: after a restart it goes on from the board's record.
    let mut seen: Vec<u64> = vec![];
    let d = c.deploy(&bytes, &mut |at, _| seen.push(at)).unwrap();
    let (_, valid) = planner::open(&bytes).unwrap();
    assert_eq!(d.plan_id, valid.meta().plan_id);
    let restarts = d.stats.upload_restarts;
    let back_to_zero = seen.windows(2).filter(|w| w[1] == 0 && w[0] > 0).count();
    eprintln!(
        "{} B: {restarts} restarts, progress went back to 0 {back_to_zero} times; {:?}",
        bytes.len(),
        d.stats
    );
    assert!(restarts >= 1, "no brown-out cut the upload: {:?}", d.stats);
    assert_eq!(back_to_zero, 0, "an upload started over: {seen:?}");

    // Back on USB power: the plan runs.
    c.link_mut().set_supply(None).unwrap();
    runs_with_the_host_logits(&mut c, &bytes, 4);
}
