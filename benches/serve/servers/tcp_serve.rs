//! tcp-serve as its contestants run it. This is the only file that uses tcp-serve's API,
//! so that a rename there is adapted here alone.
//!
//! Every contestant uses `Serve::new(WhereToListen::..).max_connections(..).serve(svc)`,
//! `service_fn`, `Connection<Inet>` and `Server::listening_on_address`; the drain-aware
//! ones add `Serve::shutdown_signal` and `ShutdownSignal::requested`. Only the main race
//! goes further: the knobs its diagnostic and storm variants turn
//! (`max_accepts_per_batch`, `backlog`, `tcp_nodelay`) and, for workload 5,
//! `Server::close_with(ExistingConnections::Close)`.

use std::io;

use tcp_serve::{
    service_fn, Connection, ExistingConnections, Inet, Serve, ShutdownSignal, WhereToListen,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing_subscriber::filter::LevelFilter;

use super::{echo, runtime, Control, Started, MAX_CONNECTIONS};
use crate::contestants::{Contestant, Kind};

/// The running server, for the parent's `close`.
pub struct Handle(tcp_serve::Server<Inet>);

impl Handle {
    /// Closes the listening socket and every connection; returns once it is closed.
    pub fn close(&self) {
        futures::executor::block_on(self.0.close_with(ExistingConnections::Close));
    }
}

/// Serves until the child exits.
pub(super) fn serve(c: &Contestant, tx: &Started) {
    if c.kind == Kind::TcpServeTraced {
        // A subscriber that wants INFO, so the library builds its connection span, and
        // formats into a sink, so no terminal or file time is counted.
        tracing_subscriber::fmt().with_max_level(LevelFilter::INFO).with_writer(io::sink).init();
    }
    runtime().block_on(async move {
        let mut serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
            .max_connections(MAX_CONNECTIONS);
        if let Some(batch) = c.batch {
            serve = serve.max_accepts_per_batch(batch);
        }
        if let Some(backlog) = c.backlog {
            serve = serve.backlog(backlog);
        }
        if let Some(nodelay) = c.nodelay {
            serve = serve.tcp_nodelay(nodelay);
        }
        let buf = c.buf;
        let server = if c.kind == Kind::TcpServe {
            serve
                .serve(service_fn(move |(_peer, stream): Connection<Inet>| echo(stream, buf)))
                .await
        } else {
            let shutdown = serve.shutdown_signal();
            serve
                .serve(service_fn(move |(_peer, stream): Connection<Inet>| {
                    drain_aware_echo(stream, shutdown.clone(), buf)
                }))
                .await
        };
        let server = server.expect("serve");
        tx.send((server.listening_on_address(), Control::TcpServe(Handle(server)))).expect("send");
        std::future::pending::<()>().await;
    });
}

/// `examples/common`'s echo (without its per-chunk check): until the client closes its
/// side or a drain begins.
async fn drain_aware_echo<S: AsyncRead + AsyncWrite>(
    stream: S,
    shutdown: ShutdownSignal,
    buf_len: usize,
) -> io::Result<()> {
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut buf = vec![0; buf_len];
    loop {
        let n = tokio::select! {
            read = reader.read(&mut buf) => read?,
            () = shutdown.requested() => 0,
        };
        if n == 0 {
            return writer.shutdown().await;
        }
        writer.write_all(&buf[..n]).await?;
    }
}
