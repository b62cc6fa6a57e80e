//! A simulated device for the engine: plain-memory NVM and MAC, with power failures injected at
//! chosen NVM writes (before a write, after it, or torn after any of its words).

use inas_common::engine::{Block, Mac, Nvm};
use inas_common::q15::{self, MacTile};
use inas_common::session::Device;

/// The power failed during an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerFail;

/// When the next power failure strikes, counted in NVM writes since the simulation started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// Index of the write (0-based, over all writes so far).
    pub write: u64,
    /// Words of that write that land before the power goes (0 = before it, its length = after).
    pub keep: usize,
}

/// NVM as a word array, counting writes and cutting power at the armed [`Cut`].
#[derive(Clone, Debug)]
pub struct SimNvm {
    pub words: Vec<i16>,
    pub writes: u64,
    /// Length of every write so far (to enumerate torn-write points).
    pub write_lens: Vec<usize>,
    pub cut: Option<Cut>,
    pub failures: u64,
    /// A stand-in cycle counter: one per word moved or multiplied, or, with `pricing`, the
    /// priced time in cycles of the pricing's clock.
    pub clock: u32,
    /// Prices every operation as the cost model does, so the clock runs in platform time.
    pub pricing: Option<Pricing>,
    /// Time spent so far under `pricing` (s); never wraps, unlike `clock`.
    pub elapsed_s: f64,
    /// Energy spent so far under `pricing` (J).
    pub spent_j: f64,
}

/// Latency of each engine operation as the profile's model prices it (the latency side of
/// [`EnergyDevice`]'s draws), and the clock whose cycles [`SimNvm::clock`] then counts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pricing {
    pub latency: Side,
    pub energy: Side,
    pub clock_hz: f64,
}

/// One engine operation as the cost model counts it: the unit both simulated devices price
/// ([`SimNvm`]'s clock and [`EnergyDevice`]'s draws).
#[derive(Clone, Copy, Debug)]
enum Op {
    /// A transfer of this many words (one block).
    Read(Block, usize),
    Write(Block, usize),
    /// One MAC call of the model: a kernel tap's products over `depth` channels, plus adding it.
    Mac(u16),
    /// One pooled element.
    Pool,
}

impl Op {
    /// The operation's cost on one side of the model (J or s).
    fn price(self, x: &Side) -> f64 {
        let overhead = |block| match block {
            Block::Ifm => x.o_ifm,
            Block::Weights => x.o_weights,
            Block::Psum(o) => x.o_psum[o.index()],
            Block::Output(o) => x.b_out[o.index()],
            Block::Footprint | Block::Input => 0.0,
        };
        match self {
            Op::Read(block, n) => x.rd.at(n as u64) + overhead(block),
            Op::Write(block, n) => x.wr.at(n as u64) + overhead(block),
            Op::Mac(depth) => (x.mac.at(u64::from(depth)) + x.add) + x.o_mac,
            Op::Pool => x.pool + x.o_pool,
        }
    }
}

impl SimNvm {
    pub fn new(words: usize) -> SimNvm {
        SimNvm {
            words: vec![0; words],
            writes: 0,
            write_lens: vec![],
            cut: None,
            failures: 0,
            clock: 0,
            pricing: None,
            elapsed_s: 0.0,
            spent_j: 0.0,
        }
    }

    /// Advances the clock by `words` (unpriced) or by what `price` says the operation costs.
    fn tick(&mut self, words: usize, price: impl Fn(&Side) -> f64) {
        match self.pricing {
            None => self.clock = self.clock.wrapping_add(words as u32),
            Some(p) => {
                self.elapsed_s += price(&p.latency);
                self.spent_j += price(&p.energy);
                self.clock = (self.elapsed_s * p.clock_hz) as u64 as u32;
            }
        }
    }

    fn range(&self, addr: u32, len: usize) -> std::ops::Range<usize> {
        let a = addr as usize;
        assert!(
            a + len <= self.words.len(),
            "engine addressed NVM out of range: {a}+{len} > {}",
            self.words.len()
        );
        a..a + len
    }
}

impl Nvm for SimNvm {
    type Error = PowerFail;

    fn read(&mut self, block: Block, addr: u32, buf: &mut [i16]) -> Result<(), PowerFail> {
        let r = self.range(addr, buf.len());
        buf.copy_from_slice(&self.words[r]);
        let n = buf.len();
        self.tick(n, |x| Op::Read(block, n).price(x));
        Ok(())
    }

    fn write(&mut self, block: Block, addr: u32, data: &[i16]) -> Result<(), PowerFail> {
        let r = self.range(addr, data.len());
        let index = self.writes;
        self.writes += 1;
        let n = data.len();
        self.tick(n, |x| Op::Write(block, n).price(x));
        self.write_lens.push(data.len());
        if let Some(cut) = self.cut.filter(|c| c.write == index) {
            let keep = cut.keep.min(data.len());
            self.words[r.start..r.start + keep].copy_from_slice(&data[..keep]);
            self.cut = None;
            self.failures += 1;
            return Err(PowerFail);
        }
        self.words[r].copy_from_slice(data);
        Ok(())
    }
}

/// The reference MAC: exactly `q15::tile` and `q15::pool`, priced as the cost model counts an
/// output (one MAC call of `depth` products per kernel tap) and a pooled element; power failures
/// strike at NVM writes only.
impl Mac for SimNvm {
    type Error = PowerFail;
    fn mac(
        &mut self,
        x: &[i16],
        w: &[i16],
        out: &mut [i16],
        tile: &MacTile,
        relu: bool,
    ) -> Result<(), PowerFail> {
        let win = tile.window();
        let op = Op::Mac(win.depth());
        for _ in 0..tile.outputs() * u32::from(win.taps()) {
            self.tick(win.depth().into(), |x| op.price(x));
        }
        q15::tile(x, w, out, tile, relu).expect("the engine passed a tile outside its buffers");
        Ok(())
    }

    fn pool(
        &mut self,
        x: &[i16],
        w: i16,
        out: &mut [i16],
        pixels: u16,
        shift: u8,
        relu: bool,
    ) -> Result<(), PowerFail> {
        for _ in 0..u32::from(pixels) * out.len() as u32 {
            // No word moves: only a priced clock advances.
            self.tick(0, |x| Op::Pool.price(x));
        }
        q15::pool(x, w, out, pixels, shift, relu)
            .expect("the engine passed a pooling tile outside its buffer");
        Ok(())
    }
}

impl Device for SimNvm {
    fn cycles(&mut self) -> u32 {
        self.clock
    }
}

impl SimNvm {
    /// An NVM sized for a validated plan, with the tensor section of its bytes `p` in place.
    pub fn for_plan(
        plan: &inas_common::plan::ValidPlan,
        p: &inas_common::plan::Plan<'_>,
    ) -> SimNvm {
        let layout = plan.layout();
        let mut nvm = SimNvm::new(layout.total_words as usize);
        for i in 0..p.tensor_elements() {
            nvm.words[(layout.tensors + i) as usize] = p.tensor_value(i);
        }
        nvm
    }
}

use inas_common::engine::{Engine, EngineError, Step};
use inas_common::plan::{Plan, ValidPlan};

use crate::profile::{CostTable, Side};
use crate::supply::{Capacitor, Harvester, Recharge};

/// What an energy-driven run measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EnergyRun {
    /// Power cycles, completed or cut by a brown-out.
    pub power_cycles: u64,
    /// Cycles that browned out before committing.
    pub brownouts: u64,
    pub on_time_s: f64,
    pub off_time_s: f64,
    /// False when a batch needs more energy than one power cycle holds: it browns out at the
    /// same point forever.
    pub completed: bool,
}

impl EnergyRun {
    pub fn latency_s(&self) -> f64 {
        self.on_time_s + self.off_time_s
    }
}

/// A device whose every engine operation draws energy from the capacitor, priced by the
/// platform profile; when a power cycle's budget runs out, the operation fails (brown-out) and
/// volatile state is lost.
pub struct EnergyDevice {
    pub nvm: SimNvm,
    costs: CostTable,
    cap: Capacitor,
    harvester: Harvester,
    spent_j: f64,
    on_s: f64,
}

impl EnergyDevice {
    pub fn new(
        nvm: SimNvm,
        costs: CostTable,
        cap: Capacitor,
        harvester: Harvester,
    ) -> EnergyDevice {
        EnergyDevice {
            nvm,
            costs,
            cap,
            harvester,
            spent_j: 0.0,
            on_s: 0.0,
        }
    }

    /// Draws one operation's energy; `Err` when the budget would be exceeded.
    fn draw(&mut self, e: f64, l: f64) -> Result<(), PowerFail> {
        if self.spent_j + e > self.cap.budget_j() {
            self.spent_j = self.cap.budget_j();
            return Err(PowerFail);
        }
        self.spent_j += e;
        self.on_s += l;
        Ok(())
    }

    /// Draws what `op` costs.
    fn draw_op(&mut self, op: Op) -> Result<(), PowerFail> {
        self.draw(op.price(&self.costs.e), op.price(&self.costs.l))
    }

    fn boot(&mut self) {
        self.spent_j = 0.0;
        self.on_s = 0.0;
        // The reboot always fits: C1 budgets include it, and a profile's reboot is positive.
        let _ = self.draw(self.costs.e.reboot, self.costs.l.reboot);
    }

    /// Ends a power cycle: the device is off until the harvester brings the capacitor back to Von.
    fn power_down(&mut self, run: &mut EnergyRun) {
        run.power_cycles += 1;
        run.on_time_s += self.on_s;
        let v = self
            .cap
            .end_of_cycle_voltage(self.spent_j)
            .unwrap_or(self.cap.v_off());
        run.off_time_s += self.harvester.recharge_from_s(&self.cap, v);
    }

    /// Runs a started plan under the paper's contract: one preservation batch per power cycle,
    /// then power down and recharge.
    pub fn run_intermittent(
        &mut self,
        plan: &ValidPlan,
    ) -> Result<EnergyRun, EngineError<PowerFail>> {
        let engine = Engine::new(plan);
        let mut vm = vec![0i16; engine.vm_words()];
        let mut run = EnergyRun::default();
        let layers = plan.layers().len() as u16;
        let mut failed_in_a_row = 0;
        loop {
            self.boot();
            match engine.step(self, &mut vm) {
                Ok(Step::Committed { layer, .. }) => {
                    failed_in_a_row = 0;
                    self.power_down(&mut run);
                    if layer == layers {
                        run.completed = true;
                        return Ok(run);
                    }
                }
                Ok(Step::Done) => {
                    run.completed = true;
                    return Ok(run);
                }
                Err(EngineError::Device(PowerFail)) => {
                    run.brownouts += 1;
                    self.power_down(&mut run);
                    vm.fill(0x5A5A_u16 as i16);
                    failed_in_a_row += 1;
                    // Deterministic energy: a batch that browned out from a full capacitor
                    // twice will never complete.
                    if failed_in_a_row >= 2 {
                        return Ok(run);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Nvm for EnergyDevice {
    type Error = PowerFail;

    fn read(&mut self, block: Block, addr: u32, buf: &mut [i16]) -> Result<(), PowerFail> {
        self.draw_op(Op::Read(block, buf.len()))?;
        self.nvm.read(block, addr, buf)
    }

    fn write(&mut self, block: Block, addr: u32, data: &[i16]) -> Result<(), PowerFail> {
        if self.draw_op(Op::Write(block, data.len())).is_err() {
            // The write starts and is cut: a torn prefix lands.
            self.nvm.cut = Some(Cut {
                write: self.nvm.writes,
                keep: data.len() / 2,
            });
        }
        self.nvm.write(block, addr, data)
    }
}

impl Mac for EnergyDevice {
    type Error = PowerFail;

    fn mac(
        &mut self,
        x: &[i16],
        w: &[i16],
        out: &mut [i16],
        tile: &MacTile,
        relu: bool,
    ) -> Result<(), PowerFail> {
        let win = tile.window();
        for _ in 0..tile.outputs() * u32::from(win.taps()) {
            self.draw_op(Op::Mac(win.depth()))?;
        }
        q15::tile(x, w, out, tile, relu).expect("the engine passed a tile outside its buffers");
        Ok(())
    }

    fn pool(
        &mut self,
        x: &[i16],
        w: i16,
        out: &mut [i16],
        pixels: u16,
        shift: u8,
        relu: bool,
    ) -> Result<(), PowerFail> {
        for _ in 0..u32::from(pixels) * out.len() as u32 {
            self.draw_op(Op::Pool)?;
        }
        q15::pool(x, w, out, pixels, shift, relu)
            .expect("the engine passed a pooling tile outside its buffer");
        Ok(())
    }
}

/// Runs a plan from `input` to the end on plain NVM. `next_cut` arms the first power cut and,
/// after each failure (volatile memory poisoned, device rebooted), the next one. Returns the
/// outputs and the number of failures that struck.
pub fn run_with_cuts(
    plan: &ValidPlan,
    source: &Plan<'_>,
    input: &[i16],
    mut next_cut: impl FnMut(&SimNvm) -> Option<Cut>,
) -> Result<(Vec<i16>, u64), EngineError<PowerFail>> {
    let engine = Engine::new(plan);
    let mut nvm = SimNvm::for_plan(plan, source);
    engine.start(&mut nvm, input)?;
    nvm.cut = next_cut(&nvm);
    let mut vm = vec![0x5A5A_u16 as i16; engine.vm_words()];
    loop {
        match engine.step(&mut nvm, &mut vm) {
            Ok(Step::Done) => break,
            Ok(Step::Committed { .. }) => {}
            Err(EngineError::Device(PowerFail)) => {
                vm.fill(0x5A5A_u16 as i16);
                nvm.cut = next_cut(&nvm);
            }
            Err(e) => return Err(e),
        }
    }
    let (at, len) = engine.output();
    Ok((
        nvm.words[at as usize..(at + len) as usize].to_vec(),
        nvm.failures,
    ))
}

/// The writes of a clean run after `start`: their indices (as [`Cut::write`] counts them)
/// and lengths, to enumerate every write and torn-write point.
pub fn write_log(
    plan: &ValidPlan,
    source: &Plan<'_>,
    input: &[i16],
) -> Result<(u64, Vec<usize>), EngineError<PowerFail>> {
    let engine = Engine::new(plan);
    let mut nvm = SimNvm::for_plan(plan, source);
    engine.start(&mut nvm, input)?;
    let first = nvm.writes;
    engine.run(&mut nvm, &mut vec![0; engine.vm_words()])?;
    Ok((first, nvm.write_lens))
}

/// A whole simulated device speaking the wire protocol: the shared [`Session`] over a
/// [`SimNvm`], bytes in and frames out, with power failures at armed NVM writes. After a failure
/// it reboots as the firmware does (volatile memory poisoned, session rebuilt from NVM) and goes
/// on with any run in progress without host help; a message being handled when the power went
/// is lost, as on the device.
pub struct SimBoard {
    pub nvm: SimNvm,
    config: Config,
    session: Option<Session>,
    /// The session a reset left behind: the LaunchPad keeps its session in FRAM, so its
    /// decoded plans survive a reset (see [`SimBoard::volatile_session`]).
    parked: Option<Session>,
    persistent: bool,
    decoder: FrameDecoder,
    vm: Vec<i16>,
    /// Arms the next cut after each boot.
    next_cut: CutPolicy,
    pub boots: u32,
    /// Resets the device did itself (`RunMode::Intermittent`).
    pub power_downs: u32,
    /// The energy (J, under the NVM's pricing) of every power cycle that ended in a power-down
    /// and was not yet taken, and whether it began with a boot.
    pub cycles_j: Vec<(f64, bool)>,
    /// Where the current power cycle began: the NVM's energy then, and whether by a boot.
    cycle_start: (f64, bool),
}

const POISON: i16 = 0x5A5A;

/// Chooses the next power cut from the NVM's state (its write count).
type CutPolicy = Box<dyn FnMut(&SimNvm) -> Option<Cut>>;

impl SimBoard {
    pub fn new(config: Config) -> SimBoard {
        SimBoard {
            nvm: SimNvm::new(config.nvm_words as usize),
            config,
            session: None,
            parked: None,
            persistent: true,
            decoder: FrameDecoder::new(),
            vm: vec![POISON; config.vm_words as usize],
            next_cut: Box::new(|_| None),
            boots: 0,
            power_downs: 0,
            cycles_j: Vec::new(),
            cycle_start: (0.0, true),
        }
    }

    /// A board whose session starts from nothing at every boot, as on a device that keeps it
    /// in RAM: every boot then decodes and validates the stored plan head again.
    pub fn volatile_session(mut self) -> SimBoard {
        self.persistent = false;
        self
    }

    /// A power cycle starts now without a boot: the board moves onto a charged capacitor.
    pub fn start_cycle(&mut self) {
        self.cycle_start = (self.nvm.spent_j, false);
    }

    /// Sets the policy that arms a power cut after each boot (and arms the first now).
    pub fn cuts(&mut self, next_cut: impl FnMut(&SimNvm) -> Option<Cut> + 'static) {
        self.next_cut = Box::new(next_cut);
        self.nvm.cut = (self.next_cut)(&self.nvm);
    }

    /// The supply drops and comes back: a reset, then [`SimBoard::power_up`].
    pub fn power_cycle(&mut self) -> Vec<u8> {
        self.reset();
        self.power_up()
    }

    /// Powers the device up (again): boots until a boot survives, then finishes any run.
    /// Returns the frames the device sent.
    pub fn power_up(&mut self) -> Vec<u8> {
        let mut out = vec![];
        self.ensure_booted(&mut out);
        out
    }

    fn reset(&mut self) {
        let s = self.session.take();
        if self.persistent && s.is_some() {
            self.parked = s;
        }
        self.decoder = FrameDecoder::new();
        self.vm.fill(POISON);
    }

    fn fail(&mut self) {
        self.reset();
        self.nvm.cut = (self.next_cut)(&self.nvm);
    }

    /// Boots until a session stands, and steps a run the boot resumed to its end, through
    /// power failures and power-downs (a loop, not recursion: a run may span thousands).
    fn ensure_booted(&mut self, out: &mut Vec<u8>) {
        loop {
            while self.session.is_none() {
                self.boots += 1;
                self.cycle_start = (self.nvm.spent_j, true);
                let config = self.config;
                let mut session = self.parked.take().unwrap_or_else(|| Session::new(config));
                match session.boot(&mut self.nvm) {
                    Ok(()) => self.session = Some(session),
                    Err(PowerFail) => {
                        // Whatever the boot left in a persistent session stays for the next one.
                        if self.persistent {
                            self.parked = Some(session);
                        }
                        self.fail()
                    }
                }
            }
            if !self.step_run(out) {
                return;
            }
        }
    }

    /// Steps a run in progress until it ends (false) or the device resets (true).
    fn step_run(&mut self, out: &mut Vec<u8>) -> bool {
        loop {
            let Some(session) = self.session.as_mut() else {
                return false;
            };
            if !session.running() {
                return false;
            }
            match session.step(&mut self.nvm, &mut self.vm) {
                Ok(Stepped::Committed { power_down: false }) => {}
                Ok(Stepped::Committed { power_down: true }) => {
                    self.power_downs += 1;
                    let (at, booted) = self.cycle_start;
                    self.cycles_j.push((self.nvm.spent_j - at, booted));
                    self.reset();
                    return true;
                }
                Ok(Stepped::Finished(msg)) => send(&msg, out),
                Err(PowerFail) => {
                    self.fail();
                    return true;
                }
            }
        }
    }

    /// Steps a run in progress to its end, through power failures and power-downs.
    fn finish_run(&mut self, out: &mut Vec<u8>) {
        if self.step_run(out) {
            self.ensure_booted(out);
        }
    }

    /// Feeds received bytes; returns the bytes (frames) the device sent in answer.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![];
        self.ensure_booted(&mut out);
        for &b in bytes {
            let Some(frame) = self.decoder.push(b) else {
                continue;
            };
            let frame = frame.map(<[u8]>::to_vec);
            let Some(session) = self.session.as_mut() else {
                continue;
            };
            match session.on_frame(
                &mut self.nvm,
                &mut self.vm,
                frame.as_deref().map_err(|e| *e),
            ) {
                Ok(Some(reply)) => send(&reply, &mut out),
                Ok(None) => {}
                Err(PowerFail) => {
                    self.fail();
                    self.ensure_booted(&mut out);
                    continue;
                }
            }
            self.finish_run(&mut out);
        }
        out
    }

    /// Sends one message and decodes every reply frame.
    pub fn exchange(&mut self, msg: &HostMsg<'_>) -> Vec<DeviceMsg> {
        let mut frame = [0u8; MAX_FRAME];
        let n = encode_message(msg, &mut frame).expect("host messages fit a frame");
        decode_replies(&self.receive(&frame[..n]))
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The booted session with its NVM, for calls a device's main loop makes itself (such as
    /// [`Session::pending_result`]).
    pub fn session_mut(&mut self) -> Option<(&mut Session, &mut SimNvm)> {
        self.session.as_mut().map(|s| (s, &mut self.nvm))
    }
}

fn send(msg: &DeviceMsg, out: &mut Vec<u8>) {
    let mut frame = [0u8; MAX_FRAME];
    let n = encode_message(msg, &mut frame).expect("device messages fit a frame");
    out.extend_from_slice(&frame[..n]);
}

/// Decodes a stream of device frames; undecodable ones are skipped.
pub fn decode_replies(bytes: &[u8]) -> Vec<DeviceMsg> {
    let mut d = FrameDecoder::new();
    let mut out = vec![];
    for &b in bytes {
        if let Some(Ok(p)) = d.push(b) {
            if let Ok(m) = decode_message(p) {
                out.push(m);
            }
        }
    }
    out
}

use inas_common::session::{Config, Session, Stepped};
use inas_common::wire::{
    decode_message, encode_message, DeviceMsg, FrameDecoder, HostMsg, MAX_FRAME,
};
