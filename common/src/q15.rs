//! Q15 fixed-point arithmetic: the single definition of the numbers the engine computes, on the
//! host and on the device alike.
//!
//! A tensor holds i16 values `q` with a per-tensor exponent `e`: the real value is
//! `q · 2^(e − 15)`, so `e = 0` is plain Q15 in [−1, 1).
//!
//! **One output element, one input-channel tile** (a [`Window`]): an i32 accumulator starts at
//! the rounding constant 2^(shift − 1) (0 for shift 0); every product `x · w` of the window —
//! kernel taps row-major, the tile's channels ascending — is added with i32 saturation at every
//! step; the result is the accumulator shifted right arithmetically by the layer's `shift` and
//! saturated to i16. That contribution is added with i16 saturation to the running partial sum,
//! which starts at the bias. GAP sums its pixels the same way with the one pooling weight.
//!
//! This is what the MSP430FR5994's MPY32 computes natively, so the device never reads or
//! adds an intermediate sum (SLAU367P, §5.2.4.2 "Saturation Mode"): with MPYSAT set, a result
//! that overflowed reads as the most positive or most negative value, and "the adjusted result
//! is also used for successive multiply-and-accumulate operations" — a 16×16 MACS sequence is
//! an i32 accumulator that saturates at every step, and it may be preloaded (here with the
//! rounding constant) when MPYC is loaded with the preload's sign. Other devices may use any
//! hardware that gives exactly these results.

/// Saturates an i32 to the i16 range.
#[inline]
pub const fn sat16(x: i32) -> i16 {
    if x > i16::MAX as i32 {
        i16::MAX
    } else if x < i16::MIN as i32 {
        i16::MIN
    } else {
        x as i16
    }
}

/// Saturating i16 addition.
#[inline]
pub const fn add_sat(a: i16, b: i16) -> i16 {
    a.saturating_add(b)
}

/// ReLU in Q15.
#[inline]
pub const fn relu(x: i16) -> i16 {
    if x < 0 {
        0
    } else {
        x
    }
}

/// The accumulator of one output element over one window (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acc {
    sum: i32,
    shift: u8,
}

impl Acc {
    /// An accumulator preloaded with the rounding constant of a right shift by `shift`
    /// (0..=31; validation bounds a layer's shift).
    #[inline]
    pub const fn new(shift: u8) -> Acc {
        let sum = if shift == 0 || shift > 31 {
            0
        } else {
            1 << (shift - 1)
        };
        Acc { sum, shift }
    }

    /// Adds one product with i32 saturation.
    #[inline]
    pub fn add_product(&mut self, x: i16, w: i16) {
        self.sum = self.sum.saturating_add(i32::from(x) * i32::from(w));
    }

    /// The accumulator as it stands (the rounding constant included).
    #[inline]
    pub const fn sum(&self) -> i32 {
        self.sum
    }

    /// The contribution: the sum shifted right arithmetically, saturated to i16.
    #[inline]
    pub const fn finish(&self) -> i16 {
        if self.shift > 31 {
            if self.sum < 0 {
                -1
            } else {
                0
            }
        } else {
            sat16(self.sum >> self.shift)
        }
    }
}

/// Where one output's products lie in the tile buffers: `rows` rows of `row` products, the
/// inputs of a row contiguous and `x_step` words after the previous row's, the weights
/// contiguous across all rows (the engine stores a weight tile output-channel major).
///
/// The spans and the rounding preload are computed from the shape, so they always agree with
/// it. `repr(C)`: the MSP430 firmware reads a [`MacTile`]'s window from assembly.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    rows: u16,
    row: u16,
    x_step: u16,
    depth: u16,
    taps: u16,
    shift: u16,
}

impl Window {
    /// A window of `rows` rows of `row` products, input rows `x_step` words apart, counted by
    /// the cost model as `taps` MAC calls of `depth` products; `shift` (0..=31) finishes it.
    pub const fn new(rows: u16, row: u16, x_step: u16, depth: u16, taps: u16, shift: u8) -> Window {
        Window {
            rows,
            row,
            x_step,
            depth,
            taps,
            shift: shift as u16,
        }
    }

    pub const fn rows(&self) -> u16 {
        self.rows
    }
    pub const fn row(&self) -> u16 {
        self.row
    }
    pub const fn x_step(&self) -> u16 {
        self.x_step
    }
    pub const fn depth(&self) -> u16 {
        self.depth
    }
    pub const fn taps(&self) -> u16 {
        self.taps
    }
    pub const fn shift(&self) -> u8 {
        self.shift as u8
    }
    /// The accumulator's starting value (the rounding constant).
    pub const fn round(&self) -> i32 {
        Acc::new(self.shift as u8).sum
    }
    /// Words of x the window reaches from its first input: (rows − 1)·x_step + row. (Computed,
    /// not stored: a device keeps a window in every layer's geometry, in FRAM.)
    pub const fn x_span(&self) -> u32 {
        if self.rows == 0 {
            0
        } else {
            (self.rows as u32 - 1) * self.x_step as u32 + self.row as u32
        }
    }
    /// Weights the window reads: rows·row.
    pub const fn w_span(&self) -> u32 {
        self.rows as u32 * self.row as u32
    }
}

/// An output tile as the MAC unit computes it in one call: `out_rows` × `out_cols` pixels of `tm`
/// outputs each, every output one [`Window`]. Pixel (r, c) reads its window from x at
/// `r·x_row + c·x_col`, its outputs are at `out[r·o_row + c·o_col..][..tm]`, and output channel
/// mm's weights start at `mm·w_span` (the same weights for every pixel).
///
/// Built by [`MacTile::new`] only, so the extents always agree with the shape (a device bounds a
/// whole tile with three comparisons). `repr(C)`: the MSP430 firmware reads it from assembly.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MacTile {
    win: Window,
    tm: u16,
    out_rows: u16,
    out_cols: u16,
    x_col: u16,
    x_row: u16,
    o_col: u16,
    o_row: u16,
    /// Words of x, w and out the tile reaches from their starts (saturated at the maximum:
    /// such a tile fits no buffer).
    x_extent: u32,
    w_extent: u32,
    o_extent: u32,
    /// The strides again, as a kernel walking pointers adds them (bytes, wrapping): from the
    /// end of a window row to the next row's start, ((x_step − row)·2); between the windows of
    /// adjacent pixels, and of adjacent pixel rows; from the end of a pixel's outputs to the
    /// next pixel's, ((o_col − tm)·2); between output pixel rows. Made once with the tile, so
    /// a call hands the tile itself to the kernel.
    walk: [u16; 5],
    /// [`MacTile::status`].
    status: u16,
}

impl MacTile {
    /// A tile of no outputs.
    pub const EMPTY: MacTile = MacTile {
        win: Window::new(0, 0, 0, 1, 0, 0),
        tm: 0,
        out_rows: 0,
        out_cols: 0,
        x_col: 0,
        x_row: 0,
        o_col: 0,
        o_row: 0,
        x_extent: 0,
        w_extent: 0,
        o_extent: 0,
        walk: [0; 5],
        status: MacTile::BAD_WINDOW | MacTile::NOTHING,
    };

    /// [`MacTile::status`]: the window has no products or a shift past 31.
    pub const BAD_WINDOW: u16 = 0x8000;
    /// [`MacTile::status`]: the tile has no outputs.
    pub const NOTHING: u16 = 0x4000;

    /// Byte offsets of the window's rows and row, then tm, out_rows, out_cols and the five
    /// `walk` strides: what assembly reading a `MacTile` relies on (the MSP430 firmware's MAC
    /// takes them as its operands' offsets).
    pub const FIELD_OFFSETS: [usize; 10] = {
        let win = core::mem::offset_of!(MacTile, win);
        let walk = core::mem::offset_of!(MacTile, walk);
        [
            win + core::mem::offset_of!(Window, rows),
            win + core::mem::offset_of!(Window, row),
            core::mem::offset_of!(MacTile, tm),
            core::mem::offset_of!(MacTile, out_rows),
            core::mem::offset_of!(MacTile, out_cols),
            walk,
            walk + 2,
            walk + 4,
            walk + 6,
            walk + 8,
        ]
    };

    /// A tile of `out_rows` × `out_cols` pixels of `tm` outputs over windows `win`, with these
    /// strides between pixels (input words: `x_row`, `x_col`; output words: `o_row`, `o_col`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        win: Window,
        tm: u16,
        out_rows: u16,
        out_cols: u16,
        x_row: u16,
        x_col: u16,
        o_row: u16,
        o_col: u16,
    ) -> MacTile {
        let span = |n: u16, stride: u16| u32::from(n.saturating_sub(1)) * u32::from(stride);
        let empty = tm == 0 || out_rows == 0 || out_cols == 0;
        let sum = |a: u32, b: u32, c: u32| a.checked_add(b).and_then(|s| s.checked_add(c));
        let x_extent = sum(span(out_rows, x_row), span(out_cols, x_col), win.x_span());
        let o_extent = sum(span(out_rows, o_row), span(out_cols, o_col), u32::from(tm));
        let w_extent = crate::plan::mul(win.w_span(), u32::from(tm));
        let ext = |e: Option<u32>| if empty { 0 } else { e.unwrap_or(u32::MAX) };
        let bytes = |words: u16| words.wrapping_mul(2);
        let walk = [
            bytes(win.x_step().wrapping_sub(win.row())),
            bytes(x_col),
            bytes(x_row),
            bytes(o_col.wrapping_sub(tm)),
            bytes(o_row),
        ];
        MacTile {
            win,
            tm,
            out_rows,
            out_cols,
            x_col,
            x_row,
            o_col,
            o_row,
            x_extent: ext(x_extent),
            w_extent: ext(w_extent),
            o_extent: ext(o_extent),
            walk,
            status: if win.rows() == 0 || win.row() == 0 || win.shift() > 31 {
                MacTile::BAD_WINDOW
            } else {
                0
            } | if empty { MacTile::NOTHING } else { 0 }
                | u16::from(win.shift() & 31),
        }
    }

    /// What a MAC unit checks of the tile besides its extents, in one word made with it: the
    /// window's shift (low five bits), [`MacTile::NOTHING`] if the tile has no outputs and
    /// [`MacTile::BAD_WINDOW`] if its window cannot be computed (no products, or a shift past
    /// 31). Below `NOTHING`, the tile is work and the word is its shift.
    pub const fn status(&self) -> u16 {
        self.status
    }

    pub const fn window(&self) -> &Window {
        &self.win
    }
    pub const fn tm(&self) -> u16 {
        self.tm
    }
    pub const fn out_rows(&self) -> u16 {
        self.out_rows
    }
    pub const fn out_cols(&self) -> u16 {
        self.out_cols
    }
    pub const fn x_row(&self) -> u16 {
        self.x_row
    }
    pub const fn x_col(&self) -> u16 {
        self.x_col
    }
    pub const fn o_row(&self) -> u16 {
        self.o_row
    }
    pub const fn o_col(&self) -> u16 {
        self.o_col
    }
    /// Outputs of the tile.
    pub fn outputs(&self) -> u32 {
        u32::from(self.out_rows) * u32::from(self.out_cols) * u32::from(self.tm)
    }
    pub const fn x_extent(&self) -> u32 {
        self.x_extent
    }
    pub const fn w_extent(&self) -> u32 {
        self.w_extent
    }
    pub const fn o_extent(&self) -> u32 {
        self.o_extent
    }
}

/// The reference for a whole output tile: [`pixel`] for each of its pixels. `None` (and `out`
/// untouched) if the tile reaches past any buffer.
pub fn tile(x: &[i16], w: &[i16], out: &mut [i16], t: &MacTile, relu: bool) -> Option<()> {
    let fits = |len: usize, extent: u32| u32::try_from(len).is_ok_and(|l| l >= extent);
    if !(fits(x.len(), t.x_extent) && fits(w.len(), t.w_extent) && fits(out.len(), t.o_extent)) {
        return None;
    }
    let tm = usize::from(t.tm);
    if tm == 0 {
        return Some(());
    }
    for r in 0..usize::from(t.out_rows) {
        for c in 0..usize::from(t.out_cols) {
            let xs = &x[r * usize::from(t.x_row) + c * usize::from(t.x_col)..];
            let o = r * usize::from(t.o_row) + c * usize::from(t.o_col);
            pixel(xs, w, &t.win, &mut out[o..o + tm], relu)?;
        }
    }
    Some(())
}

/// The reference MAC: one output's contribution over `win`, or `None` if the window reaches
/// past either buffer.
pub fn window(x: &[i16], w: &[i16], win: &Window) -> Option<i16> {
    let fits = |len: usize, span: u32| u32::try_from(len).is_ok_and(|len| len >= span);
    if !fits(x.len(), win.x_span()) || !fits(w.len(), win.w_span()) {
        return None;
    }
    let row = usize::from(win.row);
    let mut acc = Acc::new(win.shift());
    for r in 0..usize::from(win.rows) {
        let xs = &x[r * usize::from(win.x_step)..][..row];
        for (&a, &b) in xs.iter().zip(&w[r * row..][..row]) {
            acc.add_product(a, b);
        }
    }
    Some(acc.finish())
}

/// The reference for one output pixel over one input-channel tile: for each output channel
/// `mm < out.len()`, `out[mm]` gains [`window`] of `x` and the weights from `mm·w_span`
/// (saturating), then ReLU if `relu`. `None` (and `out` untouched) if the windows reach past
/// either buffer.
pub fn pixel(x: &[i16], w: &[i16], win: &Window, out: &mut [i16], relu: bool) -> Option<()> {
    let span = win.w_span() as usize;
    let need = span.checked_mul(out.len())?;
    if w.len() < need || u32::try_from(x.len()).map_or(true, |l| l < win.x_span()) {
        return None;
    }
    for (mm, o) in out.iter_mut().enumerate() {
        let v = add_sat(*o, window(x, &w[mm * span..], win)?);
        *o = if relu { self::relu(v) } else { v };
    }
    Some(())
}

/// The reference for one GAP tile: `x` holds `pixels` pixels of `out.len()` channels
/// (channel-minor); channel mm's output gains Σ_p x[p·channels + mm]·w, finished with `shift`
/// (saturating), then ReLU if `relu`. `None` (and `out` untouched) if `x` is too short.
pub fn pool(x: &[i16], w: i16, out: &mut [i16], pixels: u16, shift: u8, relu: bool) -> Option<()> {
    let tm = out.len();
    if x.len() < usize::from(pixels).checked_mul(tm)? {
        return None;
    }
    for (mm, o) in out.iter_mut().enumerate() {
        let mut acc = Acc::new(shift);
        for p in 0..usize::from(pixels) {
            acc.add_product(x[p * tm + mm], w);
        }
        let v = add_sat(*o, acc.finish());
        *o = if relu { self::relu(v) } else { v };
    }
    Some(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn one_row(len: u16, shift: u8) -> Window {
        Window::new(1, len, len, len, 1, shift)
    }

    #[test]
    fn edge_values() {
        assert_eq!(sat16(40000), i16::MAX);
        assert_eq!(sat16(-40000), i16::MIN);
        // 0.5 · 0.5 = 0.25 in Q15 after a shift of 15.
        assert_eq!(window(&[16384], &[16384], &one_row(1, 15)), Some(8192));
        // Rounding half up: 3 >> 1 with the constant 1 preloaded is 2; −3 gives −1.
        let mut a = Acc::new(1);
        a.add_product(3, 1);
        assert_eq!(a.finish(), 2);
        let mut a = Acc::new(1);
        a.add_product(-3, 1);
        assert_eq!(a.finish(), -1);
        // Saturation is sticky in the order the products come: +max then a large negative
        // product leaves max − 2^30, not the exact sum.
        let mut a = Acc::new(0);
        for _ in 0..3 {
            a.add_product(i16::MIN, i16::MIN);
        }
        assert_eq!(a.sum(), i32::MAX);
        a.add_product(i16::MIN, i16::MAX);
        assert_eq!(a.sum(), i32::MAX - 32768 * 32767);
        // Shift 0 and 31.
        assert_eq!(window(&[2, 3], &[5, 7], &one_row(2, 0)), Some(31));
        assert_eq!(Acc::new(31).sum(), 1 << 30);
        assert_eq!(Window::new(1, 1, 1, 1, 1, 31).round(), 1 << 30);
        assert_eq!(Window::new(0, 4, 4, 4, 0, 3).x_span(), 0);
        // Too short a buffer is refused, not read past.
        assert_eq!(window(&[1, 2], &[1, 2, 3], &one_row(3, 0)), None);
        // Pooling 3 pixels of 2 channels by 2, shift 1 (rounding half up), into 1 and 0.
        let mut out = [1, 0];
        assert_eq!(
            pool(&[1, 2, 3, 4, 5, -6], 2, &mut out, 3, 1, true),
            Some(())
        );
        assert_eq!(out, [1 + 9, 0]);
        assert_eq!(pool(&[1, 2, 3, 4, 5], 2, &mut out, 3, 1, false), None);
        assert_eq!(out, [10, 0]);
    }

    #[test]
    fn a_tile_walks_its_pixels_with_their_strides() {
        // 2 x 2 pixels of 2 outputs over 1-product windows; x pixels 1 (col) and 10 (row)
        // apart, outputs 3 (col) and 7 (row) apart.
        let win = one_row(1, 0);
        let t = MacTile::new(win, 2, 2, 2, 10, 1, 7, 3);
        assert_eq!(t.x_extent(), 12);
        assert_eq!(t.w_extent(), 2);
        assert_eq!(t.o_extent(), 12);
        let x: Vec<i16> = (0..12).collect();
        let w = [1, -1];
        let mut out = [0i16; 12];
        assert_eq!(tile(&x, &w, &mut out, &t, false), Some(()));
        assert_eq!(out, [0, 0, 0, 1, -1, 0, 0, 10, -10, 0, 11, -11]);
        assert_eq!(tile(&x[..11], &w, &mut out, &t, false), None);
        assert_eq!(tile(&x, &w, &mut out[..11], &t, false), None);
        // An empty tile touches nothing.
        let none = MacTile::new(win, 0, 2, 2, 10, 1, 7, 3);
        assert_eq!(tile(&[], &[], &mut [], &none, false), Some(()));
    }

    /// The status word is the shift for a tile of work, and flags an empty tile and a window
    /// that cannot be computed, whatever its shift.
    #[test]
    fn a_tiles_status_says_shift_emptiness_and_bad_windows() {
        let t = |win: Window, tm: u16| MacTile::new(win, tm, 1, 1, 0, 0, 1, 1).status();
        assert_eq!(t(Window::new(2, 3, 3, 6, 1, 17), 4), 17);
        assert_eq!(t(Window::new(2, 3, 3, 6, 1, 17), 0), MacTile::NOTHING | 17);
        assert_eq!(t(Window::new(0, 3, 3, 6, 1, 5), 4), MacTile::BAD_WINDOW | 5);
        assert_eq!(t(Window::new(2, 0, 3, 6, 1, 5), 4), MacTile::BAD_WINDOW | 5);
        assert!(t(Window::new(2, 3, 3, 6, 1, 32), 4) & MacTile::BAD_WINDOW != 0);
        assert!(MacTile::EMPTY.status() >= MacTile::BAD_WINDOW);
    }

    #[test]
    fn a_pixel_adds_one_window_per_output_channel_then_relu() {
        let win = one_row(2, 0);
        let (x, w) = ([1, 2], [1, 1, -5, -5, 3, 0]);
        let mut out = [10, 10, i16::MAX];
        assert_eq!(pixel(&x, &w, &win, &mut out, true), Some(()));
        assert_eq!(out, [13, 0, i16::MAX]);
        assert_eq!(pixel(&x, &w[..5], &win, &mut out, false), None);
        assert_eq!(out, [13, 0, i16::MAX]);
    }

    #[test]
    fn a_window_walks_rows_x_step_apart_and_weights_contiguously() {
        // Two rows of two: x rows at 0 and 3, w contiguous.
        let x = [1, 2, 100, 3, 4];
        let w = [10, 20, 30, 40];
        let win = Window::new(2, 2, 3, 1, 4, 0);
        assert_eq!(win.x_span(), 5);
        assert_eq!(win.w_span(), 4);
        assert_eq!(window(&x, &w, &win), Some(10 + 40 + 90 + 160));
    }

    proptest! {
        /// Without saturation the accumulator is exact integer arithmetic, rounded half up.
        #[test]
        fn exact_when_small(v in prop::collection::vec((-2000i16..2000, -2000i16..2000), 1..64),
                            shift in 0u8..32) {
            let (x, w): (Vec<i16>, Vec<i16>) = v.into_iter().unzip();
            let exact: i64 = x.iter().zip(&w).map(|(&a, &b)| i64::from(a) * i64::from(b)).sum();
            let round = if shift == 0 { 0 } else { 1i64 << (shift - 1) };
            let want = ((exact + round) >> shift).clamp(-32768, 32767);
            let got = window(&x, &w, &one_row(x.len() as u16, shift)).unwrap();
            prop_assert_eq!(i64::from(got), want);
        }

        /// The accumulator is `clamp(sum + product)` at every step, as wide arithmetic says.
        #[test]
        fn saturates_at_every_step(v in prop::collection::vec((any::<i16>(), any::<i16>()), 0..40)) {
            let mut acc = Acc::new(0);
            let mut wide: i64 = 0;
            for &(a, b) in &v {
                acc.add_product(a, b);
                wide = (wide + i64::from(a) * i64::from(b))
                    .clamp(i64::from(i32::MIN), i64::from(i32::MAX));
                prop_assert_eq!(i64::from(acc.sum()), wide);
            }
        }
    }
}
