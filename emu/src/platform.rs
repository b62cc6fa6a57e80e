//! The chip as data: `fr5994.toml` (embedded) parsed and checked into [`Platform`].
//!
//! Nothing else in the crate holds a datasheet number; each value's source is noted in the file.

use serde::Deserialize;

use crate::error::SimError;

/// The embedded MSP430FR5994 data file.
pub const FR5994_TOML: &str = include_str!("../fr5994.toml");

/// Highest address + 1 of the 20-bit address space.
pub const ADDRESS_SPACE: u32 = 1 << 20;
/// Granularity of the memory map (bytes).
pub const PAGE: u32 = 256;

/// What lives at an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionKind {
    /// Peripheral registers (0x0000..0x1000): dispatched to the models.
    Peripherals,
    /// Read-only memory: writes are logged and dropped.
    Rom,
    /// Volatile RAM: lost at a brown-out.
    Sram,
    /// Non-volatile FRAM: kept across power failures.
    Fram,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub name: String,
    pub start: u32,
    pub end: u32,
    pub kind: RegionKind,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// DCO frequency by `[DCORSEL][DCOFSEL]`.
    pub dco_hz: [[u32; 8]; 2],
    pub vlo_hz: u32,
    pub modosc_hz: u32,
    pub lfxt_hz: u32,
    pub fram_max_hz_without_wait: u32,
}

/// One CPU's cycle counts (see the data file for the table layout).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleTable {
    pub format1: [[u8; 5]; 7],
    pub mov_bit_cmp_memory_saving: u8,
    pub format2: [[u8; 3]; 7],
    pub jump: u8,
    pub reti: u8,
    pub interrupt: u8,
    pub mova_reg_reg: u8,
    pub mova_indirect: u8,
    pub mova_absolute_src: u8,
    pub mova_indexed_src: u8,
    pub mova_absolute_dst: u8,
    pub mova_indexed_dst: u8,
    pub mova_immediate: u8,
    pub adda_immediate: u8,
    pub reta: u8,
    /// PUSHM/POPM: a base, plus this per 16-bit word moved.
    pub multiple_base: u8,
    pub multiple_per_word: u8,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cycles {
    pub cpuxv2: CycleTable,
    pub msp430: CycleTable,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dma {
    pub sync_cycles: u32,
    pub cycles_per_transfer: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vectors {
    pub reset: u16,
    pub sysnmi: u16,
    pub unmi: u16,
    pub wdt: u16,
    pub eusci_a0: u16,
    pub timer0_a0: u16,
    pub timer0_a1: u16,
    pub dma: u16,
}

/// Supply current by mode (µA), from the datasheet.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Current {
    pub active_ua_per_mhz: f64,
    pub active_base_ua: f64,
    pub lpm0_ua_at_1mhz: f64,
    pub lpm0_ua_per_mhz: f64,
    pub lpm1_ua: f64,
    pub lpm2_ua: f64,
    pub lpm3_ua: f64,
    pub lpm4_ua: f64,
    pub v_min_operating: f64,
}

/// Time from an interrupt to the CPU running again, by the low-power mode it left: a fixed
/// part and DCO periods (datasheet "Wake-up from low-power modes"). LPM1 and LPM2 share one
/// figure, as LPM3 and LPM4 do.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wakeup {
    pub lpm0_ns: f64,
    pub lpm0_dco_periods: f64,
    pub lpm12_ns: f64,
    pub lpm34_ns: f64,
    pub lpm34_dco_periods: f64,
}

impl Wakeup {
    /// MCLK cycles to wake from `lpm` (0..=4) at `mclk_hz`, rounded up.
    pub fn cycles(&self, lpm: usize, mclk_hz: u32) -> u64 {
        let f = f64::from(mclk_hz);
        let (ns, periods) = match lpm {
            0 => (self.lpm0_ns, self.lpm0_dco_periods),
            1 | 2 => (self.lpm12_ns, 0.0),
            _ => (self.lpm34_ns, self.lpm34_dco_periods),
        };
        (ns * 1e-9 * f + periods).ceil() as u64
    }
}

/// The validated platform file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    pub name: String,
    pub memory: Vec<Region>,
    pub clock: Clock,
    pub cycles: Cycles,
    pub dma: Dma,
    pub vectors: Vectors,
    pub current: Current,
    pub wakeup: Wakeup,
}

impl Platform {
    /// The embedded MSP430FR5994 data.
    pub fn fr5994() -> Platform {
        // The embedded file is checked by a unit test; failing here is a build defect.
        Platform::parse(FR5994_TOML).expect("the embedded fr5994.toml is valid")
    }

    /// Parses and checks a platform file's text.
    pub fn parse(text: &str) -> Result<Platform, SimError> {
        let p: Platform = toml::from_str(text).map_err(|e| SimError::Platform(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Platform(m));
        let mut regions: Vec<&Region> = self.memory.iter().collect();
        regions.sort_by_key(|r| r.start);
        for r in &regions {
            if r.start >= r.end || r.end > ADDRESS_SPACE {
                return bad(format!("memory region {} is empty or beyond 1 MB", r.name));
            }
            if r.start % PAGE != 0 || r.end % PAGE != 0 {
                return bad(format!(
                    "memory region {} is not aligned to {PAGE} bytes",
                    r.name
                ));
            }
        }
        for w in regions.windows(2) {
            if w[0].end > w[1].start {
                return bad(format!(
                    "memory regions {} and {} overlap",
                    w[0].name, w[1].name
                ));
            }
        }
        let periph = regions
            .iter()
            .any(|r| r.kind == RegionKind::Peripherals && r.start == 0 && r.end == 0x1000);
        if !periph {
            return bad("the peripherals must be the region 0x0000..0x1000".into());
        }
        for (name, t) in [
            ("cpuxv2", &self.cycles.cpuxv2),
            ("msp430", &self.cycles.msp430),
        ] {
            let zero_f1 = t.format1.iter().flatten().any(|&c| c == 0);
            if zero_f1 || t.jump == 0 || t.reti == 0 || t.interrupt == 0 {
                return bad(format!("cycle table {name} has a zero entry"));
            }
            if t.format1[0][2] <= t.mov_bit_cmp_memory_saving {
                return bad(format!(
                    "cycle table {name}: the MOV/BIT/CMP saving is too large"
                ));
            }
        }
        if self.clock.dco_hz.iter().flatten().any(|&f| f == 0)
            || self.clock.vlo_hz == 0
            || self.clock.modosc_hz == 0
            || self.clock.lfxt_hz == 0
        {
            return bad("clock frequencies must be positive".into());
        }
        let c = &self.current;
        let currents = [
            c.active_ua_per_mhz,
            c.active_base_ua,
            c.lpm0_ua_at_1mhz,
            c.lpm0_ua_per_mhz,
            c.lpm1_ua,
            c.lpm2_ua,
            c.lpm3_ua,
            c.lpm4_ua,
            c.v_min_operating,
        ];
        if currents.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return bad("currents and voltages must be finite and non-negative".into());
        }
        let w = &self.wakeup;
        let wakeups = [
            w.lpm0_ns,
            w.lpm0_dco_periods,
            w.lpm12_ns,
            w.lpm34_ns,
            w.lpm34_dco_periods,
        ];
        if wakeups
            .iter()
            .any(|v| !v.is_finite() || *v < 0.0 || *v > 1e6)
        {
            return bad("wake-up times must be finite, non-negative and under 1 ms".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_file_is_valid() {
        let p = Platform::fr5994();
        assert_eq!(p.name, "MSP430FR5994");
        assert_eq!(p.vectors.reset, 0xFFFE);
        assert!(p.memory.iter().any(|r| r.kind == RegionKind::Sram));
    }

    #[test]
    fn overlapping_regions_are_refused() {
        let text = FR5994_TOML.replace("start = 0x4000", "start = 0x3B00");
        let e = Platform::parse(&text).unwrap_err().to_string();
        assert!(e.contains("overlap"), "{e}");
    }

    #[test]
    fn unaligned_regions_are_refused() {
        let text = FR5994_TOML.replace("end = 0x3C00", "end = 0x3C10");
        let e = Platform::parse(&text).unwrap_err().to_string();
        assert!(e.contains("aligned"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let text = format!("{FR5994_TOML}\nbogus = 1\n");
        assert!(Platform::parse(&text).is_err());
    }
}
