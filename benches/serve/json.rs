//! `target/bench/serve.json` and `http.json`: the machine, the settings, and every round
//! of every metric.

use serde::Serialize;

use crate::measure::Machine;
use crate::results::{Summary, Workload};

#[derive(Serialize)]
struct Run<'a, C: Serialize> {
    machine: &'a Machine,
    config: Config<'a, C>,
    workloads: Vec<WorkloadJson<'a>>,
}

#[derive(Serialize)]
struct Config<'a, C: Serialize> {
    #[serde(flatten)]
    cfg: &'a C,
    elapsed_s: f64,
}

#[derive(Serialize)]
struct WorkloadJson<'a> {
    key: &'a str,
    title: &'a str,
    /// The contestant the ratios divide by.
    baseline: &'a str,
    results: Vec<MetricJson<'a>>,
}

/// One contestant's value of one metric. serde_json writes NaN and infinity as `null`.
#[derive(Serialize)]
struct MetricJson<'a> {
    contestant: &'a str,
    metric: &'a str,
    label: &'a str,
    higher_is_better: bool,
    /// How `value` sums up the rounds.
    summary: Summary,
    value: f64,
    ratio_to_baseline: Option<f64>,
    rounds: &'a [f64],
}

/// The whole run as JSON.
pub fn all<C: Serialize>(
    workloads: &[Workload],
    machine: &Machine,
    cfg: &C,
    elapsed: f64,
) -> String {
    let workloads = workloads
        .iter()
        .map(|w| WorkloadJson {
            key: w.key,
            title: w.title,
            baseline: w.baseline,
            results: w
                .rows
                .iter()
                .flat_map(|row| {
                    w.metrics.iter().enumerate().map(move |(i, metric)| MetricJson {
                        contestant: &row.contestant,
                        metric: metric.key,
                        label: metric.label,
                        higher_is_better: metric.higher_is_better,
                        summary: metric.summary,
                        value: w.value(row, i),
                        ratio_to_baseline: w.ratio(row, i),
                        rounds: &row.rounds[i],
                    })
                })
                .collect(),
        })
        .collect();
    let run = Run { machine, config: Config { cfg, elapsed_s: elapsed }, workloads };
    serde_json::to_string_pretty(&run).expect("plain data serialises")
}
