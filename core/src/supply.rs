//! The energy supply of a battery-free device: a storage capacitor charged by a harvester.
//!
//! The capacitor fixes how much energy one power cycle may spend ([`Capacitor::budget_j`]); the
//! harvester fixes how long the device sits dark while the capacitor recharges after a cycle
//! ([`Recharge::recharge_time_s`]). New harvester models implement [`Recharge`] and join the
//! [`Harvester`] enum so that profiles can name them.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The largest capacitance and harvester resistance a supply may have. Far beyond any real
/// part (the largest supercapacitors hold a few thousand farads), they keep every time constant,
/// budget and modelled latency a finite number, whatever the network.
pub const MAX_CAPACITANCE_F: f64 = 1e6;
pub const MAX_RESISTANCE_OHM: f64 = 1e12;

/// A number as a person reads it in a message: 1e308, not 309 digits.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && a.is_finite() && !(1e-4..1e6).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

#[derive(Clone, Debug, Error, PartialEq)]
pub enum SupplyError {
    #[error("capacitance must be a positive number of farads up to {MAX_CAPACITANCE_F:e}, got {}", number(*.0))]
    Capacitance(f64),
    #[error("need 0 < Voff < Von, got Von {v_on} V and Voff {v_off} V")]
    Thresholds { v_on: f64, v_off: f64 },
    #[error("margin must be in (0, 1], got {}", number(*.0))]
    Margin(f64),
    #[error("{0}")]
    Harvester(String),
    /// A finite but extreme setting whose derived quantity overflows.
    #[error("{what} is not a finite number ({})", number(*.value))]
    NotFinite { what: &'static str, value: f64 },
    #[error("a power cycle must spend a positive energy, got {0} J")]
    NoEnergySpent(f64),
    /// The reference refuses (aborts) when a cycle spends the whole budget exactly, although the
    /// budget check admits it (quirk Q7).
    #[error("a power cycle spends {spent_j} J, the whole budget of {budget_j} J: recharge time undefined")]
    WholeBudgetSpent { spent_j: f64, budget_j: f64 },
}

/// A storage capacitor between its turn-on and turn-off thresholds, with a safety margin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Capacitor {
    capacitance_f: f64,
    v_on: f64,
    v_off: f64,
    margin: f64,
    budget_j: f64,
}

impl Capacitor {
    pub fn new(
        capacitance_f: f64,
        v_on: f64,
        v_off: f64,
        margin: f64,
    ) -> Result<Capacitor, SupplyError> {
        if !(capacitance_f > 0.0 && capacitance_f <= MAX_CAPACITANCE_F) {
            return Err(SupplyError::Capacitance(capacitance_f));
        }
        if !(v_off.is_finite() && v_on.is_finite() && v_off > 0.0 && v_on > v_off) {
            return Err(SupplyError::Thresholds { v_on, v_off });
        }
        if !(margin > 0.0 && margin <= 1.0) {
            return Err(SupplyError::Margin(margin));
        }
        // Eav = ((0.5 × C) × (Von² − Voff²)) × margin, grouped as the reference does.
        let budget_j = ((0.5 * capacitance_f) * ((v_on * v_on) - (v_off * v_off))) * margin;
        if !budget_j.is_finite() {
            return Err(SupplyError::NotFinite {
                what: "the energy budget per power cycle (J)",
                value: budget_j,
            });
        }
        Ok(Capacitor {
            capacitance_f,
            v_on,
            v_off,
            margin,
            budget_j,
        })
    }

    pub fn capacitance_f(&self) -> f64 {
        self.capacitance_f
    }
    pub fn v_on(&self) -> f64 {
        self.v_on
    }
    pub fn v_off(&self) -> f64 {
        self.v_off
    }
    pub fn margin(&self) -> f64 {
        self.margin
    }

    /// Eav: the energy one power cycle may spend.
    pub fn budget_j(&self) -> f64 {
        self.budget_j
    }

    /// Capacitor voltage at the end of a cycle that spent `spent_j` of the budget:
    /// Vpce = sqrt(((2 × (Eav − E)) / C) + Voff²).
    pub fn end_of_cycle_voltage(&self, spent_j: f64) -> Result<f64, SupplyError> {
        if spent_j.is_nan() || spent_j <= 0.0 {
            return Err(SupplyError::NoEnergySpent(spent_j));
        }
        if self.budget_j <= spent_j {
            return Err(SupplyError::WholeBudgetSpent {
                spent_j,
                budget_j: self.budget_j,
            });
        }
        Ok(
            (((2.0 * (self.budget_j - spent_j)) / self.capacitance_f) + (self.v_off * self.v_off))
                .sqrt(),
        )
    }
}

/// A harvester model: how long the capacitor takes to get back to Von after a cycle.
pub trait Recharge {
    /// Seconds to recharge after a power cycle that spent `spent_j`.
    fn recharge_time_s(&self, cap: &Capacitor, spent_j: f64) -> Result<f64, SupplyError> {
        Ok(self.recharge_from_s(cap, cap.end_of_cycle_voltage(spent_j)?))
    }
    /// Seconds to recharge from `v_start` (at most Von) back to Von.
    fn recharge_from_s(&self, cap: &Capacitor, v_start: f64) -> f64;
    /// Checks the model's parameters against the capacitor's turn-on voltage.
    fn validate(&self, v_on: f64) -> Result<(), SupplyError>;
}

/// A voltage source behind an equivalent resistance (the reference's EHM model).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RcSource {
    pub v_sup: f64,
    pub r_ohm: f64,
}

impl Recharge for RcSource {
    /// Lrc = −(R × C) × ln((Von − Vsup) / (Vpce − Vsup)): RC charging from Vpce to Von.
    #[inline]
    fn recharge_from_s(&self, cap: &Capacitor, vpce: f64) -> f64 {
        -(self.r_ohm * cap.capacitance_f) * ((cap.v_on - self.v_sup) / (vpce - self.v_sup)).ln()
    }

    fn validate(&self, v_on: f64) -> Result<(), SupplyError> {
        if !(self.r_ohm > 0.0 && self.r_ohm <= MAX_RESISTANCE_OHM) {
            return Err(SupplyError::Harvester(format!(
                "harvester resistance must be a positive number of ohms up to {MAX_RESISTANCE_OHM:e}, got {}",
                number(self.r_ohm)
            )));
        }
        if !(self.v_sup.is_finite() && self.v_sup > v_on) {
            return Err(SupplyError::Harvester(format!(
                "an RC harvester at {} V never charges the capacitor to Von = {v_on} V",
                self.v_sup
            )));
        }
        Ok(())
    }
}

/// A harvester delivering constant power into the capacitor.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantPower {
    pub power_w: f64,
}

impl Recharge for ConstantPower {
    /// The energy between Vpce and Von, ½·C·(Von² − Vpce²), delivered at `power_w`.
    fn recharge_from_s(&self, cap: &Capacitor, vpce: f64) -> f64 {
        ((0.5 * cap.capacitance_f) * ((cap.v_on * cap.v_on) - (vpce * vpce))) / self.power_w
    }

    fn validate(&self, _v_on: f64) -> Result<(), SupplyError> {
        if !(self.power_w.is_finite() && self.power_w > 0.0) {
            return Err(SupplyError::Harvester(format!(
                "harvested power must be a positive number of watts, got {}",
                number(self.power_w)
            )));
        }
        Ok(())
    }
}

/// The harvester models a profile or a run can name.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Harvester {
    Rc(RcSource),
    ConstantPower(ConstantPower),
}

impl Harvester {
    /// The same harvester with another source resistance. Only an RC source has one: asking
    /// another model for it is an error rather than a silently ignored setting.
    pub fn with_resistance(self, r_ohm: f64) -> Result<Harvester, SupplyError> {
        match self {
            Harvester::Rc(rc) => Ok(Harvester::Rc(RcSource { r_ohm, ..rc })),
            Harvester::ConstantPower(_) => Err(SupplyError::Harvester(
                "a harvester resistance applies to an RC source; this profile's harvester delivers constant power"
                    .into(),
            )),
        }
    }
}

impl Recharge for Harvester {
    #[inline]
    fn recharge_from_s(&self, cap: &Capacitor, v_start: f64) -> f64 {
        match self {
            Harvester::Rc(h) => h.recharge_from_s(cap, v_start),
            Harvester::ConstantPower(h) => h.recharge_from_s(cap, v_start),
        }
    }

    fn validate(&self, v_on: f64) -> Result<(), SupplyError> {
        match self {
            Harvester::Rc(h) => h.validate(v_on),
            Harvester::ConstantPower(h) => h.validate(v_on),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cap(c: f64, margin: f64) -> Capacitor {
        Capacitor::new(c, 2.99, 2.8, margin).unwrap()
    }

    #[test]
    fn budgets_match_the_spec_table() {
        assert_eq!(cap(0.001, 0.55).budget_j(), 0.0003025275000000006);
        assert_eq!(cap(0.005, 0.55).budget_j(), 0.001512637500000003);
        assert_eq!(cap(0.01, 0.55).budget_j(), 0.003025275000000006);
        assert_eq!(cap(0.001, 0.69).budget_j(), 0.00037953450000000066);
    }

    #[test]
    fn recharge_refuses_the_reference_abort_cases() {
        let c = cap(0.005, 0.55);
        let rc = RcSource {
            v_sup: 3.0,
            r_ohm: 24.0,
        };
        assert_eq!(
            rc.recharge_time_s(&c, 0.0),
            Err(SupplyError::NoEnergySpent(0.0))
        );
        assert!(matches!(
            rc.recharge_time_s(&c, c.budget_j()),
            Err(SupplyError::WholeBudgetSpent { .. })
        ));
        assert!(rc.validate(2.99).is_ok());
        assert!(RcSource {
            v_sup: 2.99,
            r_ohm: 1.0
        }
        .validate(2.99)
        .is_err());
        assert!(RcSource {
            v_sup: 3.0,
            r_ohm: -1.0
        }
        .validate(2.99)
        .is_err());
    }

    #[test]
    fn bad_capacitors_are_refused() {
        assert_eq!(
            Capacitor::new(-1.0, 2.99, 2.8, 0.5),
            Err(SupplyError::Capacitance(-1.0))
        );
        assert!(Capacitor::new(f64::NAN, 2.99, 2.8, 0.5).is_err());
        assert!(Capacitor::new(0.005, 2.8, 2.99, 0.5).is_err());
        assert!(Capacitor::new(0.005, 2.99, 2.8, 0.0).is_err());
        assert!(Capacitor::new(0.005, 2.99, 2.8, 1.5).is_err());
    }

    #[test]
    fn resistance_applies_to_rc_sources_only() {
        let rc = Harvester::Rc(RcSource {
            v_sup: 3.0,
            r_ohm: 300.0,
        });
        assert_eq!(
            rc.with_resistance(24.0),
            Ok(Harvester::Rc(RcSource {
                v_sup: 3.0,
                r_ohm: 24.0
            }))
        );
        let cp = Harvester::ConstantPower(ConstantPower { power_w: 1e-3 });
        assert!(cp
            .with_resistance(24.0)
            .unwrap_err()
            .to_string()
            .contains("RC source"));
    }

    proptest! {
        /// Spending more leaves a lower voltage, so both harvesters take longer; a stiffer RC
        /// source (lower R) or more power is never slower.
        #[test]
        fn recharge_is_monotone(c in 1e-4f64..0.05, f1 in 0.01f64..0.99, f2 in 0.01f64..0.99,
                                r1 in 1.0f64..1000.0, r2 in 1.0f64..1000.0) {
            let cp = cap(c, 0.55);
            let (lo, hi) = if f1 <= f2 { (f1, f2) } else { (f2, f1) };
            let (e_lo, e_hi) = (lo * cp.budget_j(), hi * cp.budget_j());
            let (r_lo, r_hi) = if r1 <= r2 { (r1, r2) } else { (r2, r1) };
            let rc = |r| RcSource { v_sup: 3.0, r_ohm: r };
            prop_assert!(rc(r_lo).recharge_time_s(&cp, e_lo)? <= rc(r_lo).recharge_time_s(&cp, e_hi)?);
            prop_assert!(rc(r_lo).recharge_time_s(&cp, e_hi)? <= rc(r_hi).recharge_time_s(&cp, e_hi)?);
            let p = ConstantPower { power_w: 1e-3 };
            let t = p.recharge_time_s(&cp, e_hi)?;
            prop_assert!(t > 0.0 && p.recharge_time_s(&cp, e_lo)? <= t);
        }
    }
}
