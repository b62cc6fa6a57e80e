//! The device's protocol session (the state machine the firmware runs) on a simulated board:
//! uploads, runs in both modes, power failures at every write, and every kind of bad input.

use inas_common::engine::Engine;
use inas_common::plan::{Plan, PlanError, FORMAT_VERSION};
use inas_common::session::{Config, ACTIVE_MAGIC, SLOTS_AT};
use inas_common::upload::HEAD_WORDS;
use inas_common::wire::{
    encode_message, Capabilities, DeviceMsg, ErrorCode, HostMsg, RunMode, RunResult, MAX_CHUNK,
    MAX_FRAME,
};
use inas_core::network::{ModelType, SearchSpace};
use inas_core::planner::{self, random_input, random_tensors};
use inas_core::q15ref;
use inas_core::simdev::{Cut, SimBoard, SimNvm};
use proptest::prelude::*;
use std::cell::Cell;
use std::rc::Rc;

const SPACE: SearchSpace = SearchSpace {
    model: ModelType::Conv1d,
    input: 16,
    channels: 3,
    layers: 2,
    kernels: &[3],
    filters: &[4, 6],
    classes: 3,
    example: &[3, 4, 3, 6],
};

const CONFIG: Config = Config {
    nvm_words: 4096,
    vm_words: 512,
    device: *b"SIMULATED\0\0\0\0\0\0\0",
    firmware: [0, 1, 0],
    clock_hz: 1_000_000,
};

/// A plan of the test network whose designs make several batches per layer.
fn plan(id: u32, seed: u64) -> Vec<u8> {
    let net = SPACE.network(SPACE.example).unwrap();
    let designs: Vec<_> = net
        .layers
        .iter()
        .map(|l| {
            let mut d = inas_common::ExecDesign {
                tr: 1,
                tc: 1,
                tm: 1,
                tn: 1,
                order: inas_common::LoopOrder::ReuseO,
                batch: 1,
            };
            if l.is_pool() {
                d.tm = l.m;
            } else {
                d.tr = if l.r % 2 == 0 { l.r / 2 } else { 1 };
                d.tc = l.c;
                d.tm = l.m;
                d.tn = l.n;
            }
            d
        })
        .collect();
    let tensors = random_tensors(&net, seed);
    planner::build(
        &net,
        &designs,
        &tensors,
        0,
        planner::target(2048, 16384, "test"),
        id,
    )
    .unwrap()
}

fn reference(bytes: &[u8], input: &[i16]) -> Vec<i16> {
    q15ref::forward(&Plan::decode(bytes).unwrap(), input)
        .pop()
        .unwrap()
}

fn one(replies: Vec<DeviceMsg>) -> DeviceMsg {
    assert_eq!(replies.len(), 1, "expected one reply, got {replies:?}");
    replies.into_iter().next().unwrap()
}

fn upload(board: &mut SimBoard, bytes: &[u8]) -> DeviceMsg {
    let crc32 = u32::from_le_bytes(bytes[16..20].try_into().unwrap());
    let begin = one(board.exchange(&HostMsg::PlanBegin {
        len: bytes.len() as u32,
        crc32,
    }));
    assert_eq!(begin, DeviceMsg::Ack { next: 0 });
    let mut at = 0;
    for chunk in bytes.chunks(MAX_CHUNK) {
        let reply = one(board.exchange(&HostMsg::PlanChunk {
            offset: at as u32,
            data: chunk,
        }));
        at += chunk.len();
        assert_eq!(reply, DeviceMsg::Ack { next: at as u32 });
    }
    one(board.exchange(&HostMsg::PlanCommit))
}

/// The frames of a whole upload of `bytes` (begin, every chunk and, with `commit`, the commit),
/// as the wire carries them.
fn upload_frames(bytes: &[u8], commit: bool) -> Vec<u8> {
    let crc32 = u32::from_le_bytes(bytes[16..20].try_into().unwrap());
    let mut frames = vec![];
    let mut push = |m: &HostMsg| {
        let mut f = [0u8; MAX_FRAME];
        let n = encode_message(m, &mut f).unwrap();
        frames.extend_from_slice(&f[..n]);
    };
    push(&HostMsg::PlanBegin {
        len: bytes.len() as u32,
        crc32,
    });
    for (i, chunk) in bytes.chunks(MAX_CHUNK).enumerate() {
        push(&HostMsg::PlanChunk {
            offset: (i * MAX_CHUNK) as u32,
            data: chunk,
        });
    }
    if commit {
        push(&HostMsg::PlanCommit);
    }
    frames
}

/// NVM writes a fresh board makes to store `plans`, one after the other.
fn writes_after(plans: &[&[u8]]) -> u64 {
    let mut b = SimBoard::new(CONFIG);
    for p in plans {
        upload(&mut b, p);
    }
    b.nvm.writes
}

fn write_input(board: &mut SimBoard, input: &[i16]) {
    let bytes: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
    for (i, chunk) in bytes.chunks(MAX_CHUNK).enumerate() {
        let offset = (i * MAX_CHUNK / 2) as u32;
        let reply = one(board.exchange(&HostMsg::WriteInput {
            offset,
            data: chunk,
        }));
        assert_eq!(
            reply,
            DeviceMsg::Ack {
                next: offset + chunk.len() as u32 / 2
            }
        );
    }
}

fn result(replies: Vec<DeviceMsg>) -> RunResult {
    match one(replies) {
        DeviceMsg::Result(r) => r,
        other => panic!("expected a result, got {other:?}"),
    }
}

fn input_for(bytes: &[u8], seed: u64) -> Vec<i16> {
    let p = Plan::decode(bytes).unwrap();
    random_input(p.meta.input.elements() as usize, seed)
}

/// A board, its plan's bytes and the input it holds.
type Ready = (SimBoard, Vec<u8>, Vec<i16>);

/// A board with plan `id` stored and an input written.
fn ready(id: u32) -> Ready {
    ready_on(SimBoard::new(CONFIG), id)
}

fn ready_on(mut board: SimBoard, id: u32) -> Ready {
    let bytes = plan(id, u64::from(id));
    let input = input_for(&bytes, 5);
    assert_eq!(
        upload(&mut board, &bytes),
        DeviceMsg::PlanStored { plan_id: id }
    );
    write_input(&mut board, &input);
    (board, bytes, input)
}

#[test]
fn hello_reports_what_the_device_offers() {
    let mut board = SimBoard::new(CONFIG);
    let DeviceMsg::Hello(caps) = one(board.exchange(&HostMsg::Hello)) else {
        panic!("no hello");
    };
    // Two heads and the shared scratch in the plan area; a plan's head and tensors in half.
    let area = CONFIG.nvm_words - SLOTS_AT - 2 * HEAD_WORDS;
    let slot = (CONFIG.nvm_words - SLOTS_AT) / 2;
    assert_eq!(
        caps,
        Capabilities {
            protocol: 1,
            device: CONFIG.device,
            firmware: CONFIG.firmware,
            plan_format: FORMAT_VERSION,
            vm_bytes: 1024,
            nvm_bytes: area * 2,
            max_plan_bytes: (slot - HEAD_WORDS) * 2,
            max_chunk: MAX_CHUNK as u16,
            clock_hz: 1_000_000,
        }
    );
}

#[test]
fn continuous_run_equals_the_reference() {
    let (mut board, bytes, input) = ready(7);
    let r = result(board.exchange(&HostMsg::Run {
        mode: RunMode::Continuous,
    }));
    assert_eq!(r.plan_id, 7);
    assert_eq!(r.logits.to_vec(), reference(&bytes, &input));
    assert_eq!(r.power_cycles, 0);
    assert!(r.on_cycles.get() > 0);
    assert_eq!(board.power_downs, 0);
    // Done: asked where the run stands, the device gives its result again (for a host that
    // lost it on the line or to a brown-out), as often as asked.
    for _ in 0..2 {
        assert_eq!(
            one(board.exchange(&HostMsg::Status)),
            DeviceMsg::Result(r.clone())
        );
    }
    // The run consumed its input (the feature-map buffers are reused): a second run needs
    // the input again, and then gives the same logits.
    let run = HostMsg::Run {
        mode: RunMode::Continuous,
    };
    assert_eq!(error_code(one(board.exchange(&run))).0, ErrorCode::NoInput);
    write_input(&mut board, &input);
    // A new input ends the old result: progress again.
    let status = one(board.exchange(&HostMsg::Status));
    assert!(matches!(status, DeviceMsg::Progress { .. }), "{status:?}");
    let again = result(board.exchange(&run));
    assert_eq!(again.logits, r.logits);
}

/// A finished run's result is pending until the device says it left whole: a device sends a
/// pending result at boot (a brown-out may have cut it). Sent, it is no longer pending, and
/// `Status` still answers with it; a new input ends it.
#[test]
fn a_result_is_pending_until_sent() {
    let (mut board, _, input) = ready(5);
    let r = result(board.exchange(&HostMsg::Run {
        mode: RunMode::Continuous,
    }));
    let (s, nvm) = board.session_mut().unwrap();
    assert_eq!(
        s.pending_result(nvm).unwrap(),
        Some(DeviceMsg::Result(r.clone()))
    );
    s.result_sent(nvm).unwrap();
    assert_eq!(s.pending_result(nvm).unwrap(), None);
    assert_eq!(
        one(board.exchange(&HostMsg::Status)),
        DeviceMsg::Result(r.clone())
    );
    write_input(&mut board, &input);
    let (s, nvm) = board.session_mut().unwrap();
    assert_eq!(s.pending_result(nvm).unwrap(), None);
}

#[test]
fn intermittent_run_powers_down_after_every_batch() {
    let (mut board, bytes, input) = ready(3);
    let (p, v) = planner::open(&bytes).unwrap();
    let batches = {
        let mut nvm = SimNvm::for_plan(&v, &p);
        let engine = Engine::new(&v);
        engine.start(&mut nvm, &input).unwrap();
        engine.run(&mut nvm, &mut vec![0; 512]).unwrap()
    };
    assert!(batches > 4, "the test plan should take several batches");
    let r = result(board.exchange(&HostMsg::Run {
        mode: RunMode::Intermittent,
    }));
    assert_eq!(r.logits.to_vec(), reference(&bytes, &input));
    assert_eq!(board.power_downs, batches);
    assert_eq!(
        r.power_cycles, batches,
        "each batch ran in its own power cycle"
    );
}

/// Power cut at every NVM write of a run (before it, and torn halfway): the device resumes by
/// itself after the reboot, the logits are the reference's, and one power cycle is counted.
#[test]
fn a_power_failure_at_any_write_of_a_run_changes_nothing() {
    let (mut clean, bytes, input) = ready(11);
    let want = reference(&bytes, &input);
    let before = clean.nvm.writes;
    result(clean.exchange(&HostMsg::Run {
        mode: RunMode::Continuous,
    }));
    let lens = clean.nvm.write_lens.clone();
    let (mut cases, mut lost_commands) = (0, 0);
    for w in before..lens.len() as u64 {
        let len = lens[w as usize];
        for keep in [0, len / 2] {
            let (mut board, _, _) = ready(11);
            let mut armed = Some(Cut { write: w, keep });
            board.cuts(move |_| armed.take());
            let run = HostMsg::Run {
                mode: RunMode::Continuous,
            };
            let replies = board.exchange(&run);
            let r = if replies.is_empty() {
                // The cut struck while the Run command was handled, before the run was armed:
                // the command is lost, as on the device, and the host sends it again.
                assert!(!board.session().unwrap().running());
                result(board.exchange(&run))
            } else {
                let r = result(replies);
                assert_eq!(r.power_cycles, 1, "cut at write {w} keeping {keep}");
                r
            };
            lost_commands += usize::from(r.power_cycles == 0);
            assert_eq!(r.logits.to_vec(), want, "cut at write {w} keeping {keep}");
            assert_eq!(board.nvm.failures, 1);
            cases += 1;
        }
    }
    assert!(cases > 50, "only {cases} cuts");
    // Only the few writes that arm a run lose the command.
    assert!(
        lost_commands < 20,
        "{lost_commands} of {cases} cuts lost the command"
    );
}

/// Power cut at every write of a second upload and its commit: the device always comes back
/// with one complete plan, the old one or the new one, and runs it correctly.
#[test]
fn a_power_failure_during_an_upload_never_loses_the_good_plan() {
    let old = plan(1, 1);
    let new = plan(2, 2);
    let input = input_for(&old, 3);
    let (start, end) = (writes_after(&[&old]), writes_after(&[&old, &new]));
    let (mut saw_old, mut saw_new) = (false, false);
    // The last index strikes nowhere: the upload completes.
    for w in start..=end {
        let mut board = SimBoard::new(CONFIG);
        upload(&mut board, &old);
        let mut armed = (w < end).then_some(Cut { write: w, keep: 0 });
        board.cuts(move |_| armed.take());
        board.receive(&upload_frames(&new, true));
        assert_eq!(board.nvm.failures, u64::from(w < end), "cut at write {w}");
        let id = board.session().unwrap().plan_id();
        let stored = match id {
            Some(1) => &old,
            Some(2) => &new,
            other => panic!("cut at write {w}: the device came back with plan {other:?}"),
        };
        saw_old |= id == Some(1);
        saw_new |= id == Some(2);
        write_input(&mut board, &input);
        let r = result(board.exchange(&HostMsg::Run {
            mode: RunMode::Continuous,
        }));
        assert_eq!(r.logits.to_vec(), reference(stored, &input), "cut at {w}");
    }
    assert!(saw_old && saw_new);
}

/// An upload that a power failure cuts at any write, tearing it, continues after the reset
/// from where the device's record says (never past what it stored), and the plan it commits
/// runs with the reference's logits.
#[test]
fn an_upload_cut_by_a_power_failure_continues_where_it_stood() {
    let old = plan(1, 1);
    let new = plan(2, 2);
    let input = input_for(&new, 3);
    let len = new.len() as u32;
    let crc32 = u32::from_le_bytes(new[16..20].try_into().unwrap());
    let begin = HostMsg::PlanBegin { len, crc32 };
    let (start, end) = (writes_after(&[&old]), writes_after(&[&old, &new]));
    let mut furthest = 0;
    for w in start..end {
        let mut board = SimBoard::new(CONFIG);
        upload(&mut board, &old);
        // Every other cut tears its write after one word.
        let mut armed = Some(Cut {
            write: w,
            keep: (w % 2) as usize,
        });
        board.cuts(move |_| armed.take());
        board.receive(&upload_frames(&new, false));
        if board.nvm.failures == 0 {
            // Past the chunks' writes (the rest are the commit's).
            assert!(w > start + 100, "no write to cut at {w}");
            break;
        }
        // After the reset a chunk finds no upload in progress (the host then begins again),
        // which leaves the record alone.
        let stray = one(board.exchange(&HostMsg::PlanChunk {
            offset: 0,
            data: &new[..MAX_CHUNK],
        }));
        assert_eq!(error_code(stray), (ErrorCode::Sequence, 0), "cut at {w}");
        // The same plan again continues from the record.
        let DeviceMsg::Ack { next } = one(board.exchange(&begin)) else {
            panic!("cut at write {w}: begin refused");
        };
        assert!(next <= len, "cut at write {w}: next {next}");
        furthest = furthest.max(next);
        let mut at = next as usize;
        while at < new.len() {
            let end = (at + MAX_CHUNK).min(new.len());
            let reply = one(board.exchange(&HostMsg::PlanChunk {
                offset: at as u32,
                data: &new[at..end],
            }));
            assert_eq!(
                reply,
                DeviceMsg::Ack { next: end as u32 },
                "cut at write {w}"
            );
            at = end;
        }
        assert_eq!(
            one(board.exchange(&HostMsg::PlanCommit)),
            DeviceMsg::PlanStored { plan_id: 2 },
            "cut at write {w}, continued from {next}"
        );
        write_input(&mut board, &input);
        let r = result(board.exchange(&HostMsg::Run {
            mode: RunMode::Continuous,
        }));
        assert_eq!(r.logits.to_vec(), reference(&new, &input), "cut at {w}");
        // Committed, the record is gone: the same plan again starts from 0.
        let staged_again = one(board.exchange(&begin));
        assert_eq!(staged_again, DeviceMsg::Ack { next: 0 }, "cut at {w}");
    }
    assert!(
        furthest + MAX_CHUNK as u32 >= len,
        "a late cut continued from {furthest} of {len}"
    );
}

fn error_code(reply: DeviceMsg) -> (ErrorCode, u32) {
    match reply {
        DeviceMsg::Error { code, detail } => (code, detail),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn bad_input_gets_a_typed_reply_and_loses_nothing() {
    let mut board = SimBoard::new(CONFIG);
    // Nothing stored yet.
    let run = HostMsg::Run {
        mode: RunMode::Continuous,
    };
    assert_eq!(error_code(one(board.exchange(&run))).0, ErrorCode::NoPlan);
    assert_eq!(
        error_code(one(board.exchange(&HostMsg::WriteInput {
            offset: 0,
            data: &[0, 0]
        })))
        .0,
        ErrorCode::NoPlan
    );
    assert_eq!(
        error_code(one(board.exchange(&HostMsg::PlanChunk {
            offset: 0,
            data: &[1, 2, 3]
        })))
        .0,
        ErrorCode::Sequence
    );
    // A frame whose CRC is wrong, and a frame that is not a message.
    let mut f = [0u8; MAX_FRAME];
    let chunk = HostMsg::PlanChunk {
        offset: 1,
        data: &[0x11; 40],
    };
    let n = encode_message(&chunk, &mut f).unwrap();
    let mut bad = f[..n].to_vec();
    // A data byte, so the COBS structure stays valid and only the CRC catches it.
    assert_eq!(bad[20], 0x11);
    bad[20] = 0x13;
    assert_eq!(
        error_code(one(inas_core::simdev::decode_replies(&board.receive(&bad)))).0,
        ErrorCode::FrameCrc
    );
    let mut junk = [0u8; MAX_FRAME];
    let n = inas_common::wire::encode_frame(&[0xEE, 1, 2], &mut junk).unwrap();
    assert_eq!(
        error_code(one(inas_core::simdev::decode_replies(
            &board.receive(&junk[..n])
        )))
        .0,
        ErrorCode::Decode
    );

    let (mut board, bytes, input) = ready(5);
    let good = reference(&bytes, &input);
    // Too large for a slot.
    let (code, max) = error_code(one(board.exchange(&HostMsg::PlanBegin {
        len: 1 << 20,
        crc32: 0,
    })));
    assert_eq!(
        (code, max),
        (ErrorCode::PlanTooLarge, CONFIG.max_plan_bytes())
    );
    // Out of order chunks are answered with where to resume.
    let other = plan(6, 6);
    let crc = |b: &[u8]| u32::from_le_bytes(b[16..20].try_into().unwrap());
    board.exchange(&HostMsg::PlanBegin {
        len: other.len() as u32,
        crc32: crc(&other),
    });
    assert_eq!(
        one(board.exchange(&HostMsg::PlanChunk {
            offset: 10,
            data: &other[10..20]
        })),
        DeviceMsg::Nack {
            next: 0,
            why: ErrorCode::Sequence
        }
    );
    // A wrong CRC.
    board.exchange(&HostMsg::PlanBegin {
        len: other.len() as u32,
        crc32: crc(&other) ^ 1,
    });
    for (i, chunk) in other.chunks(MAX_CHUNK).enumerate() {
        board.exchange(&HostMsg::PlanChunk {
            offset: (i * MAX_CHUNK) as u32,
            data: chunk,
        });
    }
    assert_eq!(
        error_code(one(board.exchange(&HostMsg::PlanCommit))).0,
        ErrorCode::PlanCrc
    );
    // A plan whose tiles do not fit this device's VM: refused with the layer and check.
    let mut small = SimBoard::new(Config {
        vm_words: 8,
        ..CONFIG
    });
    let (code, detail) = error_code(upload(&mut small, &other));
    assert_eq!(code, ErrorCode::PlanInvalid);
    assert_eq!(
        detail,
        PlanError::Layer {
            index: 0,
            fault: inas_common::plan::LayerFault::Vm {
                need_bytes: 0,
                have_bytes: 0
            }
        }
        .detail()
    );
    assert_eq!(small.session().unwrap().plan_id(), None);
    // Input longer than the plan's.
    let len = input.len() as u32;
    assert_eq!(
        error_code(one(board.exchange(&HostMsg::WriteInput {
            offset: len - 1,
            data: &[0; 4]
        }))),
        (ErrorCode::InputSize, len)
    );
    // A benchmark larger than the VM.
    assert_eq!(
        error_code(one(board.exchange(&HostMsg::Bench {
            kind: inas_common::wire::BenchKind::Mac,
            n: 4000,
            reps: 1
        })))
        .0,
        ErrorCode::Unsupported
    );
    // After all that, the stored plan and input are intact.
    assert_eq!(board.session().unwrap().plan_id(), Some(5));
    let r = result(board.exchange(&run));
    assert_eq!(r.logits.to_vec(), good);
}

#[test]
fn benchmarks_report_cycles_and_leave_the_plan_alone() {
    let (mut board, bytes, input) = ready(9);
    for kind in [
        inas_common::wire::BenchKind::Read,
        inas_common::wire::BenchKind::Write,
        inas_common::wire::BenchKind::Mac,
        inas_common::wire::BenchKind::Commit,
    ] {
        let reply = one(board.exchange(&HostMsg::Bench {
            kind,
            n: 100,
            reps: 3,
        }));
        let DeviceMsg::BenchResult { cycles, .. } = reply else {
            panic!("{kind:?}: {reply:?}");
        };
        assert!(cycles.get() > 0, "{kind:?}");
    }
    let r = result(board.exchange(&HostMsg::Run {
        mode: RunMode::Continuous,
    }));
    assert_eq!(r.logits.to_vec(), reference(&bytes, &input));
}

#[test]
fn a_damaged_plan_head_is_refused_at_boot() {
    let (mut board, _, _) = ready(4);
    assert_eq!(
        board.nvm.words[0] as u16 & !1,
        ACTIVE_MAGIC,
        "a plan is active"
    );
    // Corrupt the metadata length in slot 0's preamble (bytes 12..16 = word 6).
    board.nvm.words[SLOTS_AT as usize + 6] = 0x7FFF;
    let mut rebooted = SimBoard::new(CONFIG);
    rebooted.nvm.words = board.nvm.words.clone();
    assert_eq!(rebooted.power_up(), Vec::<u8>::new());
    assert_eq!(rebooted.session().unwrap().plan_id(), None);
    assert!(matches!(
        one(rebooted.exchange(&HostMsg::Hello)),
        DeviceMsg::Hello(_)
    ));
}

/// The LaunchPad keeps its session in FRAM: a boot that finds the stored head's key on its
/// decoded plan reads only the preamble, where a session that starts empty reads and
/// validates the whole head again. Both give the reference's logits.
#[test]
fn a_boot_reuses_the_plan_it_validated_for_the_same_head() {
    let run = |board: SimBoard| {
        let (mut board, bytes, input) = ready_on(board, 4);
        let before = board.nvm.clock;
        let r = result(board.exchange(&HostMsg::Run {
            mode: RunMode::Intermittent,
        }));
        assert_eq!(r.logits.to_vec(), reference(&bytes, &input));
        (board.nvm.clock - before, board.boots)
    };
    let (kept, boots) = run(SimBoard::new(CONFIG));
    let (fresh, boots_fresh) = run(SimBoard::new(CONFIG).volatile_session());
    assert_eq!(boots, boots_fresh);
    assert!(boots > 3, "{boots} boots");
    // The unpriced clock counts words moved: the only difference is the head, read at every
    // boot by the session that starts empty.
    assert_eq!(fresh - kept, boots * HEAD_WORDS - HEAD_WORDS);
}

/// A head whose key changed under a kept session (another image flashed, a damaged preamble)
/// is validated again, and a damaged one is refused as with an empty session.
#[test]
fn a_stored_head_that_changed_is_validated_again() {
    let (mut board, _, _) = ready(4);
    board.power_cycle();
    assert_eq!(board.session().unwrap().plan_id(), Some(4));
    // Slot 0's preamble: total length at bytes 8..12 (words 4 and 5).
    board.nvm.words[SLOTS_AT as usize + 4] ^= 0x0100;
    board.power_cycle();
    assert_eq!(board.session().unwrap().plan_id(), None);
}

/// An upload into a slot whose plan the session had validated replaces that plan: after
/// A, B and C (C in A's slot) a reset finds C, and a run gives C's logits.
#[test]
fn an_upload_into_a_cached_slot_replaces_its_plan() {
    let (a, b, c) = (plan(1, 1), plan(2, 2), plan(3, 3));
    let mut board = SimBoard::new(CONFIG);
    for (bytes, id) in [(&a, 1), (&b, 2), (&c, 3)] {
        assert_eq!(
            upload(&mut board, bytes),
            DeviceMsg::PlanStored { plan_id: id }
        );
    }
    board.power_cycle();
    assert_eq!(board.session().unwrap().plan_id(), Some(3));
    let input = input_for(&c, 9);
    write_input(&mut board, &input);
    let r = result(board.exchange(&HostMsg::Run {
        mode: RunMode::Intermittent,
    }));
    assert_eq!(r.logits.to_vec(), reference(&c, &input));
}

#[test]
fn an_armed_run_completes_at_power_up_without_a_host() {
    let bytes = plan(8, 8);
    let input = input_for(&bytes, 1);
    let mut board = SimBoard::new(CONFIG);
    // What a flashing tool does to build the image.
    let mut session = inas_common::session::Session::new(CONFIG);
    session.boot(&mut board.nvm).unwrap();
    assert_eq!(session.install(&mut board.nvm, &bytes), Ok(8));
    session
        .arm_run(&mut board.nvm, &input, RunMode::Continuous)
        .unwrap();
    let r = result(inas_core::simdev::decode_replies(&board.power_up()));
    assert_eq!(r.logits.to_vec(), reference(&bytes, &input));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any bytes on the line (frames or not) never panic the device nor touch its plan.
    #[test]
    fn arbitrary_bytes_leave_the_plan_intact(junk in prop::collection::vec(any::<u8>(), 0..600)) {
        thread_local! {
            static BOARD: Rc<Cell<Option<Ready>>> = Rc::new(Cell::new(None));
        }
        let cell = BOARD.with(Rc::clone);
        let (mut board, bytes, input) = cell.take().unwrap_or_else(|| ready(12));
        board.receive(&junk);
        board.receive(&[0]); // ends any partial frame
        prop_assert_eq!(board.session().unwrap().plan_id(), Some(12));
        write_input(&mut board, &input);
        let r = result(board.exchange(&HostMsg::Run { mode: RunMode::Continuous }));
        prop_assert_eq!(r.logits.to_vec(), reference(&bytes, &input));
        cell.set(Some((board, bytes, input)));
    }
}
