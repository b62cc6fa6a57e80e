//! The UCI HAR on-disk format: `UCI HAR Dataset/{train,test}/Inertial Signals/<signal>_<split>.txt`
//! (one window of 128 readings per line, whitespace-separated), `y_<split>.txt` (activity
//! 1–6 per line) and `subject_<split>.txt` (subject 1–30 per line). The official archive and
//! the windows rebuilt from HAPT ([`super::hapt`]) are both read and written here.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::split::Grouped;
use super::Split;

/// The folder the official archive unpacks to.
pub const ROOT: &str = "UCI HAR Dataset";
/// Readings per window (2.56 s at 50 Hz).
pub const WINDOW: usize = 128;
pub const CHANNELS: usize = 9;
/// Channel order of a sample's `[t][channel]` layout, as the official file names.
pub const SIGNALS: [&str; CHANNELS] = [
    "body_acc_x",
    "body_acc_y",
    "body_acc_z",
    "body_gyro_x",
    "body_gyro_y",
    "body_gyro_z",
    "total_acc_x",
    "total_acc_y",
    "total_acc_z",
];
/// Labels 0–5 are the official activities 1–6.
pub const ACTIVITIES: [&str; 6] = [
    "WALKING",
    "WALKING_UPSTAIRS",
    "WALKING_DOWNSTAIRS",
    "SITTING",
    "STANDING",
    "LAYING",
];

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// One integer per non-empty line, within `range`.
fn read_ints(path: &Path, range: std::ops::RangeInclusive<u32>) -> Result<Vec<u32>> {
    read_text(path)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| match l.trim().parse::<u32>() {
            Ok(v) if range.contains(&v) => Ok(v),
            _ => bail!(
                "{}:{}: '{}' is not a whole number in {range:?}",
                path.display(),
                i + 1,
                l.trim()
            ),
        })
        .collect()
}

/// Parses one signal file: rows of exactly [`WINDOW`] numbers.
pub fn parse_signal(text: &str, path: &Path) -> Result<Vec<Vec<f32>>> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = line
            .split_ascii_whitespace()
            .map(|v| {
                v.parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .with_context(|| format!("{}:{}: '{v}' is not a number", path.display(), i + 1))
            })
            .collect::<Result<Vec<f32>>>()?;
        if row.len() != WINDOW {
            bail!(
                "{}:{}: {} values, expected {WINDOW}",
                path.display(),
                i + 1,
                row.len()
            );
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Reads one split (`"train"` or `"test"`) of the dataset folder `root`.
pub fn read_split(root: &Path, split: &str) -> Result<Grouped> {
    let dir = root.join(split);
    let labels = read_ints(&dir.join(format!("y_{split}.txt")), 1..=6)?;
    let subjects = read_ints(&dir.join(format!("subject_{split}.txt")), 1..=30)?;
    if labels.len() != subjects.len() {
        bail!(
            "{}: {} labels but {} subjects",
            dir.display(),
            labels.len(),
            subjects.len()
        );
    }
    let n = labels.len();
    let mut x = vec![0f32; n * WINDOW * CHANNELS];
    for (ch, sig) in SIGNALS.iter().enumerate() {
        let path = dir
            .join("Inertial Signals")
            .join(format!("{sig}_{split}.txt"));
        let rows = parse_signal(&read_text(&path)?, &path)?;
        if rows.len() != n {
            bail!(
                "{}: {} windows, but y_{split}.txt has {n}",
                path.display(),
                rows.len()
            );
        }
        for (w, row) in rows.iter().enumerate() {
            for (t, &v) in row.iter().enumerate() {
                x[(w * WINDOW + t) * CHANNELS + ch] = v;
            }
        }
    }
    Ok(Grouped {
        split: Split {
            x,
            y: labels.iter().map(|&l| (l - 1) as u8).collect(),
            shape: [WINDOW, 1, CHANNELS],
            classes: ACTIVITIES.len(),
        },
        groups: subjects,
    })
}

/// Training windows (with subjects, for the validation carve) and test windows.
pub fn load_dir(root: &Path) -> Result<(Grouped, Split)> {
    Ok((read_split(root, "train")?, read_split(root, "test")?.split))
}

/// Writes one split in the official layout (values as `%.7e`, like the official files).
pub fn write_split(root: &Path, split: &str, data: &Grouped) -> Result<()> {
    let dir = root.join(split);
    let signals = dir.join("Inertial Signals");
    fs::create_dir_all(&signals).with_context(|| format!("cannot create {}", signals.display()))?;
    let write = |path: &Path, text: String| {
        fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    let n = data.split.len();
    for (ch, sig) in SIGNALS.iter().enumerate() {
        let mut text = String::with_capacity(n * WINDOW * 16);
        for w in 0..n {
            let s = data.split.sample(w);
            for t in 0..WINDOW {
                let _ = write!(text, " {:.7e}", s[t * CHANNELS + ch]);
            }
            text.push('\n');
        }
        write(&signals.join(format!("{sig}_{split}.txt")), text)?;
    }
    let lines = |v: &mut dyn Iterator<Item = u32>| v.map(|l| format!("{l}\n")).collect::<String>();
    write(
        &dir.join(format!("y_{split}.txt")),
        lines(&mut data.split.y.iter().map(|&y| y as u32 + 1)),
    )?;
    write(
        &dir.join(format!("subject_{split}.txt")),
        lines(&mut data.groups.iter().copied()),
    )?;
    Ok(())
}

/// Writes `activity_labels.txt` as the official archive has it.
pub fn write_activity_labels(root: &Path) -> Result<()> {
    let text: String = ACTIVITIES
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{} {a}\n", i + 1))
        .collect();
    let path = root.join("activity_labels.txt");
    fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_official_number_format() {
        let row: String = (0..WINDOW)
            .map(|i| format!("  {:.7e}", i as f32 * -1e-3))
            .collect();
        let official = "  1.8085150e-004  1.0766810e-002 -3.0000000e+000";
        assert!(parse_signal(official, Path::new("f"))
            .unwrap_err()
            .to_string()
            .contains("3 values"));
        let rows = parse_signal(&format!("{row}\n\n{row}\n"), Path::new("f")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1][5], 5.0f32 * -1e-3);
        let v: f32 = "1.8085150e-004".parse().unwrap();
        assert_eq!(v, 1.808515e-4);
        let e = parse_signal(&row.replace("e-3", "e-3x"), Path::new("f.txt"));
        assert!(e.is_err());
        let e = parse_signal(&format!("{row} nan"), Path::new("f.txt")).unwrap_err();
        assert!(
            e.to_string().contains("f.txt:1: 'nan' is not a number"),
            "{e}"
        );
    }
}
