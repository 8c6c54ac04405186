//! Async's `Tcp.Server.create`, as a layer: the service behind it gets the peer, a
//! buffered reader and a buffered writer, and both are closed when it ends.

mod future;
mod writer;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadHalf};
use tower::{Layer, Service};

pub use self::future::ResponseFuture;
pub use self::writer::Writer;
use super::{AgeLimited, BufferAgeLimit};
use crate::error::BoxError;

/// The reading end a buffered service gets: tokio's [`BufReader`], so `lines()`,
/// `read_line` and `read_until` work as usual.
pub type Reader<S> = BufReader<ReadHalf<S>>;

/// What the service behind a [`BufferingLayer`] is called with: the peer, a [`Reader`] and
/// a [`Writer`] over the connection's stream `S`.
pub type BufferedConnection<A, S> = (A, Reader<S>, Writer);

/// Hands each connection to the wrapped service as `(peer, reader, writer)`, as Async's
/// `Tcp.Server.create` does its handler.
///
/// When the service's future ends, what it wrote is flushed and the socket closed; after an
/// `Ok` the write side is shut down first, so the peer reads EOF. Flushing and shutting
/// down take at most 30 s (Async's close wait), whatever the buffer age limit.
///
/// Failures, and which reach `on_handler_error`:
/// - the handler returns an error or panics: always, even after the socket failed;
/// - the peer stops reading for longer than the [`BufferAgeLimit`]: the writer fails with
///   [`BufferAgeLimitExceeded`](super::BufferAgeLimitExceeded), which the handler sees on
///   its next write or flush; it has a second to return, and the connection fails with
///   that error;
/// - the peer goes away (reset, broken pipe): the connection just ends. A handler that
///   returns the writer's error for it (with `?`) is not reported for it either.
///
/// ```
/// use tcp_serve::io::{BufferAgeLimit, BufferedConnection, BufferingLayer};
/// use tcp_serve::{service_fn, Serve, WhereToListen};
/// use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
/// use tokio::net::TcpStream;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tcp_serve::Error> {
/// let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
///     .layer(BufferingLayer::new().buffer_age_limit(BufferAgeLimit::AtMost(
///         std::time::Duration::from_secs(30),
///     )))
///     .serve(service_fn(
///         |(_peer, reader, mut writer): BufferedConnection<std::net::SocketAddr, TcpStream>| async move {
///             let mut lines = reader.lines();
///             while let Some(line) = lines.next_line().await? {
///                 writer.write_all(line.to_uppercase().as_bytes()).await?;
///                 writer.write_all(b"\n").await?;
///             }
///             Ok::<_, std::io::Error>(())
///         },
///     ))
///     .await?;
/// # server.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BufferingLayer {
    age_limit: BufferAgeLimit,
}

impl BufferingLayer {
    /// Buffered connections with the default [`BufferAgeLimit`] (2 min).
    pub fn new() -> Self {
        Self::default()
    }

    /// How long written bytes may wait for a peer that is not reading.
    pub fn buffer_age_limit(mut self, limit: BufferAgeLimit) -> Self {
        self.age_limit = limit;
        self
    }
}

impl<S> Layer<S> for BufferingLayer {
    type Service = Buffered<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Buffered { inner, age_limit: self.age_limit }
    }
}

/// The service of a [`BufferingLayer`].
#[derive(Clone)]
pub struct Buffered<S> {
    inner: S,
    age_limit: BufferAgeLimit,
}

impl<S> Buffered<S> {
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

impl<S: fmt::Debug> fmt::Debug for Buffered<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffered")
            .field("inner", &self.inner)
            .field("age_limit", &self.age_limit)
            .finish()
    }
}

impl<S, A, Io> Service<(A, Io)> for Buffered<S>
where
    S: Service<BufferedConnection<A, Io>, Response = ()>,
    S::Error: Into<BoxError>,
    Io: AsyncRead + AsyncWrite,
{
    type Response = ();
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, Io>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, (peer, stream): (A, Io)) -> Self::Future {
        let (reader, socket) = tokio::io::split(stream);
        let shared = Arc::new(writer::Shared::default());
        let writer = Writer::new(Arc::clone(&shared));
        let handler = self.inner.call((peer, BufReader::new(reader), writer));
        ResponseFuture::new(handler, shared, AgeLimited::new(socket, self.age_limit))
    }
}
