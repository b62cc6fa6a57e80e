//! A plain Q15 forward pass over a plan, written independently of the tiled engine: the same
//! arithmetic (per input-channel tile, taps row-major; GAP per spatial tile), none of the
//! tiling, buffering or preservation. Any difference from the engine is an engine bug.

use inas_common::plan::{LayerKind, Plan};
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
