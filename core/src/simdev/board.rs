//! A whole simulated device: the shared session over a [`SimNvm`], speaking the wire protocol.

use inas_common::session::{Config, Session, Stepped};
use inas_common::wire::{
    decode_message, encode_message, DeviceMsg, FrameDecoder, HostMsg, MAX_FRAME,
};

use super::{Cut, PowerFail, SimNvm};

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
