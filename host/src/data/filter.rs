//! The signal processing that turns raw inertial recordings into UCI HAR signals: a 3-point
//! median filter and Butterworth low-pass filters, applied forward and backward (zero phase).
//!
//! Design: the analog Butterworth prototype's poles `exp(iπ(2k + N + 1) / 2N)`, scaled by the
//! pre-warped cutoff `K = tan(π fc / fs)` and mapped by the bilinear transform
//! `z = (1 + p) / (1 - p)`; all zeros at `z = -1`; each section normalised to unit gain at DC.
//! Sections are second order (pole pairs), plus one first-order section for odd orders.

use std::f64::consts::PI;

/// One biquad `(b0 + b1 z⁻¹ + b2 z⁻²) / (1 + a1 z⁻¹ + a2 z⁻²)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Biquad {
    pub b: [f64; 3],
    pub a: [f64; 2],
}

impl Biquad {
    fn dc_gain(&self) -> f64 {
        (self.b[0] + self.b[1] + self.b[2]) / (1.0 + self.a[0] + self.a[1])
    }

    /// Transposed direct form II state for a constant input `u` held forever.
    fn steady_state(&self, u: f64) -> [f64; 2] {
        let y = self.dc_gain() * u;
        let s2 = self.b[2] * u - self.a[1] * y;
        let s1 = self.b[1] * u - self.a[0] * y + s2;
        [s1, s2]
    }
}

/// Why a filter cannot be designed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DesignError {
    #[error("cutoff {cutoff} Hz is not between 0 and the Nyquist frequency {} Hz", rate / 2.0)]
    Cutoff { cutoff: f64, rate: f64 },
    #[error("order {0} is not between 1 and 12")]
    Order(usize),
}

/// A Butterworth low-pass filter as cascaded sections.
#[derive(Clone, Debug, PartialEq)]
pub struct Sos(pub Vec<Biquad>);

impl Sos {
    pub fn butter_lowpass(order: usize, cutoff: f64, rate: f64) -> Result<Sos, DesignError> {
        if !(1..=12).contains(&order) {
            return Err(DesignError::Order(order));
        }
        if !(cutoff > 0.0 && cutoff < rate / 2.0) {
            return Err(DesignError::Cutoff { cutoff, rate });
        }
        let k = (PI * cutoff / rate).tan();
        let n = order as f64;
        let mut sections = Vec::new();
        // Poles in the upper half plane pair with their conjugates; k = (N - 1) / 2 is real.
        for i in 0..order / 2 {
            let theta = PI * (2.0 * i as f64 + n + 1.0) / (2.0 * n);
            let (re, im) = (k * theta.cos(), k * theta.sin());
            // z = (1 + p) / (1 - p) for p = re + i·im.
            let den = (1.0 - re).powi(2) + im * im;
            let zr = (1.0 - re * re - im * im) / den;
            let zi = 2.0 * im / den;
            let a = [-2.0 * zr, zr * zr + zi * zi];
            let g = (1.0 + a[0] + a[1]) / 4.0;
            sections.push(Biquad {
                b: [g, 2.0 * g, g],
                a,
            });
        }
        if order % 2 == 1 {
            let z = (1.0 - k) / (1.0 + k);
            let g = (1.0 - z) / 2.0;
            sections.push(Biquad {
                b: [g, g, 0.0],
                a: [-z, 0.0],
            });
        }
        Ok(Sos(sections))
    }

    /// |H(e^{iω})| at `freq` Hz.
    pub fn magnitude(&self, freq: f64, rate: f64) -> f64 {
        let w = 2.0 * PI * freq / rate;
        let z1 = (w.cos(), -w.sin()); // z⁻¹
        let z2 = ((2.0 * w).cos(), -(2.0 * w).sin()); // z⁻²
        self.0
            .iter()
            .map(|s| {
                let num = (
                    s.b[0] + s.b[1] * z1.0 + s.b[2] * z2.0,
                    s.b[1] * z1.1 + s.b[2] * z2.1,
                );
                let den = (
                    1.0 + s.a[0] * z1.0 + s.a[1] * z2.0,
                    s.a[0] * z1.1 + s.a[1] * z2.1,
                );
                num.0.hypot(num.1) / den.0.hypot(den.1)
            })
            .product()
    }

    /// Runs the cascade over `x` in place, starting each section in the steady state of a
    /// constant input equal to `x[0]` (so a signal that starts flat has no start-up
    /// transient).
    fn run(&self, x: &mut [f64]) {
        let Some(&first) = x.first() else { return };
        let mut u = first;
        for s in &self.0 {
            let [mut s1, mut s2] = s.steady_state(u);
            u *= s.dc_gain();
            for v in x.iter_mut() {
                let inp = *v;
                let y = s.b[0] * inp + s1;
                s1 = s.b[1] * inp - s.a[0] * y + s2;
                s2 = s.b[2] * inp - s.a[1] * y;
                *v = y;
            }
        }
    }

    /// Zero-phase filtering: forward, then backward, over the signal extended at both ends
    /// by its odd reflection (`2·x[0] − x[i]`) of three samples per filter coefficient, as
    /// `scipy.signal.sosfiltfilt` does by default.
    pub fn filtfilt(&self, x: &[f64]) -> Vec<f64> {
        let n = x.len();
        if n == 0 {
            return vec![];
        }
        let first_order = self
            .0
            .iter()
            .filter(|s| s.b[2] == 0.0 && s.a[1] == 0.0)
            .count();
        let pad = (3 * (2 * self.0.len() + 1 - first_order)).min(n - 1);
        let mut ext = Vec::with_capacity(n + 2 * pad);
        ext.extend((1..=pad).rev().map(|i| 2.0 * x[0] - x[i]));
        ext.extend_from_slice(x);
        ext.extend((1..=pad).map(|i| 2.0 * x[n - 1] - x[n - 1 - i]));
        self.run(&mut ext);
        ext.reverse();
        self.run(&mut ext);
        ext.reverse();
        ext[pad..pad + n].to_vec()
    }
}

/// 3-point median filter; the end samples are kept as they are.
pub fn median3(x: &[f64]) -> Vec<f64> {
    let mut out = x.to_vec();
    for i in 1..x.len().saturating_sub(1) {
        let (a, b, c) = (x[i - 1], x[i], x[i + 1]);
        out[i] = a.max(b).min(a.min(b).max(c));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn butterworth_response() {
        for (order, fc) in [(3, 20.0), (3, 0.3), (4, 5.0), (1, 10.0)] {
            let f = Sos::butter_lowpass(order, fc, 50.0).unwrap();
            assert_eq!(f.0.len(), order.div_ceil(2));
            assert!((f.magnitude(0.0, 50.0) - 1.0).abs() < 1e-12);
            // -3 dB at the cutoff, whatever the order.
            assert!(
                (f.magnitude(fc, 50.0) - 0.5f64.sqrt()).abs() < 1e-9,
                "{order} {fc}"
            );
            // Zeros at Nyquist.
            assert!(f.magnitude(25.0, 50.0) < 1e-9);
        }
        assert_eq!(
            Sos::butter_lowpass(3, 30.0, 50.0),
            Err(DesignError::Cutoff {
                cutoff: 30.0,
                rate: 50.0
            })
        );
        assert_eq!(
            Sos::butter_lowpass(0, 1.0, 50.0),
            Err(DesignError::Order(0))
        );
    }

    #[test]
    fn matches_scipy_coefficients() {
        // scipy.signal.butter(3, 20, fs=50, output='ba') gives b = [0.5276, 1.5829, 1.5829,
        // 0.5276] and a = [1, 1.7600, 1.1829, 0.2781] (to 4 places): multiply our sections.
        let f = Sos::butter_lowpass(3, 20.0, 50.0).unwrap();
        let mul = |p: &[f64], q: &[f64]| {
            let mut r = vec![0.0; p.len() + q.len() - 1];
            for (i, a) in p.iter().enumerate() {
                for (j, b) in q.iter().enumerate() {
                    r[i + j] += a * b;
                }
            }
            r
        };
        let (s, t) = (f.0[0], f.0[1]);
        let b = mul(&s.b, &t.b[..2]);
        let a = mul(&[1.0, s.a[0], s.a[1]], &[1.0, t.a[0]]);
        let want_b = [0.5276, 1.5829, 1.5829, 0.5276];
        let want_a = [1.0, 1.7600, 1.1829, 0.2781];
        for i in 0..4 {
            assert!((b[i] - want_b[i]).abs() < 1e-4, "b {b:?}");
            assert!((a[i] - want_a[i]).abs() < 1e-4, "a {a:?}");
        }
    }

    #[test]
    fn filtfilt_matches_scipy_sosfiltfilt() {
        // x = sin(0.7 i) + 0.05 i, i < 40; scipy.signal.sosfiltfilt(butter(3, fc, fs=50,
        // output='sos'), x)[:8] with scipy 1.17.
        let x: Vec<f64> = (0..40)
            .map(|i| (0.7 * i as f64).sin() + 0.05 * i as f64)
            .collect();
        let cases: [(f64, [f64; 8]); 2] = [
            (
                20.0,
                [
                    -0.0003952418,
                    0.6946064153,
                    1.0851737253,
                    1.0133358693,
                    0.534975037,
                    -0.1008374163,
                    -0.5714975343,
                    -0.6325148288,
                ],
            ),
            (
                0.3,
                [
                    -0.5294994082,
                    -0.5170265604,
                    -0.5048760255,
                    -0.4930572149,
                    -0.4815788342,
                    -0.4704488528,
                    -0.4596744764,
                    -0.4492621225,
                ],
            ),
        ];
        for (fc, want) in cases {
            let y = Sos::butter_lowpass(3, fc, 50.0).unwrap().filtfilt(&x);
            for i in 0..8 {
                assert!(
                    (y[i] - want[i]).abs() < 1e-8,
                    "fc {fc} [{i}]: {} vs {}",
                    y[i],
                    want[i]
                );
            }
        }
    }

    #[test]
    fn filtfilt_keeps_constants_and_slow_signals_and_removes_fast_ones() {
        let f = Sos::butter_lowpass(3, 0.3, 50.0).unwrap();
        let flat = f.filtfilt(&[0.7; 400]);
        assert!(flat.iter().all(|v| (v - 0.7).abs() < 1e-9));
        let x: Vec<f64> = (0..2000)
            .map(|i| {
                let t = i as f64 / 50.0;
                (2.0 * PI * 0.05 * t).sin() + 0.5 * (2.0 * PI * 5.0 * t).sin()
            })
            .collect();
        let y = f.filtfilt(&x);
        // Interior: the 5 Hz part is gone, the 0.05 Hz part passes in phase.
        for (i, v) in y.iter().enumerate().take(1500).skip(500) {
            let slow = (2.0 * PI * 0.05 * i as f64 / 50.0).sin();
            assert!((v - slow).abs() < 0.03, "{i}: {v} vs {slow}");
        }
        assert!(f.filtfilt(&[]).is_empty());
        assert_eq!(f.filtfilt(&[2.0]), vec![2.0]);
    }

    #[test]
    fn median_removes_single_spikes() {
        assert_eq!(
            median3(&[1.0, 1.0, 9.0, 1.0, 2.0, 3.0]),
            vec![1.0, 1.0, 1.0, 2.0, 2.0, 3.0]
        );
        assert_eq!(median3(&[4.0, -1.0]), vec![4.0, -1.0]);
    }
}
