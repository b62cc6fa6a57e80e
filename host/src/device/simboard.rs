//! The in-process link to [`SimBoard`]: the device's real protocol session over simulated FRAM,
//! clocked in simulated time.
//!
//! Time advances as on a UART at `baud`: each byte each way takes its bit times, and the board's
//! work between receiving a frame and answering takes what its priced NVM says (the cost model's
//! latency of every engine operation, see [`crate::simdev::Pricing`]). Each power-down of an
//! intermittent run adds the profile's reboot latency, which the device cannot see but the
//! host's end-to-end timing does.
//!
//! With [`SimLink::run_on`], runs are on a harvester, as the model has it: the board's
//! operations are priced in energy too, and after every power-down the board is off while the
//! harvester recharges the capacitor from what that power cycle spent (the model's recharge
//! formula, so a measurement checks the model's bookkeeping, not the physics). A power cycle
//! that spends more than the capacitor's budget would brown out at the same batch forever: the
//! link says so instead of waiting.

use std::collections::VecDeque;
use std::time::Duration;

use inas_common::session::Config;

use super::link::{byte_time, Link, LinkError, Phase};
use crate::profile::CostTable;
use crate::simdev::{Pricing, SimBoard};
use crate::supply::{Capacitor, Harvester, Recharge};

/// The UART speed the board firmware uses.
pub const BAUD: u32 = 115_200;

pub struct SimLink {
    board: SimBoard,
    /// Bytes the board sent that the host has not read yet.
    pending: VecDeque<u8>,
    now: Duration,
    byte: Duration,
    reboot: Duration,
    reboot_j: f64,
    /// Board state at the last accounting: priced seconds and boots.
    seen: (f64, u32),
    /// The supply of runs, if they are harvested, and whether a run is in progress.
    harvest: Option<Harvest>,
    running: bool,
}

/// A run's supply on the simulated board.
#[derive(Clone, Copy, Debug)]
struct Harvest {
    cap: Capacitor,
    harvester: Harvester,
    /// Energy of a boot, which the NVM's pricing does not see.
    reboot_j: f64,
}

impl SimLink {
    /// A fresh board (empty NVM) whose operations cost what `costs` says, at the board's clock.
    pub fn new(config: Config, costs: &CostTable) -> SimLink {
        let mut board = SimBoard::new(config);
        board.nvm.pricing = Some(Pricing {
            latency: costs.l,
            energy: costs.e,
            clock_hz: f64::from(config.clock_hz),
        });
        let mut link = SimLink::over(board, Duration::from_secs_f64(costs.l.reboot.max(0.0)));
        link.reboot_j = costs.e.reboot;
        link
    }

    /// Runs (not transfers) from now on draw from `cap`, recharged by `harvester`.
    pub fn run_on(&mut self, cap: Capacitor, harvester: Harvester) {
        self.harvest = Some(Harvest {
            cap,
            harvester,
            reboot_j: self.reboot_j,
        });
    }

    /// A link to a board set up by the caller (its NVM, pricing and power cuts), each power
    /// cycle costing `reboot` of host-visible time.
    pub fn over(board: SimBoard, reboot: Duration) -> SimLink {
        let seen = (board.nvm.elapsed_s, board.boots);
        SimLink {
            board,
            pending: VecDeque::new(),
            now: Duration::ZERO,
            byte: byte_time(BAUD),
            reboot,
            seen,
            harvest: None,
            running: false,
            reboot_j: 0.0,
        }
    }

    pub fn board(&self) -> &SimBoard {
        &self.board
    }

    /// The board, to arm power cuts or inspect its NVM between exchanges.
    pub fn board_mut(&mut self) -> &mut SimBoard {
        &mut self.board
    }

    /// Charges the board's work since the last call to the clock: its priced operations, and a
    /// reboot for every boot (after an intermittent power-down, a power failure, or power-on).
    fn account(&mut self) -> Result<(), LinkError> {
        let b = &self.board;
        let worked = (b.nvm.elapsed_s - self.seen.0).max(0.0);
        let boots = b.boots.wrapping_sub(self.seen.1);
        self.now += Duration::from_secs_f64(worked) + self.reboot * boots;
        self.seen = (b.nvm.elapsed_s, b.boots);
        let cycles = std::mem::take(&mut self.board.cycles_j);
        let Some(h) = self.harvest.filter(|_| self.running) else {
            return Ok(());
        };
        for (spent, booted) in cycles {
            let spent = spent + if booted { h.reboot_j } else { 0.0 };
            let off = if spent > 0.0 {
                h.harvester
                    .recharge_time_s(&h.cap, spent)
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| LinkError::Closed {
                        link: self.describe(),
                        what: format!(
                            "a power cycle spent {:.1} µJ, more than the capacitor's budget of {:.1} µJ: on this harvester the board would brown out at that batch forever",
                            spent * 1e6,
                            h.cap.budget_j() * 1e6
                        ),
                    })?
            } else {
                Duration::ZERO
            };
            self.now += off;
        }
        Ok(())
    }
}

impl Link for SimLink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.now += self.byte * bytes.len() as u32;
        let out = self.board.receive(bytes);
        self.account()?;
        self.pending.extend(out);
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Duration) -> Result<usize, LinkError> {
        if self.pending.is_empty() || buf.is_empty() {
            self.now = self.now.max(deadline);
            return Ok(0);
        }
        let mut n = 0;
        while n < buf.len() && (n == 0 || self.now + self.byte <= deadline) {
            let Some(b) = self.pending.pop_front() else {
                break;
            };
            buf[n] = b;
            n += 1;
            self.now += self.byte;
        }
        Ok(n)
    }

    fn now(&self) -> Duration {
        self.now
    }

    fn describe(&self) -> String {
        "simboard".into()
    }

    fn phase(&mut self, phase: Phase) -> Result<(), LinkError> {
        self.running = phase == Phase::Run;
        if self.running {
            // Onto a charged capacitor, as a board moved from USB power to the harvester.
            self.board.start_cycle();
        }
        Ok(())
    }
}
