//! The three servers as the child runs them, each on its own thread with a single-threaded
//! runtime, all serving the same [`echo`], and how the parent's `close` reaches each.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tcp_serve::{service_fn, Connection, ExistingConnections, Inet, Serve, WhereToListen};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

use crate::contestants::{Contestant, Kind};

/// `max_connections` for tcp-serve and `max_concurrent_connections` for actix.
const MAX_CONNECTIONS: usize = 16_384;
/// actix-server's own default backlog, for the listener we hand it.
const ACTIX_BACKLOG: i32 = 2048;

/// The echo handler every contestant runs: identical code, so only the machinery differs.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> io::Result<()> {
    let mut buf = vec![0u8; 8 * 1024];
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
    TcpServe(tcp_serve::InetServer),
    Actix(actix_server::ServerHandle),
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
            Control::TcpServe(server) => {
                futures::executor::block_on(server.close_with(ExistingConnections::Close));
            }
            Control::Actix(handle) => futures::executor::block_on(handle.stop(false)),
        }
        start.elapsed()
    }
}

type Started = mpsc::Sender<(SocketAddr, Control)>;

/// Starts the contestant's server on its own thread; returns its address and handle.
pub fn start(c: &Contestant) -> (SocketAddr, Control) {
    let (tx, rx) = mpsc::channel();
    let c = c.clone();
    std::thread::Builder::new()
        .name("server".into())
        .spawn(move || match c.kind {
            Kind::TokioRaw => tokio_raw(&c, &tx),
            Kind::TcpServe => tcp_serve(&c, &tx),
            Kind::Actix => actix(&tx),
        })
        .expect("spawn the server thread");
    rx.recv_timeout(Duration::from_secs(10)).expect("the server started")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

/// `TcpListener::accept` + `tokio::spawn`, nothing else.
fn tokio_raw(c: &Contestant, tx: &Started) {
    let rt = runtime();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    rt.block_on(async move {
        let listener = match c.backlog {
            // `TcpListener::bind`'s backlog is mio's: 128.
            None => TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            Some(backlog) => {
                let socket = TcpSocket::new_v4().expect("socket");
                socket.set_reuseaddr(true).expect("reuseaddr");
                socket.bind(([127, 0, 0, 1], 0).into()).expect("bind");
                socket.listen(backlog as u32).expect("listen")
            }
        };
        let addr = listener.local_addr().expect("addr");
        tx.send((addr, Control::Raw(Some((stop_tx, done_rx))))).expect("send");
        let accept_loop = async {
            loop {
                match listener.accept().await {
                    Ok((stream, _peer)) => {
                        if c.nodelay == Some(true) {
                            // The `tokio-raw+nodelay` diagnostic: as tcp-serve by default.
                            let _ = stream.set_nodelay(true);
                        }
                        tokio::spawn(async move {
                            let _ = echo(stream).await;
                        });
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
        };
        tokio::select! {
            _ = stop_rx => {}
            () = accept_loop => {}
        }
    });
    // tokio-raw's only way to close everything: drop the runtime and its tasks.
    drop(rt);
    let _ = done_tx.send(());
}

/// tcp-serve's default stack with the contestant's batch, backlog and nodelay.
fn tcp_serve(c: &Contestant, tx: &Started) {
    runtime().block_on(async move {
        let mut serve = Serve::new(WhereToListen::localhost_port_chosen_by_os())
            .max_connections(MAX_CONNECTIONS)
            .max_accepts_per_batch(c.batch);
        if let Some(backlog) = c.backlog {
            serve = serve.backlog(backlog);
        }
        if let Some(nodelay) = c.nodelay {
            serve = serve.tcp_nodelay(nodelay);
        }
        let server = serve
            .serve(service_fn(|(_peer, stream): Connection<Inet>| echo(stream)))
            .await
            .expect("serve");
        let addr = server.listening_on_address();
        tx.send((addr, Control::TcpServe(server))).expect("send");
        std::future::pending::<()>().await;
    });
}

/// actix-server, one worker, on a listener with its default backlog.
fn actix(tx: &Started) {
    actix_rt::System::new().block_on(async move {
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .expect("socket");
        socket.set_reuse_address(true).expect("reuseaddr");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        socket.bind(&any.into()).expect("bind");
        socket.listen(ACTIX_BACKLOG).expect("listen");
        let listener: std::net::TcpListener = socket.into();
        let addr = listener.local_addr().expect("addr");
        let server = actix_server::Server::build()
            .workers(1)
            .max_concurrent_connections(MAX_CONNECTIONS)
            .disable_signals()
            .listen("echo", listener, || {
                actix_service::fn_service(|stream: actix_rt::net::TcpStream| echo(stream))
            })
            .expect("listen")
            .run();
        tx.send((addr, Control::Actix(server.handle()))).expect("send");
        let _ = server.await;
    });
}
