//! eUSCI_A0 in UART mode (SLAU367 chapter 30): baud rate from BRCLK and the modulation
//! settings, TXBUF and the transmit shift register, RXBUF with overrun, the UCRXIFG/UCTXIFG/
//! UCTXCPTIFG flags, their interrupt enables and the UCA0IV vector register.
//!
//! Bytes leave through `take_tx` and arrive through `push_rx`; a character occupies the line
//! for its frame time in MCLK cycles, so the firmware sees the same pacing as on the board.

use std::collections::VecDeque;

pub const BASE: u16 = 0x05C0;
pub const END: u16 = 0x05E0;

const UCSWRST: u16 = 1 << 0;
const UCRXIFG: u16 = 1 << 0;
const UCTXIFG: u16 = 1 << 1;
const UCTXCPTIFG: u16 = 1 << 3;
const UCBUSY: u16 = 1 << 0;
const UCOE: u16 = 1 << 5;

#[derive(Clone, Debug)]
pub struct Uart {
    ctlw0: u16,
    ctlw1: u16,
    brw: u16,
    mctlw: u16,
    statw: u16,
    rxbuf: u8,
    txbuf: Option<u8>,
    ie: u16,
    ifg: u16,
    abctl: u16,
    irctl: u16,
    /// The byte in the transmit shift register and the cycle it is out.
    shifting: Option<(u8, u64)>,
    /// The byte being received and the cycle its stop bit ends.
    receiving: Option<(u8, u64)>,
    /// Bytes the host has sent that have not started on the line yet.
    rx_queue: VecDeque<u8>,
    /// Bytes the device has sent that the host has not taken yet.
    tx_out: Vec<u8>,
    /// Characters received while UCRXIFG was still set (UCOE).
    pub overruns: u64,
}

impl Default for Uart {
    fn default() -> Self {
        Uart::new()
    }
}

impl Uart {
    pub fn new() -> Uart {
        Uart {
            ctlw0: 0x0001,
            ctlw1: 0x0003,
            brw: 0,
            mctlw: 0,
            statw: 0,
            rxbuf: 0,
            txbuf: None,
            ie: 0,
            ifg: UCTXIFG,
            abctl: 0,
            irctl: 0,
            shifting: None,
            receiving: None,
            rx_queue: VecDeque::new(),
            tx_out: Vec::new(),
            overruns: 0,
        }
    }

    /// A reset of the module (power-up or PUC) that keeps the host-side queues: the host's
    /// bytes are still on their way, and what the device sent is already out.
    pub fn reset(&mut self) {
        let rx = std::mem::take(&mut self.rx_queue);
        let tx = std::mem::take(&mut self.tx_out);
        let overruns = self.overruns;
        *self = Uart::new();
        self.rx_queue = rx;
        self.tx_out = tx;
        self.overruns = overruns;
    }

    fn in_reset(&self) -> bool {
        self.ctlw0 & UCSWRST != 0
    }

    /// BRCLK in Hz (UCSSEL: UCLK pin (not driven), ACLK, SMCLK, SMCLK).
    fn brclk_hz(&self, smclk: u32, aclk: u32) -> Option<u32> {
        match self.ctlw0 >> 6 & 3 {
            0 => None,
            1 => Some(aclk),
            _ => Some(smclk),
        }
    }

    /// MCLK cycles one character takes on the line, if the module can run.
    pub fn char_cycles(&self, mclk: u32, smclk: u32, aclk: u32) -> Option<u64> {
        let brclk = f64::from(self.brclk_hz(smclk, aclk)?);
        let brw = f64::from(self.brw.max(1));
        let brs = f64::from((self.mctlw >> 8).count_ones()) / 8.0;
        let per_bit = if self.mctlw & 1 != 0 {
            16.0 * brw + f64::from(self.mctlw >> 4 & 0xF) + brs
        } else {
            brw + brs
        };
        // Start bit, 7 or 8 data bits, parity, 1 or 2 stop bits (UC7BIT, UCPEN, UCSPB).
        let bits = 1
            + if self.ctlw0 & (1 << 12) != 0 { 7 } else { 8 }
            + u32::from(self.ctlw0 & (1 << 15) != 0)
            + if self.ctlw0 & (1 << 11) != 0 { 2 } else { 1 };
        let cycles = f64::from(bits) * per_bit * f64::from(mclk) / brclk;
        Some(cycles.round().max(1.0) as u64)
    }

    /// The supply failed: an unpowered UART hears nothing, so the host's bytes still on their
    /// way are lost (a reset with power kept, [`Uart::reset`], keeps them).
    pub fn power_lost(&mut self) {
        self.rx_queue.clear();
        self.receiving = None;
    }

    /// Queues bytes from the host.
    pub fn push_rx(&mut self, bytes: &[u8]) {
        self.rx_queue.extend(bytes);
    }

    /// Takes the bytes the device has sent.
    pub fn take_tx(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.tx_out)
    }

    /// Host bytes not yet delivered to the device.
    pub fn rx_pending(&self) -> usize {
        self.rx_queue.len() + usize::from(self.receiving.is_some())
    }

    /// Advances the line to cycle `now`; `pins` says whether P2.0/P2.1 are routed to the
    /// eUSCI and unlocked (otherwise nothing reaches the host and nothing arrives).
    pub fn sync(&mut self, now: u64, char_cycles: Option<u64>, pins: bool) {
        if self.in_reset() {
            return;
        }
        while let Some((b, done)) = self.shifting {
            if now < done {
                break;
            }
            if pins {
                self.tx_out.push(b);
            }
            self.shifting = None;
            if let Some(next) = self.txbuf.take() {
                self.shifting = char_cycles.map(|c| (next, done + c));
                self.ifg |= UCTXIFG;
            } else {
                self.ifg |= UCTXCPTIFG;
            }
        }
        loop {
            match self.receiving {
                Some((b, done)) if now >= done => {
                    if self.ifg & UCRXIFG != 0 {
                        self.statw |= UCOE;
                        self.overruns += 1;
                    }
                    self.rxbuf = b;
                    self.ifg |= UCRXIFG;
                    self.receiving = None;
                    // Back-to-back characters: the next starts where this one ended.
                    if let (Some(c), true) = (char_cycles, pins) {
                        if let Some(n) = self.rx_queue.pop_front() {
                            self.receiving = Some((n, done + c));
                            continue;
                        }
                    }
                }
                Some(_) => {}
                None => {
                    if let (Some(c), true) = (char_cycles, pins) {
                        if let Some(n) = self.rx_queue.pop_front() {
                            self.receiving = Some((n, now + c));
                            continue;
                        }
                    }
                }
            }
            break;
        }
        self.statw =
            (self.statw & !UCBUSY) | u16::from(self.shifting.is_some() || self.receiving.is_some());
    }

    /// The next cycle at which the line changes state.
    pub fn next_event(&self) -> Option<u64> {
        if self.in_reset() {
            return None;
        }
        match (self.shifting, self.receiving) {
            (Some((_, a)), Some((_, b))) => Some(a.min(b)),
            (Some((_, a)), None) | (None, Some((_, a))) => Some(a),
            (None, None) => None,
        }
    }

    /// Whether the host has bytes waiting that no character has started for yet.
    pub fn rx_waiting(&self) -> bool {
        self.receiving.is_none() && !self.rx_queue.is_empty() && !self.in_reset()
    }

    pub fn irq(&self) -> bool {
        self.ifg & self.ie & 0x0F != 0
    }

    pub fn has(addr: u16) -> bool {
        matches!(
            addr - BASE,
            0x00 | 0x02 | 0x06 | 0x08 | 0x0A | 0x0C | 0x0E | 0x10 | 0x12 | 0x1A | 0x1C | 0x1E
        )
    }

    pub fn read(&mut self, addr: u16) -> u16 {
        match addr - BASE {
            0x00 => self.ctlw0,
            0x02 => self.ctlw1,
            0x06 => self.brw,
            0x08 => self.mctlw,
            0x0A => self.statw,
            0x0C => {
                // Reading RXBUF clears UCRXIFG and the error flags (SLAU367 30.4.4).
                self.ifg &= !UCRXIFG;
                self.statw &= !(UCOE | 0x1C);
                u16::from(self.rxbuf)
            }
            0x0E => u16::from(self.txbuf.unwrap_or(0)),
            0x10 => self.abctl,
            0x12 => self.irctl,
            0x1A => self.ie,
            0x1C => self.ifg,
            0x1E => {
                // UCA0IV: RXIFG 0x02, TXIFG 0x04, STTIFG 0x06, TXCPTIFG 0x08; reading clears
                // the flag it reports (SLAU367 30.4.13).
                let pending = self.ifg & self.ie & 0x0F;
                if pending == 0 {
                    return 0;
                }
                let bit = pending.trailing_zeros() as u16;
                self.ifg &= !(1 << bit);
                2 * (bit + 1)
            }
            _ => 0,
        }
    }

    /// Register write at cycle `now`.
    pub fn write(&mut self, addr: u16, v: u16, now: u64, char_cycles: Option<u64>) {
        match addr - BASE {
            0x00 => {
                let was_reset = self.in_reset();
                self.ctlw0 = v;
                if v & UCSWRST != 0 && !was_reset {
                    // SLAU367 30.3.1: UCSWRST clears the enables and flags, sets UCTXIFG.
                    self.ie = 0;
                    self.ifg = UCTXIFG;
                    self.statw &= !(UCOE | 0x1C | UCBUSY);
                    self.txbuf = None;
                    self.shifting = None;
                    self.receiving = None;
                }
            }
            0x02 => self.ctlw1 = v,
            0x06 if self.in_reset() => self.brw = v,
            0x08 if self.in_reset() => self.mctlw = v,
            0x0A => self.statw = (self.statw & 0x01) | (v & 0xFE),
            0x0E => {
                if self.in_reset() {
                    return;
                }
                let b = v as u8;
                self.ifg &= !(UCTXIFG | UCTXCPTIFG);
                match (self.shifting, char_cycles) {
                    (None, Some(c)) => {
                        self.shifting = Some((b, now + c));
                        self.ifg |= UCTXIFG;
                    }
                    // No BRCLK: the byte waits in TXBUF.
                    (None, None) => self.txbuf = Some(b),
                    (Some(_), _) => self.txbuf = Some(b),
                }
                self.statw |= UCBUSY;
            }
            0x10 => self.abctl = v,
            0x12 => self.irctl = v,
            0x1A => self.ie = v & 0x0F,
            0x1C => self.ifg = v & 0x0F,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MHZ8: u32 = 8_000_000;

    /// The board's setup: SMCLK, 115200 8N1 from 8 MHz (UCOS16, BRW 4, BRF 5, BRS 0x55).
    fn board_uart() -> Uart {
        let mut u = Uart::new();
        u.write(BASE, 0x0081, 0, None);
        u.write(BASE + 0x06, 4, 0, None);
        u.write(BASE + 0x08, 0x5551, 0, None);
        u.write(BASE, 0x0080, 0, None);
        u
    }

    #[test]
    fn the_board_setting_is_115200_baud() {
        let u = board_uart();
        let c = u.char_cycles(MHZ8, MHZ8, 9400).unwrap();
        // 10 bits at 8 MHz / 115200 = 694.4 cycles.
        assert!((690..=700).contains(&c), "{c}");
    }

    #[test]
    fn a_transmitted_byte_leaves_after_its_frame_time() {
        let mut u = board_uart();
        let c = u.char_cycles(MHZ8, MHZ8, 9400);
        assert_eq!(u.read(BASE + 0x1C) & UCTXIFG, UCTXIFG);
        u.write(BASE + 0x0E, 0x41, 100, c);
        // The shift register took it: TXBUF is free again.
        assert_eq!(u.read(BASE + 0x1C) & UCTXIFG, UCTXIFG);
        u.write(BASE + 0x0E, 0x42, 101, c);
        assert_eq!(u.read(BASE + 0x1C) & UCTXIFG, 0);
        assert_eq!(u.read(BASE + 0x0A) & UCBUSY, UCBUSY);
        u.sync(100 + c.unwrap() - 1, c, true);
        assert!(u.take_tx().is_empty());
        u.sync(100 + c.unwrap(), c, true);
        assert_eq!(u.take_tx(), vec![0x41]);
        assert_eq!(u.read(BASE + 0x1C) & UCTXIFG, UCTXIFG);
        u.sync(100 + 2 * c.unwrap(), c, true);
        assert_eq!(u.take_tx(), vec![0x42]);
        assert_eq!(u.read(BASE + 0x1C) & UCTXCPTIFG, UCTXCPTIFG);
    }

    #[test]
    fn received_bytes_set_rxifg_and_a_second_one_overruns() {
        let mut u = board_uart();
        let c = u.char_cycles(MHZ8, MHZ8, 9400);
        u.push_rx(&[1, 2]);
        u.sync(0, c, true);
        assert_eq!(u.read(BASE + 0x1C) & UCRXIFG, 0);
        u.sync(c.unwrap(), c, true);
        assert_eq!(u.read(BASE + 0x1C) & UCRXIFG, UCRXIFG);
        u.sync(2 * c.unwrap(), c, true);
        assert_eq!(u.read(BASE + 0x0A) & UCOE, UCOE);
        assert_eq!(u.read(BASE + 0x0C), 2);
        assert_eq!(u.read(BASE + 0x1C) & UCRXIFG, 0);
        assert_eq!(u.read(BASE + 0x0A) & UCOE, 0);
        assert_eq!(u.overruns, 1);
    }

    #[test]
    fn a_reset_keeps_the_hosts_bytes_in_flight_and_a_power_failure_loses_them() {
        let mut u = board_uart();
        u.push_rx(&[1, 2, 3]);
        u.reset();
        assert_eq!(u.rx_pending(), 3);
        u.power_lost();
        assert_eq!(u.rx_pending(), 0);
    }

    #[test]
    fn the_vector_register_reports_and_clears_the_highest_priority_flag() {
        let mut u = board_uart();
        let c = u.char_cycles(MHZ8, MHZ8, 9400);
        u.write(BASE + 0x1A, 0x03, 0, c);
        u.push_rx(&[7]);
        u.sync(0, c, true);
        u.sync(c.unwrap(), c, true);
        assert!(u.irq());
        assert_eq!(u.read(BASE + 0x1E), 0x02);
        assert_eq!(u.read(BASE + 0x1E), 0x04);
        assert_eq!(u.read(BASE + 0x1E), 0);
        assert!(!u.irq());
    }

    #[test]
    fn locked_pins_deliver_nothing() {
        let mut u = board_uart();
        let c = u.char_cycles(MHZ8, MHZ8, 9400);
        u.write(BASE + 0x0E, 0x41, 0, c);
        u.sync(10_000, c, false);
        assert!(u.take_tx().is_empty());
    }
}
