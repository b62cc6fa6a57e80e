//! Physical quantities on the command line: a number with an optional SI prefix and unit, such
//! as `0.005`, `5mF`, `4700uF`, `4.7 µF`, `24`, `1k`, `24ohm`.

/// Parses a positive, finite quantity of `unit` (e.g. "F", "ohm").
pub fn parse_quantity(text: &str, unit: &str) -> Result<f64, String> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let mut body = t;
    for u in [unit.to_ascii_lowercase(), "Ω".to_owned()] {
        if lower.ends_with(&u) && !u.is_empty() {
            body = &t[..t.len() - u.len()];
            break;
        }
    }
    let body = body.trim_end();
    let (number, scale) = match body.char_indices().last() {
        Some((i, c)) if !c.is_ascii_digit() && c != '.' => {
            let scale = match c {
                'p' => -12,
                'n' => -9,
                'u' | 'µ' | 'μ' => -6,
                'm' => -3,
                'k' | 'K' => 3,
                'M' => 6,
                _ => {
                    return Err(format!(
                        "'{text}': unknown unit prefix '{c}' (use p, n, u, m, k or M)"
                    ))
                }
            };
            (body[..i].trim_end(), scale)
        }
        _ => (body, 0),
    };
    let v: f64 = number.parse().map_err(|_| {
        format!("'{text}' is not a quantity in {unit} (examples: 0.005, 5m{unit}, 4700u{unit})")
    })?;
    // Shift the decimal exponent rather than multiply, so that "5mF" is exactly 0.005.
    let v = if scale == 0 {
        v
    } else if number.contains(['e', 'E']) {
        v * 10f64.powi(scale)
    } else {
        format!("{number}e{scale}").parse().unwrap_or(f64::NAN)
    };
    if !(v.is_finite() && v > 0.0) {
        return Err(format!(
            "'{text}' must be a positive, finite quantity in {unit}"
        ));
    }
    Ok(v)
}

/// A [`parse_quantity`] of `unit` no larger than `max`, as a clap value parser: every command
/// reads a duration, a capacitance or a power the same way (`500ms`, `2`, `4.7uF`).
pub fn up_to(
    unit: &'static str,
    max: f64,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |text| {
        let v = parse_quantity(text, unit)?;
        if v > max {
            return Err(format!("'{text}' is more than {max} {unit}"));
        }
        Ok(v)
    }
}

/// Seconds, any positive amount (`30`, `500ms`, `2k`).
pub fn seconds(text: &str) -> Result<f64, String> {
    parse_quantity(text, "s")
}

/// Seconds up to `max`, as a [`std::time::Duration`].
pub fn duration_up_to(
    max: f64,
) -> impl Fn(&str) -> Result<std::time::Duration, String> + Clone + Send + Sync + 'static {
    let secs = up_to("s", max);
    move |text| secs(text).map(std::time::Duration::from_secs_f64)
}

/// Farads (`5mF`, `470uF`, `0.005`).
pub fn farads(text: &str) -> Result<f64, String> {
    parse_quantity(text, "F")
}

/// Ohms (`41`, `1k`, `300ohm`, `24Ω`).
pub fn ohms(text: &str) -> Result<f64, String> {
    parse_quantity(text, "ohm")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse_quantity("0.005", "F"), Ok(0.005));
        assert_eq!(parse_quantity("5mF", "F"), Ok(0.005));
        assert_eq!(parse_quantity("5 mF", "F"), Ok(0.005));
        assert_eq!(parse_quantity("5m", "F"), Ok(0.005));
        assert_eq!(parse_quantity("4700uF", "F"), Ok(0.0047));
        assert_eq!(parse_quantity("4.7µF", "F"), Ok(4.7e-6));
        assert_eq!(parse_quantity("24", "ohm"), Ok(24.0));
        assert_eq!(parse_quantity("24ohm", "ohm"), Ok(24.0));
        assert_eq!(parse_quantity("24Ω", "ohm"), Ok(24.0));
        assert_eq!(parse_quantity("1k", "ohm"), Ok(1000.0));
    }

    #[test]
    fn bounded_quantities_take_every_form_and_name_their_limit() {
        let secs = up_to("s", 3600.0);
        assert_eq!(secs("500ms"), Ok(0.5));
        assert_eq!(secs("2"), Ok(2.0));
        assert_eq!(secs("1k"), Ok(1000.0));
        assert_eq!(secs("3600s"), Ok(3600.0));
        let e = secs("2h").unwrap_err();
        assert!(e.contains("'2h'"), "{e}");
        let e = secs("4k").unwrap_err();
        assert_eq!(e, "'4k' is more than 3600 s");
        assert_eq!(
            duration_up_to(10.0)("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        assert_eq!(seconds("30"), Ok(30.0));
        assert_eq!(farads("470uF"), Ok(470e-6));
        assert_eq!(ohms("1k"), Ok(1000.0));
    }

    #[test]
    fn refuses_nonsense_with_the_text_in_the_message() {
        for bad in ["", "-5mF", "0", "abc", "5xF", "inf", "NaN", "1e999", "mF"] {
            let e = parse_quantity(bad, "F").unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{bad}: {e}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_quantity(&s, "F");
        }
    }
}
