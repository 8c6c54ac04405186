//! TCP and Unix-socket servers on tokio, in the tower style: what Jane Street's Async
//! `Tcp.Server` gives OCaml programs.
//!
//! Every accepted connection is a request `(peer address, stream)` to a
//! [`tower::Service`]. The server's policies (`max_connections`, `on_handler_error`,
//! dropping incoming connections, closing) are [layers](layer) around it, and any tower
//! middleware can go between them and your service.
//!
//! ```
//! use std::io;
//! use tcp_serve::{service_fn, Connection, Inet, Serve, WhereToListen};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An echo server on a port the OS picks.
//! let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
//!     .max_connections(100)
//!     .serve(service_fn(|(_peer, mut stream): Connection<Inet>| async move {
//!         let (mut reader, mut writer) = stream.split();
//!         tokio::io::copy(&mut reader, &mut writer).await?;
//!         Ok::<_, io::Error>(())
//!     }))
//!     .await?;
//!
//! // A client sees its bytes come back.
//! let mut client = tokio::net::TcpStream::connect(("127.0.0.1", server.listening_on())).await?;
//! client.write_all(b"hello").await?;
//! let mut echoed = [0; 5];
//! client.read_exact(&mut echoed).await?;
//! assert_eq!(&echoed, b"hello");
//!
//! // Stop accepting; the future resolves once the listening socket is closed.
//! server.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Map from Async's `Tcp.Server`
//!
//! | Async | here |
//! |---|---|
//! | `create_sock where_to_listen handler` | [`Serve::new`]`(where).`[`serve`](Serve::serve)`(service)` |
//! | `Where_to_listen` | [`WhereToListen`], for [`Inet`] or [`Unix`] |
//! | `?max_connections ?max_accepts_per_batch ?backlog ?socket` | [`Serve`]'s methods of those names |
//! | `~on_handler_error:(`Raise \| `Ignore \| `Call f)` | [`OnHandlerError`] |
//! | `close ?close_existing_connections`, `close_finished`, `is_closed` | [`Server::close`], [`Server::close_with`], [`Server::close_finished`], [`Server::is_closed`] |
//! | `close_finished_and_handlers_determined` | [`Server::handlers_finished`] |
//! | `~drop_incoming_connections` given to `create` | [`Serve::drop_incoming_connections`] |
//! | `listening_on`, `listening_on_address`, `listening_socket` | [`Server`]'s methods of those names |
//! | `num_connections`, `set_drop_incoming_connections`, `invariant`, `sexp_of_t` | [`Server`]'s methods of those names, and `Debug` |
//! | `create` with `buffer_age_limit` (a reader and writer for the handler) | [`io::BufferingLayer`] |
//! | `?socket` already listening (systemd's, a predecessor's) | [`Serve::from_listener`]`(`[`Listener`]`)` |
//! | the "more principled" pause hoped for under `set_drop_incoming_connections` | [`Server::pause`], [`Server::resume`] |
//!
//! # Your own stack
//!
//! [`Serve`] is a convenience over an [`Acceptor`]: the accept loop with its close
//! guarantee, batching and back-off, which calls any stack you build with
//! `tower::ServiceBuilder` from the policy [layers](layer) it hands out (in your order, with
//! `tower::load_shed` or anything else between them) and gives back the same [`Server`].
//!
//! Beyond Async: [`Server::drain`] (stop accepting, tell handlers through a
//! [`ShutdownSignal`], wait up to a deadline, close the rest) and
//! [`Server::drain_on_signals`] (the same on SIGTERM, a health check failed first if asked);
//! accept errors such as `EMFILE` that pause and recover instead of stopping the server; a
//! panic in the accept loop that stops the server cleanly instead of leaving it half alive;
//! [`Server::hand_over`] to restart with no refused connection.
//!
//! # Optional layers and integrations
//!
//! | feature | what |
//! |---|---|
//! | (none) | [`io`] (buffered and framed connections, buffer age limit), [`timeout`] (idle, first byte, read, minimum rate, lifetime), [`handover`] |
//! | `tls` | [`tls::TlsLayer`]: TLS with tokio-rustls |
//! | `proxy-protocol` | [`proxy::ProxyProtocolLayer`]: the client's address from a load balancer's PROXY header |
//! | `http`, `axum` | [`http::Http`]: any tower HTTP service (an axum `Router`) served on each connection |
//! | `systemd` | [`systemd::ListenFds`]: socket activation; `sd_notify` |
//!
//! # Platforms and runtimes
//!
//! Linux only (other systems stop the build with a message). The server runs on any tokio
//! runtime with its I/O driver on; it needs no time driver, though the layers that time
//! connections (TLS handshakes, buffer age limits) do.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub, rust_2018_idioms)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Pausing by not listening, `SO_ACCEPTCONN`, the errno names of the accept loop and socket
// activation are Linux's; rather than half-work elsewhere, say so at build time.
#[cfg(not(target_os = "linux"))]
compile_error!(
    "tcp-serve supports Linux only: it relies on Linux's accept(2) errors, SO_ACCEPTCONN and \
     shutdown(2) on listening sockets; see the README's \"Platforms\" section"
);

#[macro_use]
mod macros;

mod acceptor;
mod chain;
mod clock;
mod dispatch;
mod error;
mod family;
mod listen;
mod listener;
#[cfg(any(feature = "http", feature = "proxy-protocol"))]
mod rewind;
mod serve;
mod server;
mod shutdown;
mod switch;
#[cfg(test)]
#[allow(unreachable_pub)] // `pub` for the end-to-end tests, which include the file too.
mod test_log;
mod timer;

pub mod handover;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod io;
pub mod layer;
#[cfg(feature = "proxy-protocol")]
#[cfg_attr(docsrs, doc(cfg(feature = "proxy-protocol")))]
pub mod proxy;
#[cfg(feature = "systemd")]
#[cfg_attr(docsrs, doc(cfg(feature = "systemd")))]
pub mod systemd;
pub mod timeout;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

pub use crate::acceptor::Acceptor;
pub use crate::dispatch::Dispatch;
pub use crate::error::{BoxError, Endpoint, Error, HandlerPanicked, PeerError, ServerError};
pub use crate::family::{Family, Inet, Unix};
pub use crate::layer::graceful::{ShutdownSignal, UntilDrain};
pub use crate::layer::OnHandlerError;
pub use crate::listen::WhereToListen;
pub use crate::listener::{Listener, ListeningSocket};
pub use crate::serve::Serve;
pub use crate::server::{
    CloseFinished, Drain, DrainOnSignals, HandlersFinished, InetServer, Metrics, PauseChanged,
    Server, Stopped, Terminated, UnixServer,
};
pub use crate::shutdown::{Drained, ExistingConnections, Readiness};
pub use tower::{self, service_fn};

/// What a handler is called with: the peer's address and the connection's stream.
pub type Connection<F> = (<F as Family>::Addr, <F as Family>::Stream);

/// The README's examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
