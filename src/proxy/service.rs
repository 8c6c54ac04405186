use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tower::Service;

use super::future::{Reading, ResponseFuture};
use super::layer::{Config, Header};
use super::stream::ProxiedStream;
use super::trust::PeerAddr;
use crate::dispatch::Dispatch;
use crate::error::BoxError;

/// The service of [`ProxyProtocolLayer`](super::ProxyProtocolLayer): reads the header,
/// then calls the wrapped service with `(client, ProxiedStream)`.
#[derive(Clone)]
pub struct ProxyProtocol<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> ProxyProtocol<S> {
    pub(super) fn new(inner: S, config: Arc<Config>) -> Self {
        ProxyProtocol { inner, config }
    }

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

impl<S, A, Io> Service<(A, Io)> for ProxyProtocol<S>
where
    S: Service<(A, ProxiedStream<Io>), Response = ()> + Clone,
    S::Error: Into<BoxError>,
    A: PeerAddr,
    Io: AsyncRead + AsyncWrite + Unpin,
{
    type Response = ();
    type Error = BoxError;
    type Future = ResponseFuture<S, A, Io>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, (peer, io): (A, Io)) -> Self::Future {
        if !self.config.trusts(peer.ip()) {
            return match self.config.header {
                // Not even looked for: whatever it sends, an untrusted peer is itself.
                Header::Optional => ResponseFuture::serving(
                    self.inner.call((peer, ProxiedStream::new(io, Vec::new(), None))),
                    None,
                ),
                Header::Required => {
                    tracing::debug!(?peer, "peer not trusted to send a PROXY header; closing");
                    Dispatch::current().reject();
                    ResponseFuture::closed()
                }
            };
        }
        // The service that was made ready goes with this connection, to be called once
        // the header is in; a clone stays behind to be made ready for the next.
        let fresh = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, fresh);
        let reading = Reading::new(inner, peer, io, Dispatch::current(), self.config.header);
        ResponseFuture::reading(reading, self.config.header_timeout)
    }
}

impl<S: fmt::Debug> fmt::Debug for ProxyProtocol<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyProtocol")
            .field("inner", &self.inner)
            .field("header", &self.config.header)
            .field("trusted", &self.config.trusted)
            .field("header_timeout", &self.config.header_timeout)
            .finish()
    }
}
