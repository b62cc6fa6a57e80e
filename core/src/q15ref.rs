//! A plain Q15 forward pass over a plan, written independently of the tiled engine: the same
//! arithmetic (per input-channel tile, taps row-major; GAP per spatial tile), none of the
//! tiling, buffering or preservation. Any difference from the engine is an engine bug.

use inas_common::plan::{LayerDesc, LayerKind, Plan};
use inas_common::q15::{add_sat, relu, Acc};

/// The outputs of every layer of a (validated) plan, last one the logits.
pub fn forward(p: &Plan<'_>, input: &[i16]) -> Vec<Vec<i16>> {
    forward_with::<Acc>(p, input, &mut Headroom::default())
}

/// [`forward`], and what its accumulators did on this input (added to `headroom`).
pub fn forward_traced(p: &Plan<'_>, input: &[i16], headroom: &mut Headroom) -> Vec<Vec<i16>> {
    forward_with::<Traced>(p, input, headroom)
}

/// What the accumulators of forward passes did, call by call (one output over one
/// input-channel tile, or one GAP spatial tile: what one MAC call accumulates).
///
/// Saturation changes a sum only in a call whose exact running sum leaves the i32 range. The
/// accumulation is defined as MPY32's (the rounding constant preloaded, saturating at every
/// product, `q15::Acc`); before, it was saturating at every product from 0, the rounding constant
/// added once at the end. In a call where neither the exact running sum nor that sum plus the
/// rounding constant ever leaves i32, both definitions give the exact sum plus the rounding
/// constant: so where `saturated` is 0, the outputs — and any accuracy — are the same under
/// either definition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Headroom {
    pub calls: u64,
    /// Calls whose exact running sum, with or without the rounding constant, left i32.
    pub saturated: u64,
    /// The largest magnitude any exact running sum reached (either way of rounding).
    pub peak: i64,
}

impl Headroom {
    /// Adds another pass's (or input's) figures.
    pub fn merge(self, o: Headroom) -> Headroom {
        Headroom {
            calls: self.calls + o.calls,
            saturated: self.saturated + o.saturated,
            peak: self.peak.max(o.peak),
        }
    }

    /// The peak as a share of the accumulator's range (2^31 − 1).
    pub fn peak_share(&self) -> f64 {
        self.peak as f64 / f64::from(i32::MAX)
    }
}

/// One call's accumulator as the pass needs it: the device's, or the device's beside the exact
/// sum.
trait Accumulate {
    fn start(shift: u8) -> Self;
    fn add_product(&mut self, x: i16, w: i16);
    /// The contribution, the call's figures going to `h`.
    fn end(&self, h: &mut Headroom) -> i16;
}

impl Accumulate for Acc {
    #[inline]
    fn start(shift: u8) -> Self {
        Acc::new(shift)
    }
    #[inline]
    fn add_product(&mut self, x: i16, w: i16) {
        Acc::add_product(self, x, w)
    }
    #[inline]
    fn end(&self, _: &mut Headroom) -> i16 {
        self.finish()
    }
}

struct Traced {
    acc: Acc,
    round: i64,
    exact: i64,
    lo: i64,
    hi: i64,
}

impl Accumulate for Traced {
    fn start(shift: u8) -> Self {
        let acc = Acc::new(shift);
        let round = i64::from(acc.sum());
        Traced {
            acc,
            round,
            exact: 0,
            lo: 0,
            hi: round,
        }
    }
    fn add_product(&mut self, x: i16, w: i16) {
        self.acc.add_product(x, w);
        self.exact += i64::from(x) * i64::from(w);
        let (a, b) = (self.exact, self.exact + self.round);
        self.lo = self.lo.min(a.min(b));
        self.hi = self.hi.max(a.max(b));
    }
    fn end(&self, h: &mut Headroom) -> i16 {
        h.calls += 1;
        h.saturated += u64::from(self.lo < i64::from(i32::MIN) || self.hi > i64::from(i32::MAX));
        h.peak = h.peak.max(self.hi).max(-self.lo);
        self.acc.finish()
    }
}

fn forward_with<A: Accumulate>(
    p: &Plan<'_>,
    input: &[i16],
    headroom: &mut Headroom,
) -> Vec<Vec<i16>> {
    let tensor = |offset: u32, len: u32| -> Vec<i16> {
        (offset..offset + len).map(|i| p.tensor_value(i)).collect()
    };
    let mut x = input.to_vec();
    let mut outs = vec![];
    for l in &p.meta.layers {
        let (h, w, n) = (l.input.h as usize, l.input.w as usize, l.input.c as usize);
        let (r, c, m) = (
            l.output.h as usize,
            l.output.w as usize,
            l.output.c as usize,
        );
        let d = &l.design;
        let weights = tensor(l.weights.offset, l.weights.len);
        let bias = tensor(l.bias.offset, l.bias.len);
        let mut y = vec![0i16; r * c * m];
        if l.kind == LayerKind::GlobalAvgPool {
            let (tr, tc) = (d.tr as usize, d.tc as usize);
            for (ch, out) in y.iter_mut().enumerate() {
                let mut v = bias.get(ch).copied().unwrap_or(0);
                for rt in 0..h / tr {
                    for ct in 0..w / tc {
                        let mut acc = A::start(l.shift);
                        for i in 0..tr {
                            for j in 0..tc {
                                acc.add_product(
                                    x[((rt * tr + i) * w + ct * tc + j) * n + ch],
                                    weights[0],
                                );
                            }
                        }
                        v = add_sat(v, acc.end(headroom));
                    }
                }
                *out = if l.relu { relu(v) } else { v };
            }
        } else {
            let (kh, kw, tn) = (l.kh as usize, l.kw as usize, d.tn as usize);
            for rr in 0..r {
                for cc in 0..c {
                    for mm in 0..m {
                        let mut v = bias.get(mm).copied().unwrap_or(0);
                        for nt in 0..n / tn {
                            let mut acc = A::start(l.shift);
                            for ki in 0..kh {
                                for kj in 0..kw {
                                    let at = ((rr + ki) * w + cc + kj) * n + nt * tn;
                                    let wt = ((ki * kw + kj) * m + mm) * n + nt * tn;
                                    for t in 0..tn {
                                        acc.add_product(x[at + t], weights[wt + t]);
                                    }
                                }
                            }
                            v = add_sat(v, acc.end(headroom));
                        }
                        y[(rr * c + cc) * m + mm] = if l.relu { relu(v) } else { v };
                    }
                }
            }
        }
        outs.push(y.clone());
        x = y;
    }
    outs
}

/// The largest value any input can drive a layer's 32-bit accumulator to within one MAC call
/// (one output over one input-channel tile, as [`forward`] and the engine accumulate): the
/// rounding preload plus 2^15 times the largest sum of |w| over a call's weights. Below
/// `i32::MAX` no input saturates the accumulator, so its saturation (MPY32's, `q15::Acc`) never
/// acts and the sum is the exact one.
pub fn accumulator_peak(p: &Plan<'_>, l: &LayerDesc) -> i64 {
    let w = |i: u32| i64::from(p.tensor_value(l.weights.offset + i)).abs();
    let round = i64::from(Acc::new(l.shift).sum());
    let largest = if l.kind == LayerKind::GlobalAvgPool {
        // One weight, one product per pixel of a spatial tile.
        w(0) * i64::from(l.design.tr) * i64::from(l.design.tc)
    } else {
        let (m, n, tn) = (
            u32::from(l.output.c),
            u32::from(l.input.c),
            l.design.tn.max(1),
        );
        let taps = u32::from(l.kh) * u32::from(l.kw);
        let call = |mm: u32, nt: u32| -> i64 {
            (0..taps)
                .flat_map(|tap| (0..tn).map(move |t| (tap * m + mm) * n + nt * tn + t))
                .map(w)
                .sum()
        };
        (0..m)
            .flat_map(|mm| (0..n / tn).map(move |nt| (mm, nt)))
            .map(|(mm, nt)| call(mm, nt))
            .max()
            .unwrap_or(0)
    };
    round + (1 << 15) * largest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Overrides, Power};
    use crate::network::Dataset;
    use crate::profile::Profile;
    use inas_common::plan::Plan;

    /// The peak is reached: an input of ±2^15 against each weight's sign (−32768 = −2^15 is a
    /// Q15 value) drives the first layer's accumulator of its worst output to exactly the bound
    /// when it is unsaturated, which the bound itself says it is.
    #[test]
    fn the_accumulator_peak_is_what_a_worst_case_input_reaches() {
        let profile = Profile::reference();
        let bytes = crate::planner::random_plan(
            &profile,
            Overrides::default(),
            Dataset::Har.space(),
            &[3, 4, 3, 4, 3, 4],
            Power::Int,
            5,
        )
        .unwrap();
        let plan = Plan::decode(&bytes).unwrap();
        let l = &plan.meta.layers[0];
        let peak = accumulator_peak(&plan, l);
        assert!(peak > 0 && peak < i64::from(i32::MAX), "{peak}");
        // Every output channel and input-channel tile, from the weights as `forward` reads them.
        let (m, n, tn) = (l.output.c as u32, l.input.c as u32, l.design.tn);
        let taps = u32::from(l.kh) * u32::from(l.kw);
        let mut best = 0i64;
        for mm in 0..m {
            for nt in 0..n / tn {
                let mut acc = Acc::new(l.shift);
                for tap in 0..taps {
                    for t in 0..tn {
                        let v =
                            plan.tensor_value(l.weights.offset + (tap * m + mm) * n + nt * tn + t);
                        // x = −2^15 for a negative weight, 2^15 − 1 for a positive one, and the
                        // lost 1 · w added back below so the sum is Σ|w| · 2^15.
                        let x = if v < 0 { i16::MIN } else { i16::MAX };
                        acc.add_product(x, v);
                        if v > 0 {
                            acc.add_product(1, v);
                        }
                    }
                }
                best = best.max(i64::from(acc.sum()));
            }
        }
        assert_eq!(best, peak);
    }

    fn har_plan() -> Vec<u8> {
        let profile = Profile::reference();
        crate::planner::random_plan(
            &profile,
            Overrides::default(),
            Dataset::Har.space(),
            &[3, 4, 3, 4, 3, 4],
            Power::Int,
            5,
        )
        .unwrap()
    }

    /// The traced pass computes what `forward` does, counts one call per output and
    /// input-channel tile (per channel and spatial tile for GAP), and stays within the bound
    /// the weights allow.
    #[test]
    fn the_traced_pass_is_the_pass_and_counts_every_call() {
        let bytes = har_plan();
        let plan = Plan::decode(&bytes).unwrap();
        let first = &plan.meta.layers[0].input;
        let len = usize::from(first.h) * usize::from(first.w) * usize::from(first.c);
        let mut state = 12345u32;
        let input: Vec<i16> = (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as i16
            })
            .collect();
        let mut h = Headroom::default();
        assert_eq!(
            forward_traced(&plan, &input, &mut h),
            forward(&plan, &input)
        );
        let calls: u64 = plan
            .meta
            .layers
            .iter()
            .map(|l| {
                let (i, o, d) = (&l.input, &l.output, &l.design);
                if l.kind == LayerKind::GlobalAvgPool {
                    u64::from(o.c)
                        * u64::from(u32::from(i.h) / d.tr)
                        * u64::from(u32::from(i.w) / d.tc)
                } else {
                    let tiles = u64::from(u32::from(i.c) / d.tn);
                    u64::from(o.h) * u64::from(o.w) * u64::from(o.c) * tiles
                }
            })
            .sum();
        assert_eq!(h.calls, calls);
        let bound = plan
            .meta
            .layers
            .iter()
            .map(|l| accumulator_peak(&plan, l))
            .max()
            .unwrap();
        assert_eq!(h.saturated, 0);
        assert!(h.peak > 0 && h.peak <= bound, "{} > {bound}", h.peak);
        // A second input adds its calls; the peak is the larger one.
        let mut again = h;
        forward_traced(&plan, &input, &mut again);
        assert_eq!(h.merge(h), again);
    }

    /// A call is counted as saturated when its exact running sum leaves i32 either way of
    /// rounding, and not when it only reaches i32::MIN.
    #[test]
    fn a_call_leaving_the_accumulator_range_is_counted() {
        let mut h = Headroom::default();
        let mut t = Traced::start(0);
        for _ in 0..3 {
            t.add_product(i16::MIN, i16::MIN);
        }
        assert_eq!(t.end(&mut h), i16::MAX);
        assert_eq!((h.calls, h.saturated, h.peak), (1, 1, 3 << 30));
        // −2^31 exactly, less the rounding constant 1: both sums stay in range.
        let mut t = Traced::start(1);
        t.add_product(i16::MIN, i16::MAX);
        t.add_product(i16::MIN, i16::MAX);
        t.add_product(i16::MIN, 2);
        t.end(&mut h);
        assert_eq!((h.calls, h.saturated, h.peak), (2, 1, 3 << 30));
        // With shift 31 the rounding constant 2^30 takes a sum in range out of it.
        let mut t = Traced::start(31);
        t.add_product(i16::MAX, i16::MAX);
        t.add_product(i16::MAX, i16::MAX);
        t.end(&mut h);
        assert_eq!((h.calls, h.saturated), (3, 2));
    }
}
