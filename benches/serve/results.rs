//! The numbers: per workload, each contestant's value of each metric in each round, and
//! the medians (or means, or maxima) and ratios to the baseline (tokio-raw in the main
//! race, `axum::serve` in the HTTP race) the tables and charts show.

use crate::contestants::{AXUM_SERVE, TOKIO_RAW};
use crate::measure::median;

/// One column of a workload's table.
pub struct Metric {
    /// Its name in the JSON.
    pub key: &'static str,
    /// Its column heading.
    pub label: &'static str,
    pub higher_is_better: bool,
    /// Whether to show its ratio to the baseline.
    pub ratio: bool,
    /// How the rounds are summed up.
    pub summary: Summary,
}

/// How a metric's rounds become one figure.
#[derive(Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Summary {
    Median,
    /// For rounds that sample on purpose (the recovery's phases), the expected value.
    Mean,
    Max,
}

/// A [`Metric`], briefly, summed up by its median.
pub const fn m(key: &'static str, label: &'static str, higher: bool, ratio: bool) -> Metric {
    Metric { key, label, higher_is_better: higher, ratio, summary: Summary::Median }
}

impl Metric {
    /// The same metric summed up by `summary`.
    pub const fn by(self, summary: Summary) -> Metric {
        Metric { summary, ..self }
    }
}

/// One contestant's results in one workload.
pub struct Row {
    pub contestant: String,
    /// Per metric, the value of each round.
    pub rounds: Vec<Vec<f64>>,
}

/// Per contestant label, the metrics of each round, as the load generators return them.
pub type Rounds = Vec<(String, Vec<Vec<f64>>)>;

/// One workload's table.
pub struct Workload {
    pub key: &'static str,
    pub title: &'static str,
    pub metrics: &'static [Metric],
    pub rows: Vec<Row>,
    /// The contestant whose figures the ratios divide by.
    pub baseline: &'static str,
}

impl Workload {
    /// Regroups `results` from per round to per metric; a metric a round lacks is NaN.
    pub fn new(
        key: &'static str,
        title: &'static str,
        metrics: &'static [Metric],
        results: &Rounds,
        baseline: &'static str,
    ) -> Self {
        let rows = results
            .iter()
            .map(|(label, per_round)| Row {
                contestant: label.clone(),
                rounds: (0..metrics.len())
                    .map(|i| {
                        per_round.iter().map(|v| v.get(i).copied().unwrap_or(f64::NAN)).collect()
                    })
                    .collect(),
            })
            .collect();
        Workload { key, title, metrics, rows, baseline }
    }

    /// The row's figure for `metric`: the median of its rounds, or what the metric asks.
    pub fn value(&self, row: &Row, metric: usize) -> f64 {
        let rounds = &row.rounds[metric];
        let finite = || rounds.iter().copied().filter(|v| !v.is_nan());
        match self.metrics[metric].summary {
            Summary::Median => median(rounds),
            Summary::Mean => {
                let n = finite().count();
                if n == 0 {
                    f64::NAN
                } else {
                    finite().sum::<f64>() / n as f64
                }
            }
            Summary::Max => finite().fold(f64::NAN, f64::max),
        }
    }

    /// The baseline's figure for `metric`, if it ran and it is finite and not zero.
    fn base(&self, metric: usize) -> Option<f64> {
        let row = self.rows.iter().find(|r| r.contestant == self.baseline)?;
        let v = self.value(row, metric);
        (v.is_finite() && v != 0.0).then_some(v)
    }

    /// The row's figure for `metric` over the baseline's.
    pub fn ratio(&self, row: &Row, metric: usize) -> Option<f64> {
        let v = self.value(row, metric);
        self.base(metric).filter(|_| v.is_finite()).map(|b| v / b)
    }

    /// The heading of the ratio columns.
    pub fn ratio_heading(&self) -> String {
        match self.baseline {
            TOKIO_RAW => "× raw".into(),
            AXUM_SERVE => "× axum".into(),
            other => format!("× {other}"),
        }
    }
}

/// A value with three significant digits or thousands separators; `n/a` for NaN and
/// `timeout` for infinity.
pub fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v.is_infinite() {
        "timeout".into()
    } else if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v);
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        format!("{sign}{out}")
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
