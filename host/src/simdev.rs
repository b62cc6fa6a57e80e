//! A simulated device for the engine: plain-memory NVM and MAC, with power failures injected at
//! chosen NVM writes (before a write, after it, or torn after any of its words).

use inas_common::engine::{Block, Mac, Nvm};
use inas_common::q15;

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
}

impl SimNvm {
    pub fn new(words: usize) -> SimNvm {
        SimNvm {
            words: vec![0; words],
            writes: 0,
            write_lens: vec![],
            cut: None,
            failures: 0,
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

    fn read(&mut self, _block: Block, addr: u32, buf: &mut [i16]) -> Result<(), PowerFail> {
        let r = self.range(addr, buf.len());
        buf.copy_from_slice(&self.words[r]);
        Ok(())
    }

    fn write(&mut self, _block: Block, addr: u32, data: &[i16]) -> Result<(), PowerFail> {
        let r = self.range(addr, data.len());
        let index = self.writes;
        self.writes += 1;
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

/// The reference MAC: exactly `q15::dot`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimMac;

impl Mac for SimMac {
    type Error = PowerFail;
    fn dot(&mut self, x: &[i16], w: &[i16]) -> Result<i32, PowerFail> {
        Ok(q15::dot(x, w))
    }
}

impl SimNvm {
    /// An NVM sized for a plan, with its tensor section in place.
    pub fn for_plan(plan: &inas_common::plan::ValidPlan<'_>) -> SimNvm {
        let layout = plan.layout();
        let mut nvm = SimNvm::new(layout.total_words as usize);
        let p = plan.plan();
        for i in 0..p.tensor_elements() {
            nvm.words[(layout.tensors + i) as usize] = p.tensor_value(i);
        }
        nvm
    }
}
