//! The PROXY protocol (v1 and v2) as a tower layer (cargo feature `proxy-protocol`): your
//! service sees the client's address instead of the load balancer's.
//!
//! A balancer such as HAProxy (`server ... send-proxy` or `send-proxy-v2`) opens each
//! connection to your server with a header naming the client. [`ProxyProtocolLayer`]
//! reads it before your service is called, within a deadline (5 s by default), and calls
//! the service with `(client, `[`ProxiedStream`]`)`: the client's address in place of the
//! balancer's, and a stream whose reads return exactly the bytes the client sent after
//! the header. So the handler, [`OnHandlerError::Call`](crate::OnHandlerError::Call) and
//! the `connection` span's `client` field all see the client.
//! [`ProxiedStream::proxy_info`] has the rest of the header: the destination, whether it
//! was a health check (v2 LOCAL), the TLVs.
//!
//! Who may send a header, and must they:
//!
//! | peer | [`Header::Required`] (default) | [`Header::Optional`] |
//! |---|---|---|
//! | trusted, sends a header | served as the client | served as the client |
//! | trusted, sends no header | closed | served as itself, bytes intact |
//! | trusted, v2 LOCAL or v1 `UNKNOWN` (health checks) | served as itself | served as itself |
//! | not trusted | closed, nothing read | served as itself, nothing read |
//!
//! Trusted peers are those in [`ProxyProtocolLayer::trusted`]: by default loopback only
//! ([`DEFAULT_TRUSTED`]); name your balancers (or [`PRIVATE_NETWORKS`]) there. A bad header (garbage, a malformed or
//! truncated one, one over 16 KiB, one from a peer not trusted, one still incomplete at
//! the deadline) closes the connection: it is logged at DEBUG and counted in
//! [`Metrics::rejected`](crate::Metrics::rejected), never a handler error, so never a
//! reason for [`OnHandlerError::Raise`](crate::OnHandlerError::Raise) to stop the server.
//! Your service is called once the header is in, unless the server has closed meanwhile
//! (see [`Dispatch`](crate::Dispatch)). The deadline is a tokio timer.
//!
//! ```
//! use std::net::SocketAddr;
//! use tcp_serve::proxy::{ProxiedStream, ProxyProtocolLayer};
//! use tcp_serve::{service_fn, Serve, WhereToListen};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::TcpStream;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server that tells each client who it is.
//! let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
//!     .layer(ProxyProtocolLayer::new())
//!     .serve(service_fn(|(client, mut stream): (SocketAddr, ProxiedStream<TcpStream>)| async move {
//!         stream.write_all(format!("you are {client}\n").as_bytes()).await
//!     }))
//!     .await?;
//!
//! // What HAProxy's `send-proxy` sends first, from a balancer on loopback.
//! let mut balancer = TcpStream::connect(("127.0.0.1", server.listening_on())).await?;
//! balancer.write_all(b"PROXY TCP4 192.0.2.7 127.0.0.1 4242 443\r\n").await?;
//! let mut reply = String::new();
//! balancer.read_to_string(&mut reply).await?;
//! assert_eq!(reply, "you are 192.0.2.7:4242\n");
//! # server.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! Behind HAProxy, in its backend: `server app 10.0.0.5:7000 send-proxy-v2` (or
//! `send-proxy` for v1). With health checks (`check`), v2's are LOCAL headers, served as
//! the balancer itself; `check-send-proxy` sends them a header when the check goes to
//! another port.

mod error;
mod future;
mod header;
mod layer;
mod service;
mod stream;
mod trust;

pub use self::error::{ClientError, InvalidCidr};
pub use self::future::ResponseFuture;
pub use self::header::{ProxyInfo, Version};
pub use self::layer::{Header, ProxyProtocolLayer};
pub use self::service::ProxyProtocol;
pub use self::stream::ProxiedStream;
pub use self::trust::{Cidr, PeerAddr, DEFAULT_TRUSTED, PRIVATE_NETWORKS};
/// The PROXY header decoder, for the TLV types [`ProxyInfo`] hands out.
pub use proxy_header;

#[cfg(test)]
mod tests;
