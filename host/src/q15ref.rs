//! A plain Q15 forward pass over a plan, written independently of the tiled engine: the same
//! arithmetic (per input-channel tile, taps row-major; GAP per spatial tile), none of the
//! tiling, buffering or preservation. Any difference from the engine is an engine bug.

use inas_common::plan::{LayerDesc, LayerKind, Plan};
use inas_common::q15::{add_sat, relu, Acc};

/// The outputs of every layer of a (validated) plan, last one the logits.
pub fn forward(p: &Plan<'_>, input: &[i16]) -> Vec<Vec<i16>> {
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
                        let mut acc = Acc::new(l.shift);
                        for i in 0..tr {
                            for j in 0..tc {
                                acc.add_product(
                                    x[((rt * tr + i) * w + ct * tc + j) * n + ch],
                                    weights[0],
                                );
                            }
                        }
                        v = add_sat(v, acc.finish());
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
                            let mut acc = Acc::new(l.shift);
                            for ki in 0..kh {
                                for kj in 0..kw {
                                    let at = ((rr + ki) * w + cc + kj) * n + nt * tn;
                                    let wt = ((ki * kw + kj) * m + mm) * n + nt * tn;
                                    for t in 0..tn {
                                        acc.add_product(x[at + t], weights[wt + t]);
                                    }
                                }
                            }
                            v = add_sat(v, acc.finish());
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
        let profile = Profile::load("reference").unwrap();
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
}
