//! `inas plan random|show`.

use std::path::Path;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use inas_common::plan::{self, vm_need_bytes, Plan, ValidPlan};
use serde_json::json;

use clap::Subcommand;

use super::args::{NetArgs, PowerArg, SupplyArgs};
use super::out::{errln, outln};
use super::out::{EXIT_INFEASIBLE, EXIT_OK};
use crate::{planner, q15ref};

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Make a plan with random Q15 weights and the explorer's designs (for tests and demos).
    Random {
        #[command(flatten)]
        net: NetArgs,
        #[command(flatten)]
        supply: SupplyArgs,
        /// Designs from the intermittent explorer (int) or the continuous-power baseline (cont).
        #[arg(long, value_enum, default_value = "int")]
        power: PowerArg,
        /// Seed of the random weights (also the plan id).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Input length (rows) instead of the dataset's: a smaller plan of the same search
        /// space, e.g. for a device smoke test.
        #[arg(long, value_name = "N")]
        input_len: Option<u32>,
        /// Where to write the plan.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Describe a plan: header, layers, designs, memory.
    Show {
        /// The plan file.
        plan: PathBuf,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: PlanCommand) -> Result<i32> {
    match cmd {
        PlanCommand::Random {
            net,
            supply,
            power,
            seed,
            input_len,
            output,
        } => random(&net, &supply, power, seed, input_len, &output),
        PlanCommand::Show { plan, json } => show(&plan, json),
    }
}

/// Reads a plan file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read plan {}", path.display()))
}

/// Decodes a plan file's bytes and validates them against the target the plan records.
pub fn validated<'a>(path: &Path, bytes: &'a [u8]) -> Result<(Plan<'a>, ValidPlan)> {
    planner::open(bytes).map_err(|e| anyhow!("{}: {e}", path.display()))
}

fn random(
    net: &NetArgs,
    supply: &SupplyArgs,
    power: PowerArg,
    seed: u64,
    input_len: Option<u32>,
    output: &Path,
) -> Result<i32> {
    let profile = crate::profile::load(supply.profile())?;
    let mut space = *net.dataset.space();
    if let Some(n) = input_len {
        anyhow::ensure!(n > 0, "--input-len must be at least 1");
        space.input = n;
    }
    let arch = net
        .arch
        .as_ref()
        .map_or_else(|| space.example.to_vec(), |a| a.0.clone());
    let network = space
        .network(&arch)
        .map_err(|e| anyhow!("{} arch {arch:?}: {e}", net.dataset))?;
    // Before exploring and before allocating tensors, which for a large network take minutes
    // and gigabytes only to be refused by the plan's validation.
    let need = planner::nvm_need_bytes(&network);
    if need > profile.memory.nvm_bytes {
        bail!(
            "{}: plan needs {need} B of NVM, the device has {} B ({} arch {})",
            output.display(),
            profile.memory.nvm_bytes,
            net.dataset,
            arch.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    let bytes = match planner::random_plan(
        &profile,
        supply.overrides(),
        &space,
        &arch,
        power.into(),
        seed,
    ) {
        Ok(b) => b,
        Err(planner::RandomPlanError::Infeasible(why)) => {
            errln!("error: no plan: the network has no feasible design: {why}");
            return Ok(EXIT_INFEASIBLE);
        }
        Err(planner::RandomPlanError::Network(e)) => {
            return Err(anyhow!("{} {e}", net.dataset));
        }
        Err(e) => return Err(e.into()),
    };
    let (_, valid) = validated(output, &bytes)?;
    let layers = valid.layers().len();
    std::fs::write(output, &bytes).with_context(|| format!("cannot write {}", output.display()))?;
    outln!(
        "wrote {}: {} bytes, {} layers, plan id {}, {} [{}]",
        output.display(),
        bytes.len(),
        layers,
        seed as u32,
        net.dataset,
        arch.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    )?;
    Ok(EXIT_OK)
}

fn show(path: &Path, as_json: bool) -> Result<i32> {
    let bytes = read(path)?;
    let (raw, plan) = validated(path, &bytes)?;
    let meta = plan.meta();
    let profile = String::from_utf8_lossy(&meta.target.profile)
        .trim_end_matches('\0')
        .to_owned();
    let layout = plan.layout();
    if as_json {
        let layers: Vec<_> = plan
            .layers()
            .iter()
            .map(|l| {
                json!({
                    "kind": format!("{:?}", l.kind),
                    "input": [l.input.h, l.input.w, l.input.c],
                    "output": [l.output.h, l.output.w, l.output.c],
                    "kernel": [l.kh, l.kw],
                    "relu": l.relu,
                    "design": l.design.to_string(),
                    "weights": l.weights.len,
                    "bias": l.bias.len,
                    "shift": l.shift,
                    "vm_bytes": vm_need_bytes(l),
                    "accumulator_peak": q15ref::accumulator_peak(&raw, l),
                })
            })
            .collect();
        let j = json!({
            "format_version": plan::FORMAT_VERSION,
            "plan_id": meta.plan_id,
            "bytes": bytes.len(),
            "profile": profile,
            "target": {"vm_bytes": meta.target.vm_bytes, "nvm_bytes": meta.target.nvm_bytes},
            "input": [meta.input.h, meta.input.w, meta.input.c],
            "layers": layers,
            "nvm_words": layout.total_words,
        });
        outln!("{j}")?;
        return Ok(EXIT_OK);
    }
    outln!(
        "{}: plan {} (format {}), {} bytes, for {profile} (VM {} B, NVM {} B)",
        path.display(),
        meta.plan_id,
        plan::FORMAT_VERSION,
        bytes.len(),
        meta.target.vm_bytes,
        meta.target.nvm_bytes
    )?;
    outln!("input {}x{}x{}\n", meta.input.h, meta.input.w, meta.input.c)?;
    outln!(
        "{:<3} {:<14} {:<13} {:<13} {:<9} {:<24} {:>8} {:>6} {:>6} {:>6}",
        "#",
        "kind",
        "input",
        "output",
        "kernel",
        "design",
        "weights",
        "shift",
        "VM B",
        "acc %"
    )?;
    let mut may_saturate = vec![];
    for (i, l) in plan.layers().iter().enumerate() {
        let peak = q15ref::accumulator_peak(&raw, l);
        if peak > i64::from(i32::MAX) {
            may_saturate.push(i.to_string());
        }
        outln!(
            "{:<3} {:<14} {:<13} {:<13} {:<9} {:<24} {:>8} {:>6} {:>6} {:>6.1}",
            i,
            format!("{:?}{}", l.kind, if l.relu { "+relu" } else { "" }),
            format!("{}x{}x{}", l.input.h, l.input.w, l.input.c),
            format!("{}x{}x{}", l.output.h, l.output.w, l.output.c),
            format!("{}x{}", l.kh, l.kw),
            l.design.to_string(),
            l.weights.len,
            l.shift,
            vm_need_bytes(l),
            100.0 * peak as f64 / 2f64.powi(31)
        )?;
    }
    // acc %: the most any input can drive the 32-bit accumulator to in one MAC call.
    if may_saturate.is_empty() {
        outln!("\naccumulator: no input can saturate it (acc % < 100): the Q15 sums are exact")?;
    } else {
        outln!(
            "\naccumulator: inputs can saturate it in layer(s) {} (acc % >= 100)",
            may_saturate.join(", ")
        )?;
    }
    outln!(
        "\nNVM: {} words ({} B): tensors {} words, 3 feature-map buffers of {} words, footprint 2 slots",
        layout.total_words,
        layout.total_words * 2,
        plan.tensor_elements(),
        layout.feature_map_words
    )?;
    Ok(EXIT_OK)
}
