//! The numbers: per workload, each contestant's value of each metric in each round, and
//! the medians and ratios to tokio-raw the tables and chart show.

use crate::measure::median;

/// One column of a workload's table.
pub struct Metric {
    /// Its name in the JSON.
    pub key: &'static str,
    /// Its column heading.
    pub label: &'static str,
    pub higher_is_better: bool,
    /// Whether to show its ratio to tokio-raw.
    pub ratio: bool,
}

/// A [`Metric`], briefly.
pub const fn m(key: &'static str, label: &'static str, higher: bool, ratio: bool) -> Metric {
    Metric { key, label, higher_is_better: higher, ratio }
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
}

impl Workload {
    /// Regroups `results` from per round to per metric; a metric a round lacks is NaN.
    pub fn new(
        key: &'static str,
        title: &'static str,
        metrics: &'static [Metric],
        results: &Rounds,
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
        Workload { key, title, metrics, rows }
    }

    /// The row's median of `metric` over its rounds.
    pub fn median(&self, row: &Row, metric: usize) -> f64 {
        median(&row.rounds[metric])
    }

    /// tokio-raw's median of `metric`, if it ran and is finite and not zero.
    fn baseline(&self, metric: usize) -> Option<f64> {
        let row = self.rows.iter().find(|r| r.contestant == "tokio-raw")?;
        let v = self.median(row, metric);
        (v.is_finite() && v != 0.0).then_some(v)
    }

    /// The row's median of `metric` over tokio-raw's.
    pub fn ratio(&self, row: &Row, metric: usize) -> Option<f64> {
        let v = self.median(row, metric);
        self.baseline(metric).filter(|_| v.is_finite()).map(|b| v / b)
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
