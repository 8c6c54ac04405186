//! `target/bench/serve.json`: the machine, the settings, and every round of every metric.

use serde::Serialize;

use crate::measure::Machine;
use crate::results::Workload;
use crate::settings::Cfg;

#[derive(Serialize)]
struct Run<'a> {
    machine: &'a Machine,
    config: Config<'a>,
    workloads: Vec<WorkloadJson<'a>>,
}

#[derive(Serialize)]
struct Config<'a> {
    #[serde(flatten)]
    cfg: &'a Cfg,
    elapsed_s: f64,
}

#[derive(Serialize)]
struct WorkloadJson<'a> {
    key: &'a str,
    title: &'a str,
    results: Vec<MetricJson<'a>>,
}

/// One contestant's value of one metric. serde_json writes NaN and infinity as `null`.
#[derive(Serialize)]
struct MetricJson<'a> {
    contestant: &'a str,
    metric: &'a str,
    label: &'a str,
    higher_is_better: bool,
    median: f64,
    ratio_to_tokio_raw: Option<f64>,
    rounds: &'a [f64],
}

/// The whole run as JSON.
pub fn all(workloads: &[Workload], machine: &Machine, cfg: &Cfg, elapsed: f64) -> String {
    let workloads = workloads
        .iter()
        .map(|w| WorkloadJson {
            key: w.key,
            title: w.title,
            results: w
                .rows
                .iter()
                .flat_map(|row| {
                    w.metrics.iter().enumerate().map(move |(i, metric)| MetricJson {
                        contestant: &row.contestant,
                        metric: metric.key,
                        label: metric.label,
                        higher_is_better: metric.higher_is_better,
                        median: w.median(row, i),
                        ratio_to_tokio_raw: w.ratio(row, i),
                        rounds: &row.rounds[i],
                    })
                })
                .collect(),
        })
        .collect();
    let run = Run { machine, config: Config { cfg, elapsed_s: elapsed }, workloads };
    serde_json::to_string_pretty(&run).expect("plain data serialises")
}
