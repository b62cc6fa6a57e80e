//! DMA transfers, which halt the CPU while they run.

use super::*;

impl Machine {
    /// A software-triggered DMA request on channel `n`: single transfer or whole block; the
    /// CPU is halted for the transfer cycles (SLAU367 11.2.6).
    pub(super) fn dma_start(&mut self, n: usize) {
        if self.in_dma {
            return;
        }
        if self.p.dma.trigger(n) != 0 {
            // Hardware triggers are not modelled: the request is logged, nothing moves.
            AccessLog::note(
                &mut self.log.unmodelled,
                u32::from(dma::BASE) + 0x10 * (n as u32 + 1),
                true,
                self.pc_now,
            );
            return;
        }
        self.in_dma = true;
        let ch = self.p.dma.ch[n];
        let src_byte = ch.ctl & dma::DMASRCBYTE != 0;
        let dst_byte = ch.ctl & dma::DMADSTBYTE != 0;
        let s_step = dma::Channel::step(ch.ctl >> 8, src_byte);
        let d_step = dma::Channel::step(ch.ctl >> 10, dst_byte);
        let mode = ch.mode();
        let count = match mode {
            0 | 4 => 1,
            _ => u32::from(ch.sz),
        };
        let (mut sa, mut da) = (ch.sa, ch.da);
        for _ in 0..count {
            let v = if src_byte {
                u16::from(self.read_byte(sa))
            } else {
                self.read_word(sa)
            };
            if dst_byte {
                self.write_byte(da, v as u8);
            } else {
                self.write_word(da, v);
            }
            sa = (sa as i32).wrapping_add(s_step) as u32 & 0xF_FFFF;
            da = (da as i32).wrapping_add(d_step) as u32 & 0xF_FFFF;
        }
        let dp = &self.platform.dma;
        self.cycles +=
            u64::from(dp.sync_cycles) + u64::from(dp.cycles_per_transfer) * u64::from(count);
        let c = &mut self.p.dma.ch[n];
        if matches!(mode, 0 | 4) {
            // Single transfers walk the temporary addresses; the block ends at DMAxSZ = 0.
            c.sa = sa;
            c.da = da;
            c.sz = c.sz.wrapping_sub(1);
            if c.sz == 0 {
                c.ctl |= dma::DMAIFG;
                if mode == 0 {
                    c.ctl &= !dma::DMAEN;
                }
            }
        } else {
            c.ctl |= dma::DMAIFG;
            if mode < 4 {
                c.ctl &= !dma::DMAEN;
            }
        }
        self.in_dma = false;
    }
}
