//! The UART's host side: what the emulated eUSCI_A0 sends goes to a bridge, what the bridge
//! has goes to the device. `InProcess` is for tests and library users; `Pty` is a
//! pseudo-terminal whose path `inas` host commands open like a real serial device; `Paced`
//! holds a run to the wall clock, so that a host on the pty meets a board that keeps real
//! time, off-time included.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::str::FromStr;
use std::time::{Duration, Instant};

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

    /// The device lost power at simulated time `since_s` and stays off for `off_s` (the
    /// recharge); called before it boots again. A bridge to a serial line drops what the host
    /// sends meanwhile, as an unpowered UART hears nothing; by default nothing is lost.
    fn off(&mut self, since_s: f64, off_s: f64) -> Result<(), SimError> {
        let _ = (since_s, off_s);
        Ok(())
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

impl Pty {
    fn read_all(&mut self) -> Result<Vec<u8>, SimError> {
        use rustix::io::Errno;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match rustix::io::read(&self.master, &mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                // Nothing more, or nobody has the slave open.
                Err(Errno::AGAIN) | Err(Errno::IO) => break,
                Err(x) => return Err(SimError::Bridge(format!("read: {x}"))),
            }
        }
        Ok(out)
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
        self.read_all()
    }

    fn off(&mut self, _since_s: f64, _off_s: f64) -> Result<(), SimError> {
        self.read_all().map(drop)
    }
}

/// How fast simulated time may run against the wall clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Speed(Option<f64>);

impl Speed {
    /// One simulated second per wall-clock second: a board as a host meets a real one.
    pub const REAL_TIME: Speed = Speed(Some(1.0));
    /// As fast as the emulator runs: simulated time has no relation to the wall clock.
    pub const MAX: Speed = Speed(None);

    /// `ratio` simulated seconds per wall-clock second (finite, > 0).
    pub fn times(ratio: f64) -> Result<Speed, SimError> {
        if ratio.is_finite() && ratio > 0.0 {
            Ok(Speed(Some(ratio)))
        } else {
            Err(SimError::Bridge(format!(
                "speed {ratio} is not a positive number of simulated seconds per second"
            )))
        }
    }

    /// Simulated seconds per wall-clock second; `None` when unpaced.
    pub fn ratio(self) -> Option<f64> {
        self.0
    }
}

impl FromStr for Speed {
    type Err = String;

    /// `max`, or simulated seconds per wall-clock second (`1`, `0.5`, `20`, `20x`).
    fn from_str(s: &str) -> Result<Speed, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") {
            return Ok(Speed::MAX);
        }
        let number = t.strip_suffix(['x', 'X']).unwrap_or(t);
        match number.parse::<f64>() {
            Ok(0.0) => Err(format!(
                "speed '{s}' would stop the clock: use 'max' for a run as fast as possible"
            )),
            Ok(v) => Speed::times(v).map_err(|_| {
                format!("speed '{s}' is not a positive number of simulated seconds per second")
            }),
            Err(_) => Err(format!(
                "speed '{s}' is neither 'max' nor a number of simulated seconds per second"
            )),
        }
    }
}

impl std::fmt::Display for Speed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(r) => write!(f, "{r}x"),
            None => f.write_str("max"),
        }
    }
}

/// The wall clock a [`Paced`] bridge keeps to; tests inject their own.
pub trait Clock {
    /// Time since an origin fixed when the clock was made.
    fn now(&self) -> Duration;
    fn sleep(&mut self, d: Duration);
}

/// The host's monotonic clock.
#[derive(Clone, Copy, Debug)]
pub struct WallClock(Instant);

impl Default for WallClock {
    fn default() -> Self {
        WallClock(Instant::now())
    }
}

impl Clock for WallClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// What pacing did over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct PaceStats {
    /// Wall-clock seconds spent waiting for the clock (off-time included).
    pub slept_s: f64,
    /// The furthest the emulator fell behind its schedule, wall-clock seconds: near 0 when
    /// the machine keeps up with the speed asked for.
    pub max_behind_s: f64,
}

/// Holds a run to the wall clock: at every exchange, and before the device boots again after
/// a recharge, the emulator sleeps while its simulated time (on-time plus off-time) is ahead
/// of the wall clock times the speed. The check costs one clock read per exchange (one per
/// emulator slice), and sleeps start only past [`Paced::SLACK`], so the emulator still runs
/// flat out between them. Bytes from the device reach the host once their simulated time has
/// come, never earlier.
pub struct Paced<B, C = WallClock> {
    inner: B,
    /// Simulated seconds per wall-clock second; `None`: unpaced, the clock is never read.
    ratio: Option<f64>,
    clock: C,
    /// The schedule's origin: (simulated s, wall time) at the first exchange, moved when the
    /// run falls more than [`Paced::CATCH_UP`] behind.
    anchor: Option<(f64, Duration)>,
    stats: PaceStats,
}

impl<B: UartBridge> Paced<B, WallClock> {
    /// `inner` at `speed` on the host's clock.
    pub fn new(inner: B, speed: Speed) -> Paced<B, WallClock> {
        Paced::with_clock(inner, speed, WallClock::default())
    }
}

impl<B: UartBridge, C: Clock> Paced<B, C> {
    /// How far simulated time may run ahead of the wall clock (in wall time) before the
    /// emulator sleeps: shorter sleeps would cost more than they hold back.
    pub const SLACK: Duration = Duration::from_millis(2);
    /// The most lag the emulator makes up by running flat out (a loaded machine); a longer
    /// stall (a suspended process) moves the schedule instead of being raced through.
    pub const CATCH_UP: Duration = Duration::from_secs(1);
    /// The longest single sleep, so that a host that is done ends a long recharge promptly.
    pub const SLEEP_STEP: Duration = Duration::from_millis(50);

    /// As [`Paced::new`], on `clock`.
    pub fn with_clock(inner: B, speed: Speed, clock: C) -> Paced<B, C> {
        Paced {
            inner,
            ratio: speed.ratio(),
            clock,
            anchor: None,
            stats: PaceStats::default(),
        }
    }

    pub fn stats(&self) -> PaceStats {
        self.stats
    }

    pub fn inner(&self) -> &B {
        &self.inner
    }

    pub fn into_inner(self) -> B {
        self.inner
    }

    /// Sleeps until simulated time `sim_s` is due on the wall clock (within [`Paced::SLACK`]).
    fn wait_until(&mut self, sim_s: f64) {
        let Some(ratio) = self.ratio else {
            return;
        };
        let now = self.clock.now();
        let (sim0, wall0) = *self.anchor.get_or_insert((sim_s, now));
        let offset = ((sim_s - sim0) / ratio).max(0.0);
        // Beyond Duration's range (absurd times) the run waits for the host to be done.
        let due = Duration::try_from_secs_f64(offset)
            .ok()
            .and_then(|d| wall0.checked_add(d))
            .unwrap_or(Duration::MAX);
        let mut wall = now;
        if due < wall {
            let behind = wall - due;
            self.stats.max_behind_s = self.stats.max_behind_s.max(behind.as_secs_f64());
            if behind > Self::CATCH_UP {
                self.anchor = Some((sim_s, wall));
            }
            return;
        }
        while due - wall > Self::SLACK && !self.inner.finished() {
            self.clock.sleep((due - wall).min(Self::SLEEP_STEP));
            let after = self.clock.now();
            self.stats.slept_s += after.saturating_sub(wall).as_secs_f64();
            wall = after;
            if due <= wall {
                break;
            }
        }
    }
}

impl<B: UartBridge, C: Clock> UartBridge for Paced<B, C> {
    fn exchange(&mut self, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
        self.inner.exchange(from_device)
    }

    fn exchange_at(&mut self, now_s: f64, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
        self.wait_until(now_s);
        self.inner.exchange_at(now_s, from_device)
    }

    /// The board stays off for the recharge in wall time too; what the host sent meanwhile
    /// is then the inner bridge's to drop.
    fn off(&mut self, since_s: f64, off_s: f64) -> Result<(), SimError> {
        self.wait_until(since_s + off_s);
        self.inner.off(since_s, off_s)
    }

    fn finished(&self) -> bool {
        self.inner.finished()
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
    use std::cell::Cell;
    use std::rc::Rc;

    /// A clock that moves only when the test (the emulator's work) or a sleep moves it.
    #[derive(Clone, Default)]
    struct FakeClock {
        now: Rc<Cell<Duration>>,
        sleeps: Rc<Cell<u32>>,
    }

    impl FakeClock {
        fn advance(&self, d: Duration) {
            self.now.set(self.now.get() + d);
        }
    }

    impl Clock for FakeClock {
        fn now(&self) -> Duration {
            self.now.get()
        }
        fn sleep(&mut self, d: Duration) {
            self.sleeps.set(self.sleeps.get() + 1);
            // Sleeps overshoot a little, as the host's do.
            self.advance(d + Duration::from_micros(30));
        }
    }

    /// A host that records what it hears, says it is done when told, and keeps a byte to send.
    #[derive(Default)]
    struct Host {
        heard: Vec<(Duration, Vec<u8>)>,
        clock: FakeClock,
        done: Rc<Cell<bool>>,
        pending: Vec<u8>,
        dropped: Vec<u8>,
    }

    impl UartBridge for Host {
        fn exchange(&mut self, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
            if !from_device.is_empty() {
                self.heard.push((self.clock.now(), from_device.to_vec()));
            }
            Ok(std::mem::take(&mut self.pending))
        }
        fn off(&mut self, _: f64, _: f64) -> Result<(), SimError> {
            self.dropped.append(&mut self.pending);
            Ok(())
        }
        fn finished(&self) -> bool {
            self.done.get()
        }
    }

    const SLICE: f64 = 1e-4;

    /// A paced host bridge whose schedule starts at simulated 0 s, wall 0 s.
    fn paced(speed: Speed, host: Host) -> (Paced<Host, FakeClock>, FakeClock) {
        let clock = host.clock.clone();
        let mut p = Paced::with_clock(host, speed, clock.clone());
        p.exchange_at(0.0, b"").unwrap();
        (p, clock)
    }

    /// Runs `slices` emulator slices of `SLICE` simulated seconds, each costing `work` of wall
    /// time, and checks after every exchange that simulated time is not ahead of the wall
    /// clock by more than the slack. Returns the simulated time reached.
    fn run(
        paced: &mut Paced<Host, FakeClock>,
        clock: &FakeClock,
        ratio: f64,
        slices: u32,
        work: Duration,
    ) -> f64 {
        let slack = Paced::<Host, FakeClock>::SLACK.as_secs_f64();
        let mut sim = 0.0;
        for _ in 0..slices {
            clock.advance(work);
            sim += SLICE;
            paced.exchange_at(sim, b"").unwrap();
            let wall = clock.now().as_secs_f64();
            assert!(
                sim / ratio <= wall + slack + 1e-12,
                "simulated {sim} s ahead of wall {wall} s"
            );
        }
        sim
    }

    #[test]
    fn real_time_holds_a_fast_emulator_to_the_wall_clock() {
        let (mut p, clock) = paced(Speed::REAL_TIME, Host::default());
        // The emulator runs ten times faster than real time.
        let sim = run(&mut p, &clock, 1.0, 20_000, Duration::from_micros(10));
        let wall = clock.now().as_secs_f64();
        // Two simulated seconds took two wall seconds, not 0.2 s.
        assert!((sim - 2.0).abs() < 1e-9);
        assert!(wall >= sim - 0.002 && wall < sim + 0.01, "wall {wall} s");
        // Sleeps are batched (one per slack's worth), not one per slice.
        let sleeps = clock.sleeps.get();
        assert!(sleeps > 100 && sleeps < 2_000, "{sleeps} sleeps");
        let st = p.stats();
        assert!((st.slept_s - (wall - 0.2)).abs() < 1e-6, "{st:?}");
        assert!(st.max_behind_s < 1e-3, "{st:?}");
    }

    #[test]
    fn a_speed_ratio_scales_the_schedule() {
        let (mut p, clock) = paced(Speed::times(20.0).unwrap(), Host::default());
        let sim = run(&mut p, &clock, 20.0, 20_000, Duration::from_micros(1));
        let wall = clock.now().as_secs_f64();
        assert!(
            wall >= sim / 20.0 - 0.002 && wall < sim / 20.0 + 0.01,
            "wall {wall} s"
        );
    }

    #[test]
    fn unpaced_never_sleeps() {
        let (mut p, clock) = paced(Speed::MAX, Host::default());
        let sim = run(
            &mut p,
            &clock,
            f64::INFINITY,
            10_000,
            Duration::from_micros(10),
        );
        p.off(sim, 30.0).unwrap();
        assert_eq!(clock.sleeps.get(), 0);
        assert_eq!(clock.now(), Duration::from_millis(100));
        assert_eq!(p.stats(), PaceStats::default());
    }

    #[test]
    fn a_recharge_keeps_the_board_off_in_wall_time_and_drops_what_the_host_sent() {
        let (mut p, clock) = paced(Speed::REAL_TIME, Host::default());
        let sim = run(&mut p, &clock, 1.0, 1_000, Duration::from_micros(10));
        let before = clock.now();
        p.inner.pending = b"lost".to_vec();
        p.off(sim, 0.4).unwrap();
        let off = (clock.now() - before).as_secs_f64();
        assert!(
            (0.4 - 0.002..0.41).contains(&off),
            "off for {off} s of wall time"
        );
        assert_eq!(p.inner().dropped, b"lost");
        // The next exchange, just after the reboot, needs no more waiting.
        let sleeps = clock.sleeps.get();
        p.exchange_at(sim + 0.4 + SLICE, b"").unwrap();
        assert_eq!(clock.sleeps.get(), sleeps);
    }

    #[test]
    fn device_bytes_reach_the_host_no_earlier_than_their_simulated_time() {
        let (mut p, clock) = paced(Speed::REAL_TIME, Host::default());
        for k in 1..=50u32 {
            clock.advance(Duration::from_micros(5));
            p.exchange_at(f64::from(k) * 0.01, &[k as u8]).unwrap();
        }
        for (at, bytes) in &p.inner().heard {
            let sent = f64::from(bytes[0]) * 0.01;
            assert!(
                at.as_secs_f64() + 1e-9 >= sent,
                "byte of {sent} s heard at {at:?}"
            );
        }
        assert_eq!(p.inner().heard.len(), 50);
    }

    #[test]
    fn a_slow_emulator_runs_flat_out_and_forgives_a_long_stall() {
        let (mut p, clock) = paced(Speed::REAL_TIME, Host::default());
        // Half real speed: never ahead, never sleeps.
        run(&mut p, &clock, 1.0, 1_000, Duration::from_micros(200));
        assert_eq!(clock.sleeps.get(), 0);
        assert!(
            (p.stats().max_behind_s - 0.1).abs() < 1e-3,
            "{:?}",
            p.stats()
        );
        // A 5 s stall, then full speed again: the schedule moves, and the run is paced from
        // there instead of racing 5 s of simulated time through.
        clock.advance(Duration::from_secs(5));
        p.exchange_at(0.1 + SLICE, b"").unwrap();
        let t0 = clock.now();
        let mut sim = 0.1 + SLICE;
        for _ in 0..1_000 {
            clock.advance(Duration::from_micros(10));
            sim += SLICE;
            p.exchange_at(sim, b"").unwrap();
        }
        let wall = (clock.now() - t0).as_secs_f64();
        assert!(
            (0.098..0.11).contains(&wall),
            "0.1 s simulated took {wall} s"
        );
    }

    #[test]
    fn a_host_that_is_done_ends_a_long_recharge() {
        let host = Host::default();
        let done = host.done.clone();
        let (mut p, clock) = paced(Speed::REAL_TIME, host);
        done.set(true);
        p.off(0.0, 3600.0).unwrap();
        assert!(clock.now() < Duration::from_secs(1), "{:?}", clock.now());
    }

    #[test]
    fn speeds_parse_and_bad_ones_are_named() {
        assert_eq!("max".parse::<Speed>(), Ok(Speed::MAX));
        assert_eq!("1".parse::<Speed>(), Ok(Speed::REAL_TIME));
        assert_eq!("20x".parse::<Speed>(), Ok(Speed::times(20.0).unwrap()));
        assert_eq!("0.5".parse::<Speed>().unwrap().ratio(), Some(0.5));
        for bad in ["0", "-1", "inf", "NaN", "fast", ""] {
            let e = bad.parse::<Speed>().unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
        assert!("0".parse::<Speed>().unwrap_err().contains("max"));
        assert_eq!(Speed::REAL_TIME.to_string(), "1x");
        assert_eq!(Speed::MAX.to_string(), "max");
    }

    #[test]
    fn the_pty_drops_what_the_host_sent_while_the_board_was_off() {
        let mut pty = Pty::open().expect("a pty");
        let mut host = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(pty.path())
            .expect("slave opens");
        host.write_all(b"lost").unwrap();
        // The bytes cross the pty asynchronously: wait until they are there, then drop them.
        for _ in 0..100 {
            if rustix::io::ioctl_fionread(&pty.master).unwrap_or(0) >= 4 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        pty.off(0.0, 0.1).unwrap();
        host.write_all(b"kept").unwrap();
        let mut got = Vec::new();
        for _ in 0..100 {
            got.extend(pty.exchange(b"").unwrap());
            if got.len() >= 4 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(got, b"kept");
    }
}
