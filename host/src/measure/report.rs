//! A measurement's files: the report as JSON, per-sample and per-layer CSV, and an SVG plot of
//! measured against predicted latency.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use plotters::prelude::*;

use super::Report;

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

pub fn samples_csv(r: &Report) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record([
        "sample",
        "label",
        "predicted_class",
        "correct",
        "logits_match_host",
        "latency_s",
        "on_time_s",
        "power_cycles",
        "logits",
    ])?;
    for s in &r.per_sample {
        w.write_record([
            s.index.to_string(),
            s.label.map_or(String::new(), |l| l.to_string()),
            s.predicted_class.to_string(),
            s.correct.map_or(String::new(), |c| c.to_string()),
            s.logits_match_host.to_string(),
            s.latency_s.to_string(),
            s.on_time_s.to_string(),
            s.power_cycles.to_string(),
            s.logits
                .iter()
                .map(i16::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ])?;
    }
    Ok(w.into_inner()?)
}

pub fn layers_csv(r: &Report) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record([
        "layer",
        "design",
        "measured_latency_s",
        "predicted_latency_s",
        "measured_on_time_s",
        "predicted_on_time_s",
        "measured_power_cycles",
        "predicted_power_cycles",
    ])?;
    for l in &r.layers {
        w.write_record([
            l.name.clone(),
            l.design.clone(),
            opt(l.measured_latency_s),
            opt(l.predicted_latency_s),
            opt(l.measured_on_time_s),
            opt(l.predicted_on_time_s),
            l.measured_power_cycles
                .map_or(String::new(), |v| v.to_string()),
            opt(l.predicted_power_cycles),
        ])?;
    }
    Ok(w.into_inner()?)
}

/// Two panels: per layer, and per sample end to end; measured points against the prediction.
pub fn latency_svg(r: &Report) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 460)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(500);
        let layer_max = r
            .layers
            .iter()
            .flat_map(|l| [l.measured_latency_s, l.predicted_latency_s])
            .flatten()
            .fold(1e-6f64, f64::max)
            * 1.15;
        let n_layers = r.layers.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&left)
            .caption("per layer", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..n_layers - 0.5, 0.0..layer_max)?;
        let names: Vec<String> = r.layers.iter().map(|l| l.name.clone()).collect();
        chart
            .configure_mesh()
            .x_labels(r.layers.len().max(1))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("latency (s)")
            .draw()?;
        let pts = |f: fn(&super::LayerResult) -> Option<f64>| -> Vec<(f64, f64)> {
            r.layers
                .iter()
                .enumerate()
                .filter_map(|(i, l)| f(l).map(|v| (i as f64, v)))
                .collect()
        };
        let predicted = pts(|l| l.predicted_latency_s);
        chart
            .draw_series(LineSeries::new(predicted.clone(), RED.stroke_width(2)))?
            .label("predicted")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED.stroke_width(2)));
        chart.draw_series(predicted.iter().map(|&p| Circle::new(p, 3, RED.filled())))?;
        chart
            .draw_series(
                pts(|l| l.measured_latency_s)
                    .into_iter()
                    .map(|p| Cross::new(p, 6, BLUE.stroke_width(2))),
            )?
            .label("measured")
            .legend(|(x, y)| Cross::new((x + 8, y), 5, BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;

        let e2e_max = r
            .per_sample
            .iter()
            .map(|s| s.latency_s)
            .chain(r.predicted_latency_s)
            .fold(1e-6f64, f64::max)
            * 1.15;
        let n = r.per_sample.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&right)
            .caption(
                format!("end to end, {} samples ({})", r.samples, r.mode),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..e2e_max)?;
        chart
            .configure_mesh()
            .x_desc("sample")
            .y_desc("latency (s)")
            .draw()?;
        if let Some(p) = r.predicted_latency_s {
            chart
                .draw_series(LineSeries::new(
                    [(-0.5, p), (n - 0.5, p)],
                    RED.stroke_width(2),
                ))?
                .label(format!("predicted {p:.4} s"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED.stroke_width(2)));
        }
        chart
            .draw_series(
                r.per_sample
                    .iter()
                    .map(|s| Cross::new((s.index as f64, s.latency_s), 5, BLUE.stroke_width(2))),
            )?
            .label(format!("measured (mean {:.4} s)", r.measured_latency_s))
            .legend(|(x, y)| Cross::new((x + 8, y), 5, BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// Writes `measure.json`, `samples.csv`, `layers.csv` and `latency.svg` into `dir`; returns
/// their paths.
pub fn write(r: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let files: [(&str, Vec<u8>); 4] = [
        ("measure.json", serde_json::to_vec_pretty(r)?),
        ("samples.csv", samples_csv(r)?),
        ("layers.csv", layers_csv(r)?),
        ("latency.svg", latency_svg(r)?.into_bytes()),
    ];
    let mut out = vec![];
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}
