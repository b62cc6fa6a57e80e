//! Reports derived from the journal: `summary.json`, `trials.csv`, `pareto.svg`, `best.plan`.
//! All of them are rewritten from the journal alone, so they can always be regenerated.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
use serde::Serialize;

use super::journal::write_atomic;
use super::{best, TrialOutcome, TrialRecord};

/// `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub trials: usize,
    pub trained: usize,
    pub over_memory: usize,
    pub infeasible: usize,
    pub repeated: usize,
    /// Trials whose training failed on every attempt.
    pub failed: usize,
    /// Trained trials that meet the latency requirement under intermittent power.
    pub within_requirement: usize,
    pub best: Option<BestTrial>,
    /// Trials on the accuracy/latency Pareto front, best accuracy first.
    pub pareto: Vec<u32>,
    pub time: TimeSummary,
    /// The reported trial on the test split (filled in once, when the search ends).
    pub test: Option<TestResult>,
}

/// The test-set evaluation of the reported trial: the only time a search reads the test split.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestResult {
    pub trial: u32,
    pub samples: usize,
    pub q15_acc: f64,
    /// The accumulators over the test split: where no call saturated, the outputs are the exact
    /// sums, whichever way saturation is defined.
    pub accumulator: crate::q15ref::Headroom,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BestTrial {
    pub trial: u32,
    pub arch: String,
    pub float_acc: f64,
    pub q15_acc: f64,
    pub latency_s: Option<f64>,
    pub intermittent_latency_s: Option<f64>,
    pub plan: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TimeSummary {
    pub total_s: f64,
    pub train_s: f64,
    pub quantize_s: f64,
    pub explore_s: f64,
    /// The intermittent-aware part of the search (the explorer) as a share of its time.
    pub explore_share: f64,
}

impl Summary {
    pub fn of(records: &[TrialRecord]) -> Summary {
        let count = |f: fn(&TrialOutcome) -> bool| records.iter().filter(|r| f(&r.outcome)).count();
        let sum = |f: fn(&TrialRecord) -> f64| records.iter().map(f).sum::<f64>();
        let total_s = sum(|r| r.timings.total_s);
        let explore_s = sum(|r| r.timings.explore_s);
        Summary {
            trials: records.len(),
            trained: count(|o| matches!(o, TrialOutcome::Trained { .. })),
            over_memory: count(|o| matches!(o, TrialOutcome::OverMemory { .. })),
            infeasible: count(|o| {
                matches!(o, TrialOutcome::Infeasible { .. } | TrialOutcome::TooSlow)
            }),
            repeated: count(|o| matches!(o, TrialOutcome::Repeated { .. })),
            failed: count(|o| matches!(o, TrialOutcome::Failed { .. })),
            within_requirement: records
                .iter()
                .filter(|r| r.meets_requirement && r.trained().is_some())
                .count(),
            best: best(records).map(|r| {
                let (float_acc, q15_acc) = r.trained().expect("best is trained");
                BestTrial {
                    trial: r.trial,
                    arch: r.arch.clone(),
                    float_acc,
                    q15_acc,
                    latency_s: r.latency_s,
                    intermittent_latency_s: r.intermittent_latency_s,
                    plan: TrialRecord::plan_file(r.trial),
                }
            }),
            pareto: pareto_front(records),
            time: TimeSummary {
                total_s,
                train_s: sum(|r| r.timings.train_s),
                quantize_s: sum(|r| r.timings.quantize_s),
                explore_s,
                explore_share: if total_s > 0.0 {
                    explore_s / total_s
                } else {
                    0.0
                },
            },
            test: None,
        }
    }
}

/// Trained trials that run under intermittent power and that no other such trial beats on
/// both Q15 accuracy and intermittent latency; best accuracy first.
pub fn pareto_front(records: &[TrialRecord]) -> Vec<u32> {
    let mut pts: Vec<(u32, f64, f64)> = records
        .iter()
        .filter_map(|r| {
            let (_, q) = r.trained()?;
            Some((r.trial, q, r.intermittent_latency_s?))
        })
        .collect();
    // Accuracy descending, then latency ascending: a point is on the front when it is faster
    // than everything more accurate before it.
    pts.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.total_cmp(&b.2)));
    let mut front = Vec::new();
    let mut fastest = f64::INFINITY;
    for (t, _, lat) in pts {
        if lat < fastest {
            front.push(t);
            fastest = lat;
        }
    }
    front
}

/// Rewrites every report of the run in `root` from its records. `lat_req_s` draws the
/// requirement on the plot.
pub fn write_reports(
    root: &Path,
    records: &[TrialRecord],
    lat_req_s: Option<f64>,
    test: Option<&TestResult>,
) -> Result<()> {
    let mut summary = Summary::of(records);
    summary.test = test.cloned();
    let json = serde_json::to_string_pretty(&summary)?;
    write_atomic(&root.join("summary.json"), json.as_bytes())?;
    write_atomic(&root.join("trials.csv"), &csv_of(records)?)?;
    let svg = pareto_svg(records, &summary.pareto, lat_req_s)?;
    write_atomic(&root.join("pareto.svg"), svg.as_bytes())?;
    if let Some(b) = &summary.best {
        let plan = root.join(&b.plan);
        let bytes = std::fs::read(&plan).with_context(|| format!("reading {}", plan.display()))?;
        write_atomic(&root.join("best.plan"), &bytes)?;
    }
    Ok(())
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

fn csv_of(records: &[TrialRecord]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "trial",
        "arch",
        "actions",
        "status",
        "float_acc",
        "q15_acc",
        "latency_s",
        "intermittent_latency_s",
        "meets_requirement",
        "reward",
        "explore_s",
        "train_s",
        "quantize_s",
        "total_s",
        "detail",
    ])?;
    for r in records {
        let (status, detail) = match &r.outcome {
            TrialOutcome::Trained { best_epoch, .. } => {
                ("trained", format!("best epoch {best_epoch}"))
            }
            TrialOutcome::OverMemory { detail } => ("over_memory", detail.clone()),
            TrialOutcome::Infeasible { layer, detail } => {
                ("infeasible", format!("{layer}: {detail}"))
            }
            TrialOutcome::TooSlow => ("too_slow", String::new()),
            TrialOutcome::Repeated { of } => ("repeated", format!("trial {of}")),
            TrialOutcome::Failed { reason } => ("failed", reason.clone()),
        };
        let acc = r.trained();
        let actions = r
            .actions
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        w.write_record([
            r.trial.to_string(),
            r.arch.clone(),
            actions,
            status.into(),
            opt(acc.map(|a| a.0)),
            opt(acc.map(|a| a.1)),
            opt(r.latency_s),
            opt(r.intermittent_latency_s),
            r.meets_requirement.to_string(),
            format!("{}", r.reward),
            format!("{}", r.timings.explore_s),
            format!("{}", r.timings.train_s),
            format!("{}", r.timings.quantize_s),
            format!("{}", r.timings.total_s),
            detail,
        ])?;
    }
    Ok(w.into_inner()?)
}

/// Q15 accuracy against intermittent latency. Trained trials that cannot run under
/// intermittent power sit in a marked strip on the right; the Pareto front is joined up.
fn pareto_svg(records: &[TrialRecord], front: &[u32], lat_req_s: Option<f64>) -> Result<String> {
    let trained: Vec<(&TrialRecord, f64)> = records
        .iter()
        .filter_map(|r| r.trained().map(|(_, q)| (r, q * 100.0)))
        .collect();
    let lat_max = trained
        .iter()
        .filter_map(|(r, _)| r.intermittent_latency_s)
        .chain(lat_req_s)
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let x_max = lat_max * 1.2;
    let strip = lat_max * 1.12;
    let never_trained = records.len() - trained.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 520)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "{} trials: {} trained, {never_trained} never trained (over memory, infeasible or repeated)",
                    records.len(),
                    trained.len()
                ),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..x_max, 0.0..100.0)?;
        chart
            .configure_mesh()
            .x_desc("intermittent latency (s); right strip: cannot run intermittently")
            .y_desc("Q15 accuracy (%)")
            .draw()?;
        if let Some(req) = lat_req_s {
            chart
                .draw_series(LineSeries::new([(req, 0.0), (req, 100.0)], RED.mix(0.5)))?
                .label(format!("latency requirement {req} s"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED.mix(0.5)));
        }
        let runs: Vec<(f64, f64)> = trained
            .iter()
            .filter_map(|(r, q)| Some((r.intermittent_latency_s?, *q)))
            .collect();
        chart
            .draw_series(
                runs.iter()
                    .map(|&p| Circle::new(p, 4, BLUE.mix(0.6).filled())),
            )?
            .label("trained, runs intermittently")
            .legend(|(x, y)| Circle::new((x + 8, y), 4, BLUE.filled()));
        let unsafe_pts: Vec<(f64, f64)> = trained
            .iter()
            .filter(|(r, _)| r.intermittent_latency_s.is_none())
            .map(|(_, q)| (strip, *q))
            .collect();
        chart
            .draw_series(
                unsafe_pts
                    .iter()
                    .map(|&p| Cross::new(p, 5, RED.stroke_width(2))),
            )?
            .label("trained, cannot run intermittently")
            .legend(|(x, y)| Cross::new((x + 8, y), 5, RED.stroke_width(2)));
        let mut front_pts: Vec<(f64, f64)> = front
            .iter()
            .filter_map(|t| {
                let (r, q) = trained.iter().find(|(r, _)| r.trial == *t)?;
                Some((r.intermittent_latency_s?, *q))
            })
            .collect();
        front_pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(front_pts, BLACK.stroke_width(2)))?
            .label("Pareto front")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.stroke_width(2)));
        if let Some(b) = best(records) {
            if let (Some(l), Some((_, q))) = (b.intermittent_latency_s, b.trained()) {
                chart
                    .draw_series([TriangleMarker::new((l, q * 100.0), 8, GREEN.filled())])?
                    .label(format!("best: trial {}", b.trial))
                    .legend(|(x, y)| TriangleMarker::new((x + 8, y), 6, GREEN.filled()));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::tests::record;

    /// As an `hwnas` search leaves them: trial 1 is slow and 4 unsafe under intermittent power.
    fn sample() -> Vec<TrialRecord> {
        let mut slow = record(1, Some(0.95), Some(5.0), false);
        slow.intermittent_latency_s = Some(50.0);
        let mut unsafe_trained = record(4, Some(0.85), Some(2.0), false);
        unsafe_trained.intermittent_latency_s = None;
        vec![
            record(0, Some(0.80), Some(3.0), true),
            slow,
            record(2, Some(0.90), Some(9.0), true),
            record(3, Some(0.90), Some(4.0), true),
            unsafe_trained,
            record(5, None, None, false),
            record(6, Some(0.70), Some(5.0), true),
        ]
    }

    #[test]
    fn front_keeps_only_undominated_trials() {
        // 1 (most accurate), 3 (beats 2 on latency), 0 (fastest); 6 is dominated by 0 and 3.
        assert_eq!(pareto_front(&sample()), [1, 3, 0]);
    }

    #[test]
    fn summary_counts_and_shares() {
        let s = Summary::of(&sample());
        assert_eq!((s.trials, s.trained, s.infeasible), (7, 6, 1));
        assert_eq!(s.within_requirement, 4);
        assert_eq!(s.best.as_ref().map(|b| b.trial), Some(1));
        let share = s.time.explore_s / s.time.total_s;
        assert!((s.time.explore_share - share).abs() < 1e-12 && share > 0.0);
    }

    #[test]
    fn reports_are_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("trials")).unwrap();
        std::fs::write(dir.path().join("trials/1.plan"), b"p1").unwrap();
        write_reports(dir.path(), &sample(), Some(30.0), None).unwrap();
        assert_eq!(std::fs::read(dir.path().join("best.plan")).unwrap(), b"p1");
        let csv = std::fs::read_to_string(dir.path().join("trials.csv")).unwrap();
        assert_eq!(csv.lines().count(), 8);
        assert!(csv.lines().nth(6).unwrap().starts_with("5,arch5,"));
        let svg = std::fs::read_to_string(dir.path().join("pareto.svg")).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("best: trial 1"),
            "{svg:.200}"
        );
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(summary["best"]["trial"], 1);
        assert_eq!(summary["pareto"], serde_json::json!([1, 3, 0]));
    }

    #[test]
    fn a_missing_best_plan_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_reports(dir.path(), &sample(), None, None).unwrap_err();
        assert!(format!("{e:#}").contains("trials/1.plan"), "{e:#}");
    }
}
