//! tcp-serve as its contestants run it. This is the only file that uses tcp-serve's API,
//! so that a rename there is adapted here alone.
//!
//! Every echo contestant uses `Serve::new(WhereToListen::..).max_connections(..).serve(svc)`,
//! `service_fn`, `Connection<Inet>` and `Server::listening_on_address`; the drain-aware
//! ones add `Serve::shutdown_signal` and `ShutdownSignal::until_drain`, the layer
//! contestants `Serve::layer` with `TlsLayer`, `ProxyProtocolLayer` or one of
//! `tcp_serve::timeout`'s layers, and the HTTP ones `tcp_serve::http::Http` with every
//! setting at its default (the diagnostic one: `Http::header_read_timeout(None)`). Only
//! the main race goes further: the knobs its diagnostic and storm variants turn
//! (`max_accepts_per_batch`, `backlog`, `tcp_nodelay`) and, for workload 5,
//! `Server::close_with(ExistingConnections::Close)`.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tcp_serve::http::Http;
use tcp_serve::proxy::ProxyProtocolLayer;
use tcp_serve::timeout::{
    FirstByteTimeoutLayer, IdleTimeoutLayer, MaxLifetimeLayer, MinRateLayer, ReadTimeoutLayer,
};
use tcp_serve::tls::TlsLayer;
use tcp_serve::{
    service_fn, Connection, Error, ExistingConnections, Inet, Serve, Server, ShutdownSignal,
    WhereToListen,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower::Service;
use tracing_subscriber::filter::LevelFilter;

use super::{echo, router::router, runtime, Control, Started, MAX_CONNECTIONS};
use crate::certs;
use crate::contestants::{Contestant, Kind, Layer};

/// The running server, for the parent's `close`.
pub struct Handle(Server<Inet>);

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
        let server = match c.kind {
            // The HTTP race asks for tcp-serve's defaults: no setting here.
            Kind::TcpServeHttp => {
                Serve::new(WhereToListen::localhost_port_chosen_by_os())
                    .serve(Http::new(router()))
                    .await
            }
            Kind::TcpServeHttpUntimed => {
                Serve::new(WhereToListen::localhost_port_chosen_by_os())
                    .serve(Http::new(router()).header_read_timeout(None))
                    .await
            }
            Kind::TcpServe => {
                let buf = c.buf;
                configured(c)
                    .serve(service_fn(move |(_peer, stream): Connection<Inet>| echo(stream, buf)))
                    .await
            }
            Kind::TcpServeWith(layer) => serve_with(configured(c), layer, c.buf).await,
            _ => {
                let serve = configured(c);
                let shutdown = serve.shutdown_signal();
                serve.serve(drain_aware::<tokio::net::TcpStream>(shutdown, c.buf)).await
            }
        };
        let server = server.expect("serve");
        tx.send((server.listening_on_address(), Control::TcpServe(Handle(server)))).expect("send");
        std::future::pending::<()>().await;
    });
}

/// `Serve` with the contestant's settings.
fn configured(c: &Contestant) -> Serve<Inet> {
    let mut serve =
        Serve::new(WhereToListen::localhost_port_chosen_by_os()).max_connections(MAX_CONNECTIONS);
    if let Some(batch) = c.batch {
        serve = serve.max_accepts_per_batch(batch);
    }
    if let Some(backlog) = c.backlog {
        serve = serve.backlog(backlog);
    }
    if let Some(nodelay) = c.nodelay {
        serve = serve.tcp_nodelay(nodelay);
    }
    serve
}

/// The drain-aware echo behind one layer, with the settings of [`Layer`]'s docs.
async fn serve_with(serve: Serve<Inet>, layer: Layer, buf: usize) -> Result<Server<Inet>, Error> {
    use tcp_serve::proxy::ProxiedStream;
    use tcp_serve::timeout::{WithFirstByteTimeout, WithIdleTimeout, WithMinRate, WithReadTimeout};
    use tcp_serve::tls::TlsStream;
    use tokio::net::TcpStream;

    let shutdown = serve.shutdown_signal();
    let secs = Duration::from_secs;
    match layer {
        Layer::Tls => {
            let tls = TlsLayer::new(certs::from_env().server_config());
            serve.layer(tls).serve(drain_aware::<TlsStream<TcpStream>>(shutdown, buf)).await
        }
        Layer::Proxy => {
            let echo = drain_aware::<ProxiedStream<TcpStream>>(shutdown, buf);
            serve.layer(ProxyProtocolLayer::new()).serve(echo).await
        }
        Layer::Idle => {
            let echo = drain_aware::<WithIdleTimeout<TcpStream>>(shutdown, buf);
            serve.layer(IdleTimeoutLayer::new(secs(60))).serve(echo).await
        }
        Layer::MinRate => {
            let echo = drain_aware::<WithMinRate<TcpStream>>(shutdown, buf);
            serve.layer(MinRateLayer::new(1024, secs(10))).serve(echo).await
        }
        Layer::Lifetime => {
            let echo = drain_aware::<TcpStream>(shutdown, buf);
            serve.layer(MaxLifetimeLayer::new(secs(3600))).serve(echo).await
        }
        Layer::Read => {
            let echo = drain_aware::<WithReadTimeout<TcpStream>>(shutdown, buf);
            serve.layer(ReadTimeoutLayer::new(secs(60))).serve(echo).await
        }
        Layer::FirstByte => {
            let echo = drain_aware::<WithFirstByteTimeout<TcpStream>>(shutdown, buf);
            serve.layer(FirstByteTimeoutLayer::new(secs(10))).serve(echo).await
        }
    }
}

/// The service of the drain-aware echo, over a stream of type `S` (what the layers in
/// front of it hand on).
fn drain_aware<S>(
    shutdown: ShutdownSignal,
    buf: usize,
) -> impl Service<(SocketAddr, S), Response = (), Error = io::Error, Future: Send + 'static>
       + Clone
       + Send
       + 'static
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    service_fn(move |(_peer, stream): (SocketAddr, S)| {
        drain_aware_echo(stream, shutdown.clone(), buf)
    })
}

/// `examples/echo.rs`'s echo, as shipped: until the client closes its side or a drain
/// begins, the stream's reads ending at the drain.
async fn drain_aware_echo<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    shutdown: ShutdownSignal,
    buf_len: usize,
) -> io::Result<()> {
    let mut stream = shutdown.until_drain(stream);
    let mut buf = vec![0; buf_len];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}
