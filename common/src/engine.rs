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
//!
//! **Speed.** Everything about a layer that does not change between batches (tile counts,
//! strides, buffer addresses, the MAC window) is computed once, at validation, into a [`Geo`]
//! that the [`ValidPlan`] carries. A batch decodes its first tile (a few divisions), then walks
//! its tiles, pixels and outputs with additions only: on a 16-bit MCU without a divider every
//! multiply or divide left in these loops costs more than the MACs they feed.

use crate::design::LoopOrder;
use crate::plan::{LayerDesc, LayerKind, ValidPlan, FOOTPRINT_SLOT_WORDS};
use crate::q15::{MacTile, Window};

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

    /// The blocks of `tile`, in order (rows, then columns), each one [`Nvm::read`]; a device
    /// may move them in one go (the MSP430: one DMA set-up per block in a single routine).
    fn read_blocks(
        &mut self,
        block: Block,
        addr: u32,
        tile: &Blocks,
        buf: &mut [i16],
    ) -> Result<(), Self::Error> {
        let run = usize::from(tile.run);
        let (mut row, mut k_row) = (addr, 0);
        for _ in 0..tile.rows {
            let (mut at, mut k) = (row, k_row);
            for _ in 0..tile.cols {
                self.read(block, at, &mut buf[k..k + run])?;
                at += tile.nvm_col;
                k += tile.buf_col;
            }
            row += tile.nvm_row;
            k_row += tile.buf_row;
        }
        Ok(())
    }

    /// The blocks of `tile`, in order, each one [`Nvm::write`]: a power failure leaves a prefix
    /// of the blocks written, and of the block it cut a prefix of its words.
    fn write_blocks(
        &mut self,
        block: Block,
        addr: u32,
        tile: &Blocks,
        data: &[i16],
    ) -> Result<(), Self::Error> {
        let run = usize::from(tile.run);
        let (mut row, mut k_row) = (addr, 0);
        for _ in 0..tile.rows {
            let (mut at, mut k) = (row, k_row);
            for _ in 0..tile.cols {
                self.write(block, at, &data[k..k + run])?;
                at += tile.nvm_col;
                k += tile.buf_col;
            }
            row += tile.nvm_row;
            k_row += tile.buf_row;
        }
        Ok(())
    }
}

/// A tile transfer: `rows` × `cols` blocks of `run` words; block (r, c) is at NVM word
/// `addr + r·nvm_row + c·nvm_col` and at `buf[r·buf_row + c·buf_col..]`. Every block is one
/// transfer of the cost model.
///
/// Built by [`Blocks::new`] only, so its extents always agree with its shape: a device may
/// bound-check a whole transfer against them with two comparisons (the engine's transfers
/// are made once per layer, at validation). `repr(C)`: the MSP430 firmware reads the fields
/// from assembly.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocks {
    rows: u16,
    cols: u16,
    run: u16,
    nvm_row: u32,
    nvm_col: u32,
    buf_row: usize,
    buf_col: usize,
    /// Words from the first block's start to the end of the last block, in NVM and in the
    /// buffer (saturated at the type's maximum: such a transfer fits nowhere).
    nvm_extent: u32,
    buf_extent: usize,
}

impl Blocks {
    /// `rows` × `cols` blocks of `run` words with these strides (NVM and buffer words).
    pub fn new(
        rows: u16,
        cols: u16,
        run: u16,
        nvm_row: u32,
        nvm_col: u32,
        buf_row: usize,
        buf_col: usize,
    ) -> Blocks {
        let empty = rows == 0 || cols == 0 || run == 0;
        let span = |n: u16, stride: u32| crate::plan::mul(u32::from(n.saturating_sub(1)), stride);
        let nvm_extent = span(rows, nvm_row)
            .zip(span(cols, nvm_col))
            .and_then(|(a, b)| a.checked_add(b)?.checked_add(u32::from(run)))
            .unwrap_or(u32::MAX);
        let bspan = |n: u16, stride: usize| usize::from(n.saturating_sub(1)).checked_mul(stride);
        let buf_extent = bspan(rows, buf_row)
            .zip(bspan(cols, buf_col))
            .and_then(|(a, b)| a.checked_add(b)?.checked_add(usize::from(run)))
            .unwrap_or(usize::MAX);
        Blocks {
            rows,
            cols,
            run,
            nvm_row,
            nvm_col,
            buf_row,
            buf_col,
            nvm_extent: if empty { 0 } else { nvm_extent },
            buf_extent: if empty { 0 } else { buf_extent },
        }
    }

    /// Byte offsets of rows, cols, run, nvm_row, nvm_col, buf_row and buf_col: what assembly
    /// reading a `Blocks` relies on (the MSP430 firmware checks them at compile time).
    pub const FIELD_OFFSETS: [usize; 7] = [
        core::mem::offset_of!(Blocks, rows),
        core::mem::offset_of!(Blocks, cols),
        core::mem::offset_of!(Blocks, run),
        core::mem::offset_of!(Blocks, nvm_row),
        core::mem::offset_of!(Blocks, nvm_col),
        core::mem::offset_of!(Blocks, buf_row),
        core::mem::offset_of!(Blocks, buf_col),
    ];

    /// One block of `run` words.
    pub const fn one(run: u16) -> Blocks {
        Blocks {
            rows: 1,
            cols: 1,
            run,
            nvm_row: 0,
            nvm_col: 0,
            buf_row: 0,
            buf_col: 0,
            nvm_extent: run as u32,
            buf_extent: run as usize,
        }
    }

    pub const fn rows(&self) -> u16 {
        self.rows
    }
    pub const fn cols(&self) -> u16 {
        self.cols
    }
    pub const fn run(&self) -> u16 {
        self.run
    }
    pub const fn nvm_row(&self) -> u32 {
        self.nvm_row
    }
    pub const fn nvm_col(&self) -> u32 {
        self.nvm_col
    }
    pub const fn buf_row(&self) -> usize {
        self.buf_row
    }
    pub const fn buf_col(&self) -> usize {
        self.buf_col
    }
    /// NVM words from the first block's start to the last block's end.
    pub const fn nvm_extent(&self) -> u32 {
        self.nvm_extent
    }
    /// Buffer words from the first block's start to the last block's end.
    pub const fn buf_extent(&self) -> usize {
        self.buf_extent
    }
}

/// The MAC unit. Implementations must compute exactly [`crate::q15::tile`] and
/// [`crate::q15::pool`]; the engine always passes buffers the tile fits in and windows of at
/// least one product, and a device may return an error (never read or write past a slice)
/// when they do not.
pub trait Mac {
    type Error;
    /// One output tile's outputs (in `out`), each gaining its window's contribution over one
    /// input-channel tile, then ReLU if `relu`.
    fn mac(
        &mut self,
        x: &[i16],
        w: &[i16],
        out: &mut [i16],
        tile: &MacTile,
        relu: bool,
    ) -> Result<(), Self::Error>;
    /// One GAP tile: `x` holds `pixels` pixels of the `out.len()` channels; each channel's
    /// output gains its pixels' sum times `w`, finished with `shift`, then ReLU if `relu`.
    fn pool(
        &mut self,
        x: &[i16],
        w: i16,
        out: &mut [i16],
        pixels: u16,
        shift: u8,
        relu: bool,
    ) -> Result<(), Self::Error>;
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

/// A layer as the engine walks it, computed once at validation. Tile geometry is u16
/// (validation bounds every dimension and tile size by [`crate::plan::MAX_DIM`]); NVM strides,
/// tile numbers and VM sizes are u32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geo {
    pool: bool,
    order: LoopOrder,
    s: u16,
    tm: u16,
    tn: u16,
    /// Output pixels per tile, as rows and columns (GAP: one pixel).
    out_rows: u16,
    out_cols: u16,
    /// Column tiles, output-channel tiles, input-channel tiles (GAP: 1).
    ct: u16,
    mt: u16,
    nt: u16,
    /// Spatial tiles and all tiles of the layer.
    rct: u32,
    tiles: u32,
    /// Words of the three VM buffers: input tile, weight tile, output tiles.
    b_in: u32,
    b_w: u32,
    b_out: u32,
    /// Tr·Tc·Tm (GAP: Tm): one output tile in VM.
    tile_words: u32,
    /// Tr·Tc: pixels of an output tile (conv) or of an input tile (GAP).
    pixels: u16,
    /// NVM word strides of the input map: next column tile, next row of tiles, and from the
    /// last column tile of a row to the first of the next.
    ifm_tc: u32,
    ifm_tr: u32,
    ifm_wrap: u32,
    /// The same for the output map (GAP: all 0, one pixel).
    ofm_tc: u32,
    ofm_tr: u32,
    ofm_wrap: u32,
    /// NVM words from one output-channel tile's weights to the next (Tm·N).
    w_mt: u32,
    /// VM words between an output tile's pixels (reuse_I pixels hold S·Tm contiguous
    /// channels, in VM as in NVM).
    stride: u16,
    /// An output tile's MACs.
    mac: MacTile,
    /// The layer's transfers: an IFM tile, a weight tile, an output tile's partial sums (Tm
    /// per pixel) and its store (`stride` per pixel: S·Tm for reuse_I).
    ifm: Blocks,
    weights: Blocks,
    psums: Blocks,
    outputs: Blocks,
    /// NVM addresses (in the plan's layout) of the input map, the two output versions and
    /// where the final version ends.
    input: u32,
    outs: [u32; 2],
    last: u32,
}

fn w32(x: u16) -> u32 {
    u32::from(x)
}

fn us(x: u32) -> usize {
    x as usize
}

impl Geo {
    /// A placeholder for unused layer slots.
    pub const EMPTY: Geo = Geo {
        pool: false,
        order: LoopOrder::ReuseO,
        s: 1,
        tm: 1,
        tn: 1,
        out_rows: 1,
        out_cols: 1,
        ct: 1,
        mt: 1,
        nt: 1,
        rct: 1,
        tiles: 1,
        b_in: 0,
        b_w: 0,
        b_out: 0,
        tile_words: 0,
        pixels: 1,
        ifm_tc: 0,
        ifm_tr: 0,
        ifm_wrap: 0,
        ofm_tc: 0,
        ofm_tr: 0,
        ofm_wrap: 0,
        w_mt: 0,
        stride: 1,
        mac: MacTile::EMPTY,
        ifm: Blocks::one(0),
        weights: Blocks::one(0),
        psums: Blocks::one(0),
        outputs: Blocks::one(0),
        input: 0,
        outs: [0, 0],
        last: 0,
    };

    /// The geometry of a layer that passed validation (every tile divides its dimension, the
    /// VM need fits the device, every product below fits its type), reading feature map
    /// `input` and writing versions to `outs`.
    /// Moves the layer's feature-map addresses by `by` words (wrapping).
    pub(crate) fn relocate(&mut self, by: u32) {
        self.input = self.input.wrapping_add(by);
        for o in &mut self.outs {
            *o = o.wrapping_add(by);
        }
        self.last = self.last.wrapping_add(by);
    }

    pub(crate) fn of(l: &LayerDesc, input: u32, outs: [u32; 2]) -> Geo {
        let d = &l.design;
        let pool = l.kind == LayerKind::GlobalAvgPool;
        let (h, w, n) = (l.input.h, l.input.w, l.input.c);
        let (r, c, m) = (l.output.h, l.output.w, l.output.c);
        let (rows, cols) = if pool { (h, w) } else { (r, c) };
        let (tr, tc, tm, tn, s) = (
            d.tr as u16,
            d.tc as u16,
            d.tm as u16,
            d.tn as u16,
            d.batch as u16,
        );
        let (kh, kw) = (l.kh, l.kw);
        let (rt, ct, mt) = (rows / tr, cols / tc, m / tm);
        let nt = if pool { 1 } else { n / tn };
        let (tri, tci) = if pool {
            (tr, tc)
        } else {
            (tr + kh - 1, tc + kw - 1)
        };
        let pixels = tr * tc;
        let khkw = kh * kw;
        let rct = w32(rt) * w32(ct);
        let tile_words = if pool { w32(tm) } else { w32(pixels) * w32(tm) };
        let (b_in, b_w, b_out) = if pool {
            (w32(pixels) * w32(tm), 0, w32(tm))
        } else {
            let b_out = if d.order == LoopOrder::ReuseO {
                tile_words
            } else {
                tile_words * w32(s)
            };
            (
                w32(tri) * w32(tci) * w32(tn),
                w32(khkw) * w32(tm) * w32(tn),
                b_out,
            )
        };
        let (ifm_px, ifm_row) = (w32(n), w32(w) * w32(n));
        let (ifm_tc, ifm_tr) = (w32(tc) * ifm_px, w32(tr) * ifm_row);
        let (ofm_px, ofm_row, ofm_tc, ofm_tr) = if pool {
            (0, 0, 0, 0)
        } else {
            let (px, row) = (w32(m), w32(c) * w32(m));
            (px, row, w32(tc) * px, w32(tr) * row)
        };
        // From the last column tile of a row to the first of the next one.
        let wrap = |tr_step: u32, tc_step: u32| tr_step - w32(ct - 1) * tc_step;
        // A window's inputs are contiguous across kernel rows when a tile row is exactly a
        // kernel row wide (Tc = 1: every CONV1D, FC and classifier): then it is one row.
        let (x_row, row) = (tci * tn, kw * tn);
        let win = if x_row == row {
            Window::new(1, kh * row, kh * row, tn, khkw, l.shift)
        } else {
            Window::new(kh, row, x_row, tn, khkw, l.shift)
        };
        // VM words between output pixels: reuse_I pixels hold S·Tm contiguous channels.
        let stride = if d.order == LoopOrder::ReuseI && !pool {
            w32(s) * w32(tm)
        } else {
            w32(tm)
        } as usize;
        let (out_rows, out_cols) = if pool { (1, 1) } else { (tr, tc) };
        let ifm_run = if pool { tm } else { tn };
        let out_blocks = |run: u16| {
            Blocks::new(
                out_rows,
                out_cols,
                run,
                ofm_row,
                ofm_px,
                usize::from(out_cols) * stride,
                stride,
            )
        };
        let final_version = if pool {
            rct / w32(s)
        } else if d.order == LoopOrder::ReuseO {
            w32(nt / s)
        } else {
            w32(nt)
        };
        Geo {
            pool,
            order: d.order,
            s,
            tm,
            tn,
            out_rows,
            out_cols,
            ct,
            mt,
            nt,
            rct,
            tiles: rct * w32(mt) * w32(nt),
            b_in,
            b_w,
            b_out,
            tile_words,
            pixels,
            ifm_tc,
            ifm_tr,
            ifm_wrap: wrap(ifm_tr, ifm_tc),
            ofm_tc,
            ofm_tr,
            ofm_wrap: wrap(ofm_tr, ofm_tc),
            w_mt: w32(tm) * w32(n),
            stride: stride as u16,
            // Pixels: Tn words apart in the IFM tile along a row, Tci·Tn between rows; `stride`
            // apart in the output tile along a row, Tc·stride between rows.
            mac: MacTile::new(
                win,
                tm,
                tr,
                tc,
                x_row,
                tn,
                tc * stride as u16,
                stride as u16,
            ),
            ifm: Blocks::new(
                tri,
                tci,
                ifm_run,
                w32(w) * w32(n),
                w32(n),
                usize::from(tci) * usize::from(ifm_run),
                usize::from(ifm_run),
            ),
            weights: Blocks::new(
                khkw,
                tm,
                tn,
                w32(m) * w32(n),
                w32(n),
                usize::from(tn),
                usize::from(khkw * tn),
            ),
            psums: out_blocks(tm),
            outputs: out_blocks(stride as u16),
            input,
            outs,
            last: outs[(final_version % 2) as usize],
        }
    }

    /// Words of VM a batch of this layer needs.
    pub fn vm_words(&self) -> u32 {
        self.b_in + self.b_w + self.b_out
    }

    /// Tiles of the layer (the footprint's tile numbers run below this).
    pub fn tiles(&self) -> u32 {
        self.tiles
    }

    /// Where this layer's result ends up.
    pub fn output_buffer(&self) -> u32 {
        self.last
    }

    /// The feature map this layer reads.
    pub fn input_buffer(&self) -> u32 {
        self.input
    }
}

/// Runs one validated plan.
pub struct Engine<'p> {
    plan: &'p ValidPlan,
}

impl<'p> Engine<'p> {
    pub fn new(plan: &'p ValidPlan) -> Self {
        Engine { plan }
    }

    /// Words of volatile memory a step needs (the largest layer's tile buffers).
    pub fn vm_words(&self) -> usize {
        self.plan
            .geos()
            .iter()
            .map(|g| us(g.vm_words()))
            .max()
            .unwrap_or(0)
    }

    /// Where the network's input goes and how many words it has.
    pub fn input(&self) -> (u32, u32) {
        (
            self.plan.layout().feature_maps[0],
            self.plan.meta().input.elements(),
        )
    }

    /// Where the final layer's outputs (the logits) are, and how many.
    pub fn output(&self) -> (u32, u32) {
        let layers = self.plan.layers();
        let last = layers.len() - 1;
        (self.plan.geos()[last].last, layers[last].output.elements())
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
        Ok(if newer(a.seq, b.seq) { a } else { b })
    }

    fn commit<N: Nvm>(
        &self,
        nvm: &mut N,
        prev: Footprint,
        layer: u16,
        tile: u32,
    ) -> Result<(), N::Error> {
        let seq = prev.seq.wrapping_add(1);
        let slot = if seq & 1 == 0 {
            0
        } else {
            FOOTPRINT_SLOT_WORDS
        };
        let at = self.plan.layout().footprint + slot;
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
        let bad = EngineError::Footprint {
            layer: fp.layer,
            tile: fp.tile,
        };
        let (Some(l), Some(g)) = (
            layers.get(usize::from(fp.layer)),
            self.plan.geos().get(usize::from(fp.layer)),
        ) else {
            return Err(bad);
        };
        // A batch starts at a multiple of S below the layer's tile count.
        if fp.tile >= g.tiles || divmod(fp.tile, w32(g.s)).1 != 0 {
            return Err(bad);
        }
        let need = g.vm_words();
        if u32::try_from(vm.len()).unwrap_or(u32::MAX) < need {
            return Err(EngineError::Vm {
                layer: fp.layer,
                need_words: need,
                have_words: vm.len() as u32,
            });
        }
        let (vin, rest) = vm.split_at_mut(us(g.b_in));
        let (vw, rest) = rest.split_at_mut(us(g.b_w));
        let vout = &mut rest[..us(g.b_out)];
        let ctx = Ctx {
            l,
            g,
            tensors: self.plan.layout().tensors,
        };
        ctx.batch(nvm, fp.tile, vin, vw, vout)?;
        let next = fp.tile + w32(g.s);
        let (layer, tile) = if next == g.tiles {
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

/// Whether sequence word `a` is newer than `b`, for records kept in two slots written in turn
/// (the footprint, the session's counters and upload record): their sequence numbers differ by
/// one, so they compare with wrap-around.
pub(crate) fn newer(a: u16, b: u16) -> bool {
    (a.wrapping_sub(b) as i16) > 0
}

/// Quotient and remainder in one call (the MSP430 divides in software: one division, not two).
#[inline(never)]
fn divmod(n: u32, d: u32) -> (u32, u32) {
    let q = n / d;
    (q, n - q * d)
}

/// One batch's context.
struct Ctx<'p> {
    l: &'p LayerDesc,
    g: &'p Geo,
    tensors: u32,
}

/// Where a tile is: its spatial tile (the column part and the NVM offsets of its first input
/// and output pixel) and its output- and input-channel tiles (index and first channel). A
/// batch walks it with additions.
#[derive(Clone, Copy, Debug)]
struct Pos {
    c: u16,
    ifm: u32,
    ofm: u32,
    m_off: u16,
    w_m: u32,
    n: u16,
    n_off: u16,
}

impl Pos {
    /// The next spatial tile (column-major within a row of tiles).
    fn next_rc(&mut self, g: &Geo) {
        self.c += 1;
        if self.c == g.ct {
            self.c = 0;
            self.ifm += g.ifm_wrap;
            self.ofm += g.ofm_wrap;
        } else {
            self.ifm += g.ifm_tc;
            self.ofm += g.ofm_tc;
        }
    }

    /// The next output-channel tile.
    fn next_m(&mut self, g: &Geo) {
        self.m_off += g.tm;
        self.w_m += g.w_mt;
    }

    /// The next input-channel tile.
    fn next_n(&mut self, g: &Geo) {
        self.n += 1;
        self.n_off += g.tn;
    }
}

impl Ctx<'_> {
    /// The position of tile `t0` (the batch's first): t0's digits in the order's mixed radix,
    /// innermost first. The only divisions of a batch.
    /// reuse_I: t = ((r·Ct + c)·Nt + n)·Mt + m; S output-channel tiles share one IFM tile.
    /// reuse_W: t = ((m·Nt + n)·Rt + r)·Ct + c; S spatial tiles share one weight tile.
    /// reuse_O: t = ((r·Ct + c)·Mt + m)·Nt + n; the output tile stays in VM across S n-tiles.
    /// GAP:     t = (m·Rt + r)·Ct + c; S spatial tiles accumulate into one Tm output block.
    #[inline(never)]
    fn locate(&self, t0: u32) -> (Pos, u32, u32) {
        let g = self.g;
        let (inner, middle) = match g.order {
            _ if g.pool => (g.rct, 1),
            LoopOrder::ReuseI => (w32(g.mt), w32(g.nt)),
            LoopOrder::ReuseW => (g.rct, w32(g.nt)),
            LoopOrder::ReuseO => (w32(g.nt), w32(g.mt)),
        };
        let (rest, d0) = divmod(t0, inner);
        let (d2, d1) = divmod(rest, middle);
        let (rc, m, n) = match g.order {
            _ if g.pool => (d0, d2, 0),
            LoopOrder::ReuseI => (d2, d0, d1),
            LoopOrder::ReuseW => (d0, d2, d1),
            LoopOrder::ReuseO => (d2, d1, d0),
        };
        let (r, c) = divmod(rc, w32(g.ct));
        let (m, n) = (m as u16, n as u16);
        let pos = Pos {
            c: c as u16,
            ifm: r * g.ifm_tr + c * g.ifm_tc,
            ofm: r * g.ofm_tr + c * g.ofm_tc,
            m_off: m * g.tm,
            w_m: w32(m) * g.w_mt,
            n,
            n_off: n * g.tn,
        };
        // reuse_O and GAP keep one output tile for the whole batch: its version counts
        // batches; the others' version is the input-channel tile.
        let v0 = if g.pool {
            rc / w32(g.s)
        } else if g.order == LoopOrder::ReuseO {
            w32(n / g.s)
        } else {
            w32(n)
        };
        (pos, v0, rc)
    }

    /// Reads an IFM tile at the tile's first pixel plus channel offset `ch`: Tri·Tci blocks of
    /// `run` channels (a conv's Tn, or GAP's Tm).
    fn fetch_ifm<N: Nvm>(
        &self,
        nvm: &mut N,
        p: &Pos,
        ch: u16,
        vin: &mut [i16],
    ) -> Result<(), N::Error> {
        let g = self.g;
        nvm.read_blocks(Block::Ifm, g.input + p.ifm + w32(ch), &g.ifm, vin)
    }

    /// Reads a weight tile (output channels from `p.m_off`, input channels from `p.n_off`):
    /// Kh·Kw·Tm blocks of Tn, in the plan's tap-major order, stored in VM output-channel major
    /// (`[mm][tap][Tn]`) so that one output's weights are contiguous for the MAC.
    fn fetch_weights<N: Nvm>(&self, nvm: &mut N, p: &Pos, vw: &mut [i16]) -> Result<(), N::Error> {
        let g = self.g;
        let at = self.tensors + self.l.weights.offset + w32(p.n_off) + p.w_m;
        nvm.read_blocks(Block::Weights, at, &g.weights, vw)
    }

    /// Starts an output tile: its partial sums (version `v` > 0) or its biases. `base` is the
    /// tile's first word in the VM output buffer.
    fn load_outputs<N: Nvm>(
        &self,
        nvm: &mut N,
        v: u32,
        p: &Pos,
        vout: &mut [i16],
        base: usize,
    ) -> Result<(), N::Error> {
        let g = self.g;
        let (tm, stride) = (usize::from(g.tm), usize::from(g.stride));
        if v == 0 {
            // A fresh tile starts from its biases: one block read, copied to every pixel in VM.
            let first = &mut vout[base..base + tm];
            if self.l.bias.len > 0 {
                let at = self.tensors + self.l.bias.offset + w32(p.m_off);
                nvm.read(Block::Psum(g.order), at, first)?;
            } else {
                first.fill(0);
            }
            // Pixels are `stride` >= Tm words apart, so source and copy never overlap (a
            // plain copy: an overlapping move would link memmove into the MSP430 build).
            let mut at = base;
            for _ in 1..if g.pool { 1 } else { g.pixels } {
                at += stride;
                let (src, dst) = vout.split_at_mut(at);
                dst[..tm].copy_from_slice(&src[base..base + tm]);
            }
            return Ok(());
        }
        nvm.read_blocks(
            Block::Psum(g.order),
            self.out_at(v, p),
            &g.psums,
            &mut vout[base..],
        )
    }

    /// NVM address of output version `v` at the tile's first pixel and channel tile.
    fn out_at(&self, v: u32, p: &Pos) -> u32 {
        self.g.outs[(v & 1) as usize] + p.ofm + w32(p.m_off)
    }

    /// Adds one input-channel tile's contribution to an output tile in VM: one MAC call.
    fn compute<M: Mac>(
        &self,
        mac: &mut M,
        vin: &[i16],
        vw: &[i16],
        vout: &mut [i16],
        base: usize,
        last: bool,
    ) -> Result<(), M::Error> {
        mac.mac(vin, vw, &mut vout[base..], &self.g.mac, last && self.l.relu)
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
        let g = self.g;
        let out = &mut vout[..usize::from(g.tm)];
        mac.pool(vin, w, out, g.pixels, self.l.shift, last && self.l.relu)
    }

    /// Writes an output tile (one block per pixel, a pixel's whole stride) as version `v`.
    fn store<N: Nvm>(
        &self,
        nvm: &mut N,
        v: u32,
        p: &Pos,
        vout: &[i16],
        base: usize,
    ) -> Result<(), N::Error> {
        nvm.write_blocks(
            Block::Output(self.g.order),
            self.out_at(v, p),
            &self.g.outputs,
            &vout[base..],
        )
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
        let tm = usize::from(g.tm);
        let (reuse_i, reuse_w, reuse_o) = (
            g.order == LoopOrder::ReuseI,
            g.order == LoopOrder::ReuseW,
            g.order == LoopOrder::ReuseO,
        );
        let (start, v0, rc0) = self.locate(t0);
        // Spatial tiles walk (GAP, reuse_W), m (reuse_I) or n (reuse_O).
        let walk_rc = pool || reuse_w;
        let mut wp = [0i16; 1];
        if pool {
            nvm.read(
                Block::Weights,
                self.tensors + self.l.weights.offset,
                &mut wp,
            )?;
        }
        let mut p = start;
        let mut base = 0usize;
        let step = if reuse_i {
            tm
        } else if reuse_w {
            us(g.tile_words)
        } else {
            0
        };
        for s in 0..g.s {
            let first = s == 0;
            // Transfers in five slots, one call site each: partial sums (reuse_O and GAP, first
            // tile), weights (reuse_W, first tile), IFM, weights (reuse_I/O), partial sums
            // (reuse_I/W). GAP's IFM tile is Tr·Tc pixels (Tri = Tr, Tci = Tc) of Tm channels.
            for slot in 0u8..5 {
                match slot {
                    0 | 4 if (slot == 0) == reuse_o && (first || !reuse_o) => {
                        self.load_outputs(nvm, v0, &p, vout, base)?;
                    }
                    1 | 3 if !pool && (slot == 1) == reuse_w && (first || !reuse_w) => {
                        self.fetch_weights(nvm, &p, vw)?;
                    }
                    2 if first || !reuse_i => {
                        let ch = if pool { p.m_off } else { p.n_off };
                        self.fetch_ifm(nvm, &p, ch, vin)?;
                    }
                    _ => {}
                }
            }
            if pool {
                // The last spatial tile of an m-group finishes the average.
                let last = rc0 + w32(s) + 1 == g.rct;
                self.pool(nvm, vin, vout, wp[0], last)?;
            } else {
                let last = p.n + 1 == g.nt;
                self.compute(nvm, vin, vw, vout, base, last)?;
            }
            base += step;
            if walk_rc {
                p.next_rc(g);
            } else if reuse_i {
                p.next_m(g);
            } else {
                p.next_n(g);
            }
        }
        // reuse_W stores its S output tiles; the others one (S·Tm channels wide for reuse_I).
        let mut p = start;
        let mut base = 0;
        for _ in 0..if reuse_w { g.s } else { 1 } {
            self.store(nvm, v0 + 1, &p, vout, base)?;
            p.next_rc(g);
            base += us(g.tile_words);
        }
        Ok(())
    }
}
