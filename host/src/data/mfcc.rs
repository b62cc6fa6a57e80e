//! MFCC features of one-second clips, with the parameters of the paper's KWS setting (the
//! ARM/TensorFlow speech-commands DNN front end): 16 kHz audio, 40 ms Hann windows every
//! 40 ms (25 frames per second), |FFT| over 1,024 points, 40 triangular mel filters between
//! 20 Hz and 4 kHz (mel = 1127 ln(1 + f/700)), natural log (floored at 1e-12), orthonormal
//! DCT-II, first 10 coefficients. The magnitude (not power) spectrum feeds the filterbank, as
//! TensorFlow's `audio_ops.mfcc` does.

use std::f64::consts::PI;
use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// The feature parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct MfccConfig {
    pub rate: usize,
    /// Samples per clip (shorter clips are zero-padded at the end, longer ones cut).
    pub clip: usize,
    pub window: usize,
    pub stride: usize,
    pub fft: usize,
    pub mel_bins: usize,
    pub low_hz: f64,
    pub high_hz: f64,
    pub coeffs: usize,
}

pub const KWS: MfccConfig = MfccConfig {
    rate: 16_000,
    clip: 16_000,
    window: 640,
    stride: 640,
    fft: 1024,
    mel_bins: 40,
    low_hz: 20.0,
    high_hz: 4_000.0,
    coeffs: 10,
};

impl MfccConfig {
    pub fn frames(&self) -> usize {
        1 + (self.clip - self.window) / self.stride
    }
}

/// A reusable MFCC computer (window, filterbank, DCT and FFT plan made once).
pub struct Mfcc {
    cfg: MfccConfig,
    hann: Vec<f64>,
    /// Per mel bin: (first FFT bin, weights).
    filters: Vec<(usize, Vec<f64>)>,
    dct: Vec<Vec<f64>>,
    fft: Arc<dyn Fft<f64>>,
}

fn mel(f: f64) -> f64 {
    1127.0 * (1.0 + f / 700.0).ln()
}

impl Mfcc {
    pub fn new(cfg: MfccConfig) -> Mfcc {
        let n = cfg.window;
        // Periodic Hann, as TensorFlow's spectrogram uses.
        let hann = (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos())
            .collect();
        let bin_hz = cfg.rate as f64 / cfg.fft as f64;
        let (lo, hi) = (mel(cfg.low_hz), mel(cfg.high_hz));
        let centre = |i: usize| lo + (hi - lo) * i as f64 / (cfg.mel_bins + 1) as f64;
        let filters = (0..cfg.mel_bins)
            .map(|m| {
                let (l, c, r) = (centre(m), centre(m + 1), centre(m + 2));
                let bins: Vec<usize> = (0..=cfg.fft / 2)
                    .filter(|&k| {
                        let b = mel(k as f64 * bin_hz);
                        b > l && b < r
                    })
                    .collect();
                let first = bins.first().copied().unwrap_or(0);
                let weights = bins
                    .iter()
                    .map(|&k| {
                        let b = mel(k as f64 * bin_hz);
                        if b <= c {
                            (b - l) / (c - l)
                        } else {
                            (r - b) / (r - c)
                        }
                    })
                    .collect();
                (first, weights)
            })
            .collect();
        let nm = cfg.mel_bins as f64;
        let dct = (0..cfg.coeffs)
            .map(|k| {
                let scale = if k == 0 {
                    (1.0 / nm).sqrt()
                } else {
                    (2.0 / nm).sqrt()
                };
                (0..cfg.mel_bins)
                    .map(|i| scale * (PI * k as f64 * (i as f64 + 0.5) / nm).cos())
                    .collect()
            })
            .collect();
        let fft = FftPlanner::new().plan_fft_forward(cfg.fft);
        Mfcc {
            cfg,
            hann,
            filters,
            dct,
            fft,
        }
    }

    pub fn config(&self) -> &MfccConfig {
        &self.cfg
    }

    /// Features of a clip of samples in [-1, 1]: `frames x coeffs`, frame-major.
    pub fn compute(&self, audio: &[f32]) -> Vec<f32> {
        let cfg = &self.cfg;
        let mut clip = vec![0f64; cfg.clip];
        for (d, s) in clip.iter_mut().zip(audio) {
            *d = *s as f64;
        }
        let mut out = Vec::with_capacity(cfg.frames() * cfg.coeffs);
        let mut buf = vec![Complex::new(0.0, 0.0); cfg.fft];
        let mut mag = vec![0f64; cfg.fft / 2 + 1];
        let mut logmel = vec![0f64; cfg.mel_bins];
        for f in 0..cfg.frames() {
            let frame = &clip[f * cfg.stride..f * cfg.stride + cfg.window];
            buf.iter_mut().for_each(|c| *c = Complex::new(0.0, 0.0));
            for (i, (&s, &w)) in frame.iter().zip(&self.hann).enumerate() {
                buf[i].re = s * w;
            }
            self.fft.process(&mut buf);
            for (m, c) in mag.iter_mut().zip(&buf) {
                *m = c.norm();
            }
            for (lm, (first, w)) in logmel.iter_mut().zip(&self.filters) {
                let e: f64 = w.iter().zip(&mag[*first..]).map(|(w, m)| w * m).sum();
                *lm = e.max(1e-12).ln();
            }
            for row in &self.dct {
                out.push(row.iter().zip(&logmel).map(|(a, b)| a * b).sum::<f64>() as f32);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_tone_response() {
        let m = Mfcc::new(KWS);
        assert_eq!(KWS.frames(), 25);
        assert!(
            m.filters.iter().all(|(_, w)| !w.is_empty()),
            "every mel bin covers an FFT bin"
        );
        let tone = |hz: f64| -> Vec<f32> {
            (0..16_000)
                .map(|i| (0.5 * (2.0 * PI * hz * i as f64 / 16_000.0).sin()) as f32)
                .collect()
        };
        let a = m.compute(&tone(300.0));
        let b = m.compute(&tone(2_000.0));
        assert_eq!(a.len(), 250);
        // A steady tone gives the same features in every frame...
        for f in 1..25 {
            for k in 0..10 {
                assert!((a[f * 10 + k] - a[k]).abs() < 0.05, "frame {f} coeff {k}");
            }
        }
        // ...and different tones differ.
        let d: f32 = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum();
        assert!(d > 10.0, "{d}");
        // Silence: every log-mel value at the floor, so c0 = sqrt(40)·ln(1e-12), others 0.
        let z = m.compute(&[]);
        assert!((z[0] as f64 - 40f64.sqrt() * 1e-12f64.ln()).abs() < 1e-3);
        assert!(z[1].abs() < 1e-3);
        // Louder is a shift of c0 only: ln(2) · sqrt(40).
        let loud: Vec<f32> = tone(300.0).iter().map(|v| v * 2.0).collect();
        let l = m.compute(&loud);
        assert!((l[0] - a[0] - (2f32.ln() * 40f32.sqrt())).abs() < 1e-3);
        assert!((l[3] - a[3]).abs() < 1e-3);
    }
}
