//! The supply: a storage capacitor charged by a harvester and drained by the MCU.
//!
//! Pure: no I/O except `PowerTrace::from_csv`, which parses text it is given.

use crate::error::SimError;

/// The storage capacitor and the supervisor's thresholds.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Capacitor {
    pub capacitance_f: f64,
    /// The device starts when the capacitor reaches this voltage.
    pub v_on: f64,
    /// Brown-out: the device stops when the capacitor falls to this voltage.
    pub v_off: f64,
}

impl Capacitor {
    pub fn validate(&self) -> Result<(), SimError> {
        let ok = self.capacitance_f.is_finite()
            && self.capacitance_f > 0.0
            && self.v_off.is_finite()
            && self.v_off > 0.0
            && self.v_on.is_finite()
            && self.v_on > self.v_off;
        if ok {
            Ok(())
        } else {
            Err(SimError::Power(format!(
                "capacitor needs C > 0 and Von > Voff > 0, got C = {} F, Von = {} V, Voff = {} V",
                self.capacitance_f, self.v_on, self.v_off
            )))
        }
    }

    pub fn energy_j(&self, v: f64) -> f64 {
        0.5 * self.capacitance_f * v * v
    }

    pub fn voltage(&self, e: f64) -> f64 {
        (2.0 * e.max(0.0) / self.capacitance_f).sqrt()
    }
}

/// A recorded harvester: piecewise-constant power from each row's time on.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerTrace {
    /// (start time s, power W), strictly increasing times, starting at 0.
    pub points: Vec<(f64, f64)>,
}

impl PowerTrace {
    /// Parses CSV with a header: `time_s,power_w`, or `time_s,current_a,voltage_v` (an I-V
    /// trace; power = I x V). `name` is used in error messages.
    pub fn from_csv(name: &str, text: &str) -> Result<PowerTrace, SimError> {
        let err = |line: usize, message: String| SimError::Trace {
            path: format!("{name}:{line}"),
            message,
        };
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines.next().ok_or_else(|| err(1, "empty trace".into()))?;
        let cols: Vec<String> = header
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        let iv = match cols.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["time_s", "power_w"] => false,
            ["time_s", "current_a", "voltage_v"] => true,
            _ => {
                return Err(err(
                    1,
                    format!("header must be `time_s,power_w` or `time_s,current_a,voltage_v`, got `{header}`"),
                ))
            }
        };
        let mut points: Vec<(f64, f64)> = Vec::new();
        for (i, line) in lines {
            let vals: Result<Vec<f64>, _> =
                line.split(',').map(|v| v.trim().parse::<f64>()).collect();
            let vals = vals.map_err(|e| err(i + 1, format!("not a number: {e}")))?;
            let want = if iv { 3 } else { 2 };
            if vals.len() != want {
                return Err(err(
                    i + 1,
                    format!("expected {want} columns, got {}", vals.len()),
                ));
            }
            if vals.iter().any(|v| !v.is_finite()) {
                return Err(err(i + 1, "values must be finite".into()));
            }
            let p = if iv { vals[1] * vals[2] } else { vals[1] };
            if p < 0.0 {
                return Err(err(i + 1, format!("negative power {p} W")));
            }
            if let Some(&(t, _)) = points.last() {
                if vals[0] <= t {
                    return Err(err(i + 1, format!("time {} s does not increase", vals[0])));
                }
            } else if vals[0] != 0.0 {
                return Err(err(i + 1, "the first row must be at time 0".into()));
            }
            points.push((vals[0], p));
        }
        if points.is_empty() {
            return Err(err(2, "no data rows".into()));
        }
        Ok(PowerTrace { points })
    }

    /// Power at time `t` (the last value holds after the end).
    pub fn power_at(&self, t: f64) -> f64 {
        let i = self.points.partition_point(|&(s, _)| s <= t);
        self.points[i.saturating_sub(1)].1
    }

    /// The start of the segment after the one holding `t`.
    fn next_change(&self, t: f64) -> Option<f64> {
        let i = self.points.partition_point(|&(s, _)| s <= t);
        self.points.get(i).map(|p| p.0)
    }
}

/// Where harvested energy comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Harvester {
    /// A source voltage behind a resistance (the paper's model).
    Rc { v_source: f64, r_ohm: f64 },
    /// Constant power into the capacitor.
    ConstantPower { watts: f64 },
    /// A recorded power trace.
    Trace(PowerTrace),
}

impl Harvester {
    pub fn validate(&self) -> Result<(), SimError> {
        let ok = match self {
            Harvester::Rc { v_source, r_ohm } => {
                v_source.is_finite() && *v_source > 0.0 && r_ohm.is_finite() && *r_ohm > 0.0
            }
            Harvester::ConstantPower { watts } => watts.is_finite() && *watts >= 0.0,
            Harvester::Trace(_) => true,
        };
        if ok {
            Ok(())
        } else {
            Err(SimError::Power(format!("invalid harvester {self:?}")))
        }
    }

    /// Power into the capacitor at voltage `v` and time `t`.
    pub fn power_w(&self, v: f64, t: f64) -> f64 {
        match self {
            Harvester::Rc { v_source, r_ohm } => (v * (v_source - v) / r_ohm).max(0.0),
            Harvester::ConstantPower { watts } => *watts,
            Harvester::Trace(tr) => tr.power_at(t),
        }
    }

    /// Seconds to charge `cap` from `v0` to its Von starting at time `t0` with no load, or
    /// `None` if it never gets there.
    pub fn time_to_on(&self, cap: &Capacitor, v0: f64, t0: f64) -> Option<f64> {
        if v0 >= cap.v_on {
            return Some(0.0);
        }
        let need = cap.energy_j(cap.v_on) - cap.energy_j(v0);
        match self {
            Harvester::Rc { v_source, r_ohm } => {
                if *v_source <= cap.v_on {
                    return None;
                }
                // V(t) = Vs - (Vs - V0) e^(-t/RC).
                Some(r_ohm * cap.capacitance_f * ((v_source - v0) / (v_source - cap.v_on)).ln())
            }
            Harvester::ConstantPower { watts } => (*watts > 0.0).then(|| need / watts),
            Harvester::Trace(tr) => {
                let (mut t, mut left) = (t0, need);
                loop {
                    let p = tr.power_at(t);
                    match tr.next_change(t) {
                        Some(next) => {
                            let e = p * (next - t);
                            if p > 0.0 && e >= left {
                                return Some(t + left / p - t0);
                            }
                            left -= e;
                            t = next;
                        }
                        None => return (p > 0.0).then(|| t + left / p - t0),
                    }
                }
            }
        }
    }
}

/// Capacitor plus harvester, with the current voltage and time.
#[derive(Clone, Debug)]
pub struct Supply {
    pub cap: Capacitor,
    pub harvester: Harvester,
    pub v: f64,
    pub t: f64,
}

impl Supply {
    /// A supply that starts charged to Von.
    pub fn new(cap: Capacitor, harvester: Harvester) -> Result<Supply, SimError> {
        cap.validate()?;
        harvester.validate()?;
        Ok(Supply {
            v: cap.v_on,
            t: 0.0,
            cap,
            harvester,
        })
    }

    /// Advances `dt` seconds with a load of `load_a` amperes; returns (energy used, energy
    /// harvested) in joules. Integrated in sub-steps short enough that V barely moves.
    pub fn drain(&mut self, dt: f64, load_a: f64) -> (f64, f64) {
        let steps = 8;
        let h = dt / f64::from(steps);
        let (mut used, mut got) = (0.0, 0.0);
        for _ in 0..steps {
            let p_load = self.v * load_a;
            let p_h = self.harvester.power_w(self.v, self.t);
            let e = self.cap.energy_j(self.v) + (p_h - p_load) * h;
            self.v = self.cap.voltage(e);
            self.t += h;
            used += p_load * h;
            got += p_h * h;
        }
        (used, got)
    }

    pub fn browned_out(&self) -> bool {
        self.v <= self.cap.v_off
    }

    /// Recharges to Von with the device off; returns (seconds, energy harvested) or `None`
    /// if the harvester can never get there.
    pub fn recharge(&mut self) -> Option<(f64, f64)> {
        let dt = self.harvester.time_to_on(&self.cap, self.v, self.t)?;
        let got = self.cap.energy_j(self.cap.v_on) - self.cap.energy_j(self.v);
        self.t += dt;
        self.v = self.cap.v_on;
        Some((dt, got))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Capacitor = Capacitor {
        capacitance_f: 0.005,
        v_on: 2.99,
        v_off: 2.8,
    };

    #[test]
    fn rc_recharge_time_is_the_rc_formula() {
        let h = Harvester::Rc {
            v_source: 3.0,
            r_ohm: 24.0,
        };
        let t = h.time_to_on(&CAP, 2.8, 0.0).unwrap();
        let want = 24.0 * 0.005 * ((3.0f64 - 2.8) / (3.0 - 2.99)).ln();
        assert!((t - want).abs() < 1e-12);
        assert!(Harvester::Rc {
            v_source: 2.9,
            r_ohm: 24.0
        }
        .time_to_on(&CAP, 2.8, 0.0)
        .is_none());
    }

    #[test]
    fn constant_power_recharge_is_energy_over_power() {
        let h = Harvester::ConstantPower { watts: 0.001 };
        let t = h.time_to_on(&CAP, 2.8, 0.0).unwrap();
        let e = 0.5 * 0.005 * (2.99f64 * 2.99 - 2.8 * 2.8);
        assert!((t - e / 0.001).abs() < 1e-9);
    }

    #[test]
    fn trace_recharge_walks_the_segments() {
        let tr = PowerTrace::from_csv("t.csv", "time_s,power_w\n0,0\n1,0.002\n").unwrap();
        let h = Harvester::Trace(tr);
        let e = 0.5 * 0.005 * (2.99f64 * 2.99 - 2.8 * 2.8);
        let t = h.time_to_on(&CAP, 2.8, 0.0).unwrap();
        assert!((t - (1.0 + e / 0.002)).abs() < 1e-9);
        let iv =
            PowerTrace::from_csv("iv.csv", "time_s,current_a,voltage_v\n0,0.001,3.0\n").unwrap();
        assert_eq!(iv.power_at(5.0), 0.003);
    }

    #[test]
    fn bad_traces_name_the_line() {
        let e = PowerTrace::from_csv("x.csv", "time_s,power_w\n0,1\n0,2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.csv:3"), "{e}");
        let e = PowerTrace::from_csv("x.csv", "t,p\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("header"), "{e}");
        assert!(PowerTrace::from_csv("x.csv", "time_s,power_w\n0,abc\n").is_err());
        assert!(PowerTrace::from_csv("x.csv", "").is_err());
    }

    #[test]
    fn a_load_drains_the_capacitor_to_brown_out() {
        let mut s = Supply::new(CAP, Harvester::ConstantPower { watts: 0.0 }).unwrap();
        let (used, got) = s.drain(1.0, 0.001);
        assert!(got == 0.0 && used > 0.0029 && used < 0.003);
        assert!((CAP.energy_j(2.99) - CAP.energy_j(s.v) - used).abs() < 1e-9);
        while !s.browned_out() {
            s.drain(1.0, 0.001);
        }
        assert!(s.v <= 2.8);
    }
}
