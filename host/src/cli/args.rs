//! Flag groups that several commands share, and their parsers, defined once: a leaf that no
//! command module is imported into. Each command owns its own flags (beside its code); parsing
//! only validates text, acting on it happens elsewhere.

use clap::{Args, ValueEnum};
use inas_common::ExecDesign;

use crate::model::Power;
use crate::network::Dataset;
use crate::units;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PowerArg {
    /// Intermittent power: energy budget per power cycle, recharge between cycles.
    Int,
    /// Continuous power: the HW-NAS baseline (S = 1, VM constraint only).
    Cont,
}

impl From<PowerArg> for inas_common::wire::RunMode {
    fn from(p: PowerArg) -> Self {
        match p {
            PowerArg::Int => Self::Intermittent,
            PowerArg::Cont => Self::Continuous,
        }
    }
}

impl From<PowerArg> for Power {
    fn from(p: PowerArg) -> Power {
        match p {
            PowerArg::Int => Power::Int,
            PowerArg::Cont => Power::Cont,
        }
    }
}

/// An action list: kernel,filters per layer (CONV) or units per layer (FC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arch(pub Vec<u32>);

pub fn parse_arch(s: &str) -> Result<Arch, String> {
    s.split(',')
        .map(|v| {
            v.trim().parse::<u32>().map_err(|_| {
                format!(
                    "'{}' in '{s}' is not a whole number (expected e.g. 3,8,5,24)",
                    v.trim()
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Arch)
}

/// One fixed design per layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Designs(pub Vec<ExecDesign>);

pub fn parse_designs(s: &str) -> Result<Designs, String> {
    s.split(',')
        .map(|d| {
            d.trim()
                .parse::<ExecDesign>()
                .map_err(|e| format!("design '{}': {e}", d.trim()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Designs)
}

pub(super) fn parse_margin(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(m) if m > 0.0 && m <= 1.0 => Ok(m),
        _ => Err(format!("'{s}' is not a margin in (0, 1]")),
    }
}

fn parse_dataset(s: &str) -> Result<Dataset, String> {
    s.parse()
}

/// The network: dataset (search space) and architecture choices.
#[derive(Clone, Debug, Args)]
pub struct NetArgs {
    /// Search space: cifar (conv2d x5), har (conv1d x3) or kws (FC x4).
    #[arg(long, default_value = "cifar", value_parser = parse_dataset)]
    pub dataset: Dataset,
    /// Architecture choices: kernel,filters per layer, or units per layer for kws
    /// [default: the dataset's reference network].
    #[arg(long, value_parser = parse_arch, allow_hyphen_values = true)]
    pub arch: Option<Arch>,
}

/// The platform and its energy supply.
#[derive(Clone, Debug, Args)]
pub struct SupplyArgs {
    /// Storage capacitance in farads, SI prefix allowed (0.005, 5mF, 4700uF) [default: profile's].
    #[arg(long, value_parser = units::farads, allow_hyphen_values = true)]
    pub cap: Option<f64>,
    /// Harvester equivalent resistance in ohms [default: profile's].
    #[arg(long, value_parser = units::ohms, allow_hyphen_values = true)]
    pub rehm: Option<f64>,
    /// Fraction of the capacitor's energy one power cycle may spend [default: profile's].
    #[arg(long, value_parser = parse_margin, allow_hyphen_values = true)]
    pub margin: Option<f64>,
    /// Volatile memory for tile buffers, in bytes [default: profile's].
    #[arg(long, allow_hyphen_values = true)]
    pub vm: Option<u64>,
    /// Platform profile: a built-in name or a TOML file [default: reference; for `measure` on
    /// the virtual LaunchPad, msp430fr5994-emu, and on the simulated board its
    /// --simboard-profile].
    #[arg(long, value_name = "NAME|FILE")]
    pub profile: Option<String>,
}

impl SupplyArgs {
    /// The profile named, or `default`.
    pub fn profile_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.profile.as_deref().unwrap_or(default)
    }

    /// The profile named, or the reference.
    pub fn profile(&self) -> &str {
        self.profile_or("reference")
    }

    pub fn overrides(&self) -> crate::model::Overrides {
        crate::model::Overrides {
            capacitance_f: self.cap,
            margin: self.margin,
            r_ohm: self.rehm,
            vm_bytes: self.vm,
        }
    }
}
