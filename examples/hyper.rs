//! HTTP/1.1 and HTTP/2 with hyper: a hand-written service of HTTP requests, served on
//! tcp-serve connections by the `http` adapter. The server accepts, limits and drains;
//! the adapter speaks HTTP on each connection.
//!
//! ```text
//! cargo run --example hyper                         # TCP on 127.0.0.1:8080
//! curl http://127.0.0.1:8080/                       # hello, 127.0.0.1:PORT (HTTP/1.1)
//! curl --http2-prior-knowledge http://127.0.0.1:8080/   # the same over HTTP/2
//! curl 'http://127.0.0.1:8080/slow?ms=2000'         # answers after 2 s
//! cargo run --example hyper -- --unix /tmp/hyper.sock
//! curl --unix-socket /tmp/hyper.sock http://localhost/
//! ```
//!
//! Flags: those of the echo example. Environment: `DRAIN_DEADLINE_MS` (default 10000, as for
//! every example), how long a drain waits for requests in flight before closing them.
//!
//! On SIGINT or SIGTERM the server drains: it stops accepting (new connections are refused)
//! and shuts each connection down gracefully: a request in flight is answered, an idle
//! keep-alive connection is closed, HTTP/2 clients get a GOAWAY. The process exits 0 once
//! all have finished, or at the deadline, closing those left. (`examples/axum.rs` serves an
//! axum router the same way.)

mod common;

use std::convert::Infallible;
use std::error::Error;
use std::fmt::Debug;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::{Listen, ServerArgs};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use tcp_serve::http::{Http, Peer};
use tcp_serve::{service_fn, Family, Serve, WhereToListen};

#[derive(Parser)]
#[command(about = "HTTP/1.1 and HTTP/2 with hyper on tcp-serve connections")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

/// The longest `/slow` may take.
const MAX_SLOW: Duration = Duration::from_secs(60);

/// Answers one request; the adapter put the client's address in its extensions.
async fn respond<A: Debug + Send + Sync + 'static>(
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let peer = request.extensions().get::<Peer<A>>().map(|Peer(peer)| format!("{peer:?}"));
    let peer = peer.unwrap_or_default();
    println!("hyper: {peer} {} {} {:?}", request.method(), request.uri(), request.version());
    let reply = |status, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    };
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/") => reply(StatusCode::OK, format!("hello, {peer}\n")),
        (&Method::GET, "/slow") => {
            let ms = request
                .uri()
                .query()
                .into_iter()
                .flat_map(|query| query.split('&'))
                .find_map(|pair| pair.strip_prefix("ms="))
                .and_then(|ms| ms.parse::<u64>().ok());
            match ms.map(Duration::from_millis) {
                Some(pause) if pause <= MAX_SLOW => {
                    tokio::time::sleep(pause).await;
                    reply(StatusCode::OK, format!("slept {} ms\n", pause.as_millis()))
                }
                _ => reply(StatusCode::BAD_REQUEST, "give /slow?ms=N, N at most 60000\n".into()),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let service =
        service_fn(|request| async { Ok::<_, Infallible>(respond::<F::Addr>(request).await) });
    let server =
        args.server.configure(Serve::new(where_to_listen)).serve(Http::new(service)).await?;
    // Signals are handled from here on; only then say where we listen, so that whoever
    // reads the line and sends SIGTERM finds the drain ready.
    let drain = server.drain_on_signals(args.server.drain_deadline())?;
    println!("hyper: listening on {}", server.endpoint());
    let drained = drain.await?;
    println!("hyper: stopped ({drained:?})");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::log_to_stderr("info");
    let args = Args::parse();
    let result = match args.server.listen(([127, 0, 0, 1], 8080).into()) {
        Listen::Inet(addr) => run(WhereToListen::addr(addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("hyper", result)
}
