//! The virtual LaunchPad as a [`Link`]: the firmware ELF runs in `inas-emu` on its own thread,
//! in lockstep with the host. The emulator only advances simulated time up to the deadline the
//! host is waiting for, so the link's clock is the device's simulated clock (on-time plus the
//! off-time of every recharge) and a measurement is exactly repeatable.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use std::time::Duration;

use anyhow::{Context, Result};
use inas_emu::bridge::UartBridge;
use inas_emu::power::{Capacitor, Harvester, Supply};
use inas_emu::{Emulator, Firmware, MachineConfig, Report, RunConfig, SimError};

use super::link::{Link, LinkError, Phase};
use crate::profile::Profile;
use crate::supply::Harvester as ProfileHarvester;

/// The emulated board's supply: the profile's capacitor thresholds and RC harvester, with
/// `cap`/`rehm` overriding its capacitance and source resistance.
pub fn supply(profile: &Profile, cap: Option<f64>, rehm: Option<f64>) -> Result<Supply> {
    let capacitor = capacitor(profile, cap);
    let harvester = match profile.harvester {
        ProfileHarvester::Rc(rc) => Harvester::Rc {
            v_source: rc.v_sup,
            r_ohm: rehm.unwrap_or(rc.r_ohm),
        },
        ProfileHarvester::ConstantPower(p) => {
            if rehm.is_some() {
                anyhow::bail!(
                    "--rehm applies to an RC source; profile {}'s harvester delivers constant power",
                    profile.name
                );
            }
            Harvester::ConstantPower { watts: p.power_w }
        }
    };
    Ok(Supply::new(capacitor, harvester)?)
}

/// The emulated board's power when active at `clock_hz` and `volts`: the FR5994 datasheet
/// currents the emulator draws (its platform file), what `calibrate --emulator` prices energy at.
pub fn active_power_w(clock_hz: u32, volts: f64) -> f64 {
    let c = inas_emu::platform::Platform::fr5994().current;
    let amps = (c.active_base_ua + c.active_ua_per_mhz * f64::from(clock_hz) / 1e6) * 1e-6;
    amps * volts
}

/// The profile's capacitor (its thresholds; `cap` overriding its capacitance) as the emulator
/// models it: the one conversion of a profile's storage into the emulator's terms.
pub fn capacitor(profile: &Profile, cap: Option<f64>) -> Capacitor {
    Capacitor {
        capacitance_f: cap.unwrap_or(profile.supply.capacitance_f),
        v_on: profile.supply.v_on,
        v_off: profile.supply.v_off,
    }
}

#[derive(Default)]
struct Shared {
    to_device: VecDeque<u8>,
    from_device: VecDeque<u8>,
    /// The emulator's simulated time, seconds, since its current run started.
    now_s: f64,
    /// Simulated time of earlier runs (before supply switches).
    base_s: f64,
    /// The emulator may run until this simulated time.
    granted_s: f64,
    closed: bool,
    /// The emulator waits in [`Lockstep::exchange_at`] for the host (its clock stands still).
    paused: bool,
    /// The emulator stopped (error, or no recharge): why.
    ended: Option<String>,
}

type State = Arc<(Mutex<Shared>, Condvar)>;

/// The emulator's side of the UART.
struct Lockstep(State);

impl UartBridge for Lockstep {
    fn exchange(&mut self, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
        let now = self.0 .0.lock().expect("link state").now_s;
        self.exchange_at(now, from_device)
    }

    fn exchange_at(&mut self, now_s: f64, from_device: &[u8]) -> Result<Vec<u8>, SimError> {
        let (lock, cv) = &*self.0;
        let mut s = lock.lock().expect("link state");
        s.from_device.extend(from_device);
        s.now_s = now_s;
        if !from_device.is_empty() {
            // Hold here until the host has read it: what the host sends in reply then arrives
            // at this simulated time however fast either thread runs, so runs repeat exactly.
            s.granted_s = s.granted_s.min(now_s);
        }
        cv.notify_all();
        while now_s >= s.granted_s && !s.closed && s.to_device.is_empty() {
            s.paused = true;
            cv.notify_all();
            s = cv.wait(s).expect("link state");
        }
        s.paused = false;
        Ok(s.to_device.drain(..).collect())
    }

    fn finished(&self) -> bool {
        self.0 .0.lock().expect("link state").closed
    }
}

/// A link to the firmware running on the virtual LaunchPad.
pub struct EmulatorLink {
    state: State,
    thread: Option<JoinHandle<(Emulator, Result<Report, SimError>)>>,
    name: String,
    /// The supply runs switch to (see [`EmulatorLink::run_on`]), and whether it is on now.
    run_supply: Option<Supply>,
    on_run_supply: bool,
    /// Where to write the cycles-by-function profile when the emulator stops for good.
    profile: Option<PathBuf>,
}

impl EmulatorLink {
    /// Boots `firmware` (an MSP430FR5994 ELF) under `supply` (`None`: continuous power).
    pub fn start(firmware: &Path, supply: Option<Supply>) -> Result<EmulatorLink> {
        let fw = Firmware::from_path(firmware)
            // A message, not a context: SimError holds its cause and also names it as the
            // source, so a chained report would print the cause twice.
            .map_err(|e| anyhow::anyhow!("loading firmware {}: {e}", firmware.display()))?;
        let emulator = Emulator::new(fw, MachineConfig::default())
            .map_err(|e| anyhow::anyhow!("booting {}: {e}", firmware.display()))?;
        let mut link = EmulatorLink {
            state: State::default(),
            thread: None,
            name: format!("virtual LaunchPad ({})", firmware.display()),
            run_supply: None,
            on_run_supply: false,
            profile: None,
        };
        link.spawn(emulator, supply)?;
        Ok(link)
    }

    fn spawn(&mut self, mut emulator: Emulator, supply: Option<Supply>) -> Result<()> {
        let bridge_state = self.state.clone();
        let cfg = RunConfig {
            machine: MachineConfig::default(),
            supply,
            max_instructions: u64::MAX,
            stop_at: None,
            max_seconds: f64::INFINITY,
        };
        let thread = std::thread::Builder::new()
            .name("virtual-launchpad".into())
            .spawn(move || {
                let mut bridge = Lockstep(bridge_state.clone());
                let r = emulator.run(&cfg, &mut bridge);
                let (lock, cv) = &*bridge_state;
                let mut s = lock.lock().expect("link state");
                s.ended = Some(match &r {
                    Ok(report) => format!("the emulator stopped: {:?}", report.ended),
                    Err(e) => format!("the emulator failed: {e}"),
                });
                cv.notify_all();
                (emulator, r)
            })
            .context("starting the emulator thread")?;
        self.thread = Some(thread);
        Ok(())
    }

    /// Stops the emulator where it is and returns the report of the run so far.
    fn stop(&mut self) -> Result<(Emulator, Report)> {
        self.close();
        let t = self.thread.take().context("the emulator is not running")?;
        let (emulator, r) = t
            .join()
            .map_err(|_| anyhow::anyhow!("the emulator thread panicked"))?;
        Ok((emulator, r?))
    }

    /// Switches the board's power, as a user moves a LaunchPad from USB power to a harvester:
    /// the machine goes on where it is (FRAM, SRAM, registers). Returns the report of the run
    /// under the previous supply. The link's clock goes on.
    pub fn set_supply(&mut self, supply: Option<Supply>) -> Result<Report> {
        let (emulator, report) = self.stop()?;
        self.respawn(emulator, supply)?;
        Ok(report)
    }

    /// Profiles the device during runs (between the client's `Phase::Run` and the next
    /// `Phase::Transfer`); when the link ends, writes its cycles by firmware function to
    /// `csv` (function, cycles, share).
    pub fn profile_cycles(&mut self, csv: PathBuf) {
        self.profile = Some(csv);
    }

    /// Restarts a stopped emulator under `supply`, the link's clock going on.
    fn respawn(&mut self, emulator: Emulator, supply: Option<Supply>) -> Result<()> {
        {
            let mut s = self.state.0.lock().expect("link state");
            s.closed = false;
            s.paused = false;
            s.ended = None;
            // Simulated time restarts at 0 in a new run: keep the link's clock monotonic.
            s.base_s += s.now_s;
            s.granted_s -= s.now_s;
            s.now_s = 0.0;
        }
        self.spawn(emulator, supply)
    }

    /// Writes the profile, if one was asked for.
    fn write_profile(&self, emulator: &Emulator) -> Result<()> {
        let (Some(csv), Some(by_pc)) = (&self.profile, emulator.machine.profile()) else {
            return Ok(());
        };
        let rows = emulator.firmware.cycles_by_function(by_pc);
        let total: u64 = rows.iter().map(|r| r.1).sum::<u64>().max(1);
        let mut out = String::from("function,cycles,share_pct\n");
        for (name, cycles) in rows {
            out += &format!(
                "{name},{cycles},{:.3}\n",
                100.0 * cycles as f64 / total as f64
            );
        }
        std::fs::write(csv, out).with_context(|| format!("writing {}", csv.display()))
    }

    /// Puts the board on `supply` for every run and back on USB power for every transfer, as
    /// the client announces them ([`Link::phase`]): a measurement on a harvester without
    /// waiting out brown-outs during uploads.
    pub fn run_on(&mut self, supply: Supply) {
        self.run_supply = Some(supply);
    }

    /// Stops the emulator and returns its run report (since the last supply switch).
    pub fn finish(mut self) -> Result<Report> {
        let (emulator, report) = self.stop()?;
        self.write_profile(&emulator)?;
        Ok(report)
    }

    fn close(&mut self) {
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().expect("link state");
        s.closed = true;
        cv.notify_all();
    }
}

impl Drop for EmulatorLink {
    fn drop(&mut self) {
        self.close();
        if let Some(t) = self.thread.take() {
            if let Ok((emulator, _)) = t.join() {
                if let Err(e) = self.write_profile(&emulator) {
                    eprintln!("warning: {e:#}");
                }
            }
        }
    }
}

impl Link for EmulatorLink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().expect("link state");
        if let Some(why) = &s.ended {
            return Err(LinkError::Closed {
                link: self.name.clone(),
                what: why.clone(),
            });
        }
        s.to_device.extend(bytes);
        cv.notify_all();
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Duration) -> Result<usize, LinkError> {
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().expect("link state");
        let deadline_s = deadline.as_secs_f64() - s.base_s;
        loop {
            if !s.from_device.is_empty() {
                let n = buf.len().min(s.from_device.len());
                for (d, b) in buf.iter_mut().zip(s.from_device.drain(..n)) {
                    *d = b;
                }
                return Ok(n);
            }
            if s.now_s >= deadline_s {
                return Ok(0);
            }
            // Only a host that waits lets the device run on: while it works on what it read,
            // the device stays where it was (see `Lockstep::exchange_at`).
            if deadline_s > s.granted_s {
                s.granted_s = deadline_s;
                cv.notify_all();
            }
            if let Some(why) = &s.ended {
                return Err(LinkError::Closed {
                    link: self.name.clone(),
                    what: why.clone(),
                });
            }
            s = cv.wait(s).expect("link state");
        }
    }

    fn now(&self) -> Duration {
        let (lock, cv) = &*self.state;
        let mut s = lock.lock().expect("link state");
        // The device's clock once it has taken what the host sent and stopped for the host:
        // read while it runs, the time would depend on the threads' speeds.
        while !(s.paused && s.to_device.is_empty()) && s.ended.is_none() && !s.closed {
            s = cv.wait(s).expect("link state");
        }
        Duration::from_secs_f64(s.base_s + s.now_s)
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn phase(&mut self, phase: Phase) -> Result<(), LinkError> {
        let want = match phase {
            Phase::Run => self.run_supply.is_some(),
            Phase::Transfer => false,
        };
        let profile = self.profile.is_some();
        if want == self.on_run_supply && !profile {
            return Ok(());
        }
        let supply = if want { self.run_supply.clone() } else { None };
        // The report of the run that ends here is not kept: a command reads the last one.
        let switch = || -> Result<()> {
            let (mut emulator, _) = self.stop()?;
            emulator
                .machine
                .set_profiling(profile && phase == Phase::Run);
            self.respawn(emulator, supply)
        };
        switch().map_err(|e| LinkError::Closed {
            link: self.name.clone(),
            what: format!("switching the supply: {e:#}"),
        })?;
        self.on_run_supply = want;
        Ok(())
    }
}
