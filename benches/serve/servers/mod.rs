//! The servers as the child runs them, each on its own thread with a single-threaded
//! runtime, and how the parent's `close` reaches each. tokio-raw, actix-server and
//! `tcp-serve`/`tcp-serve-plain` serve the same [`echo`], so only the machinery differs;
//! the HTTP contestants ([`axum_serve`], [`hyper_util`] and tcp-serve's adapter) serve
//! the same [`router`]. [`tcp_serve`] is the one file that uses tcp-serve's API.

mod actix;
mod axum_serve;
mod hyper_util;
pub mod router;
mod tcp_serve;
mod tokio_raw;

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::contestants::{Contestant, Kind};

/// `max_connections` for tcp-serve and `max_concurrent_connections` for actix.
const MAX_CONNECTIONS: usize = 16_384;

/// The echo handler: a `buf_len`-byte read/write loop until the client closes.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, buf_len: usize) -> io::Result<()> {
    let mut buf = vec![0u8; buf_len];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// How the child closes the server and every connection it holds.
pub enum Control {
    /// Stops tokio-raw's accept loop, then waits until its runtime has been dropped.
    Raw(Option<(tokio::sync::oneshot::Sender<()>, mpsc::Receiver<()>)>),
    TcpServe(tcp_serve::Handle),
    Actix(actix_server::ServerHandle),
    /// The HTTP race's `axum::serve` and hyper-util, which it never closes.
    Unclosable,
}

impl Control {
    /// Closes the server and its connections (tcp-serve: `close_with(Close)`; actix:
    /// `stop(false)`; tokio-raw: drop its runtime, the floor); returns how long it took.
    pub fn close(&mut self) -> Duration {
        let start = Instant::now();
        match self {
            Control::Raw(stop) => {
                if let Some((stop, done)) = stop.take() {
                    let _ = stop.send(());
                    let _ = done.recv();
                }
            }
            Control::TcpServe(server) => server.close(),
            Control::Actix(handle) => futures::executor::block_on(handle.stop(false)),
            Control::Unclosable => {}
        }
        start.elapsed()
    }
}

/// Where a server thread sends its address and handle once it listens.
type Started = mpsc::Sender<(SocketAddr, Control)>;

/// Starts the contestant's server on its own thread; returns its address and handle.
pub fn start(c: &Contestant) -> (SocketAddr, Control) {
    let (tx, rx) = mpsc::channel();
    let c = c.clone();
    std::thread::Builder::new()
        .name("server".into())
        .spawn(move || match c.kind {
            Kind::TokioRaw => tokio_raw::serve(&c, &tx),
            Kind::Actix => actix::serve(&c, &tx),
            Kind::AxumServe => axum_serve::serve(&tx),
            Kind::HyperUtil => hyper_util::serve(&tx),
            Kind::TcpServe
            | Kind::TcpServeDrainAware
            | Kind::TcpServeTraced
            | Kind::TcpServeWith(_)
            | Kind::TcpServeHttp
            | Kind::TcpServeHttpUntimed => tcp_serve::serve(&c, &tx),
        })
        .expect("spawn the server thread");
    rx.recv_timeout(Duration::from_secs(10)).expect("the server started")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}
