//! HTTP/1.1 and HTTP/2 with hyper, on tcp-serve connections: the server accepts, limits and
//! drains; hyper-util's auto connection builder speaks HTTP on each connection it is given.
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
//! On SIGINT or SIGTERM the server drains: it stops accepting (new connections are refused),
//! tells every connection through the [`ShutdownSignal`], and each connection then calls
//! hyper's `graceful_shutdown`: a request in flight is answered, an idle keep-alive
//! connection is closed, HTTP/2 clients get a GOAWAY. The process exits 0 once all have
//! finished, or at the deadline, closing those left.

mod common;

use std::convert::Infallible;
use std::error::Error;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use common::{Listen, ServerArgs};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tcp_serve::WhereToListen;
use tcp_serve::{service_fn, BoxError, Connection, Family, Serve, ShutdownSignal};

#[derive(Parser)]
#[command(about = "HTTP/1.1 and HTTP/2 with hyper on tcp-serve connections")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

/// The longest `/slow` may take.
const MAX_SLOW: Duration = Duration::from_secs(60);

/// Answers one request; `peer` is the client of the connection it came on.
async fn respond(peer: &str, request: Request<Incoming>) -> Response<Full<Bytes>> {
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

/// Serves HTTP on one connection until the client leaves or, after a drain begins, until
/// hyper has finished the requests in flight.
async fn serve_http<F: Family>(
    (peer, stream): Connection<F>,
    builder: auto::Builder<TokioExecutor>,
    mut shutdown: ShutdownSignal,
) -> Result<(), BoxError> {
    let peer = format!("{peer:?}");
    let service = hyper::service::service_fn(move |request| {
        let peer = peer.clone();
        async move { Ok::<_, Infallible>(respond(&peer, request).await) }
    });
    // `into_owned`: the connection keeps its own copy of the builder's settings.
    let connection = builder.serve_connection(TokioIo::new(stream), service).into_owned();
    tokio::pin!(connection);
    tokio::select! {
        served = connection.as_mut() => return served,
        () = shutdown.requested() => {}
    }
    // Finish what is in flight, take no new requests; keep polling until hyper is done.
    connection.as_mut().graceful_shutdown();
    match connection.await {
        // A connection on which the client had not yet sent a byte ends as "Interrupted":
        // that is our graceful shutdown, not a failure.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::Interrupted) =>
        {
            Ok(())
        }
        served => served,
    }
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let serve = args.server.configure(Serve::new(where_to_listen));
    let shutdown = serve.shutdown_signal();
    // One builder for every connection: HTTP/1.1, or HTTP/2 when the client opens with its
    // preface (`curl --http2-prior-knowledge`).
    let builder = auto::Builder::new(TokioExecutor::new());
    let server = serve
        .serve(service_fn(move |connection| {
            serve_http::<F>(connection, builder.clone(), shutdown.clone())
        }))
        .await?;
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
    common::log_to_stderr();
    let args = Args::parse();
    let result = match args.server.listen(([127, 0, 0, 1], 8080).into()) {
        Listen::Inet(addr) => run(WhereToListen::addr(addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("hyper", result)
}
