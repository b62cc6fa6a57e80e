//! Execution designs: how one layer is tiled, in which order its tiles run, and how many
//! innermost tiles run per power cycle before progress is preserved.
//!
//! The textual form is the reference's design string, `Tr_Tc_Tm_Tn_reuse_<I|W|O>_S<S>`, which
//! users and reports already know.

use core::fmt;
use core::str::FromStr;

use postcard::experimental::max_size::MaxSize;
use serde::{Deserialize, Serialize};

/// Inter-tile loop order (the reuse scheme).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, MaxSize,
)]
pub enum LoopOrder {
    /// IFM reuse: loops r, c, n, then m innermost; one IFM tile serves S output-channel tiles.
    ReuseI,
    /// Weight reuse: loops m, n, then r, c innermost; one weight tile serves S spatial tiles.
    ReuseW,
    /// Output reuse: loops r, c, m, then n innermost; the partial-sum tile stays in VM across
    /// S input-channel tiles.
    ReuseO,
}

impl LoopOrder {
    /// The orders a CONV/FC layer tries, in the reference's enumeration order.
    pub const ALL: [LoopOrder; 3] = [LoopOrder::ReuseI, LoopOrder::ReuseW, LoopOrder::ReuseO];

    /// The design-string name: `reuse_I`, `reuse_W` or `reuse_O`.
    pub const fn name(self) -> &'static str {
        match self {
            LoopOrder::ReuseI => "reuse_I",
            LoopOrder::ReuseW => "reuse_W",
            LoopOrder::ReuseO => "reuse_O",
        }
    }

    /// Index 0, 1, 2 for I, W, O (used to look up per-order constants).
    pub const fn index(self) -> usize {
        match self {
            LoopOrder::ReuseI => 0,
            LoopOrder::ReuseW => 1,
            LoopOrder::ReuseO => 2,
        }
    }

    fn from_letter(s: &str) -> Option<Self> {
        match s {
            "I" => Some(LoopOrder::ReuseI),
            "W" => Some(LoopOrder::ReuseW),
            "O" => Some(LoopOrder::ReuseO),
            _ => None,
        }
    }
}

impl fmt::Display for LoopOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LoopOrder {
    type Err = DesignParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let letter = s.strip_prefix("reuse_").unwrap_or(s);
        LoopOrder::from_letter(letter).ok_or(DesignParseError::Order)
    }
}

/// One point of a layer's execution and preservation design space. Plain data: whether it fits a
/// layer, the VM and the energy budget is decided elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, MaxSize)]
pub struct ExecDesign {
    /// OFM rows per tile.
    pub tr: u32,
    /// OFM columns per tile.
    pub tc: u32,
    /// Output channels per tile.
    pub tm: u32,
    /// Input channels per tile.
    pub tn: u32,
    /// Inter-tile loop order.
    pub order: LoopOrder,
    /// Preservation batch: innermost-loop tiles per power cycle.
    pub batch: u32,
}

/// Why a design string was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DesignParseError {
    /// Not 6 (no `_S`) or 7 (with `_S`) `_`-separated fields.
    FieldCount,
    /// A tile size or the batch is not a positive decimal integer below 2^32.
    Number,
    /// The fifth field is not `reuse`.
    Reuse,
    /// The loop order is not I, W or O.
    Order,
    /// The batch field does not start with `S`.
    Batch,
}

impl fmt::Display for DesignParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DesignParseError::FieldCount => {
                "expected Tr_Tc_Tm_Tn_reuse_<I|W|O>[_S<batch>] (6 or 7 fields separated by '_')"
            }
            DesignParseError::Number => "tile sizes and the batch must be positive integers",
            DesignParseError::Reuse => "the fifth field must be 'reuse'",
            DesignParseError::Order => "the loop order must be I, W or O",
            DesignParseError::Batch => "the batch field must look like S<batch>",
        })
    }
}

fn positive(s: &str) -> Result<u32, DesignParseError> {
    // `u32::from_str` accepts a leading '+'; the design grammar does not.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DesignParseError::Number);
    }
    match s.parse::<u32>() {
        Ok(0) | Err(_) => Err(DesignParseError::Number),
        Ok(v) => Ok(v),
    }
}

impl FromStr for ExecDesign {
    type Err = DesignParseError;

    /// Parses the reference's design string. Without an `_S` field the batch is 1, as the
    /// reference's fixed-design evaluation does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut fields = [""; 7];
        let mut n = 0;
        for part in s.split('_') {
            if n == fields.len() {
                return Err(DesignParseError::FieldCount);
            }
            fields[n] = part;
            n += 1;
        }
        let with_batch = s.contains("_S");
        match (n, with_batch) {
            (7, true) | (6, false) => {}
            _ => return Err(DesignParseError::FieldCount),
        }
        if fields[4] != "reuse" {
            return Err(DesignParseError::Reuse);
        }
        let order = LoopOrder::from_letter(fields[5]).ok_or(DesignParseError::Order)?;
        let batch = if with_batch {
            positive(fields[6].strip_prefix('S').ok_or(DesignParseError::Batch)?)?
        } else {
            1
        };
        Ok(ExecDesign {
            tr: positive(fields[0])?,
            tc: positive(fields[1])?,
            tm: positive(fields[2])?,
            tn: positive(fields[3])?,
            order,
            batch,
        })
    }
}

impl fmt::Display for ExecDesign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}_{}_{}_{}_S{}",
            self.tr, self.tc, self.tm, self.tn, self.order, self.batch
        )
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::string::{String, ToString};

    #[test]
    fn parses_reference_strings() {
        let d: ExecDesign = "2_5_1_24_reuse_I_S4".parse().unwrap();
        assert_eq!(
            d,
            ExecDesign {
                tr: 2,
                tc: 5,
                tm: 1,
                tn: 24,
                order: LoopOrder::ReuseI,
                batch: 4
            }
        );
        let d: ExecDesign = "1_16_16_1_reuse_O".parse().unwrap();
        assert_eq!(d.batch, 1);
        assert_eq!(d.order, LoopOrder::ReuseO);
    }

    #[test]
    fn refuses_malformed_strings() {
        for (s, e) in [
            ("", DesignParseError::FieldCount),
            ("1_1_1_1_reuse_I_S1_x", DesignParseError::FieldCount),
            ("1_1_1_1_reuse_I_X1", DesignParseError::FieldCount),
            ("0_1_1_1_reuse_I_S1", DesignParseError::Number),
            ("+1_1_1_1_reuse_I_S1", DesignParseError::Number),
            ("1_1_1_1_reuse_I_S0", DesignParseError::Number),
            ("1_1_1_1_reuse_I_S", DesignParseError::Number),
            ("1_1_1_1_reuse_Q_S1", DesignParseError::Order),
            ("1_1_1_1_reuze_I_S1", DesignParseError::Reuse),
            ("99999999999_1_1_1_reuse_I_S1", DesignParseError::Number),
        ] {
            assert_eq!(s.parse::<ExecDesign>(), Err(e), "{s}");
        }
    }

    proptest! {
        #[test]
        fn display_round_trips(tr in 1u32.., tc in 1u32.., tm in 1u32.., tn in 1u32..,
                               o in 0usize..3, batch in 1u32..) {
            let d = ExecDesign { tr, tc, tm, tn, order: LoopOrder::ALL[o], batch };
            prop_assert_eq!(d.to_string().parse::<ExecDesign>(), Ok(d));
        }

        #[test]
        fn parser_never_panics(s in "\\PC*") {
            let _ = s.parse::<ExecDesign>();
        }

        #[test]
        fn parser_never_panics_on_near_misses(parts in proptest::collection::vec("[0-9SIWOreus+-]{0,4}", 0..9)) {
            let s: String = parts.join("_");
            if let Ok(d) = s.parse::<ExecDesign>() {
                // Whatever parses prints back to a string that parses to the same design.
                prop_assert_eq!(d.to_string().parse::<ExecDesign>(), Ok(d));
            }
        }
    }
}
