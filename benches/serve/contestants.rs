//! Who races: tokio-raw, tcp-serve and actix-server, and the variants of them that the
//! diagnostic (`BENCH_EXTRA=1`) and accept-storm runs add.
//!
//! A contestant crosses into its server child as a short spec string in `BENCH_CHILD`.

use crate::settings;

/// Which server a contestant runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    TokioRaw,
    TcpServe,
    Actix,
}

/// One server configuration in the race; its label names it in every table.
#[derive(Clone, Debug)]
pub struct Contestant {
    pub label: String,
    pub kind: Kind,
    /// tcp-serve's `max_accepts_per_batch`.
    pub batch: usize,
    /// The listen backlog; `None` keeps the server's own (tcp-serve 64, tokio's `bind` 128;
    /// actix always gets 2048, its default).
    pub backlog: Option<usize>,
    /// `TCP_NODELAY` on accepted sockets; `None` keeps the server's own default (on for
    /// tcp-serve, off for tokio-raw and actix-server).
    pub nodelay: Option<bool>,
}

impl Contestant {
    /// A contestant with its server's defaults and tcp-serve's `max_accepts_per_batch(1)`.
    pub fn new(label: &str, kind: Kind) -> Self {
        Contestant { label: label.to_string(), kind, batch: 1, backlog: None, nodelay: None }
    }

    /// `kind:batch:backlog:nodelay`, for the child; 0 and `-` stand for "the default".
    pub fn spec(&self) -> String {
        let kind = match self.kind {
            Kind::TokioRaw => "raw",
            Kind::TcpServe => "tcp-serve",
            Kind::Actix => "actix",
        };
        let nodelay = match self.nodelay {
            None => "-",
            Some(true) => "1",
            Some(false) => "0",
        };
        format!("{kind}:{}:{}:{nodelay}", self.batch, self.backlog.unwrap_or(0))
    }

    /// Reads a [`spec`](Self::spec); the label becomes the spec itself.
    pub fn from_spec(spec: &str) -> Self {
        let mut parts = spec.split(':');
        let kind = match parts.next() {
            Some("raw") => Kind::TokioRaw,
            Some("tcp-serve") => Kind::TcpServe,
            Some("actix") => Kind::Actix,
            other => panic!("unknown contestant {other:?}"),
        };
        let batch = parts.next().and_then(|s| s.parse().ok()).unwrap_or(1);
        let backlog = parts.next().and_then(|s| s.parse().ok()).filter(|&b: &usize| b > 0);
        let nodelay = match parts.next() {
            Some("1") => Some(true),
            Some("0") => Some(false),
            _ => None,
        };
        Contestant { label: spec.to_string(), kind, batch, backlog, nodelay }
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
        all.push(Contestant { batch: 64, ..Contestant::new("tcp-serve batch=64", Kind::TcpServe) });
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
                batch,
                backlog,
                ..Contestant::new(&format!("tcp-serve batch={batch} backlog={b}"), Kind::TcpServe)
            });
        }
    }
    storm.push(Contestant::new("tokio-raw backlog=128 (TcpListener::bind)", Kind::TokioRaw));
    storm.push(Contestant::new("actix-server backlog=2048", Kind::Actix));
    storm
}
