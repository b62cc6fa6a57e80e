//! The UART's host side: what the emulated eUSCI_A0 sends goes to a bridge, what the bridge
//! has goes to the device. `InProcess` is for tests and library users; `Pty` is a
//! pseudo-terminal whose path `inas` host commands open like a real serial device.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;

use crate::error::SimError;

/// Moves bytes between the host and the device's UART.
pub trait UartBridge {
    /// Delivers `from_device` to the host and returns what the host has sent since.
    fn exchange(&mut self, from_device: &[u8]) -> Result<Vec<u8>, SimError>;

    /// [`UartBridge::exchange`] at simulated time `now_s` (on-time plus off-time since the run
    /// started): for hosts that keep time with the device, or hold it back (lockstep).
    fn exchange_at(&mut self, now_s: f64, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
        let _ = now_s;
        self.exchange(from_device)
    }

    /// The host is done (a script ran to its end, the user hung up): the run ends.
    fn finished(&self) -> bool {
        false
    }
}

/// Queues in memory.
#[derive(Debug, Default)]
pub struct InProcess {
    pub to_device: VecDeque<u8>,
    pub from_device: Vec<u8>,
}

impl UartBridge for InProcess {
    fn exchange(&mut self, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
        self.from_device.extend_from_slice(from_device);
        Ok(self.to_device.drain(..).collect())
    }
}

/// A pseudo-terminal: the emulator holds the master, the host opens `path()`.
pub struct Pty {
    master: OwnedFd,
    path: String,
}

impl Pty {
    /// Opens a new pseudo-terminal in raw mode (no echo, no line editing).
    pub fn open() -> Result<Pty, SimError> {
        use rustix::fs::OFlags;
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let e = |what: &str, err: rustix::io::Errno| SimError::Bridge(format!("{what}: {err}"));
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).map_err(|x| e("openpt", x))?;
        grantpt(&master).map_err(|x| e("grantpt", x))?;
        unlockpt(&master).map_err(|x| e("unlockpt", x))?;
        let name = ptsname(&master, Vec::new()).map_err(|x| e("ptsname", x))?;
        let path = name.to_string_lossy().into_owned();
        // Raw mode on the slave side's settings (they live in the pty pair).
        let mut t = rustix::termios::tcgetattr(&master).map_err(|x| e("tcgetattr", x))?;
        t.make_raw();
        rustix::termios::tcsetattr(&master, rustix::termios::OptionalActions::Now, &t)
            .map_err(|x| e("tcsetattr", x))?;
        let flags = rustix::fs::fcntl_getfl(&master).map_err(|x| e("fcntl", x))?;
        rustix::fs::fcntl_setfl(&master, flags | OFlags::NONBLOCK).map_err(|x| e("fcntl", x))?;
        Ok(Pty { master, path })
    }

    /// The serial device path the host opens (e.g. `/dev/pts/3`).
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl UartBridge for Pty {
    fn exchange(&mut self, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
        use rustix::io::Errno;
        let mut rest = from_device;
        while !rest.is_empty() {
            match rustix::io::write(&self.master, rest) {
                Ok(n) => rest = &rest[n..],
                // Nobody has the slave open or its buffer is full: the line drops bytes, as
                // a UART with nothing listening does.
                Err(Errno::AGAIN) | Err(Errno::IO) => break,
                Err(x) => return Err(SimError::Bridge(format!("write: {x}"))),
            }
        }
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(&self.master, &mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(Errno::AGAIN) | Err(Errno::IO) => break,
                Err(x) => return Err(SimError::Bridge(format!("read: {x}"))),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn bytes_cross_the_pty_both_ways() {
        let mut pty = Pty::open().expect("a pty");
        let mut host = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(pty.path())
            .expect("slave opens");
        host.write_all(b"hi").unwrap();
        let mut got = Vec::new();
        for _ in 0..100 {
            got.extend(pty.exchange(b"").unwrap());
            if got.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got, b"hi");
        pty.exchange(b"ok").unwrap();
        let mut buf = [0u8; 2];
        host.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ok");
    }
}
