//! Simulated devices for the engine, on the host: `nvm` (plain-memory NVM and MAC, power cut at
//! any chosen write, torn after any of its words), `energy` (every operation drawn from a
//! capacitor, the paper's contract) and `board` (the device's session over that NVM, speaking
//! the wire protocol). This is the host-side engine simulation; the emulated MSP430 board that
//! runs the firmware itself is the `inas-emu` crate.

mod board;
mod energy;
mod nvm;

pub use board::{decode_replies, SimBoard};
pub use energy::{EnergyDevice, EnergyRun};
pub use nvm::{run_with_cuts, write_log, Cut, PowerFail, Pricing, SimNvm};

use inas_common::engine::Block;

use crate::profile::Side;

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
