//! The byte link under the protocol client: the only thing a new transport has to provide.
//!
//! A link moves raw bytes; framing, CRCs, retries and timeouts live in the client above it, so
//! every transport (a serial port, the in-process simulated board, the virtual LaunchPad's UART
//! bridge or pty) runs the same protocol code. Each link keeps its own clock: wall time for a
//! real port, simulated time for a simulated board, so deadlines and the host's end-to-end
//! timings mean the same on both.

use std::time::Duration;

use thiserror::Error;

/// Why a link could not move bytes (not a timeout: an expired deadline is `Ok(0)`).
#[derive(Debug, Error)]
pub enum LinkError {
    #[error("{link}: {error}")]
    Io { link: String, error: std::io::Error },
    #[error("{link}: {what}")]
    Closed { link: String, what: String },
}

/// What the client is about to do, for a bench that powers the board differently for each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Anything but a run: a plan upload, an input, a benchmark.
    Transfer,
    /// An inference.
    Run,
}

/// A bidirectional byte stream with a clock.
///
/// Contract (what the client relies on):
/// - [`Link::send`] hands over every byte or fails; bytes may still be lost or damaged on the
///   line (the client's CRCs and resends deal with that).
/// - [`Link::recv`] blocks until at least one byte is available or the link's clock reaches
///   `deadline`, whichever comes first, and returns how many bytes it wrote into `buf`
///   (0 only when the deadline passed). A simulated link advances its clock to the deadline
///   instead of sleeping.
/// - [`Link::now`] is monotonic, from an arbitrary origin fixed when the link opened.
pub trait Link {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError>;
    fn recv(&mut self, buf: &mut [u8], deadline: Duration) -> Result<usize, LinkError>;
    fn now(&self) -> Duration;
    /// What the link talks to, for messages (`/dev/ttyACM1`, `simboard`).
    fn describe(&self) -> String;
    /// The client is about to transfer (upload, write an input) or run. The virtual LaunchPad
    /// switches its supply here (USB power for transfers, the harvester for runs, as a user
    /// moves a board from one to the other); a real board's bench is the user's, so other
    /// links ignore it.
    fn phase(&mut self, phase: Phase) -> Result<(), LinkError> {
        let _ = phase;
        Ok(())
    }
}

impl<L: Link + ?Sized> Link for Box<L> {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        (**self).send(bytes)
    }
    fn recv(&mut self, buf: &mut [u8], deadline: Duration) -> Result<usize, LinkError> {
        (**self).recv(buf, deadline)
    }
    fn now(&self) -> Duration {
        (**self).now()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn phase(&mut self, phase: Phase) -> Result<(), LinkError> {
        (**self).phase(phase)
    }
}

/// Seconds one byte takes on an 8N1 UART line (start, 8 data, stop bits).
pub fn byte_time(baud: u32) -> Duration {
    Duration::from_secs_f64(10.0 / f64::from(baud.max(1)))
}
