//! Calibration: fits the latency side of a platform profile's linear cost model to a device's
//! microbenchmarks.
//!
//! The firmware times `reps` repetitions of one primitive on `n` words with its cycle counter:
//! NVM→VM and VM→NVM block transfers and MACs of several lengths, and a footprint commit. A
//! least-squares line through cycles per repetition against `n` gives each primitive's slope
//! and intercept. The device's cycles are converted to the profile's cost-model clock, so the
//! result drops into a profile that `explore` and `search` accept; what benchmarks cannot see
//! (energy, CPU operations, addressing overheads, reboot) is kept from the base profile and the
//! profile's description says so.

pub mod layers;

use serde::Serialize;

use crate::device::client::{device_name, ClientError};
use crate::device::{Client, Link};
use crate::profile::{Affine, ConstantsFrom, Profile, ProfileError};
use inas_common::wire::{BenchKind, Capabilities, ErrorCode};

/// One benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    pub n: u16,
    pub reps: u16,
    /// Device cycles for all repetitions.
    pub cycles: u64,
}

impl Point {
    pub fn per_rep(&self) -> f64 {
        self.cycles as f64 / f64::from(self.reps.max(1))
    }
}

/// A least-squares line through one primitive's points, in device cycles per repetition.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    pub slope: f64,
    pub intercept: f64,
    /// Coefficient of determination (1 = the points lie on the line).
    pub r2: f64,
    /// Largest |measured − fitted| / measured over the points, in %.
    pub max_residual_pct: f64,
    pub points: Vec<Point>,
}

impl Fit {
    pub fn at(&self, n: f64) -> f64 {
        self.slope * n + self.intercept
    }
}

/// Least squares of `y = slope · x + intercept`; `None` with fewer than two distinct x.
pub fn fit_line(points: &[(f64, f64)]) -> Option<(f64, f64, f64)> {
    let k = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / k;
    let my = points.iter().map(|p| p.1).sum::<f64>() / k;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = points
        .iter()
        .map(|p| (p.1 - (slope * p.0 + intercept)).powi(2))
        .sum();
    let r2 = if syy > 0.0 { 1.0 - sse / syy } else { 1.0 };
    Some((slope, intercept, r2))
}

pub fn fit(points: Vec<Point>) -> Option<Fit> {
    let xy: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (f64::from(p.n), p.per_rep()))
        .collect();
    let (slope, intercept, r2) = fit_line(&xy)?;
    let max_residual_pct = xy
        .iter()
        .map(|&(x, y)| ((y - (slope * x + intercept)) / y.abs().max(1e-12)).abs() * 100.0)
        .fold(0.0, f64::max);
    Some(Fit {
        slope,
        intercept,
        r2,
        max_residual_pct,
        points,
    })
}

/// Everything a calibration measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    pub device: String,
    pub firmware: String,
    pub clock_hz: u32,
    pub vm_bytes: u32,
    pub nvm_bytes: u32,
    pub read: Fit,
    pub write: Fit,
    /// One transfer of n one-word blocks, when the firmware offers it: the slope is what a
    /// block costs inside a multi-block transfer (the model's per-transfer constant).
    pub read_blocks: Option<Fit>,
    pub write_blocks: Option<Fit>,
    pub mac: Fit,
    /// One pooled channel of n elements (`Mac::pool`), when the firmware benchmarks it.
    pub pool: Option<Fit>,
    /// Footprint commit (a 3-word and a 1-word write): measured, and what the write fit
    /// predicts for it, in device cycles.
    pub commit_cycles: f64,
    pub commit_predicted_cycles: f64,
    /// Device cycles of a boot, when the firmware can time it.
    pub boot_cycles: Option<f64>,
    /// What could not be measured, and other remarks.
    pub notes: Vec<String>,
    /// The whole-layer constants ([`layers`]), when calibration plans were measured.
    pub layers: Option<layers::LayerFit>,
}

/// Benchmark sizes: 1, 2, 3, 4, 6, 8, 12, … up to `max` words (and `max` itself).
pub fn sizes(max: u16) -> Vec<u16> {
    let mut out = vec![];
    let mut p: u32 = 1;
    while p <= u32::from(max) {
        out.push(p as u16);
        let mid = p + p / 2;
        if p >= 2 && mid <= u32::from(max) {
            out.push(mid as u16);
        }
        p *= 2;
    }
    if max > 0 && out.last() != Some(&max) {
        out.push(max);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Runs every benchmark on the device and fits the lines. `progress(done, total)` follows it.
pub fn measure<L: Link>(
    client: &mut Client<L>,
    reps: u16,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Calibration, ClientError> {
    let caps: Capabilities = client.hello()?;
    let vm_words = u16::try_from(caps.vm_bytes / 2).unwrap_or(u16::MAX);
    let transfer = sizes(vm_words);
    let macs = sizes(vm_words / 2);
    let total = 2 * transfer.len() + macs.len() + 1;
    let mut done = 0;
    let reps = reps.max(1);
    let mut run = |client: &mut Client<L>, kind, sizes: &[u16]| -> Result<Vec<Point>, _> {
        let mut points = vec![];
        for &n in sizes {
            let cycles = client.bench(kind, n, reps)?;
            points.push(Point { n, reps, cycles });
            done += 1;
            progress(done, total);
        }
        Ok::<_, ClientError>(points)
    };
    let read = run(client, BenchKind::Read, &transfer)?;
    let write = run(client, BenchKind::Write, &transfer)?;
    let mac = run(client, BenchKind::Mac, &macs)?;
    let commit = run(client, BenchKind::Commit, &[4])?;
    let mut notes = vec![];
    // Blocks inside one transfer: a firmware that moves a tile in one call pays its call once.
    let blocks = sizes(vm_words.min(512));
    let block_fit = |client: &mut Client<L>, kind| -> Result<Option<Fit>, ClientError> {
        let mut points = vec![];
        for &n in &blocks {
            match client.bench(kind, n, reps) {
                Ok(cycles) => points.push(Point { n, reps, cycles }),
                Err(ClientError::Device {
                    code: ErrorCode::Unsupported,
                    ..
                }) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(fit(points))
    };
    let read_blocks = block_fit(client, BenchKind::ReadBlocks)?;
    let write_blocks = block_fit(client, BenchKind::WriteBlocks)?;
    let pool = block_fit(client, BenchKind::Pool)?;
    if read_blocks.is_none() || write_blocks.is_none() {
        notes.push(
            "transfers: this firmware has no block benchmarks; a transfer's constant is a \
             whole call's"
                .into(),
        );
    }
    let boot_cycles = match client.bench(BenchKind::Boot, 0, 1) {
        Ok(c) => Some(c as f64),
        Err(ClientError::Device {
            code: ErrorCode::Unsupported,
            ..
        }) => {
            notes.push(
                "boot: this firmware cannot time its own boot; reboot.latency_s is the base \
                 profile's"
                    .into(),
            );
            None
        }
        Err(e) => return Err(e),
    };
    let too_few = |what: &str| ClientError::Unexpected {
        what: format!("fitting {what}"),
        got: "fewer than two benchmark sizes (VM too small)".into(),
    };
    let read = fit(read).ok_or_else(|| too_few("reads"))?;
    let write = fit(write).ok_or_else(|| too_few("writes"))?;
    let mac = fit(mac).ok_or_else(|| too_few("MACs"))?;
    let commit_cycles = commit.first().map_or(0.0, Point::per_rep);
    let commit_predicted_cycles = write.at(3.0) + write.at(1.0);
    Ok(Calibration {
        device: device_name(&caps),
        firmware: format!(
            "{}.{}.{}",
            caps.firmware[0], caps.firmware[1], caps.firmware[2]
        ),
        clock_hz: caps.clock_hz,
        vm_bytes: caps.vm_bytes,
        nvm_bytes: caps.nvm_bytes,
        read,
        write,
        read_blocks,
        write_blocks,
        mac,
        pool,
        commit_cycles,
        commit_predicted_cycles,
        boot_cycles,
        notes,
        layers: None,
    })
}

impl Calibration {
    /// The base profile with this device's memories and fitted transfer and MAC cycles (in the
    /// base's cost-model clock). Negative intercepts (noise around zero) become 0, noted.
    ///
    /// With `active_power_w`, every energy is re-priced as the matching latency at that power
    /// (a CPU-bound MCU draws about the same while active, whatever it does); without it the
    /// energies stay the base profile's.
    pub fn profile(
        &self,
        base: &Profile,
        name: &str,
        active_power_w: Option<f64>,
    ) -> Result<(Profile, Vec<String>), ProfileError> {
        let scale = base.clock.cost_model_hz / f64::from(self.clock_hz.max(1));
        let mut notes = self.notes.clone();
        let mut line = |what: &str, f: &Fit| {
            let (slope, intercept) = (f.slope * scale, f.intercept * scale);
            for (part, v) in [("slope", slope), ("intercept", intercept)] {
                if v < 0.0 {
                    notes.push(format!(
                        "{what}: fitted {part} {v:.3} cycles is negative, written as 0"
                    ));
                }
            }
            Affine {
                slope: slope.max(0.0),
                intercept: intercept.max(0.0),
            }
        };
        let mut p = base.clone();
        p.transfer.read.cycles = line("transfer.read", &self.read);
        p.transfer.write.cycles = line("transfer.write", &self.write);
        // The model prices every block as one transfer: with the block benchmarks, its constant
        // is what a block adds inside a tile transfer, and the calls' own cost is left to the
        // whole-layer fit (per tile).
        for (l, blocks, words) in [
            (&mut p.transfer.read.cycles, &self.read_blocks, &self.read),
            (
                &mut p.transfer.write.cycles,
                &self.write_blocks,
                &self.write,
            ),
        ] {
            if let Some(b) = blocks {
                l.intercept = ((b.slope - words.slope) * scale).max(0.0);
            }
        }
        p.mac.cycles = line("mac", &self.mac);
        if let Some(pool) = &self.pool {
            // Per pooled element; the call's constant is the tile's and the output's, which
            // the layer fit prices.
            p.ops.pool.cycles = (pool.slope * scale).max(0.0);
        }
        if let Some(boot) = self.boot_cycles {
            p.reboot.latency_s = boot / f64::from(self.clock_hz.max(1));
        }
        if let Some(fit) = &self.layers {
            // The reboot is fitted now, not the base's.
            notes.retain(|n| !n.starts_with("boot:"));
            fit.apply(&mut p);
            for what in &fit.unexcited {
                notes.push(format!(
                    "{what}: no calibration layer exercises it; written as 0"
                ));
            }
            for what in &fit.clamped {
                notes.push(format!(
                    "{what}: the layer fit wanted it negative; written as 0"
                ));
            }
        }
        let energy = match active_power_w {
            Some(w) if w > 0.0 && p.reboot.latency_s > 0.0 => {
                price_energy(&mut p, w);
                format!("energy priced at {:.3} mW active", w * 1e3)
            }
            Some(_) => {
                notes.push(
                    "energy: no positive active power or reboot time to price it with; kept \
                     the base profile's"
                        .into(),
                );
                format!("energy from profile '{}'", base.name)
            }
            None => format!("energy from profile '{}'", base.name),
        };
        // The reference's quirks describe the reference's code, not a calibrated firmware.
        p.quirks = Default::default();
        p.memory.vm_bytes = u64::from(self.vm_bytes);
        p.memory.nvm_bytes = u64::from(self.nvm_bytes);
        p.name = name.to_owned();
        p.description =
            match &self.layers {
                Some(fit) => format!(
                "{} firmware {} calibrated at {} Hz: transfer and MAC cycles fitted (r2 {:.6}, \
                 {:.6}, {:.6}); CPU ops, overheads and reboot fitted to {} measured layers (max \
                 error {:.2} %, rms {:.2} %); {}",
                self.device,
                self.firmware,
                self.clock_hz,
                self.read.r2,
                self.write.r2,
                self.mac.r2,
                fit.points.len(),
                fit.max_error_pct,
                fit.rms_error_pct,
                energy
            ),
                None => format!(
                "{} firmware {} calibrated at {} Hz: transfer and MAC cycles fitted (r2 {:.6}, \
                 {:.6}, {:.6}); CPU ops, overheads{} from profile '{}'; {}",
                self.device,
                self.firmware,
                self.clock_hz,
                self.read.r2,
                self.write.r2,
                self.mac.r2,
                if self.boot_cycles.is_some() { "" } else { ", reboot" },
                base.name,
                energy
            ),
            };
        // Round-trip through the validator: what we write must load.
        let text = toml::to_string(&p).map_err(|e| ProfileError::Invalid {
            origin: name.to_owned(),
            what: e.to_string(),
        })?;
        let checked = Profile::from_toml(&text, name)?;
        Ok((checked, notes))
    }
}

/// Sets every energy of `p` to its latency at `watts` (the latency the model uses, quirks
/// included, so that energy / latency is the same power everywhere).
fn price_energy(p: &mut Profile, watts: f64) {
    let hz = p.clock.cost_model_hz;
    let per_cycle = watts / hz;
    // Overheads first: a count-priced latency may read the energy constants (quirk Q1).
    let (la, lm) = (p.ops.add.cycles / hz, p.ops.mul.cycles / hz);
    let (ea, em) = (p.ops.add.energy_j, p.ops.mul.energy_j);
    for (_, oh) in p.overheads.named_mut() {
        let l = &oh.latency;
        let seconds = match (l.cycles, l.latency_from) {
            (Some(c), _) => c / hz,
            (None, ConstantsFrom::Latency) => (la * f64::from(l.add)) + (lm * f64::from(l.mul)),
            (None, ConstantsFrom::Energy) => (ea * f64::from(l.add)) + (em * f64::from(l.mul)),
        };
        // Pinned in cycles: the latency no longer depends on the energies being replaced.
        oh.latency.cycles = Some(seconds * hz);
        oh.energy.energy_j = Some(seconds * watts);
    }
    for l in [&mut p.transfer.read, &mut p.transfer.write, &mut p.mac] {
        l.energy_j = Affine {
            slope: l.cycles.slope * per_cycle,
            intercept: l.cycles.intercept * per_cycle,
        };
    }
    for op in [
        &mut p.ops.add,
        &mut p.ops.mul,
        &mut p.ops.pool,
        &mut p.ops.output,
        &mut p.ops.tile,
    ] {
        op.energy_j = op.cycles * per_cycle;
    }
    p.reboot.energy_j = p.reboot.latency_s * watts;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_recovered_exactly() {
        let pts: Vec<(f64, f64)> = (1..10).map(|n| (n as f64, 3.5 * n as f64 + 7.0)).collect();
        let (s, i, r2) = fit_line(&pts).unwrap();
        assert!((s - 3.5).abs() < 1e-12 && (i - 7.0).abs() < 1e-9, "{s} {i}");
        assert!((r2 - 1.0).abs() < 1e-12);
        assert_eq!(fit_line(&[(1.0, 2.0)]), None);
        assert_eq!(fit_line(&[(1.0, 2.0), (1.0, 3.0)]), None);
    }

    #[test]
    fn sizes_grow_geometrically_up_to_the_limit() {
        assert_eq!(sizes(16), vec![1, 2, 3, 4, 6, 8, 12, 16]);
        assert_eq!(sizes(10), vec![1, 2, 3, 4, 6, 8, 10]);
        assert_eq!(sizes(1), vec![1]);
        assert!(sizes(0).is_empty());
    }
}
