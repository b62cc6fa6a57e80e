//! The device's side of the wire protocol, sans-IO: frames in, replies out, and the plan store
//! and run state kept in NVM so that a power failure at any write loses nothing committed.
//!
//! The firmware, the virtual LaunchPad and the host tests all run this one state machine; a
//! device only supplies [`Device`] (NVM, MAC, a cycle counter) and moves bytes.
//!
//! NVM map, in 16-bit words from the start of the device's NVM:
//!
//! | words | what |
//! |---|---|
//! | 0 | active plan slot: [`ACTIVE_MAGIC`] + slot, anything else means none |
//! | 1..5 | run header: plan id (2), mode, state (written last) |
//! | 5..17 | run counters, two slots of six words, sequence word last |
//! | 17..37 | upload record, two slots of ten words, sequence word last |
//! | [`SLOTS_AT`].. | slot 0: head ([`HEAD_WORDS`]), then its tensors |
//! | .. | scratch: the active plan's feature maps, input and footprint |
//! | ..end | slot 1: its tensors, then its head ([`HEAD_WORDS`]) at the very end |
//!
//! An upload is staged in the slot that is not active; only a plan that passed its CRC and
//! validation gets its head written, and the single active word switches to it. A
//! half-received or refused plan therefore never replaces the good one. Only head and tensors
//! are kept twice: the scratch is shared, so an upload that reaches the active plan's scratch
//! ends its run first.

use crate::engine::{newer, Block, Blocks, Engine, EngineError, Mac, Nvm, Step};
use crate::plan::{Limits, ValidPlan, FOOTPRINT_SLOT_WORDS, FORMAT_VERSION};
use crate::q15::{MacTile, Window};
use crate::upload::{ChunkError, PlanReceiver, Resume, UploadError, HEAD_WORDS};
use crate::wire::{
    decode_message, BenchKind, Capabilities, Count48, DeviceMsg, ErrorCode, FrameError, HostMsg,
    RunMode, RunResult, WireError, MAX_CHUNK, MAX_LOGITS, PROTOCOL_VERSION,
};

/// What the session needs from a device: its NVM and MAC unit (one power supply), and a clock.
pub trait Device: Nvm + Mac<Error = <Self as Nvm>::Error> {
    /// A wrapping count of CPU cycles while powered.
    fn cycles(&mut self) -> u32;

    /// Keeps the session's own writes to itself in program order across this point. A device
    /// that keeps its [`Session`] in memory which survives resets (the LaunchPad: FRAM)
    /// implements it as a compiler barrier, so that a power failure can never find a later
    /// write done and an earlier one not; for a session in RAM it does nothing.
    fn persist_barrier(&mut self) {}
}

/// A device's failure (for a simulator: its power failing).
pub type DevError<D> = <D as Nvm>::Error;

/// What a device is; the session derives the rest (slot sizes, limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// NVM words the session owns, from word 0.
    pub nvm_words: u32,
    /// Words of the volatile buffer handed to [`Session::step`] and [`Session::handle`].
    pub vm_words: u32,
    pub device: [u8; 16],
    pub firmware: [u8; 3],
    pub clock_hz: u32,
}

/// The MSP-EXP430FR5994 LaunchPad as the board firmware runs it: the session owns all of the
/// 208 KB high FRAM (0x10000..0x44000, word 0 at 0x10000, reached by DMA) and 2 KB of SRAM
/// tile buffers, at an 8 MHz MCLK. The firmware and the flashing tool (which builds the
/// FRAM image of a plan) both use this one definition.
pub const LAUNCHPAD: Config = Config {
    nvm_words: (0x4_4000 - 0x1_0000) / 2,
    vm_words: 1024,
    device: *b"MSP430FR5994\0\0\0\0",
    firmware: [0, 1, 0],
    clock_hz: 8_000_000,
};

/// Byte address of NVM word 0 on the LaunchPad.
pub const LAUNCHPAD_NVM_BASE: u32 = 0x1_0000;

/// Marks the active-slot word as valid (low bit: the slot).
pub const ACTIVE_MAGIC: u16 = 0xA5A0;
const ACTIVE: u32 = 0;
const RUN_HEADER: u32 = 1;
const COUNTERS: u32 = 5;
const COUNTER_SLOT_WORDS: u32 = 6;
/// Two records of where an upload stands ([`UploadRecord`]), after the counters.
const UPLOAD: u32 = COUNTERS + 2 * COUNTER_SLOT_WORDS;
const UPLOAD_SLOT_WORDS: u32 = 10;
/// First word of plan slot 0.
pub const SLOTS_AT: u32 = 64;
const _: () = assert!(UPLOAD + 2 * UPLOAD_SLOT_WORDS <= SLOTS_AT);

/// The run header's state word. Zeroed FRAM reads as `Idle`.
const IDLE: u16 = 0;
/// An input was written since the last run.
const INPUT: u16 = 0x1A7A;
const RUNNING: u16 = 0x52C1;
/// The run finished; its result has not been seen to leave the device yet.
const DONE: u16 = 0xD0DE;
/// The run finished and its result went out whole ([`Session::result_sent`]).
const REPORTED: u16 = 0x5E47;

/// The plan area (NVM words from [`SLOTS_AT`] to [`Config::nvm_words`]) holds two plan slots
/// and one scratch region. Slot 0 keeps its head at the area's start with its tensors after it;
/// slot 1 keeps its head at the area's end with its tensors below it. Only what identifies a plan
/// (head and tensors) is kept twice, for the atomic upload: the active plan's feature maps,
/// input and footprint (the engine's words past its tensors) go to the scratch, next to its own
/// tensors. An upload (or a benchmark) into the other slot that would reach them ends the
/// active plan's run and input first.
impl Config {
    /// Half the plan area: the most one slot's head and tensors may take, so that an upload
    /// never reaches the active plan's head or tensors.
    pub const fn slot_words(&self) -> u32 {
        self.nvm_words.saturating_sub(SLOTS_AT) / 2
    }

    /// First word of a slot's head; slot 0's tensors start [`HEAD_WORDS`] later, slot 1's end
    /// at it.
    pub const fn slot_at(&self, slot: u8) -> u32 {
        slot_at(self.nvm_words, slot)
    }

    /// What a plan may use: all of the plan area but the two heads (tensors, feature maps and
    /// footprint of the engine's layout), with its tensors within one slot.
    pub const fn limits(&self) -> Limits {
        Limits {
            vm_bytes: self.vm_words.saturating_mul(2),
            nvm_bytes: self
                .nvm_words
                .saturating_sub(SLOTS_AT)
                .saturating_sub(2 * HEAD_WORDS)
                .saturating_mul(2),
        }
    }

    /// The largest plan file a slot can take: its head and tensors in half the plan area (its
    /// whole layout must also fit [`Config::limits`]).
    pub const fn max_plan_bytes(&self) -> u32 {
        self.slot_words()
            .saturating_sub(HEAD_WORDS)
            .saturating_mul(2)
    }

    pub fn capabilities(&self) -> Capabilities {
        self.capabilities_with(self.limits(), self.max_plan_bytes())
    }

    /// [`Config::capabilities`] from the derived values (a session has them at hand).
    fn capabilities_with(&self, limits: Limits, max_plan_bytes: u32) -> Capabilities {
        Capabilities {
            protocol: PROTOCOL_VERSION,
            device: self.device,
            firmware: self.firmware,
            plan_format: FORMAT_VERSION,
            vm_bytes: limits.vm_bytes,
            nvm_bytes: limits.nvm_bytes,
            max_plan_bytes,
            max_chunk: MAX_CHUNK as u16,
            clock_hz: self.clock_hz,
        }
    }
}

/// First word of the head of slot `slot & 1` in NVM of `nvm_words` words.
const fn slot_at(nvm_words: u32, slot: u8) -> u32 {
    if slot & 1 == 0 {
        SLOTS_AT
    } else {
        nvm_words.saturating_sub(HEAD_WORDS)
    }
}

/// Where the plan of `slot` lives, as [`ValidPlan::relocate`] takes it: slot 0's layout
/// upwards from its head (tensors, then the scratch); slot 1's tensors just below its head and
/// its scratch just below them. Returns (tensors' first word, feature maps' shift).
fn placement(nvm_words: u32, slot: u8, plan: &ValidPlan) -> (u32, u32) {
    let tensors = plan.tensor_elements();
    if slot & 1 == 0 {
        let base = SLOTS_AT + HEAD_WORDS;
        return (base, base);
    }
    let base = slot_at(nvm_words, 1).saturating_sub(tensors);
    let scratch = plan.layout().total_words.saturating_sub(tensors);
    (base, base.saturating_sub(scratch).wrapping_sub(tensors))
}

/// What [`Config`] derives, computed once by [`Session::new`]: a device reads these on every
/// message and batch, and on a 16-bit CPU the saturating u32 arithmetic behind them is costly.
struct Derived {
    nvm_words: u32,
    limits: Limits,
    max_plan_bytes: u32,
}

impl Derived {
    const fn of(config: &Config) -> Derived {
        Derived {
            nvm_words: config.nvm_words,
            limits: config.limits(),
            max_plan_bytes: config.max_plan_bytes(),
        }
    }
}

/// Power cycles and on-time of the current run, as persisted at each commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    power_cycles: u32,
    on_cycles: Count48,
    seq: u16,
}

impl Counters {
    fn add_cycles(&mut self, n: u32) {
        let (lo, carry) = self.on_cycles.lo.overflowing_add(n);
        self.on_cycles.lo = lo;
        self.on_cycles.hi = self.on_cycles.hi.wrapping_add(u16::from(carry));
    }

    fn read<N: Nvm>(nvm: &mut N) -> Result<Counters, N::Error> {
        let mut w = [0i16; 2 * COUNTER_SLOT_WORDS as usize];
        nvm.read(Block::Footprint, COUNTERS, &mut w)?;
        let slot = |k: usize| {
            let w = &w[k * 6..k * 6 + 6];
            let u = |i: usize| w[i] as u16;
            Counters {
                power_cycles: u32::from(u(0)) | (u32::from(u(1)) << 16),
                on_cycles: Count48 {
                    hi: u(2),
                    lo: u32::from(u(3)) | (u32::from(u(4)) << 16),
                },
                seq: u(5),
            }
        };
        let (a, b) = (slot(0), slot(1));
        // As the engine's footprint: the slot with the newer sequence word is complete.
        Ok(if newer(a.seq, b.seq) { a } else { b })
    }

    /// Writes the next version into the other slot, sequence word last.
    fn write<N: Nvm>(&mut self, nvm: &mut N) -> Result<(), N::Error> {
        self.seq = self.seq.wrapping_add(1);
        let at = COUNTERS + u32::from(self.seq % 2) * COUNTER_SLOT_WORDS;
        let (pc, lo) = (self.power_cycles, self.on_cycles.lo);
        nvm.write(
            Block::Footprint,
            at,
            &[
                pc as u16 as i16,
                (pc >> 16) as u16 as i16,
                self.on_cycles.hi as i16,
                lo as u16 as i16,
                (lo >> 16) as u16 as i16,
            ],
        )?;
        nvm.write(Block::Footprint, at + 5, &[self.seq as i16])
    }

    /// Starts a run from zero: both slots cleared, the first one newest.
    fn reset<N: Nvm>(nvm: &mut N) -> Result<(), N::Error> {
        nvm.write(Block::Footprint, COUNTERS + COUNTER_SLOT_WORDS, &[0; 6])?;
        nvm.write(Block::Footprint, COUNTERS, &[0, 0, 0, 0, 0, 1])
    }
}

/// Where an upload into a slot stands, kept in NVM after every chunk: a `PlanBegin` for the
/// same plan (length and CRC) into the same slot after a reset continues from there. Two
/// records, written alternately with the sequence word last, as the counters: a write that a
/// power failure tears leaves the other, older record newest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct UploadRecord {
    /// `len == 0`: no upload to continue.
    point: Resume,
    slot: u8,
    seq: u16,
}

impl UploadRecord {
    #[inline(never)]
    fn read<N: Nvm>(nvm: &mut N) -> Result<UploadRecord, N::Error> {
        let mut w = [0i16; 2 * UPLOAD_SLOT_WORDS as usize];
        nvm.read(Block::Footprint, UPLOAD, &mut w)?;
        let record = |k: usize| {
            let w = &w[k * 10..k * 10 + 10];
            let u = |i: usize| w[i] as u16;
            let u32_at = |i: usize| u32::from(u(i)) | (u32::from(u(i + 1)) << 16);
            let extra = u(8);
            UploadRecord {
                point: Resume {
                    len: u32_at(0),
                    crc: u32_at(2),
                    next: u32_at(4),
                    sum: u32_at(6),
                    pending: (extra & 2 != 0).then_some((extra >> 8) as u8),
                },
                slot: (extra & 1) as u8,
                seq: u(9),
            }
        };
        let (a, b) = (record(0), record(1));
        Ok(if newer(a.seq, b.seq) { a } else { b })
    }

    /// Writes `point` (or, `None`, no upload) into the record after `self`, sequence last;
    /// becomes that record.
    #[inline(never)]
    fn write<N: Nvm>(
        &mut self,
        nvm: &mut N,
        point: Option<Resume>,
        slot: u8,
    ) -> Result<(), N::Error> {
        self.seq = self.seq.wrapping_add(1);
        self.point = point.unwrap_or_default();
        self.slot = slot & 1;
        let at = UPLOAD + u32::from(self.seq % 2) * UPLOAD_SLOT_WORDS;
        let p = &self.point;
        let half = |v: u32| [v as u16 as i16, (v >> 16) as u16 as i16];
        let [l0, l1] = half(p.len);
        let [c0, c1] = half(p.crc);
        let [n0, n1] = half(p.next);
        let [s0, s1] = half(p.sum);
        let extra = u16::from(self.slot) | p.pending.map_or(0, |b| 2 | (u16::from(b) << 8));
        nvm.write(
            Block::Footprint,
            at,
            &[l0, l1, c0, c1, n0, n1, s0, s1, extra as i16],
        )?;
        nvm.write(Block::Footprint, at + 9, &[self.seq as i16])
    }
}

/// The run header: which plan the run is for, its mode and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    plan_id: u32,
    mode: RunMode,
    state: u16,
}

impl Header {
    fn read<N: Nvm>(nvm: &mut N) -> Result<Header, N::Error> {
        let mut w = [0i16; 4];
        nvm.read(Block::Footprint, RUN_HEADER, &mut w)?;
        Ok(Header {
            plan_id: u32::from(w[0] as u16) | (u32::from(w[1] as u16) << 16),
            mode: if w[2] == 1 {
                RunMode::Continuous
            } else {
                RunMode::Intermittent
            },
            state: w[3] as u16,
        })
    }

    fn write_state<N: Nvm>(nvm: &mut N, state: u16) -> Result<(), N::Error> {
        nvm.write(Block::Footprint, RUN_HEADER + 3, &[state as i16])
    }

    /// Arms a run: plan and mode first, the state word last (until it lands, the input is
    /// still there and the run command may simply be sent again).
    fn arm<N: Nvm>(nvm: &mut N, plan_id: u32, mode: RunMode) -> Result<(), N::Error> {
        let mode = match mode {
            RunMode::Intermittent => 0,
            RunMode::Continuous => 1,
        };
        nvm.write(
            Block::Footprint,
            RUN_HEADER,
            &[plan_id as u16 as i16, (plan_id >> 16) as u16 as i16, mode],
        )?;
        Counters::reset(nvm)?;
        Header::write_state(nvm, RUNNING)
    }
}

/// After a batch of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stepped {
    /// A batch committed; in [`RunMode::Intermittent`] the device should now power down
    /// (reset itself), so that every batch runs in a power cycle of its own.
    Committed { power_down: bool },
    /// The run ended: send this (a result or an error).
    Finished(DeviceMsg),
}

/// A plan or input could not be installed without a host (see [`Session::install`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallError<E> {
    Upload(UploadError),
    Device(E),
    /// Input longer than the plan's input.
    InputSize {
        len: u32,
        max: u32,
    },
}

impl<E> From<ChunkError<E>> for InstallError<E> {
    fn from(e: ChunkError<E>) -> Self {
        match e {
            ChunkError::Upload(u) => InstallError::Upload(u),
            ChunkError::Device(d) => InstallError::Device(d),
        }
    }
}

/// Products per output of the `Outputs` benchmark.
const OUTPUT_BENCH_PRODUCTS: usize = 8;

/// Marks a slot's decoded plan as a validated image of the head stored in that slot.
const CACHE_VALID: u16 = 0xCAC4;

/// What identifies a stored plan head: the CRC-32 and length its preamble announces (the CRC
/// covers the plan id and everything else of the plan).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadKey {
    pub crc32: u32,
    pub len: u32,
}

/// One device's protocol state. Everything that must survive a reset is in NVM; the rest
/// ([`PlanReceiver`] progress, which plan and run are active) is rebuilt by [`Session::boot`].
///
/// On a small device the session lives in a static ([`Session::new`] is `const`) and every
/// plan is decoded in place. A device that keeps that static in memory which survives resets
/// (the LaunchPad: FRAM) also keeps the decoded plans: [`Session::boot`] then checks the stored
/// head's key against the decoded plan's instead of decoding and validating the head again.
/// The cache flag of a slot is cleared before its plan or key changes and set after both are
/// whole, so a power failure in between leaves a slot that is simply validated again.
pub struct Session {
    config: Config,
    derived: Derived,
    rx: PlanReceiver,
    /// The decoded plan of each slot (the staging slot's is scratch until it is activated).
    plans: [Option<ValidPlan>; 2],
    /// `plans[s]` is the validated image of the head whose key is `keys[s]` while
    /// `cached[s] == CACHE_VALID`.
    keys: [HeadKey; 2],
    cached: [u16; 2],
    /// The active slot.
    active: Option<u8>,
    /// A run is in progress (armed in NVM).
    running: bool,
    /// The run's mode and counters as last persisted (read from NVM once per boot, not per batch).
    mode: RunMode,
    counters: Counters,
    /// Cycle count at boot or at the last commit.
    mark: u32,
    /// The newest upload record in NVM, as last read or written.
    upload: UploadRecord,
}

fn error(code: ErrorCode, detail: u32) -> DeviceMsg {
    DeviceMsg::Error { code, detail }
}

/// The result of the run that finished on `plan`.
fn stored_result<D: Device>(
    dev: &mut D,
    plan: &ValidPlan,
    c: &Counters,
) -> Result<RunResult, DevError<D>> {
    let (at, len) = Engine::new(plan).output();
    let mut logits = [0i16; MAX_LOGITS];
    let n = (len as usize).min(MAX_LOGITS);
    let order = plan.layers()[plan.layers().len() - 1].design.order;
    dev.read(Block::Output(order), at, &mut logits[..n])?;
    Ok(RunResult {
        plan_id: plan.meta().plan_id,
        // n <= MAX_LOGITS, the Vec's capacity.
        logits: heapless::Vec::from_slice(&logits[..n]).unwrap_or_default(),
        on_cycles: c.on_cycles,
        power_cycles: c.power_cycles,
        off_time_ms: None,
    })
}

/// The active slot and its plan (a free function so callers keep the other fields).
fn active_plan(plans: &[Option<ValidPlan>; 2], active: Option<u8>) -> Option<(u8, &ValidPlan)> {
    let slot = active?;
    plans[usize::from(slot & 1)].as_ref().map(|p| (slot, p))
}

// The entry points and `commit` below are `#[inline(never)]`: inlined into the firmware's frame
// loop they made its MSP430 code 0.7 KB larger. `handle`'s other helpers (`write_input`,
// `bench`, `activate`) are left to the inliner: inlined into `handle` they save 0.2 KB
// (measured with the board build).
impl Session {
    /// A session that knows nothing yet: call [`Session::boot`].
    pub const fn new(config: Config) -> Session {
        Session {
            derived: Derived::of(&config),
            config,
            rx: PlanReceiver::new(),
            plans: [None, None],
            keys: [HeadKey { crc32: 0, len: 0 }; 2],
            cached: [0, 0],
            active: None,
            running: false,
            mode: RunMode::Continuous,
            counters: Counters {
                power_cycles: 0,
                on_cycles: Count48 { hi: 0, lo: 0 },
                seq: 0,
            },
            mark: 0,
            upload: UploadRecord {
                point: Resume {
                    len: 0,
                    crc: 0,
                    next: 0,
                    sum: 0,
                    pending: None,
                },
                slot: 0,
                seq: 0,
            },
        }
    }

    /// Recovers the stored plan and any run in progress. A boot during a run counts a power
    /// cycle; the caller then goes on with [`Session::step`] without host help.
    #[inline(never)]
    pub fn boot<D: Device>(&mut self, dev: &mut D) -> Result<(), DevError<D>> {
        // Only the upload state: rebuilding the receiver would also rewrite its head buffer,
        // most of a kilobyte of FRAM, at every boot.
        self.rx.abandon();
        self.active = None;
        self.running = false;
        self.mark = dev.cycles();
        let mut w = [0i16; 1];
        dev.read(Block::Footprint, ACTIVE, &mut w)?;
        let active = w[0] as u16;
        if active & !1 != ACTIVE_MAGIC {
            return Ok(());
        }
        // Count the boot before the slow part (re-validating the stored head): a supply that
        // dies during it has still cost the run a power cycle.
        let header = Header::read(dev)?;
        let armed = header.state == RUNNING;
        if armed {
            let mut c = Counters::read(dev)?;
            c.power_cycles = c.power_cycles.wrapping_add(1);
            c.write(dev)?;
            self.counters = c;
        }
        let slot = (active & 1) as u8;
        let s = usize::from(slot);
        let at = self.slot_at(slot);
        let key = PlanReceiver::stored_key(dev, at)?;
        let cached = self.cached[s] == CACHE_VALID && self.plans[s].is_some();
        if !(cached && key == Some(self.keys[s])) {
            self.invalidate(dev, slot);
            let limits = self.derived.limits;
            match self.rx.load_head(dev, at, &limits, &mut self.plans[s]) {
                // Its tensors must lie in its slot, as the upload made sure.
                Ok(())
                    if self.plans[s]
                        .as_ref()
                        .is_some_and(|p| 2 * p.tensor_elements() > self.derived.max_plan_bytes) =>
                {
                    self.plans[s] = None;
                    return Ok(());
                }
                Ok(()) => {}
                Err(ChunkError::Device(e)) => return Err(e),
                // A damaged head: the device has no plan (and says so) rather than a wrong one.
                Err(ChunkError::Upload(_)) => return Ok(()),
            }
            // Validated, the plan moves to where its slot keeps it; a head whose key cannot be
            // read back (never so after load_head) is validated again at the next boot.
            self.validated(dev, slot, key.unwrap_or_default());
        }
        self.active = Some(slot);
        if armed && self.plan_id() == Some(header.plan_id) {
            self.mode = header.mode;
            self.running = true;
        }
        Ok(())
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The id of the stored plan, if any.
    pub fn plan_id(&self) -> Option<u32> {
        self.plan().map(|p| p.meta().plan_id)
    }

    pub fn plan(&self) -> Option<&ValidPlan> {
        active_plan(&self.plans, self.active).map(|(_, p)| p)
    }

    /// Whether a run is in progress: call [`Session::step`] until it finishes.
    pub fn running(&self) -> bool {
        self.running
    }

    /// Handles one received frame (or a frame error) and returns the reply to send, if any.
    /// After a `Run` the reply is `None` and [`Session::running`] is true.
    #[inline(never)]
    pub fn on_frame<D: Device>(
        &mut self,
        dev: &mut D,
        vm: &mut [i16],
        frame: Result<&[u8], FrameError>,
    ) -> Result<Option<DeviceMsg>, DevError<D>> {
        let payload = match frame {
            Ok(p) => p,
            Err(FrameError::Crc) => return Ok(Some(error(ErrorCode::FrameCrc, 0))),
            Err(_) => return Ok(Some(error(ErrorCode::Frame, 0))),
        };
        match decode_host_msg(payload) {
            Ok(msg) => self.handle(dev, vm, msg),
            Err(WireError::Message | WireError::Frame(_)) => {
                Ok(Some(error(ErrorCode::Decode, payload.len() as u32)))
            }
        }
    }

    /// Handles one message. Device errors (for a simulator: the power failing) come back as
    /// `Err`; everything the host got wrong is an `Error` reply.
    #[inline(never)]
    pub fn handle<D: Device>(
        &mut self,
        dev: &mut D,
        vm: &mut [i16],
        msg: HostMsg<'_>,
    ) -> Result<Option<DeviceMsg>, DevError<D>> {
        let reply = match msg {
            HostMsg::Hello => DeviceMsg::Hello(
                self.config
                    .capabilities_with(self.derived.limits, self.derived.max_plan_bytes),
            ),
            HostMsg::PlanBegin { len, crc32 } => return self.begin_upload(dev, len, crc32),
            HostMsg::PlanChunk { offset, data } => {
                let staging = self.staging_slot();
                match self.rx.chunk(dev, offset, data) {
                    Ok(next) => {
                        // The chunk's bytes are stored before the record says they are.
                        let head_at = self.slot_at(staging);
                        self.rx.store_head(dev, head_at, offset, next)?;
                        self.upload.write(dev, self.rx.progress(), staging)?;
                        DeviceMsg::Ack { next }
                    }
                    Err(ChunkError::Upload(UploadError::Sequence { next })) => DeviceMsg::Nack {
                        next,
                        why: ErrorCode::Sequence,
                    },
                    // After a reset: the record stays for the host's `PlanBegin`.
                    Err(ChunkError::Upload(e @ UploadError::NotStarted)) => upload_error(e),
                    Err(ChunkError::Upload(e)) => {
                        self.forget_upload(dev)?;
                        upload_error(e)
                    }
                    Err(ChunkError::Device(e)) => return Err(e),
                }
            }
            // After a reset no upload is in progress, but its record stays for a `PlanBegin`.
            HostMsg::PlanCommit if self.rx.progress().is_none() => {
                upload_error(UploadError::NotStarted)
            }
            HostMsg::PlanCommit => {
                let reply = self.commit(dev)?;
                // Committed or refused, the upload is over.
                self.forget_upload(dev)?;
                return Ok(Some(reply));
            }
            HostMsg::WriteInput { offset, data } => return self.write_input(dev, offset, data),
            HostMsg::Run { mode } => match active_plan(&self.plans, self.active) {
                None => error(ErrorCode::NoPlan, 0),
                Some(_) if Header::read(dev)?.state != INPUT => error(ErrorCode::NoInput, 0),
                Some(_) => {
                    self.spare_scratch(dev)?;
                    let Some((_, plan)) = active_plan(&self.plans, self.active) else {
                        return Ok(Some(error(ErrorCode::NoPlan, 0)));
                    };
                    let engine = Engine::new(plan);
                    engine.restart(dev)?;
                    Header::arm(dev, plan.meta().plan_id, mode)?;
                    self.armed(mode);
                    self.mark = dev.cycles();
                    return Ok(None);
                }
            },
            HostMsg::Status => match active_plan(&self.plans, self.active) {
                None => error(ErrorCode::NoPlan, 0),
                Some((_, plan)) => {
                    let c = Counters::read(dev)?;
                    let header = Header::read(dev)?;
                    let finished = header.state == DONE || header.state == REPORTED;
                    if finished && header.plan_id == plan.meta().plan_id {
                        // The result went out as the supply died, or the line lost it: the
                        // outputs and counters are still in NVM.
                        return Ok(Some(DeviceMsg::Result(stored_result(dev, plan, &c)?)));
                    }
                    let fp = Engine::new(plan).footprint(dev)?;
                    DeviceMsg::Progress {
                        layer: fp.layer,
                        tile: fp.tile,
                        power_cycles: c.power_cycles,
                    }
                }
            },
            HostMsg::Bench { kind, n, reps } => return self.bench(dev, vm, kind, n, reps),
        };
        Ok(Some(reply))
    }

    /// Starts an upload into the staging slot, or continues the one a reset interrupted when
    /// its record names the same plan and slot: the reply's `next` says where.
    #[inline(never)]
    fn begin_upload<D: Device>(
        &mut self,
        dev: &mut D,
        len: u32,
        crc32: u32,
    ) -> Result<Option<DeviceMsg>, DevError<D>> {
        let staging = self.staging_slot();
        // The staging slot's NVM is about to change under its decoded plan.
        self.invalidate(dev, staging);
        let head_at = self.slot_at(staging);
        self.upload = UploadRecord::read(dev)?;
        let saved = self.upload;
        let same = saved.point.len == len
            && saved.point.crc == crc32
            && saved.slot == staging
            && saved.point.next > 0
            && saved.point.next <= len
            && len <= self.derived.max_plan_bytes;
        let (at, below) = self.staging_place(staging);
        if same && self.rx.resume(dev, &saved.point, head_at, at, below)? {
            self.make_room(dev, len.div_ceil(2))?;
            return Ok(Some(DeviceMsg::Ack {
                next: saved.point.next,
            }));
        }
        Ok(Some(
            match self.start_receiving(dev, staging, len, crc32)? {
                Ok(()) => {
                    self.upload.write(dev, self.rx.progress(), staging)?;
                    DeviceMsg::Ack { next: 0 }
                }
                Err(e) => {
                    self.forget_upload(dev)?;
                    upload_error(e)
                }
            },
        ))
    }

    /// The active plan is about to write its scratch (an input, a run): an interrupted upload
    /// whose tensors may lie there can no longer go on.
    #[inline(never)]
    fn spare_scratch<D: Device>(&mut self, dev: &mut D) -> Result<(), DevError<D>> {
        self.upload = UploadRecord::read(dev)?;
        let upload = self.upload.point.len.div_ceil(2);
        if upload != 0 && self.reaches_scratch(upload) {
            self.forget_upload(dev)?;
        }
        Ok(())
    }

    /// Ends any upload, in RAM and in its NVM record.
    #[inline(never)]
    fn forget_upload<D: Device>(&mut self, dev: &mut D) -> Result<(), DevError<D>> {
        self.rx.abandon();
        if self.upload.point.len == 0 {
            // Perhaps a reset since the record was last read.
            self.upload = UploadRecord::read(dev)?;
        }
        if self.upload.point.len != 0 {
            self.upload.write(dev, None, 0)?;
        }
        Ok(())
    }

    /// First word of a slot's head, as [`Config::slot_at`].
    fn slot_at(&self, slot: u8) -> u32 {
        slot_at(self.derived.nvm_words, slot)
    }

    /// Starts receiving a plan of `len` bytes into `slot`: slot 0's tensors from after its
    /// head upwards, slot 1's down to its head (where they start, the preamble says). When they
    /// may reach the active plan's scratch, its run and input end first.
    fn start_receiving<D: Device>(
        &mut self,
        dev: &mut D,
        slot: u8,
        len: u32,
        crc: u32,
    ) -> Result<Result<(), UploadError>, DevError<D>> {
        let max = self.derived.max_plan_bytes;
        let begun = match self.staging_place(slot) {
            (at, None) => self.rx.begin(len, crc, max, at),
            (_, Some(end)) => self.rx.begin_below(len, crc, max, end),
        };
        if begun.is_ok() {
            self.make_room(dev, len.div_ceil(2))?;
        }
        Ok(begun)
    }

    /// Before `words` words are written into the staging slot from its edge of the plan area
    /// (an upload's tensors, a benchmark's scratch): if they would reach the active plan's
    /// scratch, its run and input end first. Its head and tensors they never reach (both lie
    /// within half the area).
    fn make_room<D: Device>(&mut self, dev: &mut D, words: u32) -> Result<(), DevError<D>> {
        if self.reaches_scratch(words) {
            self.running = false;
            Header::write_state(dev, IDLE)?;
        }
        Ok(())
    }

    /// Whether `words` written into the staging slot from its edge of the plan area may reach
    /// the active plan's scratch (the area less the active plan's whole layout).
    fn reaches_scratch(&self, words: u32) -> bool {
        let area = self.derived.nvm_words - SLOTS_AT - 2 * HEAD_WORDS;
        let used = active_plan(&self.plans, self.active).map_or(0, |(_, p)| p.layout().total_words);
        words.saturating_add(used) > area
    }

    /// Where an upload into `slot` puts its tensors: from a word on (slot 0, after its head), or
    /// ending below its head (slot 1: where they start, the preamble says).
    fn staging_place(&self, slot: u8) -> (u32, Option<u32>) {
        let head_at = self.slot_at(slot);
        if slot & 1 == 0 {
            (head_at + HEAD_WORDS, None)
        } else {
            (head_at, Some(head_at))
        }
    }

    /// Marks a slot's decoded plan stale, before it or the head it mirrors changes.
    fn invalidate<D: Device>(&mut self, dev: &mut D, slot: u8) {
        self.cached[usize::from(slot & 1)] = 0;
        // The flag lands before anything the cache covers is touched.
        dev.persist_barrier();
    }

    /// Marks a slot's freshly decoded plan, moved to where the slot keeps it, as the image of
    /// the head with `key`.
    fn validated<D: Device>(&mut self, dev: &mut D, slot: u8, key: HeadKey) {
        let s = usize::from(slot & 1);
        self.keys[s] = key;
        if let Some(plan) = &mut self.plans[s] {
            let (tensors_at, maps_by) = placement(self.derived.nvm_words, slot, plan);
            plan.relocate(tensors_at, maps_by);
        }
        // Plan and key are whole before the flag says so.
        dev.persist_barrier();
        self.cached[s] = CACHE_VALID;
    }

    /// A run was just armed in NVM ([`Header::arm`] left the counters at zero, sequence 1).
    fn armed(&mut self, mode: RunMode) {
        self.running = true;
        self.mode = mode;
        self.counters = Counters {
            seq: 1,
            ..Counters::default()
        };
    }

    /// The slot an upload goes to: never the active one.
    fn staging_slot(&self) -> u8 {
        match active_plan(&self.plans, self.active) {
            Some((slot, _)) => 1 - slot,
            None => 0,
        }
    }

    #[inline(never)]
    fn commit<D: Device>(&mut self, dev: &mut D) -> Result<DeviceMsg, DevError<D>> {
        Ok(match self.activate(dev)? {
            Ok(plan_id) => DeviceMsg::PlanStored { plan_id },
            Err(e) => upload_error(e),
        })
    }

    /// Commits the upload into the staging slot and makes it the active one.
    fn activate<D: Device>(
        &mut self,
        dev: &mut D,
    ) -> Result<Result<u32, UploadError>, DevError<D>> {
        let staging = self.staging_slot();
        let limits = self.derived.limits;
        let at = self.slot_at(staging);
        self.invalidate(dev, staging);
        let place = &mut self.plans[usize::from(staging)];
        match self.rx.commit_into(dev, at, &limits, place) {
            Ok(key) => self.validated(dev, staging, key),
            Err(ChunkError::Upload(e)) => return Ok(Err(e)),
            Err(ChunkError::Device(e)) => return Err(e),
        }
        // A run of the old plan must not resume on the new one: end it before switching.
        Header::write_state(dev, IDLE)?;
        self.running = false;
        dev.write(
            Block::Footprint,
            ACTIVE,
            &[(ACTIVE_MAGIC | u16::from(staging)) as i16],
        )?;
        self.active = Some(staging);
        Ok(Ok(self.plan_id().unwrap_or(0)))
    }

    fn write_input<D: Device>(
        &mut self,
        dev: &mut D,
        offset: u32,
        data: &[u8],
    ) -> Result<Option<DeviceMsg>, DevError<D>> {
        let Some((_, plan)) = active_plan(&self.plans, self.active) else {
            return Ok(Some(error(ErrorCode::NoPlan, 0)));
        };
        let (at, len) = Engine::new(plan).input();
        let words = (data.len() / 2) as u32;
        let fits =
            data.len().is_multiple_of(2) && offset.checked_add(words).is_some_and(|end| end <= len);
        if !fits {
            return Ok(Some(error(ErrorCode::InputSize, len)));
        }
        self.spare_scratch(dev)?;
        Header::write_state(dev, IDLE)?;
        self.running = false;
        let base = at + offset;
        let mut buf = [0i16; MAX_CHUNK / 2];
        for (i, chunk) in data.chunks(MAX_CHUNK).enumerate() {
            let n = chunk.len() / 2;
            for (v, pair) in buf.iter_mut().zip(chunk.chunks_exact(2)) {
                *v = i16::from_le_bytes([pair[0], pair[1]]);
            }
            let to = base + (i * MAX_CHUNK / 2) as u32;
            dev.write(Block::Input, to, &buf[..n])?;
        }
        Header::write_state(dev, INPUT)?;
        Ok(Some(DeviceMsg::Ack {
            next: offset + words,
        }))
    }

    /// Runs one batch of the run in progress and persists the counters with it.
    #[inline(never)]
    pub fn step<D: Device>(&mut self, dev: &mut D, vm: &mut [i16]) -> Result<Stepped, DevError<D>> {
        let Some((_, plan)) = active_plan(&self.plans, self.active) else {
            self.running = false;
            return Ok(Stepped::Finished(error(ErrorCode::NoPlan, 0)));
        };
        if !self.running {
            return Ok(Stepped::Finished(error(ErrorCode::Sequence, 0)));
        }
        let engine = Engine::new(plan);
        let result = engine.step(dev, vm);
        let c = &mut self.counters;
        let now = dev.cycles();
        c.add_cycles(now.wrapping_sub(self.mark));
        self.mark = now;
        match result {
            Ok(Step::Committed { .. }) => {
                c.write(dev)?;
                Ok(Stepped::Committed {
                    power_down: self.mode == RunMode::Intermittent,
                })
            }
            Ok(Step::Done) => {
                c.write(dev)?;
                let r = stored_result(dev, plan, c)?;
                Header::write_state(dev, DONE)?;
                self.running = false;
                Ok(Stepped::Finished(DeviceMsg::Result(r)))
            }
            Err(EngineError::Device(e)) => Err(e),
            Err(EngineError::Vm { layer, .. } | EngineError::Footprint { layer, .. }) => {
                Header::write_state(dev, IDLE)?;
                self.running = false;
                Ok(Stepped::Finished(error(
                    ErrorCode::Engine,
                    u32::from(layer),
                )))
            }
        }
    }

    /// The result of a run that finished but whose result may not have left the device (the
    /// supply died while it was sent): a device sends it at boot, when its capacitor is full,
    /// then calls [`Session::result_sent`]. A host may see it twice; it is the same result.
    pub fn pending_result<D: Device>(
        &mut self,
        dev: &mut D,
    ) -> Result<Option<DeviceMsg>, DevError<D>> {
        let Some((_, plan)) = active_plan(&self.plans, self.active) else {
            return Ok(None);
        };
        let header = Header::read(dev)?;
        if header.state != DONE || header.plan_id != plan.meta().plan_id {
            return Ok(None);
        }
        let c = Counters::read(dev)?;
        Ok(Some(DeviceMsg::Result(stored_result(dev, plan, &c)?)))
    }

    /// The device finished sending a result (all of it left the UART): it is not sent again at
    /// the next boot. The result stays available to `Status`.
    pub fn result_sent<D: Device>(&mut self, dev: &mut D) -> Result<(), DevError<D>> {
        if Header::read(dev)?.state == DONE {
            Header::write_state(dev, REPORTED)?;
        }
        Ok(())
    }

    /// Ends a run the device cannot go on with (its NVM refused an access): the run is dropped
    /// so the device keeps answering; the host hears of it through the caller's error reply.
    pub fn abort<D: Device>(&mut self, dev: &mut D) -> Result<(), DevError<D>> {
        self.running = false;
        Header::write_state(dev, IDLE)
    }

    /// Microbenchmarks for calibration, on scratch space in the staging slot (never the plan).
    fn bench<D: Device>(
        &mut self,
        dev: &mut D,
        vm: &mut [i16],
        kind: BenchKind,
        n: u16,
        reps: u16,
    ) -> Result<Option<DeviceMsg>, DevError<D>> {
        let n_words = usize::from(n);
        // At the staging slot's edge of the plan area, where its tensors would go.
        let scratch = if self.staging_slot() == 0 {
            SLOTS_AT + HEAD_WORDS
        } else {
            self.slot_at(1).saturating_sub(2 * u32::from(n))
        };
        let fits_vm = match kind {
            BenchKind::Mac => 2 * n_words <= vm.len(),
            BenchKind::Pool => n_words >= 1 && n_words < vm.len(),
            // n outputs of OUTPUT_BENCH_PRODUCTS products: x, n windows of weights, n outputs.
            BenchKind::Outputs => {
                OUTPUT_BENCH_PRODUCTS + (OUTPUT_BENCH_PRODUCTS + 1) * n_words <= vm.len()
            }
            _ => n_words <= vm.len(),
        };
        // The block benchmarks spread n blocks two words apart.
        let fits_nvm = 2 * u32::from(n) <= self.derived.max_plan_bytes / 2;
        if !fits_vm || !fits_nvm || kind == BenchKind::Boot {
            return Ok(Some(error(ErrorCode::Unsupported, u32::from(n))));
        }
        // An upload in progress would be overwritten: it is abandoned; so is the active plan's
        // run if its scratch reaches that far.
        self.forget_upload(dev)?;
        self.make_room(dev, 2 * u32::from(n))?;
        // What the benchmarks send and multiply is defined (a device may start with its tile
        // buffers as its RAM came up).
        vm.fill(0);
        // As the engine's are, the MAC window is made before the timed loop.
        let mac = if kind == BenchKind::Outputs {
            let k = OUTPUT_BENCH_PRODUCTS as u16;
            MacTile::new(Window::new(1, k, k, k, 1, 15), n, 1, 1, 0, 0, n, n)
        } else {
            MacTile::new(Window::new(1, n, n, n, 1, 15), 1, 1, 1, 0, 0, 1, 1)
        };
        // The MAC kernels get a loop each, so a repetition costs the call and a loop step (a
        // `match` inside the loop cost the MAC benchmark about sixty cycles of dispatch and
        // reloads per call); the transfers share one, for code size (the smoke build's FRAM).
        let start = dev.cycles();
        let mut sink = 0i16;
        match kind {
            BenchKind::Mac => {
                // One output of n products.
                let (x, w) = vm.split_at(n_words);
                let mut out = [0i16; 1];
                for _ in 0..reps {
                    dev.mac(x, w, &mut out, &mac, false)?;
                }
                sink = out[0];
            }
            BenchKind::Outputs => {
                // n outputs in one call.
                let (x, rest) = vm.split_at_mut(OUTPUT_BENCH_PRODUCTS);
                let (w, out) = rest.split_at_mut(OUTPUT_BENCH_PRODUCTS * n_words);
                for _ in 0..reps {
                    dev.mac(x, w, &mut out[..n_words], &mac, false)?;
                }
                sink = out[0];
            }
            BenchKind::Pool => {
                // One channel of n pixels, a pooling weight of 1/n as a GAP layer has.
                let (x, out) = vm.split_at_mut(n_words);
                for _ in 0..reps {
                    dev.pool(x, (0x7fff / n) as i16, &mut out[..1], n, 15, false)?;
                }
                sink = out[0];
            }
            _ => {
                for _ in 0..reps {
                    match kind {
                        BenchKind::Read => dev.read(Block::Ifm, scratch, &mut vm[..n_words])?,
                        BenchKind::Write => dev.write(
                            Block::Output(crate::LoopOrder::ReuseO),
                            scratch,
                            &vm[..n_words],
                        )?,
                        BenchKind::ReadBlocks => {
                            let tile = Blocks::new(1, n, 1, 0, 2, 0, 1);
                            dev.read_blocks(Block::Ifm, scratch, &tile, &mut vm[..n_words])?;
                        }
                        BenchKind::WriteBlocks => {
                            let tile = Blocks::new(1, n, 1, 0, 2, 0, 1);
                            let order = crate::LoopOrder::ReuseO;
                            dev.write_blocks(Block::Output(order), scratch, &tile, &vm[..n_words])?;
                        }
                        BenchKind::Commit => {
                            dev.write(Block::Footprint, scratch, &[sink, 0, 0])?;
                            dev.write(Block::Footprint, scratch + 3, &[1])?;
                        }
                        BenchKind::Batch => {
                            // The NVM traffic of `Session::step` around the engine's batch.
                            let mut fp = [0i16; 2 * FOOTPRINT_SLOT_WORDS as usize];
                            dev.read(Block::Footprint, scratch, &mut fp)?;
                            dev.write(Block::Footprint, scratch, &[sink, fp[0], fp[1]])?;
                            dev.write(Block::Footprint, scratch + 3, &[1])?;
                            let counters = [fp[2], fp[3], fp[4], fp[5], fp[6]];
                            dev.write(Block::Footprint, scratch + 8, &counters)?;
                            dev.write(Block::Footprint, scratch + 13, &[2])?;
                            sink = sink.wrapping_add(dev.cycles() as i16);
                        }
                        _ => {}
                    }
                }
            }
        }
        let elapsed = dev.cycles().wrapping_sub(start);
        // Keeps the MAC results observable so no backend may skip the work.
        core::hint::black_box(sink);
        Ok(Some(DeviceMsg::BenchResult {
            kind,
            n,
            reps,
            cycles: Count48 { hi: 0, lo: elapsed },
        }))
    }

    /// Stores a plan without a host (a flashing tool building an NVM image, or a test): the
    /// same upload path as over the wire, into the staging slot, then activated.
    pub fn install<D: Device>(
        &mut self,
        dev: &mut D,
        plan: &[u8],
    ) -> Result<u32, InstallError<DevError<D>>> {
        let crc = match plan.get(16..20) {
            Some(c) => u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            None => 0,
        };
        let staging = self.staging_slot();
        self.invalidate(dev, staging);
        // This plan replaces whatever an interrupted upload left in the staging slot.
        self.forget_upload(dev).map_err(InstallError::Device)?;
        let len = u32::try_from(plan.len()).unwrap_or(u32::MAX);
        self.start_receiving(dev, staging, len, crc)
            .map_err(InstallError::Device)?
            .map_err(InstallError::Upload)?;
        let mut offset = 0u32;
        for chunk in plan.chunks(MAX_CHUNK) {
            offset = self.rx.chunk(dev, offset, chunk)?;
        }
        self.activate(dev)
            .map_err(InstallError::Device)?
            .map_err(InstallError::Upload)
    }

    /// Writes an input and arms a run, so the device computes it at its next boot without a
    /// host (and sends the result when it is done).
    pub fn arm_run<D: Device>(
        &mut self,
        dev: &mut D,
        input: &[i16],
        mode: RunMode,
    ) -> Result<(), InstallError<DevError<D>>> {
        self.spare_scratch(dev).map_err(InstallError::Device)?;
        let Some((_, plan)) = active_plan(&self.plans, self.active) else {
            return Err(InstallError::Upload(UploadError::NotStarted));
        };
        let engine = Engine::new(plan);
        let (_, len) = engine.input();
        if input.len() as u32 > len {
            return Err(InstallError::InputSize {
                len: input.len() as u32,
                max: len,
            });
        }
        engine.start(dev, input).map_err(InstallError::Device)?;
        Header::arm(dev, plan.meta().plan_id, mode).map_err(InstallError::Device)?;
        self.armed(mode);
        Ok(())
    }
}

/// A host message from a frame's payload. Not generic: its postcard code then belongs to this
/// crate, shared with the plan decoder's, instead of a second copy made for each device.
fn decode_host_msg(payload: &[u8]) -> Result<HostMsg<'_>, WireError> {
    decode_message::<HostMsg>(payload)
}

fn upload_error(e: UploadError) -> DeviceMsg {
    // The arms pick a code and a detail; one `error` builds the reply.
    let (code, detail) = match e {
        UploadError::TooLarge { max, .. } => (ErrorCode::PlanTooLarge, max),
        UploadError::Crc => (ErrorCode::PlanCrc, 0),
        UploadError::Plan(p) => (ErrorCode::PlanInvalid, p.detail()),
        UploadError::NotStarted => (ErrorCode::Sequence, 0),
        UploadError::Sequence { next } => {
            return DeviceMsg::Nack {
                next,
                why: ErrorCode::Sequence,
            }
        }
        UploadError::Overrun => (ErrorCode::Sequence, 1),
        UploadError::Incomplete { received, .. } => (ErrorCode::Sequence, received),
    };
    error(code, detail)
}
