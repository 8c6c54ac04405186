//! TLS termination as a tower layer (cargo feature `tls`), with `tokio-rustls`.
//!
//! [`TlsLayer`] runs the TLS handshake on each connection and hands your service
//! `(peer, TlsStream<stream>)`, so any handler (echo, hyper, a codec) runs over TLS
//! unchanged. A client that sends garbage instead of a hello fails its handshake, and one
//! that stalls is cut off after the handshake timeout (10 s by default), so neither holds a
//! connection slot for long. Neither counts as a handler error: a handshake that fails is
//! the network's bad input, logged at DEBUG, never a reason for
//! [`OnHandlerError::Raise`](crate::OnHandlerError::Raise) to stop the server. Your
//! service is called once the handshake is done, unless the server has been closed in the
//! meantime (see [`Dispatch`]); the handshake's timer is tokio's.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tcp_serve::tls::{rustls, TlsLayer, TlsStream};
//! use tcp_serve::{service_fn, InetServer, Serve, WhereToListen};
//!
//! # #[allow(dead_code)]
//! async fn serve_tls(config: rustls::ServerConfig) -> Result<InetServer, tcp_serve::Error> {
//!     Serve::new(WhereToListen::port(8443))
//!         .layer(TlsLayer::new(Arc::new(config)))
//!         .serve(service_fn(
//!             |(_peer, stream): (std::net::SocketAddr, TlsStream<tokio::net::TcpStream>)| async move {
//!                 let (mut reader, mut writer) = tokio::io::split(stream);
//!                 tokio::io::copy(&mut reader, &mut writer).await.map(drop)
//!             },
//!         ))
//!         .await
//! }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tower::{Layer, Service};

use crate::dispatch::Dispatch;
use crate::error::BoxError;

pub use tokio_rustls::server::TlsStream;
pub use tokio_rustls::{rustls, TlsAcceptor};

/// How long a client may take over its TLS handshake by default.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Terminates TLS before the wrapped service; see the [module docs](self).
#[derive(Clone)]
pub struct TlsLayer {
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
}

impl TlsLayer {
    /// A layer accepting TLS with `config` (certificates, ALPN protocols and so on).
    pub fn new(config: Arc<rustls::ServerConfig>) -> Self {
        TlsLayer {
            acceptor: TlsAcceptor::from(config),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// How long a client may take to complete its handshake before it is disconnected.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
}

impl fmt::Debug for TlsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsLayer").field("handshake_timeout", &self.handshake_timeout).finish()
    }
}

impl<S> Layer<S> for TlsLayer {
    type Service = Tls<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Tls { inner, acceptor: self.acceptor.clone(), handshake_timeout: self.handshake_timeout }
    }
}

/// The service of [`TlsLayer`]: handshakes, then calls the wrapped service with
/// `(peer, TlsStream)`.
#[derive(Clone)]
pub struct Tls<S> {
    inner: S,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
}

impl<S> Tls<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for Tls<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("inner", &self.inner)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl<S, A, Io> Service<(A, Io)> for Tls<S>
where
    S: Service<(A, TlsStream<Io>), Response = ()> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    A: fmt::Debug + Send + 'static,
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, (peer, io): (A, Io)) -> Self::Future {
        // The service that was made ready goes with this connection; a clone stays behind
        // to be made ready for the next.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let handshake = self.acceptor.accept(io);
        let timeout = self.handshake_timeout;
        // The service is called after the handshake: through the server's dispatch, so not
        // after the server has closed.
        let dispatch = Dispatch::current();
        Box::pin(async move {
            match tokio::time::timeout(timeout, handshake).await {
                Ok(Ok(stream)) => match dispatch.call(|| inner.call((peer, stream))) {
                    Some(served) => served.await.map_err(Into::into),
                    None => {
                        tracing::debug!("the server closed during the TLS handshake; closing");
                        Ok(())
                    }
                },
                Ok(Err(error)) => {
                    tracing::debug!(?peer, %error, "TLS handshake failed; closing");
                    dispatch.reject();
                    Ok(())
                }
                Err(_elapsed) => {
                    tracing::debug!(?peer, ?timeout, "TLS handshake timed out; closing");
                    dispatch.reject();
                    Ok(())
                }
            }
        })
    }
}
