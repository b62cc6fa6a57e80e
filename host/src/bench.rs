//! `inas bench`: the firmware's speed in device cycles, over any link — the MAC kernel and the
//! transfers (microbenchmarks), a batch's bookkeeping, a boot, and whole plans end to end.
//!
//! A boot cannot time itself (the cycle counter starts after it), so it is measured from the
//! outside: the same plan runs once continuously and once intermittently on steady power, and
//! the host's latency difference (on the virtual LaunchPad, simulated time; on a board, wall
//! time) divided by the extra power cycles is what each power-down, reset, start-up and
//! session boot costs.

use serde::Serialize;

use crate::calibrate::{self, Fit};
use crate::device::client::ClientError;
use crate::device::{Client, Link};
use crate::model::{Overrides, Power};
use crate::network::Dataset;
use crate::planner::{self, random_input, RandomPlanError};
use crate::profile::Profile;
use inas_common::plan::{LayerKind, ValidPlan};
use inas_common::wire::{BenchKind, RunMode};

/// A plan to time.
#[derive(Clone, Debug)]
pub struct BenchPlan {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The three plans of the firmware-speed work, as `inas plan random … --cap 5mF --rehm 41`
/// makes them under the reference profile: the demo's HAR winner, a larger HAR network with
/// the continuous-power baseline's designs, and the KWS reference network likewise.
pub fn reference_plans() -> Result<Vec<BenchPlan>, RandomPlanError> {
    let profile = Profile::reference();
    let overrides = Overrides {
        capacitance_f: Some(5e-3),
        r_ohm: Some(41.0),
        ..Overrides::default()
    };
    type Case<'a> = (&'a str, Dataset, Option<&'a [u32]>, Power, u64);
    let cases: [Case; 3] = [
        (
            "har 5,4,1,8,5,4 int seed 1",
            Dataset::Har,
            Some(&[5, 4, 1, 8, 5, 4]),
            Power::Int,
            1,
        ),
        (
            "har 5,16,5,24,5,16 cont seed 2",
            Dataset::Har,
            Some(&[5, 16, 5, 24, 5, 16]),
            Power::Cont,
            2,
        ),
        (
            "kws reference cont seed 3",
            Dataset::Kws,
            None,
            Power::Cont,
            3,
        ),
    ];
    cases
        .into_iter()
        .map(|(name, dataset, arch, power, seed)| {
            let space = dataset.space();
            let arch = arch.unwrap_or(space.example);
            let bytes = planner::random_plan(&profile, overrides, space, arch, power, seed)?;
            Ok(BenchPlan {
                name: name.to_owned(),
                bytes,
            })
        })
        .collect()
}

/// Multiply-accumulates of one inference (GAP: one per input element).
pub fn macs(plan: &ValidPlan) -> u64 {
    plan.layers()
        .iter()
        .map(|l| {
            if l.kind == LayerKind::GlobalAvgPool {
                u64::from(l.input.elements())
            } else {
                u64::from(l.output.elements())
                    * u64::from(l.kh)
                    * u64::from(l.kw)
                    * u64::from(l.input.c)
            }
        })
        .sum()
}

/// One plan, run once in each mode on steady power.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanFigures {
    pub name: String,
    pub macs: u64,
    /// Device-counted on-time of the intermittent run (one batch per power cycle) and of the
    /// continuous one.
    pub on_time_int_s: f64,
    pub on_time_cont_s: f64,
    pub power_cycles_int: u32,
    pub power_cycles_cont: u32,
    /// Host-timed latency of both runs (start-up and boots included).
    pub latency_int_s: f64,
    pub latency_cont_s: f64,
    /// Intermittent on-time in device cycles per MAC: everything the firmware spends, over
    /// the network's work.
    pub cycles_per_mac: f64,
}

/// Everything `inas bench` measured, in device cycles unless the name says otherwise.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    pub device: String,
    pub firmware: String,
    pub clock_hz: u32,
    /// MAC kernel, one output of n products per call: cycles per product (slope); the intercept
    /// is a call plus an output.
    pub mac: Fit,
    /// MAC kernel, one call of n outputs of 8 products each: cycles per output (slope).
    pub outputs: Fit,
    /// What an output costs beyond its products (preload, finish, add, store), and what a call
    /// costs beyond its outputs.
    pub per_output: f64,
    pub per_call: f64,
    /// GAP: one channel pooled over n pixels (cycles per element), when the firmware has it.
    pub pool: Option<Fit>,
    pub read: Fit,
    pub write: Fit,
    /// A batch's bookkeeping: footprint read and commit, counter commit.
    pub batch_cycles: f64,
    /// A power cycle's fixed cost (power-down, reset, start-up, session boot), from the plans.
    pub boot_cycles: Option<f64>,
    pub plans: Vec<PlanFigures>,
}

/// Runs the benchmarks. `progress(done, total)` follows them.
pub fn run<L: Link>(
    client: &mut Client<L>,
    plans: &[BenchPlan],
    reps: u16,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Figures, ClientError> {
    let total = 3 + plans.len();
    progress(0, total);
    let cal = calibrate::measure(client, reps, &mut |_, _| {})?;
    progress(1, total);
    let reps = reps.max(1);
    let mut points = vec![];
    for n in calibrate::sizes(64) {
        let cycles = client.bench(BenchKind::Outputs, n, reps)?;
        points.push(calibrate::Point { n, reps, cycles });
    }
    let outputs = calibrate::fit(points).ok_or_else(|| ClientError::Unexpected {
        what: "fitting the outputs benchmark".into(),
        got: "fewer than two sizes".into(),
    })?;
    let per_output = outputs.slope - 8.0 * cal.mac.slope;
    let per_call = cal.mac.intercept - per_output;
    progress(2, total);
    let batch_cycles = client.bench(BenchKind::Batch, 0, reps)? as f64 / f64::from(reps);
    progress(3, total);
    let hz = f64::from(cal.clock_hz.max(1));
    let mut figures = vec![];
    for (i, p) in plans.iter().enumerate() {
        let (_, valid) =
            planner::open(&p.bytes).map_err(|e| ClientError::BadPlan(e.to_string()))?;
        let layers = valid.layers().len() as u16;
        client.deploy(&p.bytes, &mut |_, _| {})?;
        let input = random_input(valid.meta().input.elements() as usize, 1);
        let mut run = |mode| -> Result<_, ClientError> {
            let r = client.infer(&input, mode, layers)?;
            Ok((
                r.result.on_cycles.get() as f64 / hz,
                r.result.power_cycles,
                r.host_latency.as_secs_f64(),
            ))
        };
        let (on_int, pc_int, lat_int) = run(RunMode::Intermittent)?;
        let (on_cont, pc_cont, lat_cont) = run(RunMode::Continuous)?;
        let n = macs(&valid);
        figures.push(PlanFigures {
            name: p.name.clone(),
            macs: n,
            on_time_int_s: on_int,
            on_time_cont_s: on_cont,
            power_cycles_int: pc_int,
            power_cycles_cont: pc_cont,
            latency_int_s: lat_int,
            latency_cont_s: lat_cont,
            cycles_per_mac: on_int * hz / n.max(1) as f64,
        });
        progress(4 + i, total);
    }
    // The plan with the most extra power cycles pins a boot down best.
    let boot_cycles = figures
        .iter()
        .filter(|f| f.power_cycles_int > f.power_cycles_cont)
        .max_by_key(|f| f.power_cycles_int - f.power_cycles_cont)
        .map(|f| {
            (f.latency_int_s - f.latency_cont_s) * hz
                / f64::from(f.power_cycles_int - f.power_cycles_cont)
        });
    Ok(Figures {
        device: cal.device.clone(),
        firmware: cal.firmware.clone(),
        clock_hz: cal.clock_hz,
        mac: cal.mac,
        outputs,
        per_output,
        per_call,
        pool: cal.pool,
        read: cal.read,
        write: cal.write,
        batch_cycles,
        boot_cycles,
        plans: figures,
    })
}

impl Figures {
    /// The report as a table.
    pub fn table(&self) -> String {
        let hz = f64::from(self.clock_hz.max(1));
        let ms = |cycles: f64| cycles / hz * 1e3;
        let mut out = format!(
            "{} firmware {} at {} MHz: device cycles\n",
            self.device,
            self.firmware,
            self.clock_hz as f64 / 1e6
        );
        out += &format!(
            "MAC kernel      {:>8.2} per MAC  {:>8.1} per output {:>8.1} per call\n",
            self.mac.slope, self.per_output, self.per_call
        );
        if let Some(p) = &self.pool {
            out += &format!(
                "GAP pooling     {:>8.2} per element {:>5.1} per call\n",
                p.slope, p.intercept
            );
        }
        for (name, f) in [("NVM read", &self.read), ("NVM write", &self.write)] {
            out += &format!(
                "{name:<15} {:>8.2} per word {:>8.1} per call\n",
                f.slope, f.intercept
            );
        }
        out += &format!(
            "batch bookkeeping {:>8.0}  ({:.3} ms: footprint read and commit, counter commit)\n",
            self.batch_cycles,
            ms(self.batch_cycles)
        );
        match self.boot_cycles {
            Some(b) => {
                out += &format!(
                    "boot            {b:>8.0}  ({:.3} ms per power cycle: power-down, reset, \
                     start-up, session boot)\n",
                    ms(b)
                )
            }
            None => out += "boot            (no plan ran more power cycles intermittently)\n",
        }
        out += &format!(
            "\n{:<32} {:>9} {:>11} {:>8} {:>11} {:>12}\n",
            "plan", "MACs", "on-time s", "cycles", "cont. s", "cycles/MAC"
        );
        for p in &self.plans {
            out += &format!(
                "{:<32} {:>9} {:>11.4} {:>8} {:>11.4} {:>12.1}\n",
                p.name,
                p.macs,
                p.on_time_int_s,
                p.power_cycles_int,
                p.on_time_cont_s,
                p.cycles_per_mac
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_plans_are_the_issues_and_count_their_macs() {
        let plans = reference_plans().unwrap();
        let counts: Vec<u64> = plans
            .iter()
            .map(|p| macs(&planner::open(&p.bytes).unwrap().1))
            .collect();
        // HAR 5,4,1,8,5,4: 124·4·5·9 + 124·8·4 + 120·4·5·8 + 120·4 (GAP) + 6·4.
        assert_eq!(counts[0], 22_320 + 3_968 + 19_200 + 480 + 24);
        assert!(counts[1] > 500_000 && counts[1] < 600_000, "{counts:?}");
        assert!(counts[2] > 30_000 && counts[2] < 34_000, "{counts:?}");
    }
}
