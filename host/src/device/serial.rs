//! A real board on a serial port (the LaunchPad's eZ-FET back-channel UART, 115200 8N1), and
//! port discovery.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde::Serialize;
use serialport::{DataBits, FlowControl, Parity, SerialPort, SerialPortType, StopBits};

use super::link::{Link, LinkError};

/// The UART settings of the board firmware (`firmware/src/board.rs`).
pub const BAUD: u32 = 115_200;
/// Texas Instruments' USB vendor id, which the LaunchPads' eZ-FET debug probe enumerates with.
pub const TI_VID: u16 = 0x2047;

pub struct SerialLink {
    port: Box<dyn SerialPort>,
    name: String,
    opened: Instant,
}

impl SerialLink {
    /// Opens `path` at `baud`, 8N1, no flow control.
    pub fn open(path: &str, baud: u32) -> Result<SerialLink, LinkError> {
        let port = serialport::new(path, baud)
            .data_bits(DataBits::Eight)
            .parity(Parity::None)
            .stop_bits(StopBits::One)
            .flow_control(FlowControl::None)
            .timeout(Duration::from_millis(10))
            .open()
            .map_err(|e| LinkError::Closed {
                link: path.to_owned(),
                what: format!("cannot open the serial port: {e}"),
            })?;
        Ok(SerialLink {
            port,
            name: path.to_owned(),
            opened: Instant::now(),
        })
    }

    fn io(&self, error: std::io::Error) -> LinkError {
        LinkError::Io {
            link: self.name.clone(),
            error,
        }
    }
}

impl Link for SerialLink {
    fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.port.write_all(bytes).map_err(|e| self.io(e))?;
        self.port.flush().map_err(|e| self.io(e))
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Duration) -> Result<usize, LinkError> {
        loop {
            let left = deadline.saturating_sub(self.now());
            // A zero timeout would block forever on some platforms: poll at least 1 ms.
            let wait = left.clamp(Duration::from_millis(1), Duration::from_millis(100));
            self.port.set_timeout(wait).map_err(|e| LinkError::Closed {
                link: self.name.clone(),
                what: e.to_string(),
            })?;
            match self.port.read(buf) {
                Ok(n) if n > 0 => return Ok(n),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io(e)),
            }
            if self.now() >= deadline {
                return Ok(0);
            }
        }
    }

    fn now(&self) -> Duration {
        self.opened.elapsed()
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// A serial port the system offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortInfo {
    pub port: String,
    /// `usb`, `pci`, `bluetooth` or `unknown`.
    pub kind: &'static str,
    pub vid: Option<u16>,
    pub pid: Option<u16>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial_number: Option<String>,
    /// A TI debug probe (eZ-FET): one of its two ports is the board's application UART.
    pub launchpad: bool,
}

/// The serial ports present now, TI probes first, then by name.
pub fn ports() -> Result<Vec<PortInfo>, serialport::Error> {
    let mut out: Vec<PortInfo> = serialport::available_ports()?
        .into_iter()
        .map(|p| {
            let mut info = PortInfo {
                port: p.port_name,
                kind: "unknown",
                vid: None,
                pid: None,
                manufacturer: None,
                product: None,
                serial_number: None,
                launchpad: false,
            };
            match p.port_type {
                SerialPortType::UsbPort(u) => {
                    info.kind = "usb";
                    info.vid = Some(u.vid);
                    info.pid = Some(u.pid);
                    info.manufacturer = u.manufacturer;
                    info.product = u.product;
                    info.serial_number = u.serial_number;
                    info.launchpad = u.vid == TI_VID;
                }
                SerialPortType::PciPort => info.kind = "pci",
                SerialPortType::BluetoothPort => info.kind = "bluetooth",
                SerialPortType::Unknown => {}
            }
            info
        })
        .collect();
    out.sort_by(|a, b| b.launchpad.cmp(&a.launchpad).then(a.port.cmp(&b.port)));
    Ok(out)
}
