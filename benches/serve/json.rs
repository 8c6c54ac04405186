//! `target/bench/serve.json`: the machine, the settings, and every round of every metric.

use std::fmt::Write as _;

use crate::measure::Machine;
use crate::results::Workload;
use crate::settings::Cfg;

/// The whole run as JSON.
pub fn all(workloads: &[Workload], machine: &Machine, cfg: &Cfg, elapsed: f64) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(
        out,
        "  \"machine\": {{\"nproc\": {}, \"cpu\": {}, \"kernel\": {}, \"loadavg_start\": {}, \
         \"loadavg_end\": {}}},",
        machine.nproc,
        string(&machine.cpu),
        string(&machine.kernel),
        string(&machine.load_start),
        string(&machine.load_end)
    );
    let _ = writeln!(
        out,
        "  \"config\": {{\"seconds\": {}, \"rounds\": {}, \"idle\": {}, \"storm\": {}, \
         \"storm_rounds\": {}, \"elapsed_s\": {:.1}}},",
        cfg.seconds, cfg.rounds, cfg.idle, cfg.storm, cfg.storm_rounds, elapsed
    );
    out.push_str("  \"workloads\": [\n");
    for (wi, w) in workloads.iter().enumerate() {
        let _ = writeln!(
            out,
            "    {{\"key\": {}, \"title\": {}, \"results\": [",
            string(w.key),
            string(w.title)
        );
        let mut items = Vec::new();
        for row in &w.rows {
            for (i, metric) in w.metrics.iter().enumerate() {
                let rounds: Vec<String> = row.rounds[i].iter().map(|&v| number(v)).collect();
                items.push(format!(
                    "      {{\"contestant\": {}, \"metric\": {}, \"label\": {}, \
                     \"higher_is_better\": {}, \"median\": {}, \"ratio_to_tokio_raw\": {}, \
                     \"rounds\": [{}]}}",
                    string(&row.contestant),
                    string(metric.key),
                    string(metric.label),
                    metric.higher_is_better,
                    number(w.median(row, i)),
                    w.ratio(row, i).map_or("null".into(), number),
                    rounds.join(", ")
                ));
            }
        }
        out.push_str(&items.join(",\n"));
        let _ = write!(out, "\n    ]}}{}\n", if wi + 1 < workloads.len() { "," } else { "" });
    }
    out.push_str("  ]\n}\n");
    out
}

/// A finite number, or `null` (JSON has no NaN or infinity).
fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
