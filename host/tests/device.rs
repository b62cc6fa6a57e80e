//! The protocol client over links to the simulated board: uploads (clean, over a damaged line,
//! cut by a power failure or a dead host), runs against the host engine, refusals with numbers,
//! calibration against the board's known costs, and measurement.

use std::time::Duration;

use inas::calibrate;
use inas::device::client::Options;
use inas::device::fault::{Faults, FaultyLink};
use inas::device::link::byte_time;
use inas::device::simboard::{SimLink, BAUD};
use inas::device::{host_logits, Client, ClientError, Link, LinkError};
use inas::measure::{self, predict, Sample, Setup};
use inas::network::HAR;
use inas::planner::{self, random_input, random_tensors};
use inas::profile::Profile;
use inas::q15ref;
use inas::simdev::Cut;
use inas_common::plan::Plan;
use inas_common::session::{Config, LAUNCHPAD};
use inas_common::wire::RunMode;
use inas_common::{ExecDesign, LoopOrder};

/// A HAR-shaped plan small enough for fast tests: 32 rows instead of 128.
fn plan(id: u32, seed: u64) -> Vec<u8> {
    let mut space = HAR;
    space.input = 32;
    let net = space.network(&[3, 4, 3, 8, 3, 8]).unwrap();
    let designs: Vec<ExecDesign> = net
        .layers
        .iter()
        .map(|l| {
            if l.is_pool() {
                ExecDesign {
                    tr: 2,
                    tc: 1,
                    tm: l.m,
                    tn: 1,
                    order: LoopOrder::ReuseO,
                    batch: 1,
                }
            } else {
                ExecDesign {
                    tr: if l.r % 2 == 0 { l.r / 2 } else { l.r },
                    tc: l.c,
                    tm: l.m,
                    tn: 1,
                    order: LoopOrder::ReuseI,
                    batch: 1,
                }
            }
        })
        .collect();
    planner::build(
        &net,
        &designs,
        &random_tensors(&net, seed),
        0,
        planner::target(2048, 1 << 20, "reference"),
        id,
    )
    .unwrap()
}

fn input_for(bytes: &[u8], seed: u64) -> Vec<i16> {
    let p = Plan::decode(bytes).unwrap();
    random_input(p.meta.input.elements() as usize, seed)
}

fn layers(bytes: &[u8]) -> u16 {
    Plan::decode(bytes).unwrap().meta.layers.len() as u16
}

fn options(tries: u32) -> Options {
    Options {
        reply_timeout: Duration::from_millis(500),
        run_timeout: Duration::from_secs(600),
        tries,
        byte_time: byte_time(BAUD),
    }
}

fn board() -> SimLink {
    SimLink::new(LAUNCHPAD, &Profile::reference().cost_table())
}

#[test]
fn deploy_and_run_give_the_host_engines_logits() {
    let bytes = plan(7, 7);
    let mut c = Client::new(board(), options(4));
    let caps = c.hello().unwrap();
    assert_eq!(caps.clock_hz, LAUNCHPAD.clock_hz);
    let mut seen = vec![];
    let d = c
        .deploy(&bytes, &mut |at, total| seen.push((at, total)))
        .unwrap();
    assert_eq!(d.plan_id, 7);
    assert_eq!(d.bytes as usize, bytes.len());
    assert_eq!(d.stats.resends, 0);
    assert_eq!(seen.last(), Some(&(bytes.len() as u64, bytes.len() as u64)));
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "progress only grows"
    );
    // A clean line at 115200 baud: at least half the raw byte rate.
    let rate = f64::from(d.bytes) / d.elapsed_s;
    assert!(rate > 5000.0, "{rate} B/s");
    for (seed, mode) in [(1, RunMode::Continuous), (2, RunMode::Intermittent)] {
        let input = input_for(&bytes, seed);
        let want = host_logits(&bytes, &input).unwrap();
        assert_eq!(
            want,
            q15ref::forward(&Plan::decode(&bytes).unwrap(), &input)
                .pop()
                .unwrap()
        );
        let r = c.infer(&input, mode, layers(&bytes)).unwrap();
        assert_eq!(r.result.plan_id, 7);
        assert_eq!(r.result.logits.to_vec(), want, "{mode:?}");
        // The host sees the device's on-time, and in intermittent mode its reboots too.
        let on = r.result.on_cycles.get() as f64 / f64::from(caps.clock_hz);
        assert!(
            r.host_latency.as_secs_f64() >= on,
            "{:?} < {on}",
            r.host_latency
        );
        if mode == RunMode::Intermittent {
            assert!(r.result.power_cycles > 1);
            let reboots = f64::from(r.result.power_cycles) * 0.07;
            assert!(r.host_latency.as_secs_f64() >= on + reboots);
        }
    }
}

#[test]
fn a_one_percent_corrupting_line_still_deploys() {
    let bytes = plan(3, 3);
    let input = input_for(&bytes, 9);
    let want = host_logits(&bytes, &input).unwrap();
    for seed in 0..4 {
        let line = FaultyLink::new(
            board(),
            Faults {
                corrupt: 0.01,
                drop: 0.0,
                seed,
            },
        );
        let mut c = Client::new(line, options(8));
        let d = c.deploy(&bytes, &mut |_, _| {}).unwrap();
        assert_eq!(d.plan_id, 3);
        assert!(c.link().stats().corrupted > 0, "the line did damage bytes");
        assert!(d.stats.resends > 0, "seed {seed}: damage forced resends");
        let r = c
            .infer(&input, RunMode::Continuous, layers(&bytes))
            .unwrap();
        assert_eq!(r.result.logits.to_vec(), want, "seed {seed}");
    }
    // Dropped bytes too (lost delimiters merge frames; timeouts recover).
    let line = FaultyLink::new(
        board(),
        Faults {
            corrupt: 0.005,
            drop: 0.005,
            seed: 11,
        },
    );
    let mut c = Client::new(line, options(8));
    c.deploy(&bytes, &mut |_, _| {}).unwrap();
    let r = c
        .infer(&input, RunMode::Intermittent, layers(&bytes))
        .unwrap();
    assert_eq!(r.result.logits.to_vec(), want);
}

#[test]
fn a_dead_line_gives_up_after_n_tries_with_a_clear_error() {
    let dead = FaultyLink::new(
        board(),
        Faults {
            corrupt: 0.0,
            drop: 1.0,
            seed: 1,
        },
    );
    let mut c = Client::new(dead, options(3));
    let e = c.hello().unwrap_err();
    assert!(matches!(e, ClientError::GaveUp { tries: 3, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "hello: gave up after 3 tries (last: no answer within 500.0ms)"
    );
    assert_eq!(c.stats().frames_sent, 3);
    // Every byte damaged: the upload cannot make progress and says where it stopped.
    let mut good = Client::new(board(), options(3));
    good.hello().unwrap();
    let garbled = FaultyLink::new(
        board(),
        Faults {
            corrupt: 0.3,
            drop: 0.0,
            seed: 5,
        },
    );
    let mut c = Client::new(garbled, options(3));
    let e = c.deploy(&plan(1, 1), &mut |_, _| {}).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ClientError::GaveUp { .. }), "{msg}");
    assert!(msg.contains("gave up after 3 tries"), "{msg}");
}

/// A board that browns out while it sends: once armed, the first answer stops after a few
/// bytes, with no delimiter, and the line stays silent until the host speaks again.
struct CutAnswer {
    link: SimLink,
    armed: bool,
    cutting: bool,
    cut: usize,
}

impl Link for CutAnswer {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.cutting = false;
        self.link.send(bytes)
    }
    fn recv(&mut self, buf: &mut [u8], deadline: Duration) -> Result<usize, LinkError> {
        loop {
            let n = self.link.recv(buf, deadline)?;
            if self.armed && n > 0 {
                (self.armed, self.cutting) = (false, true);
                let kept = n.min(4);
                self.cut += n - kept;
                return Ok(kept);
            }
            if !self.cutting || n == 0 {
                return Ok(n);
            }
            self.cut += n;
        }
    }
    fn now(&self) -> Duration {
        self.link.now()
    }
    fn describe(&self) -> String {
        self.link.describe()
    }
}

/// A result cut short by a brown-out never ends in a delimiter: after a reply's time of
/// silence the client asks where the run stands, and the device, done, gives the result again.
#[test]
fn a_result_cut_short_is_asked_for_again() {
    let bytes = plan(4, 4);
    let input = input_for(&bytes, 2);
    let line = CutAnswer {
        link: board(),
        armed: false,
        cutting: false,
        cut: 0,
    };
    let mut c = Client::new(line, options(4));
    c.deploy(&bytes, &mut |_, _| {}).unwrap();
    c.write_input(&input).unwrap();
    c.link_mut().armed = true;
    let r = c.run(RunMode::Continuous, layers(&bytes)).unwrap();
    assert_eq!(
        r.result.logits.to_vec(),
        host_logits(&bytes, &input).unwrap()
    );
    assert!(c.link().cut > 0, "the first result was cut");
    assert_eq!(c.stats().bad_frames, 1, "{:?}", c.stats());
}

/// A host that dies (every send fails) after sending `budget` bytes, or right after the board
/// lost power once.
struct DyingHost {
    link: SimLink,
    budget: usize,
    after_power_failure: bool,
}

impl DyingHost {
    fn new(link: SimLink, budget: usize, after_power_failure: bool) -> DyingHost {
        DyingHost {
            link,
            budget,
            after_power_failure,
        }
    }
}

impl Link for DyingHost {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let failed = self.after_power_failure && self.link.board().nvm.failures > 0;
        if failed || bytes.len() > self.budget {
            self.budget = 0;
            return Err(LinkError::Closed {
                link: "test".into(),
                what: "the host died".into(),
            });
        }
        self.budget -= bytes.len();
        self.link.send(bytes)
    }
    fn recv(&mut self, buf: &mut [u8], deadline: Duration) -> Result<usize, LinkError> {
        self.link.recv(buf, deadline)
    }
    fn now(&self) -> Duration {
        self.link.now()
    }
    fn describe(&self) -> String {
        self.link.describe()
    }
}

/// A board holding `old`, through a client.
fn board_with(old: &[u8]) -> SimLink {
    let mut c = Client::new(board(), options(4));
    c.deploy(old, &mut |_, _| {}).unwrap();
    std::mem::replace(c.link_mut(), board())
}

fn run_on(link: SimLink, bytes: &[u8], input: &[i16]) -> Vec<i16> {
    let mut c = Client::new(link, options(4));
    let r = c.infer(input, RunMode::Continuous, layers(bytes)).unwrap();
    let id = Plan::decode(bytes).unwrap().meta.plan_id;
    assert_eq!(r.result.plan_id, id);
    r.result.logits.to_vec()
}

#[test]
fn an_upload_killed_midway_leaves_the_old_plan_running() {
    let (old, new) = (plan(1, 1), plan(2, 2));
    let input = input_for(&old, 4);
    let mut dying = Client::new(
        DyingHost::new(board_with(&old), new.len() / 2, false),
        options(4),
    );
    let e = dying.deploy(&new, &mut |_, _| {}).unwrap_err();
    assert!(matches!(e, ClientError::Link(_)), "{e:?}");
    let link = std::mem::replace(&mut dying.link_mut().link, board());
    assert_eq!(
        run_on(link, &old, &input),
        host_logits(&old, &input).unwrap()
    );
}

#[test]
fn a_power_cut_mid_upload_keeps_the_old_plan_and_the_upload_recovers() {
    let (old, new) = (plan(1, 1), plan(2, 2));
    let input = input_for(&old, 4);
    // Each tensor word of an upload is one NVM write: cut a third of the way into the tensors.
    let cut_at = |link: &SimLink| link.board().nvm.writes + new.len() as u64 / 6;

    // The host dies with the board: the old plan still runs.
    let mut link = board_with(&old);
    let mut armed = Some(Cut {
        write: cut_at(&link),
        keep: 0,
    });
    link.board_mut().cuts(move |_| armed.take());
    let mut dying = Client::new(DyingHost::new(link, usize::MAX, true), options(4));
    assert!(dying.deploy(&new, &mut |_, _| {}).is_err());
    let link = std::mem::replace(&mut dying.link_mut().link, board());
    assert_eq!(link.board().nvm.failures, 1);
    assert_eq!(
        run_on(link, &old, &input),
        host_logits(&old, &input).unwrap()
    );

    // The host lives on: it notices the lost upload, starts again and completes it.
    let mut link = board_with(&old);
    let mut armed = Some(Cut {
        write: cut_at(&link),
        keep: 0,
    });
    link.board_mut().cuts(move |_| armed.take());
    let mut c = Client::new(link, options(4));
    let mut acked = 0;
    let d = c.deploy(&new, &mut |a, _| acked = a).unwrap();
    assert_eq!(d.plan_id, 2);
    assert_eq!(acked, new.len() as u64);
    assert_eq!(c.link().board().nvm.failures, 1);
    assert!(d.stats.upload_restarts >= 1, "{:?}", d.stats);
    let link = std::mem::replace(c.link_mut(), board());
    assert_eq!(
        run_on(link, &new, &input),
        host_logits(&new, &input).unwrap()
    );
}

#[test]
fn a_plan_that_does_not_fit_is_refused_with_the_numbers() {
    let bytes = plan(5, 5);
    let small_vm = Config {
        vm_words: 64,
        ..LAUNCHPAD
    };
    let mut c = Client::new(
        SimLink::new(small_vm, &Profile::reference().cost_table()),
        options(2),
    );
    let e = c.deploy(&bytes, &mut |_, _| {}).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ClientError::DoesNotFit(_)), "{msg}");
    assert!(msg.contains("128 B VM"), "{msg}");
    assert!(msg.contains("layer 0"), "{msg}");
    // Nothing was sent but the hello.
    assert_eq!(c.stats().frames_sent, 1);

    let tiny_nvm = Config {
        nvm_words: 1024,
        ..LAUNCHPAD
    };
    let mut c = Client::new(
        SimLink::new(tiny_nvm, &Profile::reference().cost_table()),
        options(2),
    );
    let e = c.deploy(&bytes, &mut |_, _| {}).unwrap_err();
    let max = tiny_nvm.max_plan_bytes();
    assert_eq!(
        e.to_string(),
        format!(
            "the plan does not fit this device: the plan is {} B, the device stores at most {max} B",
            bytes.len()
        )
    );
}

#[test]
fn calibration_recovers_the_simulated_boards_costs() {
    let profile = Profile::reference();
    let t = profile.cost_table();
    let mut c = Client::new(board(), options(4));
    let cal = calibrate::measure(&mut c, 8, &mut |_, _| {}).unwrap();
    assert_eq!(cal.clock_hz, LAUNCHPAD.clock_hz);
    let (p, notes) = cal.profile(&profile, "sim", None).unwrap();
    let hz = profile.clock.cost_model_hz;
    // What the simulated board charges per benchmark repetition, in the profile's cycles: the
    // primitive, plus the per-block addressing it prices for the benchmark's block kind.
    let want = [
        (
            "read",
            p.transfer.read.cycles,
            profile.transfer.read.cycles.slope,
            profile.transfer.read.cycles.intercept + t.l.o_ifm * hz,
        ),
        (
            "write",
            p.transfer.write.cycles,
            profile.transfer.write.cycles.slope,
            profile.transfer.write.cycles.intercept + t.l.b_out[2] * hz,
        ),
        (
            "mac",
            p.mac.cycles,
            profile.mac.cycles.slope,
            profile.mac.cycles.intercept + (t.l.add + t.l.o_mac) * hz,
        ),
    ];
    for (what, got, slope, intercept) in want {
        assert!(
            (got.slope - slope).abs() < 1e-3 * slope,
            "{what}: slope {} vs {slope}",
            got.slope
        );
        assert!(
            (got.intercept - intercept).abs() < 2.0,
            "{what}: intercept {} vs {intercept}",
            got.intercept
        );
    }
    for f in [&cal.read, &cal.write, &cal.mac] {
        assert!(f.r2 > 0.999_999, "{f:?}");
        assert!(f.max_residual_pct < 0.1, "{f:?}");
    }
    // The commit is two writes (3 words, then the sequence word) of the footprint.
    let commit_want = (t.l.wr.at(3) + t.l.wr.at(1)) * f64::from(LAUNCHPAD.clock_hz);
    assert!(
        (cal.commit_cycles - commit_want).abs() < 1.0,
        "{}",
        cal.commit_cycles
    );
    assert!(notes.iter().any(|n| n.contains("boot")), "{notes:?}");
    assert_eq!(p.memory.vm_bytes, 2048);
    // The calibrated profile is usable by the model.
    let text = toml::to_string(&p).unwrap();
    assert_eq!(Profile::from_toml(&text, "sim.toml").unwrap(), p);
    assert_eq!(
        p.reboot.energy_j, profile.reboot.energy_j,
        "energy kept without a power"
    );

    // Priced at an active power, every energy is the matching time at that power.
    let watts = 0.0027;
    let (q, _) = cal.profile(&profile, "sim", Some(watts)).unwrap();
    let qt = q.cost_table();
    for (what, e, l) in [
        ("read", qt.e.rd.at(17), qt.l.rd.at(17)),
        ("write", qt.e.wr.at(5), qt.l.wr.at(5)),
        ("mac", qt.e.mac.at(9), qt.l.mac.at(9)),
        ("add", qt.e.add, qt.l.add),
        ("reboot", qt.e.reboot, qt.l.reboot),
        ("fetch_ifm", qt.e.o_ifm, qt.l.o_ifm),
        ("backup_out_w", qt.e.b_out[1], qt.l.b_out[1]),
        ("footprint", qt.e.footprint_wr, qt.l.footprint_wr),
    ] {
        assert!(
            (e - l * watts).abs() <= 1e-9 * e.abs().max(1e-12),
            "{what}: {e} J vs {l} s"
        );
    }
    let text = toml::to_string(&q).unwrap();
    assert_eq!(Profile::from_toml(&text, "sim.toml").unwrap(), q);
}

#[test]
fn measurement_matches_the_host_and_the_model() {
    let bytes = plan(9, 9);
    let (_, valid) = planner::open(&bytes).unwrap();
    let profile = Profile::reference();
    let samples: Vec<Sample> = (0..4)
        .map(|i| Sample {
            input: input_for(&bytes, i),
            label: Some((i % 6) as u8),
        })
        .collect();
    for mode in [RunMode::Continuous, RunMode::Intermittent] {
        let predicted =
            predict::predict(&profile, Default::default(), &valid, mode, false).unwrap();
        let setup = Setup {
            mode,
            per_layer: true,
            predicted: Some(predicted),
        };
        let mut c = Client::new(board(), options(4));
        let r = measure::measure(&mut c, &bytes, &samples, &setup, &mut |_, _| {}).unwrap();
        assert_eq!(r.samples, 4);
        assert!(r.logits_match_host);
        let acc = r.accuracy.unwrap();
        let correct = r
            .per_sample
            .iter()
            .filter(|s| s.correct == Some(true))
            .count();
        assert_eq!(acc, correct as f64 / 4.0);
        assert_eq!(r.layers.len(), layers(&bytes) as usize);
        // Per-layer measurements add up to the first sample's end to end.
        let sum: f64 = r.layers.iter().map(|l| l.measured_latency_s.unwrap()).sum();
        let first = r.per_sample[0].latency_s;
        assert!(
            (sum - first).abs() < 1e-9 * first.max(1.0),
            "{sum} vs {first}"
        );
        let on_sum: f64 = r.layers.iter().map(|l| l.measured_on_time_s.unwrap()).sum();
        assert!((on_sum - r.per_sample[0].on_time_s).abs() < 1e-6);
        // The simulated board prices what the engine does with the model's constants. Each
        // boot also reads the stored plan's preamble (its key against the validated head's,
        // one transfer priced as a weight fetch), which the model does not price: add it.
        let t = profile.cost_table();
        let preamble_words = (inas_common::plan::PREAMBLE_LEN / 2) as u64;
        let boot_s = t.l.rd.at(preamble_words) + t.l.o_weights;
        let p = r.predicted_latency_s.unwrap() + r.power_cycles * boot_s;
        let err = (r.measured_latency_s - p).abs() / p;
        assert!(
            err < 0.03,
            "{mode:?}: measured {} vs predicted {p}",
            r.measured_latency_s
        );
        let pc = r.predicted_power_cycles.unwrap();
        assert_eq!(r.power_cycles, pc, "{mode:?}");
    }
}

#[test]
fn prefix_plans_run_the_first_layers() {
    let bytes = plan(4, 4);
    let input = input_for(&bytes, 2);
    let full = q15ref::forward(&Plan::decode(&bytes).unwrap(), &input);
    for k in 1..=layers(&bytes) as usize {
        let p = measure::prefix_plan(&bytes, k).unwrap();
        let got = host_logits(&p, &input).unwrap();
        let want = &full[k - 1];
        assert_eq!(&got, want, "prefix {k}");
    }
    assert!(measure::prefix_plan(&bytes, 0).is_err());
    assert!(measure::prefix_plan(&bytes, 99).is_err());
}
