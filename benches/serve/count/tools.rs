//! The two counters the server child runs under, and how their reports are read:
//! callgrind's total of user-space instructions (`Ir`) and strace's calls per syscall.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// A tool that wraps the server child and writes a report when the child exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `valgrind --tool=callgrind`: every user-space instruction the child executes, all
    /// threads together (perf's hardware counters are not available here).
    Callgrind,
    /// `strace -f -c`: every syscall of every thread, counted by name.
    Strace,
}

/// What a tool's report says about one run.
#[derive(Clone, Debug)]
pub enum Report {
    /// Instructions executed (`Ir`).
    Instructions(f64),
    /// Calls per syscall name (failed calls included).
    Syscalls(BTreeMap<String, f64>),
}

impl Tool {
    /// The wrapper command that writes its report to `out`.
    pub fn wrapper(self, out: &Path) -> Vec<String> {
        let out = out.display();
        let words: Vec<String> = match self {
            Tool::Callgrind => {
                vec![
                    "valgrind".into(),
                    "-q".into(),
                    "--tool=callgrind".into(),
                    format!("--callgrind-out-file={out}"),
                ]
            }
            Tool::Strace => {
                vec!["strace".into(), "-f".into(), "-c".into(), "-o".into(), out.to_string()]
            }
        };
        words
    }

    /// The report's file name for a run.
    pub fn file_name(self, run: &str) -> PathBuf {
        match self {
            Tool::Callgrind => PathBuf::from(format!("callgrind.out.{run}")),
            Tool::Strace => PathBuf::from(format!("strace-c.{run}.txt")),
        }
    }

    /// Whether the tool is installed.
    pub fn available(self) -> bool {
        let (program, flag) = match self {
            Tool::Callgrind => ("valgrind", "--version"),
            Tool::Strace => ("strace", "-V"),
        };
        std::process::Command::new(program).arg(flag).output().is_ok_and(|out| out.status.success())
    }

    /// Reads the report the tool wrote to `out`.
    pub fn read(self, out: &Path) -> io::Result<Report> {
        let text = std::fs::read_to_string(out)?;
        let bad = || io::Error::other(format!("{}: not a {self:?} report", out.display()));
        match self {
            Tool::Callgrind => callgrind_total(&text).map(Report::Instructions).ok_or_else(bad),
            Tool::Strace => Some(strace_calls(&text))
                .filter(|calls| !calls.is_empty())
                .map(Report::Syscalls)
                .ok_or_else(bad),
        }
    }
}

/// The first event (`Ir`) of callgrind's `summary:` line, or of `totals:` if it has none.
fn callgrind_total(text: &str) -> Option<f64> {
    let first_number = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    first_number("summary:").or_else(|| first_number("totals:"))
}

/// The `calls` column of `strace -c`'s table, per syscall:
/// `% time  seconds  usecs/call  calls  [errors]  syscall`, between two rules of dashes,
/// the `total` line left out.
fn strace_calls(text: &str) -> BTreeMap<String, f64> {
    let mut calls = BTreeMap::new();
    let rows = text.lines().skip_while(|l| !l.starts_with("------")).skip(1);
    for line in rows.take_while(|l| !l.starts_with("------")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let (Some(name), Some(n)) = (words.last(), words.get(3)) {
            if let Ok(n) = n.parse::<f64>() {
                calls.insert((*name).to_string(), n);
            }
        }
    }
    calls
}
