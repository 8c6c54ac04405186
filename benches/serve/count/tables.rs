//! The count's tables: every contestant's figures against tokio-raw's; what each layer
//! adds to the tcp-serve stack; the HTTP contestants against `axum::serve`; syscalls by
//! kind. Each is lines of cells, the first the header (see [`crate::report::table`]).

use std::collections::BTreeMap;

use super::report::Counted;
use crate::contestants::{Kind, AXUM_SERVE, TOKIO_RAW};
use crate::results::fmt_value;

/// The contestant the layer contestants add to: tcp-serve with `examples/echo.rs`'s echo.
pub const LAYER_BASE: &str = "tcp-serve";

/// Syscalls rarer than this per operation in every contestant are left out of the tables
/// (the JSON has them all).
const RARE: f64 = 0.01;

pub const HEADINGS: [&str; 5] = [
    "instructions/conn",
    "instructions/round trip",
    "syscalls/conn",
    "syscalls/round trip",
    "idle bytes/conn",
];

/// The tables with their titles, in the order of the report.
pub fn all(counted: &[Counted]) -> Vec<(&'static str, Vec<Vec<String>>)> {
    vec![
        (
            "Per operation (user-space instructions: callgrind; syscalls: strace -f -c; \
             idle: RSS); a round trip of the HTTP contestants is one GET on a keep-alive \
             connection",
            ratios(counted, TOKIO_RAW, "× raw", |_| true),
        ),
        (
            "What each layer costs: its contestant less tcp-serve's (the same echo, one \
             layer added)",
            layer_costs(counted),
        ),
        (
            "HTTP: the same axum Router behind each server, per connection (connect, one GET, \
             close) and per request (one more GET on a keep-alive connection)",
            ratios(counted, AXUM_SERVE, "× axum", |c| is_http(c.kind)),
        ),
        ("Syscalls per connection, by kind", syscalls(counted, |c| &c.syscalls_per_conn)),
        (
            "Syscalls per round trip (HTTP: per request), by kind",
            syscalls(counted, |c| &c.syscalls_per_round_trip),
        ),
    ]
}

fn is_http(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::AxumServe | Kind::TcpServeHttp | Kind::TcpServeHttpUntimed | Kind::HyperUtil
    )
}

/// The figures of the contestants `keep` selects, each with its ratio to `baseline`'s.
fn ratios(
    counted: &[Counted],
    baseline: &str,
    heading: &str,
    keep: fn(&Counted) -> bool,
) -> Vec<Vec<String>> {
    let base = counted.iter().find(|c| c.contestant == baseline).map(Counted::headline);
    let mut header = vec!["contestant".to_string()];
    for h in HEADINGS {
        header.extend([h.to_string(), heading.to_string()]);
    }
    let mut lines = vec![header];
    for c in counted.iter().filter(|c| keep(c)) {
        let mut cells = vec![c.contestant.clone()];
        for (i, v) in c.headline().into_iter().enumerate() {
            let ratio = base.map(|b| v / b[i]).filter(|r| r.is_finite());
            cells.extend([fmt_value(v), ratio.map_or("n/a".into(), |r| format!("{r:.3}"))]);
        }
        lines.push(cells);
    }
    lines
}

/// Each layer contestant's figures less [`LAYER_BASE`]'s, and the difference relative
/// to it.
fn layer_costs(counted: &[Counted]) -> Vec<Vec<String>> {
    let mut header = vec!["contestant".to_string(), "adds".to_string()];
    header.extend(HEADINGS.iter().map(|h| format!("+{h}")));
    let mut lines = vec![header];
    let Some(base) = counted.iter().find(|c| c.contestant == LAYER_BASE) else { return lines };
    let base = base.headline();
    for c in counted {
        let adds = match c.kind {
            Kind::TcpServeWith(layer) => layer.describe(),
            Kind::TcpServeTraced => "a tracing-subscriber `fmt` subscriber at INFO, to a sink",
            Kind::TcpServeHttp => "`Http::new(router)`: a GET and its response for the echo",
            _ => continue,
        };
        let mut cells = vec![c.contestant.clone(), adds.to_string()];
        for (v, b) in c.headline().into_iter().zip(base) {
            cells.push(difference(v - b, b));
        }
        lines.push(cells);
    }
    lines
}

/// `+1,234 (+5.6%)`; syscalls (small numbers) with two decimals.
fn difference(d: f64, base: f64) -> String {
    if d.is_nan() {
        return "n/a".into();
    }
    let value = if d.abs() < 100.0 { format!("{d:+.2}") } else { signed(d) };
    let percent = 100.0 * d / base;
    if percent.is_finite() {
        format!("{value} ({percent:+.1}%)")
    } else {
        value
    }
}

fn signed(v: f64) -> String {
    if v < 0.0 {
        fmt_value(v)
    } else {
        format!("+{}", fmt_value(v))
    }
}

/// Calls per operation by syscall: one line per contestant, one column per syscall, the
/// most frequent first.
fn syscalls(counted: &[Counted], per: fn(&Counted) -> &BTreeMap<String, f64>) -> Vec<Vec<String>> {
    let mut names: Vec<(&String, f64)> = Vec::new();
    for c in counted {
        for (name, &n) in per(c) {
            match names.iter_mut().find(|(known, _)| *known == name) {
                Some((_, most)) => *most = most.max(n.abs()),
                None => names.push((name, n.abs())),
            }
        }
    }
    names.retain(|(_, most)| *most >= RARE);
    names.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let mut header = vec!["contestant".to_string()];
    header.extend(names.iter().map(|(name, _)| name.to_string()));
    header.push("all".into());
    let mut lines = vec![header];
    for c in counted {
        let mut cells = vec![c.contestant.clone()];
        cells.extend(
            names.iter().map(|(name, _)| per(c).get(*name).map_or("0".into(), |&n| calls(n))),
        );
        cells.push(calls(total(per(c))));
        lines.push(cells);
    }
    lines
}

/// Calls per operation with two decimals; what is left of a rare call is shown as 0.
fn calls(n: f64) -> String {
    if n.is_nan() {
        "n/a".into()
    } else if n.abs() < 0.005 {
        "0".into()
    } else {
        format!("{n:.2}")
    }
}

/// Every call, NaN if not counted.
pub fn total(calls: &BTreeMap<String, f64>) -> f64 {
    if calls.is_empty() {
        f64::NAN
    } else {
        calls.values().sum()
    }
}
