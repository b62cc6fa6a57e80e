//! The cache directory: one folder per dataset in the official layout, plus a manifest that
//! says where it came from.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::DatasetName;

/// The manifest's file name inside a dataset's folder; written last, so a folder without it
/// is an interrupted fetch.
pub const MANIFEST: &str = "source.json";

/// `$INAS_DATA`, else `$XDG_CACHE_HOME/inas/data`, else `~/.cache/inas/data`.
pub fn default_dir() -> Result<PathBuf> {
    resolve(
        std::env::var_os("INAS_DATA").map(PathBuf::from),
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// [`default_dir`] without the environment (empty values count as unset).
pub fn resolve(
    inas_data: Option<PathBuf>,
    xdg_cache: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Result<PathBuf> {
    let set = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
    if let Some(p) = set(inas_data) {
        return Ok(p);
    }
    if let Some(p) = set(xdg_cache) {
        return Ok(p.join("inas").join("data"));
    }
    match set(home) {
        Some(h) => Ok(h.join(".cache").join("inas").join("data")),
        None => anyhow::bail!(
            "no cache directory: set INAS_DATA, XDG_CACHE_HOME or HOME, or pass --cache"
        ),
    }
}

pub fn dataset_dir(cache: &Path, name: DatasetName) -> PathBuf {
    cache.join(name.name())
}

/// Where the cached files came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub dataset: DatasetName,
    pub kind: SourceKind,
    /// The URL, package or archive used.
    pub origin: String,
    /// Files checked, with their sha256.
    pub checked: Vec<(String, String)>,
    /// What was done to the files (empty when they are the official ones as published).
    pub conversion: String,
    /// Seconds since the Unix epoch.
    pub fetched_at: u64,
    pub fetch_seconds: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Downloaded from the official host.
    Official,
    /// An official archive the user supplied (`--archive`).
    Archive,
    /// Converted from a registry package.
    Offline,
}

impl Manifest {
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            SourceKind::Official => "official",
            SourceKind::Archive => "official archive",
            SourceKind::Offline => "offline",
        };
        if self.conversion.is_empty() {
            format!("{kind}: {}", self.origin)
        } else {
            format!("{kind}: {} ({})", self.origin, self.conversion)
        }
    }

    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST);
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is corrupt", path.display()))
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(self)?;
        fs::write(&path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Total size of the files under `dir`, in bytes (0 if it does not exist).
pub fn size_of(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => size_of(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// A byte count for people: 1.5 MB, 230 KB, 12 B.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_precedence() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            resolve(p("/d"), p("/x"), p("/h")).unwrap(),
            PathBuf::from("/d")
        );
        assert_eq!(
            resolve(p(""), p("/x"), p("/h")).unwrap(),
            PathBuf::from("/x/inas/data")
        );
        assert_eq!(
            resolve(None, None, p("/h")).unwrap(),
            PathBuf::from("/h/.cache/inas/data")
        );
        assert!(resolve(None, None, None).is_err());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
        assert_eq!(human_bytes(170_052_171), "170.1 MB");
    }
}
