//! Who races: tokio-raw, tcp-serve and actix-server, the variants of them that the
//! diagnostic (`BENCH_EXTRA=1`) and accept-storm runs add, and who is counted
//! (`BENCH_COUNT=1`).
//!
//! A contestant crosses into its server child as a short spec string in `BENCH_CHILD`.

use crate::settings;

/// Which server a contestant runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `TcpListener::accept` + `tokio::spawn` + [`echo`](crate::servers::echo).
    TokioRaw,
    /// tcp-serve serving the plain [`echo`](crate::servers::echo) (`tcp-serve` in the
    /// main race, `tcp-serve-plain` in the count).
    TcpServe,
    /// tcp-serve serving the echo `examples/echo.rs` ships: `tokio::io::split`, and a
    /// `select!` on `ShutdownSignal::requested()` around each read.
    TcpServeDrainAware,
    /// [`TcpServeDrainAware`](Kind::TcpServeDrainAware) under a tracing-subscriber `fmt`
    /// subscriber at INFO writing to `io::sink`.
    TcpServeTraced,
    /// actix-server, one worker, serving [`echo`](crate::servers::echo).
    Actix,
}

impl Kind {
    const NAMES: [(Kind, &'static str); 5] = [
        (Kind::TokioRaw, "raw"),
        (Kind::TcpServe, "tcp-serve"),
        (Kind::TcpServeDrainAware, "tcp-serve-drain-aware"),
        (Kind::TcpServeTraced, "tcp-serve-traced"),
        (Kind::Actix, "actix"),
    ];
}

/// The main race's echo buffer, as in the published tables.
pub const MAIN_BUF: usize = 8 * 1024;
/// The count's echo buffer: `examples/common`'s echo uses 16 KiB, so every contestant does.
pub const COUNT_BUF: usize = 16 * 1024;

/// One server configuration in the race; its label names it in every table.
#[derive(Clone, Debug)]
pub struct Contestant {
    pub label: String,
    pub kind: Kind,
    /// The echo's read buffer in bytes.
    pub buf: usize,
    /// tcp-serve's `max_accepts_per_batch`; `None` keeps tcp-serve's default (1).
    pub batch: Option<usize>,
    /// The listen backlog; `None` keeps the server's own (tcp-serve 64, tokio's `bind` 128;
    /// actix always gets 2048, its default).
    pub backlog: Option<usize>,
    /// `TCP_NODELAY` on accepted sockets; `None` keeps the server's own default (on for
    /// tcp-serve, off for tokio-raw and actix-server).
    pub nodelay: Option<bool>,
}

impl Contestant {
    /// A contestant with its server's defaults and the main race's buffer.
    pub fn new(label: &str, kind: Kind) -> Self {
        Contestant {
            label: label.to_string(),
            kind,
            buf: MAIN_BUF,
            batch: None,
            backlog: None,
            nodelay: None,
        }
    }

    /// `kind:buf:batch:backlog:nodelay`, for the child; 0 and `-` stand for "the default".
    pub fn spec(&self) -> String {
        let kind = Kind::NAMES.iter().find(|(k, _)| *k == self.kind).map_or("?", |(_, n)| n);
        let nodelay = match self.nodelay {
            None => "-",
            Some(true) => "1",
            Some(false) => "0",
        };
        let (batch, backlog) = (self.batch.unwrap_or(0), self.backlog.unwrap_or(0));
        format!("{kind}:{}:{batch}:{backlog}:{nodelay}", self.buf)
    }

    /// Reads a [`spec`](Self::spec); the label becomes the spec itself.
    pub fn from_spec(spec: &str) -> Self {
        let mut parts = spec.split(':');
        let name = parts.next();
        let kind = Kind::NAMES
            .iter()
            .find(|(_, n)| Some(*n) == name)
            .map_or_else(|| panic!("unknown contestant {name:?}"), |(k, _)| *k);
        let mut number = || parts.next().and_then(|s| s.parse().ok()).filter(|&n: &usize| n > 0);
        let (buf, batch, backlog) = (number().unwrap_or(MAIN_BUF), number(), number());
        let nodelay = match parts.next() {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        };
        Contestant { label: spec.to_string(), kind, buf, batch, backlog, nodelay }
    }
}

/// The contestants of workloads 1–5.
///
/// With `BENCH_EXTRA=1` three diagnostic ones join, each differing from a main one in one
/// setting, to separate that setting's cost from the layers': tokio-raw with `TCP_NODELAY`
/// (as tcp-serve sets it by default), tcp-serve with `max_accepts_per_batch(64)`, and
/// tcp-serve with `tcp_nodelay(false)` (as tokio-raw and actix leave it).
pub fn main_race() -> Vec<Contestant> {
    let mut all = vec![
        Contestant::new("tokio-raw", Kind::TokioRaw),
        Contestant::new("tcp-serve", Kind::TcpServe),
        Contestant::new("actix-server", Kind::Actix),
    ];
    if settings::extra() {
        all.push(Contestant {
            nodelay: Some(true),
            ..Contestant::new("tokio-raw+nodelay", Kind::TokioRaw)
        });
        all.push(Contestant {
            batch: Some(64),
            ..Contestant::new("tcp-serve batch=64", Kind::TcpServe)
        });
        all.push(Contestant {
            nodelay: Some(false),
            ..Contestant::new("tcp-serve nodelay-off", Kind::TcpServe)
        });
    }
    all
}

/// The contestants of the accept storm: tcp-serve's batch sizes 1, 8 and 64, each with a
/// backlog of 1,024 and with its default 64, between tokio-raw and actix at theirs.
pub fn storm_race() -> Vec<Contestant> {
    let mut storm =
        vec![Contestant { backlog: Some(1024), ..Contestant::new("tokio-raw", Kind::TokioRaw) }];
    for backlog in [Some(1024), None] {
        for batch in [1, 8, 64] {
            let b = backlog.map_or("64 (default)".to_string(), |b| b.to_string());
            storm.push(Contestant {
                batch: Some(batch),
                backlog,
                ..Contestant::new(&format!("tcp-serve batch={batch} backlog={b}"), Kind::TcpServe)
            });
        }
    }
    storm.push(Contestant::new("tokio-raw backlog=128 (TcpListener::bind)", Kind::TokioRaw));
    storm.push(Contestant::new("actix-server backlog=2048", Kind::Actix));
    storm
}

/// The contestants of the count (`BENCH_COUNT=1`), each with the 16 KiB echo buffer of
/// `examples/common`: tcp-serve as its echo example ships, tcp-serve with the plain echo
/// (no drain watch, no split), and tcp-serve traced, between tokio-raw and actix.
pub fn count_race() -> Vec<Contestant> {
    let counted = |label, kind| Contestant { buf: COUNT_BUF, ..Contestant::new(label, kind) };
    vec![
        counted("tokio-raw", Kind::TokioRaw),
        counted("tcp-serve", Kind::TcpServeDrainAware),
        counted("tcp-serve-plain", Kind::TcpServe),
        counted("actix-server", Kind::Actix),
        counted("tcp-serve-tracing", Kind::TcpServeTraced),
    ]
}
