//! Platform profiles: every platform constant the performance model uses, as data.
//!
//! A profile is a TOML file (`profiles/*.toml`); the built-in ones are embedded in the binary and
//! any other can be loaded from a file. [`Profile`] is the parsed, validated file; [`CostTable`]
//! is what the model evaluates, derived from it once.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::supply::{Capacitor, Harvester, Recharge, SupplyError};

/// Built-in profiles: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("reference", include_str!("../profiles/reference.toml")),
    (
        "msp430fr5994-emu",
        include_str!("../profiles/msp430fr5994-emu.toml"),
    ),
];

#[derive(Debug, Error)]
pub enum ProfileError {
    #[error(
        "unknown built-in profile '{0}' (built-in: {1}); pass a path to a .toml file for others"
    )]
    Unknown(String, String),
    #[error("cannot read profile {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("profile {origin} is not valid TOML for a platform profile: {error}")]
    Parse {
        origin: String,
        error: Box<toml::de::Error>,
    },
    #[error("profile {origin}: {what}")]
    Invalid { origin: String, what: String },
}

/// A platform profile, as written in its TOML file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub memory: Memory,
    pub clock: Clock,
    pub supply: SupplyDefaults,
    pub harvester: Harvester,
    pub transfer: Transfers,
    pub mac: Linear,
    pub ops: Ops,
    pub reboot: Reboot,
    pub overheads: Overheads,
    #[serde(default)]
    pub quirks: Quirks,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Volatile memory available to one layer's tile buffers.
    pub vm_bytes: u64,
    /// Non-volatile memory for weights and feature maps.
    pub nvm_bytes: u64,
    /// Bytes per tensor element (2 for q15).
    pub element_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// Cycles per second used to turn cycle counts into seconds.
    pub cost_model_hz: f64,
}

/// The capacitor a run uses unless told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplyDefaults {
    pub capacitance_f: f64,
    pub v_on: f64,
    pub v_off: f64,
    /// Fraction of the capacitor's energy between Von and Voff that one power cycle may spend.
    pub margin: f64,
}

/// `slope * n + intercept`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Affine {
    pub slope: f64,
    pub intercept: f64,
}

/// A primitive whose cost is linear in the number of elements it touches.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Linear {
    pub energy_j: Affine,
    pub cycles: Affine,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfers {
    /// NVM -> VM, one block transfer.
    pub read: Linear,
    /// VM -> NVM, one block transfer.
    pub write: Linear,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    pub energy_j: f64,
    pub cycles: f64,
}

impl Op {
    fn is_zero(&self) -> bool {
        *self == Op::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ops {
    pub add: Op,
    pub mul: Op,
    /// Per-element pooling operation.
    pub pool: Op,
    /// Per output element and input-channel tile: finishing a sum (rescale, saturate, add to
    /// the partial sum). The reference prices none; calibration measures it.
    #[serde(default, skip_serializing_if = "Op::is_zero")]
    pub output: Op,
    /// Per tile: setting one up (the reference prices none; calibration measures it).
    #[serde(default, skip_serializing_if = "Op::is_zero")]
    pub tile: Op,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reboot {
    pub energy_j: f64,
    pub latency_s: f64,
}

/// Which constants price an overhead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConstantsFrom {
    #[default]
    Latency,
    /// Latency priced with the energy constants (the reference's quirk Q1).
    Energy,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpCounts {
    pub add: u32,
    pub mul: u32,
    #[serde(default)]
    pub latency_from: ConstantsFrom,
    /// Latency only: cycles measured on a device (`inas calibrate`), used instead of the
    /// add/mul counts. A calibrated firmware's overheads are whatever its code does, not a
    /// whole number of additions and multiplications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycles: Option<f64>,
    /// Energy only: joules, used instead of the add/mul counts (a calibrated profile prices an
    /// overhead's measured time at the board's active power).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_j: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overhead {
    pub energy: OpCounts,
    pub latency: OpCounts,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overheads {
    pub fetch_ifm: Overhead,
    pub fetch_weights: Overhead,
    pub fetch_psum_i: Overhead,
    pub fetch_psum_w: Overhead,
    pub fetch_psum_o: Overhead,
    pub backup_out_i: Overhead,
    pub backup_out_w: Overhead,
    pub backup_out_o: Overhead,
    pub psum_addressing: Overhead,
    pub accumulate_addressing: Overhead,
    pub pool_addressing: Overhead,
    /// Per power cycle, on top of the footprint's own transfers: what a firmware spends to
    /// find its place and commit a batch (the reference has none; calibration measures it).
    #[serde(default, skip_serializing_if = "Overhead::is_zero")]
    pub footprint: Overhead,
}

impl Overheads {
    /// Every overhead with its key, in file order.
    pub fn named_mut(&mut self) -> [(&'static str, &mut Overhead); 12] {
        [
            ("fetch_ifm", &mut self.fetch_ifm),
            ("fetch_weights", &mut self.fetch_weights),
            ("fetch_psum_i", &mut self.fetch_psum_i),
            ("fetch_psum_w", &mut self.fetch_psum_w),
            ("fetch_psum_o", &mut self.fetch_psum_o),
            ("backup_out_i", &mut self.backup_out_i),
            ("backup_out_w", &mut self.backup_out_w),
            ("backup_out_o", &mut self.backup_out_o),
            ("psum_addressing", &mut self.psum_addressing),
            ("accumulate_addressing", &mut self.accumulate_addressing),
            ("pool_addressing", &mut self.pool_addressing),
            ("footprint", &mut self.footprint),
        ]
    }
}

impl Overhead {
    fn is_zero(&self) -> bool {
        *self == Overhead::default()
    }
}

/// Behaviours of the reference model that a faithful profile reproduces and a profile of our own
/// firmware turns off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    /// Q2: outside the intermittent sweep, a GAP IFM tile is (Tr + H - 1) x (Tc + W - 1).
    #[serde(default)]
    pub gap_ifm_tile_with_kernel: bool,
    /// Q6: the continuous-power model backs up outputs after every tile, reuse_O included.
    #[serde(default)]
    pub cont_backup_every_tile: bool,
}

impl Profile {
    /// A built-in profile by name (`inas::profile::load` also reads files).
    pub fn builtin(name: &str) -> Result<Profile, ProfileError> {
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => Profile::from_toml(text, name),
            None => {
                let names: Vec<_> = BUILTIN.iter().map(|(n, _)| *n).collect();
                Err(ProfileError::Unknown(name.to_owned(), names.join(", ")))
            }
        }
    }

    /// Whether a `--profile` value names a file rather than a built-in profile.
    pub fn looks_like_path(name_or_path: &str) -> bool {
        !BUILTIN.iter().any(|(n, _)| *n == name_or_path)
            && (name_or_path.contains('/')
                || name_or_path.contains('\\')
                || name_or_path.ends_with(".toml"))
    }

    /// The reference profile.
    pub fn reference() -> Profile {
        Profile::from_toml(BUILTIN[0].1, "reference")
            .expect("the built-in reference profile is valid")
    }

    /// Parses and validates a profile; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Profile, ProfileError> {
        let p: Profile = toml::from_str(text).map_err(|error| ProfileError::Parse {
            origin: origin.to_owned(),
            error: Box::new(error),
        })?;
        p.validate().map_err(|what| ProfileError::Invalid {
            origin: origin.to_owned(),
            what,
        })?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), String> {
        let pos = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be a positive finite number, got {v}"))
            }
        };
        let non_neg = |what: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "{what} must be a non-negative finite number, got {v}"
                ))
            }
        };
        if self.memory.vm_bytes == 0 || self.memory.element_bytes == 0 {
            return Err("memory.vm_bytes and memory.element_bytes must be positive".into());
        }
        pos("clock.cost_model_hz", self.clock.cost_model_hz)?;
        for (what, l) in [
            ("transfer.read", self.transfer.read),
            ("transfer.write", self.transfer.write),
            ("mac", self.mac),
        ] {
            non_neg(&format!("{what}.energy_j.slope"), l.energy_j.slope)?;
            non_neg(&format!("{what}.energy_j.intercept"), l.energy_j.intercept)?;
            non_neg(&format!("{what}.cycles.slope"), l.cycles.slope)?;
            non_neg(&format!("{what}.cycles.intercept"), l.cycles.intercept)?;
        }
        for (what, op) in [
            ("ops.add", self.ops.add),
            ("ops.mul", self.ops.mul),
            ("ops.pool", self.ops.pool),
            ("ops.output", self.ops.output),
            ("ops.tile", self.ops.tile),
        ] {
            non_neg(&format!("{what}.energy_j"), op.energy_j)?;
            non_neg(&format!("{what}.cycles"), op.cycles)?;
        }
        // A copy: the one list of overheads lends them mutably.
        let mut o = self.overheads;
        for (what, oh) in o.named_mut() {
            if oh.energy.cycles.is_some() {
                return Err(format!(
                    "overheads.{what}.energy: `cycles` prices latency; give `energy_j` or add/mul counts"
                ));
            }
            if oh.latency.energy_j.is_some() {
                return Err(format!(
                    "overheads.{what}.latency: `energy_j` prices energy; give `cycles` or add/mul counts"
                ));
            }
            if let Some(c) = oh.latency.cycles {
                non_neg(&format!("overheads.{what}.latency.cycles"), c)?;
            }
            if let Some(j) = oh.energy.energy_j {
                non_neg(&format!("overheads.{what}.energy.energy_j"), j)?;
            }
        }
        // A power cycle must cost energy, or recharge time is undefined.
        pos("reboot.energy_j", self.reboot.energy_j)?;
        non_neg("reboot.latency_s", self.reboot.latency_s)?;
        self.capacitor(self.supply.capacitance_f, self.supply.margin)
            .map_err(|e| format!("supply: {e}"))?;
        self.harvester
            .validate(self.supply.v_on)
            .map_err(|e| format!("harvester: {e}"))?;
        Ok(())
    }

    /// The storage capacitor with this profile's thresholds.
    pub fn capacitor(&self, capacitance_f: f64, margin: f64) -> Result<Capacitor, SupplyError> {
        Capacitor::new(capacitance_f, self.supply.v_on, self.supply.v_off, margin)
    }

    /// The evaluated constants the model uses.
    pub fn cost_table(&self) -> CostTable {
        CostTable::new(self)
    }
}

/// A linear primitive ready to evaluate: `((slope * n) + intercept) / divisor`. The divisor is
/// 1 for energies (exact) and the cost-model clock for latencies, so both sides of the model
/// share one code path with the reference's grouping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prim {
    slope: f64,
    intercept: f64,
    divisor: f64,
}

impl Prim {
    #[inline(always)]
    pub fn at(&self, n: u64) -> f64 {
        ((self.slope * n as f64) + self.intercept) / self.divisor
    }
}

/// Constants of one side of the model: energy (J) or latency (s).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Side {
    pub rd: Prim,
    pub wr: Prim,
    pub mac: Prim,
    pub add: f64,
    pub pool: f64,
    /// Per output element and input-channel tile (0 in the reference).
    pub output: f64,
    /// Per tile (0 in the reference).
    pub tile: f64,
    pub reboot: f64,
    pub o_ifm: f64,
    pub o_weights: f64,
    /// Partial-sum fetch overhead, indexed by [`inas_common::LoopOrder::index`].
    pub o_psum: [f64; 3],
    /// Output backup overhead, indexed by loop order.
    pub b_out: [f64; 3],
    /// Per-MAC addressing: partial sums plus accumulation, pre-summed.
    pub o_mac: f64,
    pub o_pool: f64,
    /// Loop-index footprint fetch and backup: rd(4) and wr(4) (our engine: [`EngineReads`]).
    pub footprint_rd: f64,
    pub footprint_wr: f64,
    /// Whether the reads only our engine makes are priced (see [`CostTable::for_engine`]).
    pub engine_reads: bool,
}

/// What our engine (`inas_common::engine`) does in a batch beyond what the reference's model
/// counts, and so what [`CostTable::for_engine`] prices: the one description of those
/// operations (`core/tests/energy_sim.rs` checks it against the engine's own transfers).
pub struct EngineReads;

impl EngineReads {
    /// The footprint read at recovery: both slots, one read.
    pub const FOOTPRINT_READ_WORDS: u64 = 2 * inas_common::plan::FOOTPRINT_SLOT_WORDS as u64;
    /// The commit: the slot's (layer, tile) words, then its sequence word, in two writes.
    pub const COMMIT_WRITES_WORDS: [u64; 2] = [3, 1];
    // Besides: an output tile that starts at input-channel tile 0 reads its Tm biases (one block,
    // as a partial-sum fetch, then copied to its pixels in VM), and a GAP batch reads its one
    // pooling weight (as a weight fetch): priced in the model's cycle terms.
}

/// Both sides of the model plus the non-cost platform facts it needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostTable {
    pub e: Side,
    pub l: Side,
    pub element_bytes: u64,
    pub quirks: Quirks,
}

impl CostTable {
    /// The costs of our engine running a plan's own designs, where the reference's model counts
    /// less than the engine does: GAP tiles fetched without the halo (no quirk Q2), the footprint
    /// read as both slots and committed in two writes, and the reads of [`EngineReads`] priced.
    /// What C1 must hold for a plan our engine runs, and what predicts our devices. Idempotent.
    pub fn for_engine(self) -> CostTable {
        if self.e.engine_reads {
            return self;
        }
        let side = |x: Side| {
            let [a, b] = EngineReads::COMMIT_WRITES_WORDS;
            Side {
                footprint_rd: x.rd.at(EngineReads::FOOTPRINT_READ_WORDS),
                // The footprint overhead stays; the 4-word write becomes the two writes.
                footprint_wr: ((x.footprint_wr - x.wr.at(4)) + x.wr.at(a)) + x.wr.at(b),
                engine_reads: true,
                ..x
            }
        };
        let mut quirks = self.quirks;
        quirks.gap_ifm_tile_with_kernel = false;
        CostTable {
            e: side(self.e),
            l: side(self.l),
            quirks,
            ..self
        }
    }

    fn new(p: &Profile) -> CostTable {
        let hz = p.clock.cost_model_hz;
        let (ea, em) = (p.ops.add.energy_j, p.ops.mul.energy_j);
        let (la, lm) = (p.ops.add.cycles / hz, p.ops.mul.cycles / hz);
        let energy_of = |o: &Overhead| match o.energy.energy_j {
            Some(j) => j,
            None => (ea * o.energy.add as f64) + (em * o.energy.mul as f64),
        };
        let latency_of = |o: &Overhead| {
            if let Some(c) = o.latency.cycles {
                return c / hz;
            }
            let (a, m) = match o.latency.latency_from {
                ConstantsFrom::Latency => (la, lm),
                ConstantsFrom::Energy => (ea, em),
            };
            (a * o.latency.add as f64) + (m * o.latency.mul as f64)
        };
        let o = &p.overheads;
        let side = |lin: fn(&Linear) -> Affine,
                    divisor: f64,
                    over: &dyn Fn(&Overhead) -> f64,
                    add,
                    pool,
                    output,
                    tile,
                    reboot| {
            let prim = |l: &Linear| {
                let a = lin(l);
                Prim {
                    slope: a.slope,
                    intercept: a.intercept,
                    divisor,
                }
            };
            let (rd, wr) = (prim(&p.transfer.read), prim(&p.transfer.write));
            Side {
                rd,
                wr,
                footprint_rd: rd.at(4),
                footprint_wr: wr.at(4) + over(&o.footprint),
                engine_reads: false,
                mac: prim(&p.mac),
                add,
                pool,
                output,
                tile,
                reboot,
                o_ifm: over(&o.fetch_ifm),
                o_weights: over(&o.fetch_weights),
                o_psum: [
                    over(&o.fetch_psum_i),
                    over(&o.fetch_psum_w),
                    over(&o.fetch_psum_o),
                ],
                b_out: [
                    over(&o.backup_out_i),
                    over(&o.backup_out_w),
                    over(&o.backup_out_o),
                ],
                o_mac: over(&o.psum_addressing) + over(&o.accumulate_addressing),
                o_pool: over(&o.pool_addressing),
            }
        };
        CostTable {
            e: side(
                |l| l.energy_j,
                1.0,
                &energy_of,
                ea,
                p.ops.pool.energy_j,
                p.ops.output.energy_j,
                p.ops.tile.energy_j,
                p.reboot.energy_j,
            ),
            l: side(
                |l| l.cycles,
                hz,
                &latency_of,
                la,
                p.ops.pool.cycles / hz,
                p.ops.output.cycles / hz,
                p.ops.tile.cycles / hz,
                p.reboot.latency_s,
            ),
            element_bytes: p.memory.element_bytes,
            quirks: p.quirks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cost-model.md §2 gives the evaluated constants; they must come out bit for bit.
    #[test]
    fn reference_constants_match_the_spec() {
        let t = Profile::reference().cost_table();
        assert_eq!(t.e.rd.at(4), 3.08e-07);
        assert_eq!(t.e.wr.at(4), 3.0062e-07);
        assert_eq!(t.l.rd.at(4), 4.25e-05);
        assert_eq!(t.l.wr.at(4), 4.238944064302553e-05);
        assert_eq!(t.l.add, 7.5e-07);
        assert_eq!(t.l.pool, 8.75e-07);
        let checks = [
            ("oI", t.e.o_ifm, 1.2381550000000004e-07, t.l.o_ifm, 1.9e-05),
            (
                "oW",
                t.e.o_weights,
                2.0476442307692308e-07,
                t.l.o_weights,
                3.35e-05,
            ),
            (
                "oO_I",
                t.e.o_psum[0],
                1.2381550000000004e-07,
                t.l.o_psum[0],
                1.2381550000000004e-07,
            ),
            (
                "oO_W",
                t.e.o_psum[1],
                1.0456215384615388e-07,
                t.l.o_psum[1],
                1.0456215384615388e-07,
            ),
            (
                "oO_O",
                t.e.o_psum[2],
                1.0456215384615388e-07,
                t.l.o_psum[2],
                1.0456215384615388e-07,
            ),
            (
                "bO_I",
                t.e.b_out[0],
                1.8944661538461542e-07,
                t.l.b_out[0],
                1.8944661538461542e-07,
            ),
            (
                "bO_W",
                t.e.b_out[1],
                2.165710384615385e-07,
                t.l.b_out[1],
                2.165710384615385e-07,
            ),
            (
                "bO_O",
                t.e.b_out[2],
                1.2381550000000004e-07,
                t.l.b_out[2],
                1.2381550000000004e-07,
            ),
            (
                "oMX",
                t.e.o_pool,
                2.712442307692309e-08,
                t.l.o_pool,
                4.25e-06,
            ),
        ];
        for (name, e, e_want, l, l_want) in checks {
            assert_eq!((e, l), (e_want, l_want), "{name}");
        }
        // oPS + oAC is pre-summed from the two spec values.
        assert_eq!(t.e.o_mac, 1.2381550000000004e-07 + 6.956665384615385e-08);
        assert_eq!(t.l.o_mac, 3.2749999999999996e-05 + 1.0500000000000001e-05);
    }

    #[test]
    fn unknown_names_and_bad_files_are_clear_errors() {
        let e = Profile::builtin("nope").unwrap_err().to_string();
        assert!(
            e.contains("unknown built-in profile 'nope'") && e.contains("reference"),
            "{e}"
        );
        assert!(Profile::looks_like_path("/nonexistent/x.toml"));
        assert!(Profile::looks_like_path("mine.toml"));
        assert!(!Profile::looks_like_path("reference"));
        assert!(!Profile::looks_like_path("nope"));
        let bad = BUILTIN[0].1.replace("v_off = 2.8", "v_off = 3.5");
        let e = Profile::from_toml(&bad, "mine.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mine.toml") && e.contains("supply"), "{e}");
        let typo = BUILTIN[0].1.replace("vm_bytes = 2048", "vm_byts = 2048");
        let e = Profile::from_toml(&typo, "t.toml").unwrap_err().to_string();
        assert!(e.contains("vm_byts"), "{e}");
    }

    #[test]
    fn profile_round_trips_through_toml() {
        let p = Profile::reference();
        let text = toml::to_string(&p).unwrap();
        assert_eq!(Profile::from_toml(&text, "rt").unwrap(), p);
    }
}
