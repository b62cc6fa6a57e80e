//! NVM as a word array with power cuts, and the reference MAC, both priced by the model.

use inas_common::engine::{Block, Engine, EngineError, Mac, Nvm, Step};
use inas_common::plan::{Plan, ValidPlan};
use inas_common::q15::{self, MacTile};
use inas_common::session::Device;

use super::Op;
use crate::profile::Side;

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
