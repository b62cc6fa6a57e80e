//! The intermittent inference engine: executes a [`ValidPlan`] one preservation batch at a time,
//! generic over the device's memories and MAC unit, so the same code runs on the MSP430 and, on
//! the host, against simulated FRAM with injected power failures.
//!
//! **Execution.** A layer's tiles are numbered in its loop order (reuse_I: r, c, n, m; reuse_W:
//! m, n, r, c; reuse_O: r, c, m, n; GAP: m, r, c — innermost last). One [`Engine::step`] runs one
//! batch of S consecutive innermost tiles with exactly the data movement of the cost model (one
//! block transfer per contiguous block; partial sums fetched only past the first input-channel
//! tile), writes the outputs, and commits the footprint.
//!
//! **Atomic commit.** Partial sums never overwrite what a batch reads: a layer keeps two output
//! buffers and an output tile's k-th update reads version k from buffer k mod 2 and writes
//! version k+1 to the other (k is the input-channel tile for reuse_I/W, the batch for reuse_O
//! and GAP). The footprint has two slots; a commit writes the older slot's data words and then,
//! separately, its sequence word. Wherever power fails — mid-output, between outputs and
//! footprint, mid-footprint — the newest complete slot names a batch whose inputs are intact,
//! and re-running it gives exactly the continuous result.

use crate::design::LoopOrder;
use crate::plan::{LayerDesc, LayerKind, ValidPlan, FOOTPRINT_SLOT_WORDS};
use crate::q15::{add_sat, relu, Acc};

/// What a transfer moves: lets a device (or a simulator) price it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    Ifm,
    Weights,
    /// Partial sums fetched back, or biases, for a layer running in this loop order.
    Psum(LoopOrder),
    /// Outputs written back by a layer running in this loop order.
    Output(LoopOrder),
    Footprint,
    /// The network input, written before a run.
    Input,
}

/// Non-volatile memory addressed in 16-bit words. A write cut by a power failure may leave any
/// prefix of its words written; a single word is written whole.
pub trait Nvm {
    type Error;
    fn read(&mut self, block: Block, addr: u32, buf: &mut [i16]) -> Result<(), Self::Error>;
    fn write(&mut self, block: Block, addr: u32, data: &[i16]) -> Result<(), Self::Error>;
}

/// The MAC unit. Implementations must return exactly [`crate::q15::dot`].
pub trait Mac {
    type Error;
    fn dot(&mut self, x: &[i16], w: &[i16]) -> Result<i32, Self::Error>;
    /// One pooling product `x · w` added to `acc` (GAP runs on the CPU).
    fn pool(&mut self, acc: &mut Acc, x: i16, w: i16) -> Result<(), Self::Error> {
        acc.add_product(x, w);
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineError<E> {
    /// The device failed (for a simulator: the power did).
    Device(E),
    /// The volatile buffer is smaller than the layer's tiles need.
    Vm {
        layer: u16,
        need_words: u32,
        have_words: u32,
    },
    /// The footprint names no tile of this plan (NVM not started for it, or damaged).
    Footprint { layer: u16, tile: u32 },
}

impl<E> From<E> for EngineError<E> {
    fn from(e: E) -> Self {
        EngineError::Device(e)
    }
}

/// Progress after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A batch ran and its commit is durable; `layer`/`tile` name the next batch.
    Committed { layer: u16, tile: u32 },
    /// Every layer is done; the outputs are at [`Engine::output`].
    Done,
}

/// A committed position: the next batch to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footprint {
    pub layer: u16,
    pub tile: u32,
    pub seq: u16,
}

/// Layer geometry in tile units. Validation bounds every dimension and tile size by
/// [`crate::plan::MAX_DIM`], so they are u16 here: on the 16-bit MCU that halves the engine's
/// arithmetic. Only NVM addresses and tile numbers need u32.
#[derive(Clone, Copy, Debug)]
struct Geo {
    pool: bool,
    order: LoopOrder,
    tr: u16,
    tc: u16,
    tm: u16,
    tn: u16,
    s: u16,
    kh: u16,
    kw: u16,
    /// Input columns, channels.
    w: u16,
    n: u16,
    /// Output columns, channels.
    c: u16,
    m: u16,
    rt: u16,
    ct: u16,
    mt: u16,
    nt: u16,
    tri: u16,
    tci: u16,
}

fn w32(x: u16) -> u32 {
    u32::from(x)
}

fn us(x: u16) -> usize {
    usize::from(x)
}

impl Geo {
    fn of(l: &LayerDesc) -> Geo {
        let d = &l.design;
        let pool = l.kind == LayerKind::GlobalAvgPool;
        let (h, w, n) = (l.input.h, l.input.w, l.input.c);
        let (r, c, m) = (l.output.h, l.output.w, l.output.c);
        let (rows, cols) = if pool { (h, w) } else { (r, c) };
        // Validated: every tile size is at most MAX_DIM.
        let (tr, tc, tm, tn, s) = (
            d.tr as u16,
            d.tc as u16,
            d.tm as u16,
            d.tn as u16,
            d.batch as u16,
        );
        Geo {
            pool,
            order: d.order,
            tr,
            tc,
            tm,
            tn,
            s,
            kh: l.kh,
            kw: l.kw,
            w,
            n,
            c,
            m,
            rt: rows / tr,
            ct: cols / tc,
            mt: m / tm,
            nt: if pool { 1 } else { n / tn },
            tri: if pool { tr } else { tr + l.kh - 1 },
            tci: if pool { tc } else { tc + l.kw - 1 },
        }
    }

    /// Spatial tiles of the layer.
    fn rc_tiles(&self) -> u32 {
        w32(self.rt) * w32(self.ct)
    }

    fn tiles(&self) -> u32 {
        self.rc_tiles() * w32(self.mt) * w32(self.nt)
    }

    /// Words of the three VM buffers: input tile, weight tile, output tiles.
    fn vm_words(&self) -> (usize, usize, usize) {
        let (tr, tc, tm, tn, s) = (
            us(self.tr),
            us(self.tc),
            us(self.tm),
            us(self.tn),
            us(self.s),
        );
        if self.pool {
            return (tr * tc * tm, 0, tm);
        }
        let b_in = us(self.tri) * us(self.tci) * tn;
        let b_w = us(self.kh) * us(self.kw) * tm * tn;
        let tile = tr * tc * tm;
        let b_out = if self.order == LoopOrder::ReuseO {
            tile
        } else {
            tile * s
        };
        (b_in, b_w, b_out)
    }

    /// Word offset of pixel (row, col) in a feature map with `cols` columns and `ch` channels.
    fn pixel(row: u16, col: u16, cols: u16, ch: u16) -> u32 {
        (w32(row) * w32(cols) + w32(col)) * w32(ch)
    }
}

/// Runs one validated plan.
pub struct Engine<'p> {
    plan: &'p ValidPlan,
}

/// Which feature-map buffer a layer reads and which two it writes, and where its result ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Buffers {
    input: usize,
    outs: [usize; 2],
    last: usize,
}

/// Number of versions a layer's output tiles go through (the last one is the result).
/// (From the layer rather than its [`Geo`]: [`Engine::buffers`] asks for every layer, and a
/// whole `Geo` is much more than these few divisions.)
fn final_version(l: &LayerDesc) -> u32 {
    let d = &l.design;
    // Validated: every tile size is at most MAX_DIM.
    let (tr, tc, tn, s) = (d.tr as u16, d.tc as u16, d.tn as u16, d.batch as u16);
    let i = &l.input;
    if l.kind == LayerKind::GlobalAvgPool {
        w32(i.h / tr) * w32(i.w / tc) / w32(s)
    } else if d.order == LoopOrder::ReuseO {
        w32(i.c / tn / s)
    } else {
        w32(i.c / tn)
    }
}

impl<'p> Engine<'p> {
    pub fn new(plan: &'p ValidPlan) -> Self {
        Engine { plan }
    }

    fn buffers(&self, layer: usize) -> Buffers {
        let mut input = 0;
        for (i, l) in self.plan.layers().iter().enumerate() {
            let outs = match input {
                0 => [1, 2],
                1 => [0, 2],
                _ => [0, 1],
            };
            let last = outs[(final_version(l) % 2) as usize];
            if i == layer {
                return Buffers { input, outs, last };
            }
            input = last;
        }
        Buffers {
            input,
            outs: [0, 0],
            last: input,
        }
    }

    #[inline(never)]
    fn fm(&self, buffer: usize) -> u32 {
        self.plan.layout().feature_maps[buffer]
    }

    /// Words of volatile memory a step needs (the largest layer's tile buffers).
    pub fn vm_words(&self) -> usize {
        self.plan
            .layers()
            .iter()
            .map(|l| {
                let (a, b, c) = Geo::of(l).vm_words();
                a + b + c
            })
            .max()
            .unwrap_or(0)
    }

    /// Where the network's input goes and how many words it has.
    pub fn input(&self) -> (u32, u32) {
        (self.fm(0), self.plan.meta().input.elements())
    }

    /// Where the final layer's outputs (the logits) are, and how many.
    pub fn output(&self) -> (u32, u32) {
        let last = self.plan.layers().len() - 1;
        (
            self.fm(self.buffers(last).last),
            self.plan.layers()[last].output.elements(),
        )
    }

    /// Writes the input and resets the footprint to the first batch. Idempotent: if power fails
    /// during `start`, run it again.
    pub fn start<N: Nvm>(&self, nvm: &mut N, input: &[i16]) -> Result<(), N::Error> {
        let (at, len) = self.input();
        nvm.write(Block::Input, at, &input[..(len as usize).min(input.len())])?;
        self.restart(nvm)
    }

    /// Resets the footprint to the first batch, for an input already in place at
    /// [`Engine::input`]. Idempotent.
    pub fn restart<N: Nvm>(&self, nvm: &mut N) -> Result<(), N::Error> {
        let fp = self.plan.layout().footprint;
        nvm.write(Block::Footprint, fp + FOOTPRINT_SLOT_WORDS, &[0, 0, 0, 0])?;
        nvm.write(Block::Footprint, fp, &[0, 0, 0, 1])
    }

    /// Reads the newest complete footprint slot.
    pub fn footprint<N: Nvm>(&self, nvm: &mut N) -> Result<Footprint, N::Error> {
        let mut w = [0i16; 2 * FOOTPRINT_SLOT_WORDS as usize];
        nvm.read(Block::Footprint, self.plan.layout().footprint, &mut w)?;
        let slot = |k: usize| Footprint {
            layer: w[4 * k] as u16,
            tile: (w[4 * k + 1] as u16 as u32) | ((w[4 * k + 2] as u16 as u32) << 16),
            seq: w[4 * k + 3] as u16,
        };
        let (a, b) = (slot(0), slot(1));
        // The two slots' sequence numbers differ by one; compare with wrap-around.
        Ok(if (a.seq.wrapping_sub(b.seq) as i16) > 0 {
            a
        } else {
            b
        })
    }

    fn commit<N: Nvm>(
        &self,
        nvm: &mut N,
        prev: Footprint,
        layer: u16,
        tile: u32,
    ) -> Result<(), N::Error> {
        let seq = prev.seq.wrapping_add(1);
        let at = self.plan.layout().footprint + u32::from(seq % 2) * FOOTPRINT_SLOT_WORDS;
        nvm.write(
            Block::Footprint,
            at,
            &[layer as i16, tile as u16 as i16, (tile >> 16) as u16 as i16],
        )?;
        // The sequence word last: until it lands, the other slot is the newest complete one.
        nvm.write(Block::Footprint, at + 3, &[seq as i16])
    }

    /// Recovers from the footprint, runs one batch and commits it. The device is the NVM and
    /// the MAC unit at once (they share one power supply).
    pub fn step<D: Nvm + Mac<Error = <D as Nvm>::Error>>(
        &self,
        dev: &mut D,
        vm: &mut [i16],
    ) -> Result<Step, EngineError<<D as Nvm>::Error>> {
        let nvm = dev;
        let fp = self.footprint(nvm)?;
        let layers = self.plan.layers();
        if usize::from(fp.layer) == layers.len() {
            return Ok(Step::Done);
        }
        let Some(l) = layers.get(usize::from(fp.layer)) else {
            return Err(EngineError::Footprint {
                layer: fp.layer,
                tile: fp.tile,
            });
        };
        let g = Geo::of(l);
        if fp.tile >= g.tiles() || fp.tile % w32(g.s) != 0 {
            return Err(EngineError::Footprint {
                layer: fp.layer,
                tile: fp.tile,
            });
        }
        let (b_in, b_w, b_out) = g.vm_words();
        if vm.len() < b_in + b_w + b_out {
            return Err(EngineError::Vm {
                layer: fp.layer,
                need_words: (b_in + b_w + b_out) as u32,
                have_words: vm.len() as u32,
            });
        }
        let (vin, rest) = vm.split_at_mut(b_in);
        let (vw, rest) = rest.split_at_mut(b_w);
        let vout = &mut rest[..b_out];
        let bufs = self.buffers(usize::from(fp.layer));
        let ctx = Ctx {
            plan: self.plan,
            l,
            g,
            input: self.fm(bufs.input),
            outs: [self.fm(bufs.outs[0]), self.fm(bufs.outs[1])],
        };
        ctx.batch(nvm, fp.tile, vin, vw, vout)?;
        let next = fp.tile + w32(g.s);
        let (layer, tile) = if next == g.tiles() {
            (fp.layer + 1, 0)
        } else {
            (fp.layer, next)
        };
        self.commit(nvm, fp, layer, tile)?;
        Ok(Step::Committed { layer, tile })
    }

    /// Runs to the end without power failures (continuous power).
    pub fn run<D: Nvm + Mac<Error = <D as Nvm>::Error>>(
        &self,
        dev: &mut D,
        vm: &mut [i16],
    ) -> Result<u32, EngineError<<D as Nvm>::Error>> {
        let mut batches = 0;
        while let Step::Committed { .. } = self.step(dev, vm)? {
            batches += 1;
        }
        Ok(batches)
    }
}

/// One batch's context.
struct Ctx<'p> {
    plan: &'p ValidPlan,
    l: &'p LayerDesc,
    g: Geo,
    input: u32,
    outs: [u32; 2],
}

impl Ctx<'_> {
    #[inline(never)]
    fn tensor(&self, offset: u32) -> u32 {
        self.plan.layout().tensors + offset
    }

    /// Reads an IFM tile (rows r·Tr.., columns c·Tc.., channels `ch`..): Tri·Tci blocks of
    /// `run` channels (a conv's Tn from n·Tn, or GAP's Tm from m·Tm).
    fn fetch_ifm<N: Nvm>(
        &self,
        nvm: &mut N,
        r: u16,
        c: u16,
        ch: u16,
        run: usize,
        vin: &mut [i16],
    ) -> Result<(), N::Error> {
        let g = &self.g;
        let mut k = 0;
        for i in 0..g.tri {
            for j in 0..g.tci {
                let at = self.input + Geo::pixel(r * g.tr + i, c * g.tc + j, g.w, g.n) + w32(ch);
                nvm.read(Block::Ifm, at, &mut vin[k..k + run])?;
                k += run;
            }
        }
        Ok(())
    }

    /// Reads a weight tile (output channels m·Tm.., input channels n·Tn..): Kh·Kw·Tm blocks of Tn.
    fn fetch_weights<N: Nvm>(
        &self,
        nvm: &mut N,
        m: u16,
        n: u16,
        vw: &mut [i16],
    ) -> Result<(), N::Error> {
        let g = &self.g;
        let tn = us(g.tn);
        let base = self.tensor(self.l.weights.offset) + w32(n * g.tn);
        let mut k = 0;
        for t in 0..w32(g.kh) * w32(g.kw) {
            for mm in 0..g.tm {
                let at = base + (t * w32(g.m) + w32(m * g.tm + mm)) * w32(g.n);
                nvm.read(Block::Weights, at, &mut vw[k..k + tn])?;
                k += tn;
            }
        }
        Ok(())
    }

    /// Starts an output tile: its partial sums (version `v` > 0) or its biases. `stride` is the
    /// distance between pixels in the VM output buffer, `base` the tile's first word there.
    #[allow(clippy::too_many_arguments)]
    fn load_outputs<N: Nvm>(
        &self,
        nvm: &mut N,
        v: u32,
        r: u16,
        c: u16,
        m: u16,
        vout: &mut [i16],
        base: usize,
        stride: usize,
    ) -> Result<(), N::Error> {
        let g = &self.g;
        let tm = us(g.tm);
        let (rows, cols) = if g.pool { (1, 1) } else { (g.tr, g.tc) };
        if v == 0 {
            // A fresh tile starts from its biases: one block read, copied to every pixel in VM.
            let first = &mut vout[base..base + tm];
            if self.l.bias.len > 0 {
                nvm.read(
                    Block::Psum(g.order),
                    self.tensor(self.l.bias.offset) + w32(m * g.tm),
                    first,
                )?;
            } else {
                first.fill(0);
            }
            // Pixels are `stride` >= Tm words apart, so source and copy never overlap (a
            // plain copy: an overlapping move would link memmove into the MSP430 build).
            for p in 1..us(rows) * us(cols) {
                let (src, dst) = vout.split_at_mut(base + p * stride);
                dst[..tm].copy_from_slice(&src[base..base + tm]);
            }
            return Ok(());
        }
        let mut k = base;
        for i in 0..rows {
            for j in 0..cols {
                let at = self.out_addr(v, r, c, i, j, m);
                nvm.read(Block::Psum(g.order), at, &mut vout[k..k + tm])?;
                k += stride;
            }
        }
        Ok(())
    }

    /// NVM address of output version `v`, tile (r, c), pixel offset (i, j), channel tile m.
    fn out_addr(&self, v: u32, r: u16, c: u16, i: u16, j: u16, m: u16) -> u32 {
        let g = &self.g;
        let pixel = if g.pool {
            0
        } else {
            Geo::pixel(r * g.tr + i, c * g.tc + j, g.c, g.m)
        };
        self.outs[(v % 2) as usize] + pixel + w32(m * g.tm)
    }

    /// Adds one input-channel tile's contribution to an output tile in VM.
    #[allow(clippy::too_many_arguments)]
    fn compute<M: Mac>(
        &self,
        mac: &mut M,
        vin: &[i16],
        vw: &[i16],
        vout: &mut [i16],
        base: usize,
        stride: usize,
        last: bool,
    ) -> Result<(), M::Error> {
        let g = &self.g;
        let tn = us(g.tn);
        let (tci, kw, tm) = (us(g.tci), us(g.kw), us(g.tm));
        for i in 0..us(g.tr) {
            for j in 0..us(g.tc) {
                for mm in 0..tm {
                    let mut acc = Acc(0);
                    for ki in 0..us(g.kh) {
                        for kj in 0..kw {
                            let x = ((i + ki) * tci + (j + kj)) * tn;
                            let w = ((ki * kw + kj) * tm + mm) * tn;
                            acc.add(mac.dot(&vin[x..x + tn], &vw[w..w + tn])?);
                        }
                    }
                    let k = base + (i * us(g.tc) + j) * stride + mm;
                    let mut v = add_sat(vout[k], acc.quantize(self.l.shift));
                    if last && self.l.relu {
                        v = relu(v);
                    }
                    vout[k] = v;
                }
            }
        }
        Ok(())
    }

    /// Writes an output tile (one block of `run` words per pixel) as version `v`.
    #[allow(clippy::too_many_arguments)]
    fn store<N: Nvm>(
        &self,
        nvm: &mut N,
        v: u32,
        r: u16,
        c: u16,
        m: u16,
        vout: &[i16],
        base: usize,
        stride: usize,
        run: usize,
    ) -> Result<(), N::Error> {
        let g = &self.g;
        let (rows, cols) = if g.pool { (1, 1) } else { (g.tr, g.tc) };
        let mut k = base;
        for i in 0..rows {
            for j in 0..cols {
                let at = self.out_addr(v, r, c, i, j, m);
                nvm.write(Block::Output(g.order), at, &vout[k..k + run])?;
                k += stride;
            }
        }
        Ok(())
    }

    /// Splits a spatial tile number into its row and column tiles.
    #[inline(never)]
    fn rc(&self, rc: u32) -> (u16, u16) {
        let ct = w32(self.g.ct);
        ((rc / ct) as u16, (rc % ct) as u16)
    }

    /// One batch. The loop orders (and GAP, which runs as reuse_O over spatial tiles) differ
    /// only in which tile coordinate the batch's S tiles walk and in which transfers they
    /// share, so one loop serves all (on the MSP430 a copy per order cost a kilobyte), each in
    /// its order's sequence: reuse_I: IFM tile once, then per tile weights and partial sums;
    /// reuse_W: weight tile once, then per tile IFM and partial sums; reuse_O: partial sums
    /// once, then per tile IFM and weights; GAP: the pooling weight and partial sums once,
    /// then per tile its IFM.
    fn batch<D: Nvm + Mac<Error = <D as Nvm>::Error>>(
        &self,
        nvm: &mut D,
        t0: u32,
        vin: &mut [i16],
        vw: &mut [i16],
        vout: &mut [i16],
    ) -> Result<(), <D as Nvm>::Error> {
        let g = self.g;
        let pool = g.pool;
        let tile = us(g.tr) * us(g.tc) * us(g.tm);
        let tm = us(g.tm);
        let (mt, nt, rct) = (w32(g.mt), w32(g.nt), g.rc_tiles());
        // GAP's order is reuse_O (validated), but it walks spatial tiles like reuse_W.
        let (reuse_i, reuse_w, reuse_o) = (
            g.order == LoopOrder::ReuseI,
            g.order == LoopOrder::ReuseW,
            g.order == LoopOrder::ReuseO,
        );
        // The batch's first tile as (spatial tile, m, n): t0's digits in the order's mixed
        // radix, innermost first.
        // reuse_I: t = ((r·Ct + c)·Nt + n)·Mt + m; S output-channel tiles share one IFM tile.
        // reuse_W: t = ((m·Nt + n)·Rt + r)·Ct + c; S spatial tiles share one weight tile.
        // reuse_O: t = ((r·Ct + c)·Mt + m)·Nt + n; the output tile stays in VM across S n-tiles.
        // GAP:     t = (m·Rt + r)·Ct + c; S spatial tiles accumulate into one Tm output block.
        let (inner, middle) = match g.order {
            _ if pool => (rct, 1),
            LoopOrder::ReuseI => (mt, nt),
            LoopOrder::ReuseW => (rct, nt),
            LoopOrder::ReuseO => (nt, mt),
        };
        let (d0, rest) = (t0 % inner, t0 / inner);
        let (d1, d2) = (rest % middle, rest / middle);
        let (rc0, m0, n0) = match g.order {
            _ if pool => (d0, d2, 0),
            LoopOrder::ReuseI => (d2, d0, d1),
            LoopOrder::ReuseW => (d0, d2, d1),
            LoopOrder::ReuseO => (d2, d1, d0),
        };
        let (m0, n0) = (m0 as u16, n0 as u16);
        // Spatial tiles walk (GAP, reuse_W), m (reuse_I) or n (reuse_O).
        let walk_rc = pool || reuse_w;
        // reuse_I pixels hold S·Tm contiguous channels, in VM as in NVM.
        let stride = if reuse_i { us(g.s) * tm } else { tm };
        // reuse_O and GAP keep one output tile for the whole batch: its version counts batches.
        let v0 = if pool {
            rc0 / w32(g.s)
        } else if reuse_o {
            w32(n0 / g.s)
        } else {
            w32(n0)
        };
        let mut wp = [0i16; 1];
        if pool {
            nvm.read(Block::Weights, self.tensor(self.l.weights.offset), &mut wp)?;
        }
        for s in 0..g.s {
            let rc = rc0 + if walk_rc { w32(s) } else { 0 };
            let (r, c) = self.rc(rc);
            let m = m0 + if reuse_i { s } else { 0 };
            let n = n0 + if reuse_o && !pool { s } else { 0 };
            let base = if reuse_i {
                us(s) * tm
            } else if reuse_w {
                us(s) * tile
            } else {
                0
            };
            let first = s == 0;
            // Transfers in five slots, one call site each: partial sums (reuse_O and GAP, first
            // tile), weights (reuse_W, first tile), IFM, weights (reuse_I/O), partial sums
            // (reuse_I/W). GAP's IFM tile is Tr·Tc pixels (Tri = Tr, Tci = Tc) of Tm channels.
            for slot in 0u8..5 {
                match slot {
                    0 | 4 if (slot == 0) == reuse_o && (first || !reuse_o) => {
                        self.load_outputs(nvm, v0, r, c, m, vout, base, stride)?;
                    }
                    1 | 3 if !pool && (slot == 1) == reuse_w && (first || !reuse_w) => {
                        self.fetch_weights(nvm, m, n, vw)?;
                    }
                    2 if first || !reuse_i => {
                        let (ch, run) = if pool {
                            (m * g.tm, tm)
                        } else {
                            (n * g.tn, us(g.tn))
                        };
                        self.fetch_ifm(nvm, r, c, ch, run, vin)?;
                    }
                    _ => {}
                }
            }
            if pool {
                self.pool(nvm, vin, vout, wp[0], rc + 1 == rct)?;
            } else {
                self.compute(nvm, vin, vw, vout, base, stride, n + 1 == g.nt)?;
            }
        }
        // reuse_W stores its S output tiles; the others one (S·Tm channels wide for reuse_I).
        for s in 0..if reuse_w { g.s } else { 1 } {
            let (r, c) = self.rc(rc0 + w32(s));
            self.store(nvm, v0 + 1, r, c, m0, vout, us(s) * tile, stride, stride)?;
        }
        Ok(())
    }

    /// Adds one GAP input tile (Tr·Tc pixels of Tm channels) to the Tm outputs in VM.
    fn pool<M: Mac>(
        &self,
        mac: &mut M,
        vin: &[i16],
        vout: &mut [i16],
        w: i16,
        last: bool,
    ) -> Result<(), M::Error> {
        let g = &self.g;
        let tm = us(g.tm);
        let pixels = us(g.tr) * us(g.tc);
        for (mm, out) in vout.iter_mut().enumerate().take(tm) {
            let mut acc = Acc(0);
            for p in 0..pixels {
                mac.pool(&mut acc, vin[p * tm + mm], w)?;
            }
            let mut x = add_sat(*out, acc.quantize(self.l.shift));
            if last && self.l.relu {
                x = relu(x);
            }
            *out = x;
        }
        Ok(())
    }
}
