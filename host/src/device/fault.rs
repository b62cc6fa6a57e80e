//! A link that damages bytes on the line, both ways, from a seeded generator: the client's
//! CRCs, resends and timeouts are tested against it.

use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::link::{Link, LinkError};

/// How the line misbehaves: each byte, independently, is dropped or replaced by another value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// Probability that a byte arrives with a different value.
    pub corrupt: f64,
    /// Probability that a byte does not arrive at all.
    pub drop: f64,
    pub seed: u64,
}

/// What the line did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    pub bytes: u64,
    pub corrupted: u64,
    pub dropped: u64,
}

pub struct FaultyLink<L> {
    inner: L,
    faults: Faults,
    rng: ChaCha8Rng,
    stats: FaultStats,
}

impl<L: Link> FaultyLink<L> {
    /// Rates outside [0, 1] (or not numbers) are clamped (NaN counts as 0).
    pub fn new(inner: L, faults: Faults) -> FaultyLink<L> {
        let rate = |p: f64| if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let faults = Faults {
            corrupt: rate(faults.corrupt),
            drop: rate(faults.drop),
            ..faults
        };
        FaultyLink {
            inner,
            rng: ChaCha8Rng::seed_from_u64(faults.seed),
            faults,
            stats: FaultStats::default(),
        }
    }

    pub fn stats(&self) -> FaultStats {
        self.stats
    }

    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Damages `bytes` in place, compacting away dropped ones; returns the surviving length.
    fn damage(&mut self, bytes: &mut [u8]) -> usize {
        let mut kept = 0;
        for i in 0..bytes.len() {
            self.stats.bytes += 1;
            if self.rng.random_bool(self.faults.drop) {
                self.stats.dropped += 1;
                continue;
            }
            let mut b = bytes[i];
            if self.rng.random_bool(self.faults.corrupt) {
                self.stats.corrupted += 1;
                b ^= self.rng.random_range(1..=255u8);
            }
            bytes[kept] = b;
            kept += 1;
        }
        kept
    }
}

impl<L: Link> Link for FaultyLink<L> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let mut line = bytes.to_vec();
        let n = self.damage(&mut line);
        self.inner.send(&line[..n])
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Duration) -> Result<usize, LinkError> {
        loop {
            let got = self.inner.recv(buf, deadline)?;
            if got == 0 {
                return Ok(0);
            }
            let n = self.damage(&mut buf[..got]);
            // Everything dropped: the caller still waits for a byte or its deadline.
            if n > 0 {
                return Ok(n);
            }
        }
    }

    fn now(&self) -> Duration {
        self.inner.now()
    }

    fn describe(&self) -> String {
        format!(
            "{} (faulty: {}% corrupted, {}% dropped)",
            self.inner.describe(),
            self.faults.corrupt * 100.0,
            self.faults.drop * 100.0
        )
    }

    fn phase(&mut self, phase: super::link::Phase) -> Result<(), LinkError> {
        self.inner.phase(phase)
    }
}
