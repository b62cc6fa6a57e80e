//! Dataset loaders and fetching on small fixtures the tests write in the official formats:
//! CIFAR-10 binary batches in the official tar.gz, MNIST IDX (gz), UCI HAR text files,
//! Speech Commands WAV folders. No network: downloads go through a fake transport.

use std::cell::RefCell;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use flate2::write::GzEncoder;
use flate2::Compression;
use inas::data::cache::{Manifest, SourceKind};
use inas::data::fetch::{self, FetchOptions, Prefer, Transport};
use inas::data::hapt::{self, Recording};
use inas::data::{
    self, cifar, idx, sources, speech, uci_har, DatasetName, Limit, LoadOptions, Split,
};

fn sha(bytes: &[u8]) -> String {
    fetch::sha256_bytes(bytes)
}

fn tar_gz(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, &data[..]).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A CIFAR split whose every value encodes (sample, pixel, channel), labels cycling.
fn cifar_split(n: usize, offset: usize) -> Split {
    let mut s = Split::empty([32, 32, 3], 10);
    for i in 0..n {
        let v: Vec<f32> = (0..3072)
            .map(|k| ((i + offset + k) % 256) as f32 / 255.0)
            .collect();
        s.x.extend(v);
        s.y.push(((i + offset) % 10) as u8);
    }
    s
}

fn cifar_archive() -> Vec<u8> {
    let mut entries = Vec::new();
    for (b, f) in cifar::TRAIN_FILES.iter().enumerate() {
        entries.push((
            format!("{}/{f}", cifar::ROOT),
            cifar::encode(&cifar_split(4, 4 * b)),
        ));
    }
    entries.push((
        format!("{}/{}", cifar::ROOT, cifar::TEST_FILE),
        cifar::encode(&cifar_split(3, 100)),
    ));
    entries.push((
        format!("{}/batches.meta.txt", cifar::ROOT),
        b"airplane\n".to_vec(),
    ));
    tar_gz(&entries)
}

/// A one-dataset source table whose official file has these bytes' checksum.
fn table_for(name: &str, file: &str, bytes: &[u8], offline: &str) -> sources::Source {
    let text = format!(
        "[{name}]\ntitle = \"fixture\"\nlicense = \"test\"\n[[{name}.official]]\n\
         urls = [\"http://mirror.invalid/{file}\", \"http://second.invalid/{file}\"]\n\
         file = \"{file}\"\nsha256 = \"{}\"\n{offline}",
        sha(bytes)
    );
    sources::parse(&text).unwrap().remove(name).unwrap()
}

/// Serves fixed bytes for URLs containing a key; fails the rest like an unreachable host.
struct FakeNet {
    files: Vec<(String, Vec<u8>)>,
    asked: RefCell<Vec<String>>,
}

impl Transport for FakeNet {
    fn get(&self, url: &str, out: &mut dyn Write) -> Result<u64> {
        self.asked.borrow_mut().push(url.to_owned());
        match self.files.iter().find(|(k, _)| url.contains(k)) {
            Some((_, b)) => {
                out.write_all(b)?;
                Ok(b.len() as u64)
            }
            None => anyhow::bail!("Dns Failed: resolve dns name '{url}'"),
        }
    }
}

fn quiet() -> impl FnMut(&str) {
    |_: &str| {}
}

fn opts(prefer: Prefer, archive: Option<PathBuf>) -> FetchOptions {
    FetchOptions {
        prefer,
        archive,
        ..FetchOptions::default()
    }
}

#[test]
fn cifar_archive_installs_and_loads_with_a_stratified_validation_split() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("cifar-10-binary.tar.gz");
    let bytes = cifar_archive();
    fs::write(&archive, &bytes).unwrap();
    let src = table_for("cifar10", "cifar-10-binary.tar.gz", &bytes, "");
    let cache = tmp.path().join("cache");
    let net = FakeNet {
        files: vec![],
        asked: RefCell::new(vec![]),
    };
    let m = fetch::fetch_from(
        DatasetName::Cifar10,
        &src,
        &cache,
        &opts(Prefer::Auto, Some(archive.clone())),
        &net,
        &mut quiet(),
    )
    .unwrap();
    assert_eq!(m.kind, SourceKind::Archive);
    assert!(
        net.asked.borrow().is_empty(),
        "an archive needs no download"
    );
    assert!(!cache.join(".staging-cifar10").exists());

    let o = LoadOptions {
        val_fraction: 0.5,
        ..LoadOptions::default()
    };
    let mut s = data::load(DatasetName::Cifar10, &cache, &o).unwrap();
    assert!(s.source.starts_with("official archive:"), "{}", s.source);
    // Two images per class: one of each held out.
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (10, 10, 3));
    assert_eq!(s.val.histogram(), vec![1; 10]);
    assert_eq!(s.train.shape, [32, 32, 3]);
    assert_eq!(s.train.sample(0).len(), 3072);
    assert_eq!(s.test.y, vec![0, 1, 2]);
    // Samples survive the round trip: test sample 1 is (i + offset) = 101 everywhere shifted.
    let t1 = s.test.sample(1);
    assert_eq!(t1[0], 101.0 / 255.0);
    assert_eq!(t1[5], 106.0 / 255.0);
    // Validation and training together are exactly the 20 training images.
    let mut labels: Vec<u8> = s.train.y.iter().chain(&s.val.y).copied().collect();
    labels.sort_unstable();
    let mut want: Vec<u8> = (0..20).map(|i| (i % 10) as u8).collect();
    want.sort_unstable();
    assert_eq!(labels, want);

    // Normalisation: fitted on train only, applied to all.
    let before = s.test.clone();
    let n = s.normalize();
    assert_eq!(n.mean.len(), 3);
    let refit = inas::data::Normalization::fit(&s.train);
    assert!(refit.mean.iter().all(|m| m.abs() < 1e-4), "{refit:?}");
    assert_ne!(before, s.test);
    assert_eq!(s.normalize(), n, "normalize twice is a no-op");

    // A different archive with the same name is refused by checksum.
    let bad = tmp.path().join("bad.tar.gz");
    let mut other = bytes.clone();
    other[100] ^= 1;
    fs::write(&bad, &other).unwrap();
    let e = fetch::fetch_from(
        DatasetName::Cifar10,
        &src,
        &cache,
        &FetchOptions {
            force: true,
            ..opts(Prefer::Auto, Some(bad.clone()))
        },
        &net,
        &mut quiet(),
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("checksum mismatch") && msg.contains("bad.tar.gz"),
        "{msg}"
    );
    // ...and the cached copy is untouched.
    assert_eq!(
        data::load(DatasetName::Cifar10, &cache, &o)
            .unwrap()
            .test
            .len(),
        3
    );
}

#[test]
fn truncated_cifar_batch_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path();
    let dir = cache.join("cifar10").join(cifar::ROOT);
    fs::create_dir_all(&dir).unwrap();
    for f in cifar::TRAIN_FILES {
        fs::write(dir.join(f), cifar::encode(&cifar_split(2, 0))).unwrap();
    }
    let mut t = cifar::encode(&cifar_split(2, 0));
    t.truncate(t.len() - 10);
    fs::write(dir.join(cifar::TEST_FILE), t).unwrap();
    Manifest {
        dataset: DatasetName::Cifar10,
        kind: SourceKind::Archive,
        origin: "fixture".into(),
        checked: vec![],
        conversion: String::new(),
        fetched_at: 0,
        fetch_seconds: 0.0,
    }
    .write(&cache.join("cifar10"))
    .unwrap();
    let e = data::load(DatasetName::Cifar10, cache, &LoadOptions::default()).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("test_batch.bin") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn missing_dataset_says_how_to_fetch_it() {
    let tmp = tempfile::tempdir().unwrap();
    let e = data::load(DatasetName::Har, tmp.path(), &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("inas data fetch har"), "{e}");
}

fn idx_files(n_train: usize, n_test: usize) -> Vec<(&'static str, Vec<u8>)> {
    let img = |n: usize| {
        idx::encode(
            &[n, 28, 28],
            &(0..n * 784).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
        )
    };
    let lab = |n: usize| idx::encode(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
    vec![
        ("train-images-idx3-ubyte.gz", gz(&img(n_train))),
        ("train-labels-idx1-ubyte.gz", gz(&lab(n_train))),
        ("t10k-images-idx3-ubyte.gz", gz(&img(n_test))),
        ("t10k-labels-idx1-ubyte.gz", gz(&lab(n_test))),
    ]
}

fn mnist_table(files: &[(&str, Vec<u8>)]) -> sources::Source {
    let mut text = String::from("[mnist]\ntitle = \"fixture\"\nlicense = \"test\"\n");
    for (f, b) in files {
        text += &format!(
            "[[mnist.official]]\nurls = [\"http://dead.invalid/{f}\", \"http://mirror.invalid/{f}\"]\n\
             file = \"{f}\"\nsha256 = \"{}\"\n",
            sha(b)
        );
    }
    sources::parse(&text).unwrap().remove("mnist").unwrap()
}

#[test]
fn mnist_downloads_through_mirrors_and_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let files = idx_files(50, 20);
    let src = mnist_table(&files);
    let net = FakeNet {
        files: files
            .iter()
            .map(|(f, b)| (format!("mirror.invalid/{f}"), b.clone()))
            .collect(),
        asked: RefCell::new(vec![]),
    };
    let mut lines = Vec::new();
    let m = fetch::fetch_from(
        DatasetName::Mnist,
        &src,
        tmp.path(),
        &opts(Prefer::Official, None),
        &net,
        &mut |l: &str| lines.push(l.to_owned()),
    )
    .unwrap();
    assert_eq!(m.kind, SourceKind::Official);
    assert_eq!(m.checked.len(), 4);
    // The dead first mirror was tried, then the second.
    assert_eq!(net.asked.borrow().len(), 8);
    assert!(m.origin.contains("mirror.invalid"), "{}", m.origin);
    let s = data::load(
        DatasetName::Mnist,
        tmp.path(),
        &LoadOptions {
            val_fraction: 0.2,
            train_limit: Limit {
                per_class: Some(3),
                total: None,
            },
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(s.test.len(), 20);
    assert_eq!(s.train.histogram(), vec![3; 10]);
    assert_eq!(s.val.len(), 10, "20 % of 50, one per class");
    assert_eq!(s.test.shape, [28, 28, 1]);
    assert_eq!(s.test.sample(0)[1], 1.0 / 255.0);

    // Fetching again reuses the cache and downloads nothing.
    net.asked.borrow_mut().clear();
    fetch::fetch_from(
        DatasetName::Mnist,
        &src,
        tmp.path(),
        &opts(Prefer::Official, None),
        &net,
        &mut quiet(),
    )
    .unwrap();
    assert!(net.asked.borrow().is_empty());
}

#[test]
fn wrong_download_checksum_fails_with_both_digests_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let files = idx_files(10, 10);
    let src = mnist_table(&files);
    let mut served = files.clone();
    served[2].1[20] ^= 0xff; // t10k-images corrupted on the wire
    let net = FakeNet {
        files: served
            .into_iter()
            .map(|(f, b)| (format!("mirror.invalid/{f}"), b))
            .collect(),
        asked: RefCell::new(vec![]),
    };
    let e = fetch::fetch_from(
        DatasetName::Mnist,
        &src,
        tmp.path(),
        &opts(Prefer::Official, None),
        &net,
        &mut quiet(),
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert!(msg.contains("t10k-images-idx3-ubyte.gz.part"), "{msg}");
    assert!(
        msg.contains(&sha(&files[2].1)),
        "expected digest named: {msg}"
    );
    assert!(!tmp.path().join("mnist").exists());
    assert!(!tmp.path().join(".staging-mnist").exists());
    assert!(!tmp
        .path()
        .join("downloads/t10k-images-idx3-ubyte.gz")
        .exists());
    assert!(!tmp
        .path()
        .join("downloads/t10k-images-idx3-ubyte.gz.part")
        .exists());
}

#[test]
fn content_checksums_are_checked_after_install() {
    let tmp = tempfile::tempdir().unwrap();
    let files = idx_files(10, 10);
    let mut src = mnist_table(&files);
    let text = format!(
        "[mnist]\ntitle = \"t\"\nlicense = \"t\"\n[[mnist.content]]\nfile = \"t10k-labels-idx1-ubyte\"\nsha256 = \"{}\"\n",
        "0".repeat(64)
    );
    src.content = sources::parse(&text)
        .unwrap()
        .remove("mnist")
        .unwrap()
        .content;
    let net = FakeNet {
        files: files
            .iter()
            .map(|(f, b)| (format!("mirror.invalid/{f}"), b.clone()))
            .collect(),
        asked: RefCell::new(vec![]),
    };
    let e = fetch::fetch_from(
        DatasetName::Mnist,
        &src,
        tmp.path(),
        &opts(Prefer::Official, None),
        &net,
        &mut quiet(),
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("checksum mismatch for the contents of")
            && msg.contains("t10k-labels-idx1-ubyte.gz"),
        "{msg}"
    );
    assert!(!tmp.path().join("mnist").exists());
}

#[test]
fn no_offline_source_error_suggests_an_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let src = table_for("kws", "speech_commands_v0.02.tar.gz", b"x", "");
    let net = FakeNet {
        files: vec![],
        asked: RefCell::new(vec![]),
    };
    let e = fetch::fetch_from(
        DatasetName::Kws,
        &src,
        tmp.path(),
        &opts(Prefer::Auto, None),
        &net,
        &mut quiet(),
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("Dns Failed") && msg.contains("--archive"),
        "{msg}"
    );
}

#[test]
fn bad_idx_magic_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("fashion-mnist");
    fs::create_dir_all(&d).unwrap();
    for (f, b) in idx_files(10, 10) {
        fs::write(d.join(f), b).unwrap();
    }
    let mut raw = idx::encode(&[10], &[0; 10]);
    raw[2] = 0x0c;
    fs::remove_file(d.join("train-labels-idx1-ubyte.gz")).unwrap();
    fs::write(d.join("train-labels-idx1-ubyte"), raw).unwrap();
    let e = idx::load_dir(&d).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("train-labels-idx1-ubyte") && msg.contains("type code 0x0c"),
        "{msg}"
    );
    fs::write(d.join("train-labels-idx1-ubyte"), b"not gz").unwrap();
    fs::rename(d.join("train-labels-idx1-ubyte"), d.join("x")).unwrap();
    fs::write(d.join("train-labels-idx1-ubyte.gz"), b"not gz").unwrap();
    let msg = format!("{:#}", idx::load_dir(&d).unwrap_err());
    assert!(msg.contains("not a valid gzip file"), "{msg}");
}

fn recording(subject: u32, label: i8, len: usize) -> Recording {
    let ch = |a: f64| {
        (0..len)
            .map(|i| a * (i as f64 * 0.1).sin() + 0.01 * subject as f64)
            .collect()
    };
    Recording {
        subject,
        experiment: 1,
        channels: [ch(0.1), ch(0.2), ch(0.3), ch(0.4), ch(0.5), ch(0.6)],
        labels: vec![label; len],
    }
}

#[test]
fn har_text_files_round_trip_and_validation_holds_out_whole_subjects() {
    let tmp = tempfile::tempdir().unwrap();
    let recs: Vec<Recording> = (1..=8)
        .map(|s| recording(s, (s % 6 + 1) as i8, 128 + 64 * 4)) // 5 windows each
        .collect();
    let (train, test) = hapt::build(&recs, &hapt::UCI_HAR).unwrap();
    assert_eq!(
        test.groups,
        vec![2; 5].into_iter().chain(vec![4; 5]).collect::<Vec<_>>()
    );
    let dir = tmp.path().join("har");
    let root = dir.join(uci_har::ROOT);
    uci_har::write_split(&root, "train", &train).unwrap();
    uci_har::write_split(&root, "test", &test).unwrap();
    Manifest {
        dataset: DatasetName::Har,
        kind: SourceKind::Offline,
        origin: "fixture".into(),
        checked: vec![],
        conversion: "rebuilt".into(),
        fetched_at: 0,
        fetch_seconds: 0.0,
    }
    .write(&dir)
    .unwrap();
    let back = uci_har::read_split(&root, "train").unwrap();
    assert_eq!(back.groups, train.groups);
    assert_eq!(back.split.y, train.split.y);
    for (a, b) in back.split.x.iter().zip(&train.split.x) {
        assert!((a - b).abs() <= 1e-7 * b.abs().max(1e-30), "{a} vs {b}");
    }
    let o = LoadOptions {
        val_fraction: 0.2,
        seed: 5,
        ..LoadOptions::default()
    };
    let s = data::load(DatasetName::Har, tmp.path(), &o).unwrap();
    assert_eq!(s.train.shape, [128, 1, 9]);
    assert_eq!(s.test.len(), 10);
    assert_eq!(s.train.len() + s.val.len(), 30);
    // 20 % of 30 windows is 6: one whole subject (5 windows) is the closest.
    assert_eq!(s.val.len(), 5, "{}", s.val_rule);

    // A signal file one window short is named.
    let f = root.join("test/Inertial Signals/body_gyro_y_test.txt");
    let text = fs::read_to_string(&f).unwrap();
    fs::write(&f, text.lines().skip(1).collect::<Vec<_>>().join("\n")).unwrap();
    let msg = format!(
        "{:#}",
        data::load(DatasetName::Har, tmp.path(), &o).unwrap_err()
    );
    assert!(
        msg.contains("body_gyro_y_test.txt") && msg.contains("9 windows"),
        "{msg}"
    );
}

fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

fn tone(hz: f64, len: usize) -> Vec<i16> {
    (0..len)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / 16000.0).sin()) as i16)
        .collect()
}

/// yes/no/cat clips: per word a0..a3 train, v0 validation, t0 test (cat is an unknown word).
fn speech_fixture(root: &Path) {
    for (word, hz) in [("yes", 440.0), ("no", 880.0), ("cat", 1500.0)] {
        for clip in ["a0", "a1", "a2", "a3", "v0", "t0"] {
            // Some clips shorter than a second, as in the real data.
            let len = if clip == "a1" { 12_000 } else { 16_000 };
            write_wav(
                &root.join(word).join(format!("{clip}_nohash_0.wav")),
                16_000,
                &tone(hz, len),
            );
        }
    }
    write_wav(
        &root.join("_background_noise_/hum.wav"),
        16_000,
        &tone(60.0, 40_000),
    );
    let list = |c: &str| {
        ["yes", "no", "cat"]
            .iter()
            .map(|w| format!("{w}/{c}_nohash_0.wav\n"))
            .collect::<String>()
    };
    fs::write(root.join(speech::VALIDATION_LIST), list("v0")).unwrap();
    fs::write(root.join(speech::TESTING_LIST), list("t0")).unwrap();
}

#[test]
fn speech_commands_folders_become_twelve_class_mfcc_splits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("kws").join(speech::ROOT);
    speech_fixture(&root);
    let sets = speech::load_dir(&root, 1).unwrap();
    // train: 8 keyword clips, ceil(0.8) = 1 unknown, 1 silence.
    assert_eq!(sets.train.len(), 10);
    let h = sets.train.histogram();
    assert_eq!((h[0], h[1], h[2], h[3]), (1, 1, 4, 4), "{h:?}");
    assert_eq!(h.len(), 12);
    assert_eq!(sets.val.histogram()[..4], [1, 1, 1, 1]);
    assert_eq!(sets.test.len(), 4);
    assert_eq!(sets.train.shape, [25, 1, 10]);
    assert_eq!(sets.train.sample_len(), 250);
    // The same word gives the same features; different words differ.
    let yes: Vec<usize> = (0..10).filter(|&i| sets.train.y[i] == 2).collect();
    let no = (0..10).find(|&i| sets.train.y[i] == 3).unwrap();
    assert_eq!(sets.train.sample(yes[0]), sets.train.sample(yes[2]));
    assert_ne!(sets.train.sample(yes[0]), sets.train.sample(no));
    assert!(sets.train.x.iter().all(|v| v.is_finite()));
    // Seeded: same seed, same splits.
    assert_eq!(speech::load_dir(&root, 1).unwrap().train, sets.train);

    // A clip at the wrong rate is named.
    write_wav(&root.join("no/a2_nohash_0.wav"), 8_000, &tone(880.0, 8_000));
    let msg = format!("{:#}", speech::load_dir(&root, 1).err().unwrap());
    assert!(
        msg.contains("no/a2_nohash_0.wav") && msg.contains("8000 Hz"),
        "{msg}"
    );
    // A truncated clip too.
    let p = root.join("no/a2_nohash_0.wav");
    write_wav(&p, 16_000, &tone(880.0, 16_000));
    let b = fs::read(&p).unwrap();
    fs::write(&p, &b[..b.len() / 2 + 1]).unwrap();
    let msg = format!("{:#}", speech::load_dir(&root, 1).err().unwrap());
    assert!(msg.contains("no/a2_nohash_0.wav"), "{msg}");
    // A list naming a missing clip is named with its line.
    fs::write(
        root.join(speech::TESTING_LIST),
        "yes/t0_nohash_0.wav\nyes/gone.wav\n",
    )
    .unwrap();
    let msg = format!("{:#}", speech::load_dir(&root, 1).err().unwrap());
    assert!(
        msg.contains("testing_list.txt:2: no clip yes/gone.wav"),
        "{msg}"
    );
}

#[test]
fn speech_archive_installs_through_fetch() {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tmp.path().join("src");
    speech_fixture(&src_dir);
    let mut entries = Vec::new();
    for w in ["yes", "no", "cat", "_background_noise_"] {
        for e in fs::read_dir(src_dir.join(w)).unwrap().flatten() {
            entries.push((
                format!("./{w}/{}", e.file_name().to_string_lossy()),
                fs::read(e.path()).unwrap(),
            ));
        }
    }
    for l in [speech::VALIDATION_LIST, speech::TESTING_LIST] {
        entries.push((l.to_owned(), fs::read(src_dir.join(l)).unwrap()));
    }
    let bytes = tar_gz(&entries);
    let src = table_for("kws", "speech_commands_v0.02.tar.gz", &bytes, "");
    let cache = tmp.path().join("cache");
    let net = FakeNet {
        files: vec![("mirror.invalid".into(), bytes)],
        asked: RefCell::new(vec![]),
    };
    fetch::fetch_from(
        DatasetName::Kws,
        &src,
        &cache,
        &opts(Prefer::Auto, None),
        &net,
        &mut quiet(),
    )
    .unwrap();
    let s = data::load(DatasetName::Kws, &cache, &LoadOptions::default()).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (10, 4, 4));
    assert!(s.val_rule.contains("validation_list.txt"));
}

#[test]
fn dataset_names_parse_and_match_the_search_spaces() {
    for n in DatasetName::ALL {
        assert_eq!(n.name().parse::<DatasetName>().unwrap(), n);
        if let Some(space) = n.space() {
            let sp = space.space();
            let [h, w, c] = n.shape();
            let cols = match sp.model {
                inas::network::ModelType::Conv2d => sp.input,
                _ => 1,
            };
            assert_eq!(h * w * c, (sp.input * cols * sp.channels) as usize, "{n}");
            assert_eq!(n.classes(), sp.classes as usize);
        }
    }
    assert!("imagenet"
        .parse::<DatasetName>()
        .unwrap_err()
        .contains("expected har"));
}
