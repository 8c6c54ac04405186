//! The tables, on the terminal and in markdown, and where the results are written:
//! `target/bench/<name>.{json,md,svg}` always, `BENCHMARKS.md`'s generated block and
//! `benches/results/<name>.svg` when the run publishes (`serve` for the main race, `http`
//! for the HTTP race).

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::measure::Machine;
use crate::results::{fmt_value, Workload};
use crate::{chart, json};

/// Where a race's results go, and what its report says about how it ran.
pub struct Output<'a, C: Serialize> {
    /// The file name of its JSON, markdown and chart.
    pub name: &'static str,
    /// Its generated block in `BENCHMARKS.md`.
    pub block: &'static str,
    /// The command that publishes it.
    pub command: &'static str,
    /// Its settings, for the JSON.
    pub cfg: &'a C,
    /// Its settings in words, after the command.
    pub settings: String,
    pub chart: &'static chart::Spec,
}

/// Prints every workload's table on stdout.
pub fn print(workloads: &[Workload]) {
    println!();
    for w in workloads {
        println!("{}", w.title);
        print!("{}", table(&workload_lines(w), false));
        println!();
    }
    println!(
        "(medians of interleaved rounds unless a heading says otherwise; × = ratio to the \
         baseline's)"
    );
}

/// Writes the results under `target/bench/`, and publishes them if asked.
pub fn save<C: Serialize>(
    out: &Output<'_, C>,
    workloads: &[Workload],
    machine: &Machine,
    elapsed: f64,
    publish: bool,
) {
    // This crate is `benches/` of the workspace whose root holds `target/` and `BENCHMARKS.md`.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("benches/ has a parent");
    let out_dir: PathBuf = root.join("target").join("bench");
    let md = markdown(workloads, machine, out, elapsed);
    let svg = chart::chart(workloads, out.chart);
    let name = out.name;
    let written = std::fs::create_dir_all(&out_dir)
        .and_then(|()| {
            let json = json::all(workloads, machine, out.cfg, elapsed);
            std::fs::write(out_dir.join(format!("{name}.json")), json)
        })
        .and_then(|()| std::fs::write(out_dir.join(format!("{name}.md")), &md))
        .and_then(|()| std::fs::write(out_dir.join(format!("{name}.svg")), &svg));
    if let Err(e) = written {
        eprintln!("could not write {}: {e}", out_dir.display());
    }
    println!("wrote {}/{name}.{{json,md,svg}}", out_dir.display());
    if !publish {
        println!("settings overridden: BENCHMARKS.md and benches/results/ left alone");
        return;
    }
    let results = root.join("benches").join("results");
    match std::fs::create_dir_all(&results)
        .and_then(|()| std::fs::write(results.join(format!("{name}.svg")), &svg))
        .and_then(|()| rewrite_block(root, out.block, out.command, &md))
    {
        Ok(()) => println!("wrote benches/results/{name}.svg and BENCHMARKS.md"),
        Err(e) => eprintln!("could not publish: {e}"),
    }
}

/// Replaces the generated block `name` of `BENCHMARKS.md` (between
/// `<!-- name:begin … -->` and `<!-- name:end -->`), keeping the hand-written text around
/// it; a block not there yet goes before "## What was found".
pub fn rewrite_block(root: &Path, name: &str, command: &str, generated: &str) -> io::Result<()> {
    let path = root.join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let (begin, end) = (format!("<!-- {name}:begin"), format!("<!-- {name}:end -->"));
    let block = format!("{begin} (written by `{command}`) -->\n{generated}{end}");
    let text = match (existing.find(&begin), existing.find(&end)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{block}{}", &existing[..b], &existing[e + end.len()..])
        }
        _ => match existing.find(FOUND) {
            Some(at) => format!("{}{block}\n\n{}", &existing[..at], &existing[at..]),
            None if existing.is_empty() => format!("# Benchmarks\n\n{block}\n"),
            None => format!("{existing}\n{block}\n"),
        },
    };
    std::fs::write(path, text)
}

/// The heading of `BENCHMARKS.md`'s hand-written findings.
const FOUND: &str = "## What was found";

/// The command, the machine and every table, in markdown.
fn markdown<C: Serialize>(
    workloads: &[Workload],
    machine: &Machine,
    out: &Output<'_, C>,
    elapsed: f64,
) -> String {
    let mut s = String::new();
    let _ =
        writeln!(s, "Command: `{}` ({}; whole run {elapsed:.0} s).\n", out.command, out.settings);
    let _ = writeln!(
        s,
        "Machine: {} CPUs ({}), Linux {}; load average {} at the start, {} at the end.\n",
        machine.nproc, machine.cpu, machine.kernel, machine.load_start, machine.load_end
    );
    for w in workloads {
        let _ = writeln!(s, "### {}\n", w.title);
        s.push_str(&table(&workload_lines(w), true));
        s.push('\n');
    }
    s
}

/// A workload's figures, with their ratio to the baseline's where the metric has one: a
/// header line, then one line per contestant.
fn workload_lines(w: &Workload) -> Vec<Vec<String>> {
    let mut header = vec!["contestant".to_string()];
    for metric in w.metrics {
        header.push(metric.label.to_string());
        if metric.ratio {
            header.push(w.ratio_heading());
        }
    }
    let mut lines = vec![header];
    for row in &w.rows {
        let mut cells = vec![row.contestant.clone()];
        for (i, metric) in w.metrics.iter().enumerate() {
            cells.push(fmt_value(w.value(row, i)));
            if metric.ratio {
                cells.push(w.ratio(row, i).map_or("n/a".into(), |r| format!("{r:.3}")));
            }
        }
        lines.push(cells);
    }
    lines
}

/// Lines of cells, the first a header, as a markdown table or as columns aligned for the
/// terminal (the first left, the rest right).
pub fn table(lines: &[Vec<String>], markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        for (i, cells) in lines.iter().enumerate() {
            let _ = writeln!(out, "| {} |", cells.join(" | "));
            if i == 0 {
                let rule: String =
                    (0..cells.len()).map(|j| if j == 0 { "---|" } else { "---:|" }).collect();
                let _ = writeln!(out, "|{rule}");
            }
        }
    } else {
        let widths: Vec<usize> = (0..lines.first().map_or(0, Vec::len))
            .map(|j| lines.iter().map(|l| l[j].chars().count()).max().unwrap_or(0))
            .collect();
        for cells in lines {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(j, (c, &w))| if j == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
                .collect();
            let _ = writeln!(out, "  {}", line.join("  "));
        }
    }
    out
}
