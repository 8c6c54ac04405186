//! HTTP/1.1 and HTTP/2 with hyper (cargo feature `http`): [`Http`] turns any tower service
//! of HTTP requests (an axum `Router`, a tonic server, your own) into the server's
//! connection service.
//!
//! ```
//! use std::convert::Infallible;
//! use tcp_serve::http::{hyper, Http, Peer};
//! use tcp_serve::{Serve, WhereToListen};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let hello = tower::service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
//!     let Some(Peer(peer)) = request.extensions().get::<Peer<std::net::SocketAddr>>() else {
//!         unreachable!("the adapter gives every request its peer");
//!     };
//!     Ok::<_, Infallible>(hyper::Response::new(format!("hello, {}\n", peer.ip())))
//! });
//! let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
//!     .max_connections(1000)
//!     .serve(Http::new(hello))
//!     .await?;
//!
//! let mut client = tokio::net::TcpStream::connect(("127.0.0.1", server.listening_on())).await?;
//! client.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").await?;
//! let mut response = String::new();
//! client.read_to_string(&mut response).await?;
//! assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(response.ends_with("hello, 127.0.0.1\n"));
//! server.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! On each connection hyper-util's auto builder speaks HTTP/1.1, or HTTP/2 when the client
//! opens with HTTP/2's preface: with prior knowledge (h2c), or after choosing `h2` by ALPN
//! over the [TLS layer](crate::tls) (list `h2` and `http/1.1` in the rustls config's
//! `alpn_protocols`). The server's layers see one request per connection; your service
//! sees one per HTTP request, on a clone made ready for it. The adapter's timers need
//! tokio's time driver (on under `#[tokio::main]`).
//!
//! HTTP/1 upgrades (axum's WebSockets, `hyper::upgrade::on`) work, and HTTP/2's extended
//! CONNECT is on, as under `axum::serve`. An upgraded HTTP/1 connection still counts (against
//! `max_connections`, and for a drain) until your service drops the upgraded socket; as it
//! lives in a task of yours, a drain's deadline cannot close it: watch the server's
//! [`ShutdownSignal`](crate::ShutdownSignal) in that task.
//!
//! # The peer
//!
//! Each request carries the connection's peer address as a [`Peer`] extension. With the
//! cargo feature `axum` it also carries `axum::extract::ConnectInfo(peer)`, so axum's
//! `ConnectInfo<SocketAddr>` extractor works with no `into_make_service_with_connect_info`:
//!
//! ```no_run
//! # #[cfg(feature = "axum")]
//! # mod with_axum {
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use axum::{extract::ConnectInfo, routing::get, Router};
//! use tcp_serve::http::Http;
//! use tcp_serve::{Serve, WhereToListen};
//!
//! # #[allow(dead_code)]
//! async fn run() -> Result<(), Box<dyn std::error::Error>> {
//!     let hello = |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
//!         format!("hello, {peer}\n")
//!     };
//!     let router = Router::new().route("/", get(hello));
//!     let server = Serve::new(WhereToListen::port(3000))
//!         .max_connections(10_000)
//!         .serve(Http::new(router))
//!         .await?;
//!     // SIGTERM or SIGINT: stop accepting, finish the requests in flight, then return.
//!     server.drain_on_signals(Duration::from_secs(30))?.await?;
//!     Ok(())
//! }
//! # }
//! ```
//!
//! # Draining
//!
//! When the server drains ([`Server::drain`](crate::Server::drain)), each connection is
//! shut down gracefully: HTTP/1 answers the request in flight and closes, an idle
//! connection closes at once, HTTP/2 sends GOAWAY and finishes the streams open. A
//! connection the drain's deadline closes takes its requests in flight with it: on HTTP/2
//! hyper resets its streams, whose tasks (spawned by [`ConnectionExecutor`], in the
//! connection's tracing span) then drop your service's futures.
//!
//! # Errors: the handler's, and the client's
//!
//! The connection's result, which the server's
//! [`on_handler_error`](crate::OnHandlerError) policy sees, is an error only when **your
//! side** failed:
//!
//! | what happened | the client sees | counts as |
//! |---|---|---|
//! | your service returns `Err` or panics, or a response body it returned fails | HTTP/1: the connection closes; HTTP/2: the stream is reset, GOAWAY | a handler error (`Metrics::failed`), with your error or [`HandlerPanicked`](crate::HandlerPanicked) |
//! | your service answers 4xx or 5xx | that response | nothing: an answer like any other |
//! | a request that is not HTTP, a malformed request line or header | `400 Bad Request` | `Metrics::rejected` |
//! | a request head larger than [`http1_max_buf_size`](Http::http1_max_buf_size), more headers than [`http1_max_headers`](Http::http1_max_headers) | `431 Request Header Fields Too Large` | `Metrics::rejected` |
//! | no first request within the [header read timeout](Http::header_read_timeout) (silent, or stalled in its head; on HTTP/2, silent before its preface) | the connection closes | `Metrics::rejected` |
//! | an idle HTTP/1 keep-alive connection reaches the header read timeout (or a later request's head stalls) | the connection closes | nothing |
//! | an HTTP/2 client leaves a [keep-alive ping](Http::http2_keep_alive_interval) unanswered (by default: silent for 40 s) | the connection closes | `Metrics::rejected` before its first request, else nothing |
//! | a [timeout layer](crate::timeout) in front of `Http` fails the stream's reads (also when your service passes the body's read error on) | the connection closes | `Metrics::rejected` |
//! | the client goes away mid-request, resets, breaks HTTP/2 framing | — | nothing |
//!
//! Rejected connections and clients that go away are logged at DEBUG, in the connection's
//! span. So a client can never stop a server under
//! [`OnHandlerError::Raise`](crate::OnHandlerError::Raise), while a failing service still
//! does. On HTTP/2 a failure of your service ends its connection gracefully, so that the
//! error reaches the policy without waiting for the client to leave.
//!
//! # Settings
//!
//! [`Http`]'s methods set the limits on the protocol (the header read timeout, keep-alive,
//! header sizes, HTTP/2 streams and pings); [`Http::configure`] reaches every other
//! setting of hyper-util's builder.
//!
//! They leave two ways to hold a connection open: request bodies are not timed (once a
//! request's head is in, hyper waits for its body as long as your service reads it), and
//! an HTTP/2 client that answers the pings may keep an idle connection. A server exposed
//! to the internet bounds them with the crate's [timeout layers](crate::timeout) in front
//! of `Http`, which wrap the connection's stream:
//!
//! ```
//! # use std::convert::Infallible;
//! use std::time::Duration;
//! use tcp_serve::http::Http;
//! use tcp_serve::timeout::{MaxLifetimeLayer, ReadTimeoutLayer};
//! use tcp_serve::{Serve, WhereToListen};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # use tcp_serve::http::hyper::{body::Incoming, Request, Response};
//! # let service = tower::service_fn(|_: Request<Incoming>| async {
//! #     Ok::<_, Infallible>(Response::new(String::new()))
//! # });
//! let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
//!     // Any connection, whatever it does: an hour at most.
//!     .layer(MaxLifetimeLayer::new(Duration::from_secs(3600)))
//!     // A read that waits a minute for the client: above the slowest response and the
//!     // header read timeout (see below).
//!     .layer(ReadTimeoutLayer::new(Duration::from_secs(60)))
//!     .serve(Http::new(service))
//!     .await?;
//! # server.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! [`MaxLifetimeLayer`](crate::timeout::MaxLifetimeLayer) bounds a connection whatever it
//! does: at its limit the connection is dropped, requests in flight included, and its
//! [`LifetimeExceeded`](crate::timeout::LifetimeExceeded) goes to the server's
//! [`on_handler_error`](crate::OnHandlerError) policy like a handler error.
//! [`ReadTimeoutLayer`](crate::timeout::ReadTimeoutLayer)
//! cuts a stalled body sooner, but it times every read that waits, whatever hyper waits
//! for: the next request on an idle keep-alive connection, and the read hyper keeps
//! waiting while your service works on a request (to notice a client that leaves). So give
//! it a limit above your slowest response, whose connection it would otherwise close
//! before the response is sent (counting it as rejected), and above the header read
//! timeout, which ends idle HTTP/1 connections without blaming the client.
//! [`MinRateLayer`](crate::timeout::MinRateLayer) counts the same waits: its window needs
//! the same margin, and its rate must be one an idle HTTP/2 connection meets (its client
//! answers each keep-alive ping with 17 bytes).

mod connection;
mod executor;
mod io;
mod request;
mod service;

pub use self::executor::ConnectionExecutor;
pub use self::request::Peer;
pub use self::service::{Http, KeepAlive};
pub use {hyper, hyper_util};

#[cfg(test)]
mod tests;
