//! The tables, on the terminal and in markdown, and where the results are written:
//! `target/bench/serve.{json,md,svg}` always, `BENCHMARKS.md`'s generated block and
//! `benches/results/serve.svg` when the run publishes.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use crate::measure::Machine;
use crate::results::{fmt_value, Workload};
use crate::settings::Cfg;
use crate::{json, svg};

const BEGIN: &str = "<!-- bench:begin (written by `cargo bench --bench serve`) -->";
const END: &str = "<!-- bench:end -->";

/// Prints every workload's table on stdout.
pub fn print(workloads: &[Workload]) {
    println!();
    for w in workloads {
        println!("{}", w.title);
        print!("{}", table(w, false));
        println!();
    }
    println!("(medians of interleaved rounds; × raw = ratio to tokio-raw's median)");
}

/// Writes the results under `target/bench/`, and publishes them if asked.
pub fn save(workloads: &[Workload], machine: &Machine, cfg: &Cfg, elapsed: f64, publish: bool) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir: PathBuf = root.join("target").join("bench");
    let md = markdown(workloads, machine, cfg, elapsed);
    let svg = svg::chart(workloads);
    let written = std::fs::create_dir_all(&out_dir)
        .and_then(|()| {
            std::fs::write(out_dir.join("serve.json"), json::all(workloads, machine, cfg, elapsed))
        })
        .and_then(|()| std::fs::write(out_dir.join("serve.md"), &md))
        .and_then(|()| std::fs::write(out_dir.join("serve.svg"), &svg));
    if let Err(e) = written {
        eprintln!("could not write {}: {e}", out_dir.display());
    }
    println!("wrote {}/serve.{{json,md,svg}}", out_dir.display());
    if !publish {
        println!("settings overridden: BENCHMARKS.md and benches/results/ left alone");
        return;
    }
    let results = root.join("benches").join("results");
    match std::fs::create_dir_all(&results)
        .and_then(|()| std::fs::write(results.join("serve.svg"), &svg))
        .and_then(|()| rewrite_benchmarks_md(root, &md))
    {
        Ok(()) => println!("wrote benches/results/serve.svg and BENCHMARKS.md"),
        Err(e) => eprintln!("could not publish: {e}"),
    }
}

/// Replaces the generated block of `BENCHMARKS.md`, keeping the hand-written text around it.
fn rewrite_benchmarks_md(root: &Path, generated: &str) -> io::Result<()> {
    let path = root.join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let block = format!("{BEGIN}\n{generated}{END}");
    let text = match (existing.find(BEGIN), existing.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{block}{}", &existing[..b], &existing[e + END.len()..])
        }
        _ => format!(
            "# Benchmarks\n\n![](benches/results/serve.svg)\n\n{block}\n\n## What was found\n\n"
        ),
    };
    std::fs::write(path, text)
}

/// The command, the machine and every table, in markdown.
fn markdown(workloads: &[Workload], machine: &Machine, cfg: &Cfg, elapsed: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Command: `cargo bench --bench serve` ({} rounds × {} s per timed workload, {} idle \
         connections, a storm of {} × {} rounds; whole run {:.0} s).\n",
        cfg.rounds, cfg.seconds, cfg.idle, cfg.storm, cfg.storm_rounds, elapsed
    );
    let _ = writeln!(
        s,
        "Machine: {} CPUs ({}), Linux {}; load average {} at the start, {} at the end.\n",
        machine.nproc, machine.cpu, machine.kernel, machine.load_start, machine.load_end
    );
    for w in workloads {
        let _ = writeln!(s, "### {}\n", w.title);
        s.push_str(&table(w, true));
        s.push('\n');
    }
    s
}

/// A workload's medians, with their ratio to tokio-raw where the metric has one: a
/// markdown table, or columns aligned for the terminal.
fn table(w: &Workload, markdown: bool) -> String {
    let mut header = vec!["contestant".to_string()];
    for metric in w.metrics {
        header.push(metric.label.to_string());
        if metric.ratio {
            header.push("× raw".to_string());
        }
    }
    let mut lines = vec![header];
    for row in &w.rows {
        let mut cells = vec![row.contestant.clone()];
        for (i, metric) in w.metrics.iter().enumerate() {
            cells.push(fmt_value(w.median(row, i)));
            if metric.ratio {
                cells.push(w.ratio(row, i).map_or("n/a".into(), |r| format!("{r:.3}")));
            }
        }
        lines.push(cells);
    }
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
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|j| lines.iter().map(|l| l[j].chars().count()).max().unwrap_or(0))
            .collect();
        for cells in &lines {
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
