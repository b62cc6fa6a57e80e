//! The energy-driven device: every engine operation drawn from the capacitor.

use inas_common::engine::{Block, Engine, EngineError, Mac, Nvm, Step};
use inas_common::plan::ValidPlan;
use inas_common::q15::MacTile;

use super::{Cut, Op, PowerFail, SimNvm};
use crate::profile::CostTable;
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
        // Drawn in full: the products themselves are the reference MAC's.
        self.nvm.mac(x, w, out, tile, relu)
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
        self.nvm.pool(x, w, out, pixels, shift, relu)
    }
}
