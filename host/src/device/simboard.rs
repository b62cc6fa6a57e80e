//! The in-process link to [`SimBoard`]: the device's real protocol session over simulated FRAM,
//! clocked in simulated time.
//!
//! Time advances as on a UART at `baud`: each byte each way takes its bit times, and the board's
//! work between receiving a frame and answering takes what its priced NVM says (the cost model's
//! latency of every engine operation, see [`crate::simdev::Pricing`]). Each power-down of an
//! intermittent run adds the profile's reboot latency, which the device cannot see but the
//! host's end-to-end timing does.

use std::collections::VecDeque;
use std::time::Duration;

use inas_common::session::Config;

use super::link::{byte_time, Link, LinkError};
use crate::profile::CostTable;
use crate::simdev::{Pricing, SimBoard};

/// The UART speed the board firmware uses.
pub const BAUD: u32 = 115_200;

pub struct SimLink {
    board: SimBoard,
    /// Bytes the board sent that the host has not read yet.
    pending: VecDeque<u8>,
    now: Duration,
    byte: Duration,
    reboot: Duration,
    /// Board state at the last accounting: priced seconds and boots.
    seen: (f64, u32),
}

impl SimLink {
    /// A fresh board (empty NVM) whose operations cost what `costs` says, at the board's clock.
    pub fn new(config: Config, costs: &CostTable) -> SimLink {
        let mut board = SimBoard::new(config);
        board.nvm.pricing = Some(Pricing {
            latency: costs.l,
            clock_hz: f64::from(config.clock_hz),
        });
        SimLink::over(board, Duration::from_secs_f64(costs.l.reboot.max(0.0)))
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
    fn account(&mut self) {
        let b = &self.board;
        let worked = (b.nvm.elapsed_s - self.seen.0).max(0.0);
        let boots = b.boots.wrapping_sub(self.seen.1);
        self.now += Duration::from_secs_f64(worked) + self.reboot * boots;
        self.seen = (b.nvm.elapsed_s, b.boots);
    }
}

impl Link for SimLink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.now += self.byte * bytes.len() as u32;
        let out = self.board.receive(bytes);
        self.account();
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
}
