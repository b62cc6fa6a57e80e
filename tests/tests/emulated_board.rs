//! The LaunchPad firmware in the virtual LaunchPad, end to end: the `inas` binary makes a plan
//! and the host engine's logits for an input; the board ELF boots in `inas-emu`; a host uploads
//! the plan and the input over the UART and asks for an intermittent run under an RC harvester
//! that browns the chip out dozens of times; the logits that come back must be the host
//! engine's. The same flow, on continuous power, through `inas emulate --pty` and a
//! pseudo-terminal, as a serial tool talks to the board.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use inas_common::wire::{
    decode_message, encode_message, DeviceMsg, FrameDecoder, HostMsg, RunMode, MAX_CHUNK, MAX_FRAME,
};
use inas_emu::bridge::{InProcess, UartBridge};
use inas_emu::builds::{firmware_elf, Build};
use inas_emu::emulate::Ended;
use inas_emu::power::{Capacitor, Harvester, Supply};
use inas_emu::{Emulator, Firmware, MachineConfig, RunConfig, SimError};
use serde_json::Value;

/// The supply: the reference profile's capacitor thresholds and 3.0 V source, a small
/// capacitor and a weak harvester, so that the inference spans several power cycles.
const CAP: &str = "47uF";
const CAP_F: f64 = 47e-6;
const REHM: &str = "400";
const REHM_OHM: f64 = 400.0;
const V_ON: f64 = 2.99;
const V_OFF: f64 = 2.8;
const V_SUP: f64 = 3.0;
/// `inas plan random --seed` (the plan id is the seed).
const SEED: &str = "11";
const PLAN_ID: u32 = 11;

/// Builds the binary once per test process (a no-op when the workspace build made it).
fn inas() -> Command {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let path = BIN.get_or_init(|| {
        escargot::CargoBuild::new()
            .package("inas")
            .bin("inas")
            .current_release()
            .run()
            .expect("build the inas binary")
            .path()
            .to_owned()
    });
    Command::new(path)
}

fn board_elf() -> PathBuf {
    firmware_elf(Build::Board).unwrap_or_else(|e| panic!("{e}"))
}

/// A plan made for this supply, an input, and the host engine's logits for them.
struct Case {
    _dir: tempfile::TempDir,
    plan: Vec<u8>,
    input: Vec<i16>,
    logits: Vec<i16>,
}

fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("board.plan");
    let out = inas()
        .args([
            "plan",
            "random",
            "--dataset",
            "har",
            "--arch",
            "3,4,3,4,3,4",
            "--seed",
            SEED,
            "--input-len",
            "48",
            "--cap",
            CAP,
            "--rehm",
            REHM,
            // Designs for our firmware: the reference's cost has none at this capacitor.
            "--profile",
            "msp430fr5994-emu",
            "-o",
        ])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "inas plan random: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A fixed pseudo-random input (48 samples of 9 channels).
    let mut x: u32 = 0x0BAD_5EED;
    let input: Vec<i16> = (0..48 * 9)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 16) as i16 / 2
        })
        .collect();
    let input_json = dir.path().join("input.json");
    std::fs::write(&input_json, serde_json::to_string(&input).unwrap()).unwrap();
    let out = inas()
        .arg("simulate")
        .arg(&plan)
        .arg("--input")
        .arg(&input_json)
        .args(["--harvest", "none", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "inas simulate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    let logits = j["outputs"]
        .as_array()
        .expect("simulate prints outputs")
        .iter()
        .map(|v| v.as_i64().expect("integer logits") as i16)
        .collect();
    Case {
        plan: std::fs::read(&plan).unwrap(),
        _dir: dir,
        input,
        logits,
    }
}

fn frame(msg: &HostMsg) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    let n = encode_message(msg, &mut buf).expect("the message fits a frame");
    buf[..n].to_vec()
}

/// Upload of `plan` and `input`: every frame gets one reply.
fn upload(plan: &[u8], input: &[i16]) -> Vec<Vec<u8>> {
    let crc32 = u32::from_le_bytes(plan[16..20].try_into().unwrap());
    let mut frames = vec![frame(&HostMsg::PlanBegin {
        len: plan.len() as u32,
        crc32,
    })];
    for (i, chunk) in plan.chunks(MAX_CHUNK).enumerate() {
        frames.push(frame(&HostMsg::PlanChunk {
            offset: (i * MAX_CHUNK) as u32,
            data: chunk,
        }));
    }
    frames.push(frame(&HostMsg::PlanCommit));
    let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
    for (i, chunk) in bytes.chunks(MAX_CHUNK).enumerate() {
        frames.push(frame(&HostMsg::WriteInput {
            offset: (i * MAX_CHUNK / 2) as u32,
            data: chunk,
        }));
    }
    frames
}

/// Replies the upload must get, in order.
fn check_upload_replies(replies: &[DeviceMsg], plan: &[u8], input: &[i16]) {
    let chunks = plan.len().div_ceil(MAX_CHUNK);
    let input_chunks = (input.len() * 2).div_ceil(MAX_CHUNK);
    assert_eq!(replies.len(), 2 + chunks + input_chunks, "{replies:?}");
    assert_eq!(replies[0], DeviceMsg::Ack { next: 0 });
    for (i, r) in replies[1..=chunks].iter().enumerate() {
        let next = ((i + 1) * MAX_CHUNK).min(plan.len()) as u32;
        assert_eq!(*r, DeviceMsg::Ack { next });
    }
    assert_eq!(
        replies[chunks + 1],
        DeviceMsg::PlanStored { plan_id: PLAN_ID }
    );
    for r in &replies[chunks + 2..] {
        assert!(matches!(r, DeviceMsg::Ack { .. }), "{r:?}");
    }
}

/// A host on the in-process UART: sends a frame, waits for its reply, sends the next. A frame
/// that a brown-out cut as the device sent it is counted and skipped (the device sends a cut
/// result again at its next boot, after a delimiter).
#[derive(Default)]
struct Script {
    frames: VecDeque<Vec<u8>>,
    waiting: bool,
    decoder: FrameDecoder,
    replies: Vec<DeviceMsg>,
    cut_frames: usize,
}

impl Script {
    fn new(frames: Vec<Vec<u8>>) -> Script {
        Script {
            frames: frames.into(),
            ..Script::default()
        }
    }
}

impl UartBridge for Script {
    fn exchange(&mut self, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
        for &b in from_device {
            if let Some(payload) = self.decoder.push(b) {
                let Ok(payload) = payload else {
                    self.cut_frames += 1;
                    continue;
                };
                let msg: DeviceMsg = decode_message(payload)
                    .map_err(|e| SimError::Bridge(format!("bad message: {e}")))?;
                self.replies.push(msg);
                self.waiting = false;
            }
        }
        if self.waiting {
            return Ok(Vec::new());
        }
        Ok(self
            .frames
            .pop_front()
            .inspect(|_| self.waiting = true)
            .unwrap_or_default())
    }

    fn finished(&self) -> bool {
        !self.waiting && self.frames.is_empty()
    }
}

fn run_config(supply: Option<Supply>) -> RunConfig {
    RunConfig {
        machine: MachineConfig::default(),
        supply,
        // Far beyond what the run needs: a hang ends the test, it does not stall it.
        max_instructions: 400_000_000,
        stop_at: None,
        max_seconds: 120.0,
    }
}

fn rc_supply() -> Supply {
    let cap = Capacitor {
        capacitance_f: CAP_F,
        v_on: V_ON,
        v_off: V_OFF,
    };
    Supply::new(
        cap,
        Harvester::Rc {
            v_source: V_SUP,
            r_ohm: REHM_OHM,
        },
    )
    .unwrap()
}

#[test]
fn an_intermittent_run_over_the_in_process_uart_gives_the_host_engines_logits() {
    let case = case();
    let fw = Firmware::from_path(&board_elf()).expect("the board ELF parses");
    let mut emu = Emulator::new(fw, MachineConfig::default()).expect("the board ELF loads");

    // Boot: the firmware sets up its clocks and the UART before it can hear anything.
    let boot = RunConfig {
        max_seconds: 0.05,
        ..run_config(None)
    };
    let r = emu.run(&boot, &mut InProcess::default()).expect("boots");
    assert_eq!(r.ended, Ended::TimeLimit, "{r:?}");
    // The upload, on continuous power (a brown-out would drop a frame; a real host resends).
    let mut host = Script::new(upload(&case.plan, &case.input));
    let r = emu
        .run(&run_config(None), &mut host)
        .expect("the upload runs");
    assert_eq!(r.ended, Ended::HostDone, "{r:?}");
    check_upload_replies(&host.replies, &case.plan, &case.input);

    // The run, under the harvester. The plan store is in FRAM: it survives every brown-out.
    let mut host = Script::new(vec![frame(&HostMsg::Run {
        mode: RunMode::Intermittent,
    })]);
    let r = emu
        .run(&run_config(Some(rc_supply())), &mut host)
        .expect("the run runs");
    assert_eq!(r.ended, Ended::HostDone, "{r:?}");
    let [DeviceMsg::Result(result)] = &host.replies[..] else {
        panic!("expected one Result, got {:?}", host.replies);
    };
    // At most the result cut by a brown-out, sent whole again at the next boot.
    assert!(host.cut_frames <= 1, "{} cut frames", host.cut_frames);
    assert_eq!(result.logits.to_vec(), case.logits, "device vs host engine");
    // Real brown-outs (the capacitor at Voff), and the firmware's own power-down after every
    // commit on top.
    assert!(r.power_cycles >= 5, "{r:?}");
    assert!(r.resets > r.power_cycles, "{r:?}");
    assert!(r.off_time_s > 0.0 && r.on_time_s > 0.0, "{r:?}");
    // The device counts every boot of the run, brown-outs and its own resets alike; the
    // emulator also counts a brown-out of the idle board after the result went out.
    let device = u64::from(result.power_cycles);
    assert!(
        device > r.resets && device <= r.power_cycles - 1 + r.resets,
        "device {result:?} vs emulator {r:?}"
    );
    assert_eq!(r.unmodelled_accesses, 0, "{r:?}");
    eprintln!(
        "in-process: {} instructions, {} power cycles ({} resets), on {:.3} s, off {:.3} s, wall {:.2} s",
        r.instructions, r.power_cycles, r.resets, r.on_time_s, r.off_time_s, r.wall_s
    );
}

/// The host side of a serial line: frames out, messages in (a reader thread feeds a channel
/// so that waits can time out).
struct Serial {
    port: std::fs::File,
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    decoder: FrameDecoder,
    pending: VecDeque<DeviceMsg>,
}

impl Serial {
    fn open(path: &str) -> Serial {
        let port = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        let mut reader = port.try_clone().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Serial {
            port,
            rx,
            decoder: FrameDecoder::new(),
            pending: VecDeque::new(),
        }
    }

    fn send(&mut self, frame: &[u8]) {
        self.port.write_all(frame).unwrap();
    }

    /// The next message within `timeout`; frames that do not decode are skipped (a brown-out
    /// can cut one short).
    fn recv(&mut self, timeout: Duration) -> Option<DeviceMsg> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Some(m);
            }
            let bytes = self
                .rx
                .recv_timeout(end.saturating_duration_since(Instant::now()))
                .ok()?;
            for b in bytes {
                if let Some(Ok(payload)) = self.decoder.push(b) {
                    if let Ok(m) = decode_message::<DeviceMsg>(payload) {
                        self.pending.push_back(m);
                    }
                }
            }
        }
    }

    fn request(&mut self, frame: &[u8], timeout: Duration) -> Option<DeviceMsg> {
        self.pending.clear();
        self.send(frame);
        self.recv(timeout)
    }
}

#[test]
fn a_run_through_inas_emulate_and_its_pty_gives_the_host_engines_logits() {
    let case = case();
    let elf = board_elf();
    let mut child = inas()
        .args(["emulate"])
        .arg(&elf)
        .args(["--pty", "--continuous", "--json", "--speed", "max"])
        .args(["--max-seconds", "600"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("inas emulate starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut path = String::new();
    out.read_line(&mut path).unwrap();
    let path = path.trim();
    assert!(path.starts_with("/dev/"), "first line {path:?}");
    let mut port = Serial::open(path);

    // The emulator runs about ten times faster than real time, so under a harvester the
    // device browns out many times while the host thinks and an upload rarely fits one power
    // cycle; this test keeps continuous power (the in-process test covers the harvester).
    // The first frames may still meet a board that is booting: each step is retried as a
    // host tool would.
    let ready = (0..100).any(|_| {
        matches!(
            port.request(&frame(&HostMsg::Hello), Duration::from_millis(200)),
            Some(DeviceMsg::Hello(_))
        )
    });
    assert!(ready, "no Hello from the emulated board");
    let frames = upload(&case.plan, &case.input);
    let uploaded = (0..20).any(|_| {
        frames.iter().all(|f| {
            matches!(
                port.request(f, Duration::from_secs(2)),
                Some(DeviceMsg::Ack { .. } | DeviceMsg::PlanStored { plan_id: PLAN_ID })
            )
        })
    });
    assert!(uploaded, "the upload never went through");
    let result = (0..3).find_map(|_| {
        match port.request(
            &frame(&HostMsg::Run {
                mode: RunMode::Intermittent,
            }),
            Duration::from_secs(60),
        ) {
            Some(DeviceMsg::Result(r)) => Some(r),
            _ => None,
        }
    });
    let result = result.expect("a Result from the emulated board");
    assert_eq!(result.logits.to_vec(), case.logits, "device vs host engine");

    // The end of stdin ends the run; the report follows the pty path.
    drop(child.stdin.take());
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
    let report: Value = serde_json::from_str(&rest).unwrap_or_else(|e| panic!("{e}: {rest}"));
    assert_eq!(report["ended"], "host_done", "{report}");
    assert_eq!(report["power_cycles"], 1, "{report}");
    // Intermittent mode: the firmware resets itself after every committed batch.
    assert!(report["resets"].as_u64().unwrap() >= 8, "{report}");
    assert_eq!(
        u64::from(result.power_cycles),
        report["resets"].as_u64().unwrap()
    );
    eprintln!(
        "pty: device counted {} power cycles; emulator: {report}",
        result.power_cycles
    );
}
