//! Archive members.

use super::*;

/// One member of a zip archive.
pub(super) fn zip_member(bytes: &[u8], member: &str) -> Result<Vec<u8>> {
    let mut z = zip::ZipArchive::new(io::Cursor::new(bytes)).context("not a zip file")?;
    let mut e = z
        .by_name(member)
        .with_context(|| format!("no member {member}"))?;
    let mut out = Vec::new();
    e.read_to_end(&mut out)
        .with_context(|| format!("cannot inflate {member}"))?;
    Ok(out)
}

/// Extracts regular files of a .tar.gz whose (safe, relative) path `map` accepts.
pub(super) fn untar_gz(
    path: &Path,
    dest: &Path,
    map: impl Fn(&Path) -> Option<PathBuf>,
) -> Result<usize> {
    let f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut ar = tar::Archive::new(GzDecoder::new(io::BufReader::new(f)));
    let mut n = 0;
    for e in ar
        .entries()
        .with_context(|| format!("{}: not a tar.gz", path.display()))?
    {
        let mut e = e.with_context(|| format!("{}: corrupt archive", path.display()))?;
        if !e.header().entry_type().is_file() {
            continue;
        }
        let rel = e.path()?.into_owned();
        let rel: PathBuf = rel
            .components()
            .filter(|c| *c != Component::CurDir)
            .collect();
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            bail!("{}: unsafe member path {}", path.display(), rel.display());
        }
        if let Some(out) = map(&rel) {
            let out = dest.join(out);
            fs::create_dir_all(out.parent().unwrap_or(dest))?;
            e.unpack(&out)
                .with_context(|| format!("{}: cannot extract {}", path.display(), rel.display()))?;
            n += 1;
        }
    }
    Ok(n)
}
