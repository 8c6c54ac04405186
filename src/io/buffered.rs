//! Async's `Tcp.Server.create`: the handler gets the peer, a buffered reader and a
//! buffered writer, and both are closed when it ends.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadHalf, WriteHalf};
use tokio::time::Sleep;
use tower::Service;

use super::writer::{self, Writer};
use super::{AgeLimited, BufferAgeLimit, BufferAgeLimitExceeded};
use crate::error::{BoxError, HandlerPanicked};

/// How long the bytes a handler left behind may take to reach the peer once it has
/// returned, as Async's writer waits at close.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a handler may go on once its socket has failed: time to see the error on its
/// next write or flush and return. Then the connection is closed regardless.
const FAILED_HANDLER_GRACE: Duration = Duration::from_secs(1);

/// The reading end a [`Buffered`] handler gets: tokio's [`BufReader`], so `lines()`,
/// `read_line` and `read_until` work as usual.
pub type Reader<S> = BufReader<ReadHalf<S>>;

/// A service that hands each connection to `handler(peer, reader, writer)`, as Async's
/// `Tcp.Server.create`.
///
/// When the handler returns, what it wrote is flushed (waiting at most 30 s) and the socket
/// closed; after an `Ok` the write side is shut down first, so the peer reads EOF. An error
/// or a panic then goes to the server's `on_handler_error`. When the peer stops reading for
/// longer than the [`BufferAgeLimit`], the writer fails with [`BufferAgeLimitExceeded`],
/// which the handler sees on its next write or flush; it has a second to return, and the
/// connection fails with that error. When the peer goes away, the connection just ends.
///
/// ```
/// use tcp_serve::io::{Buffered, BufferAgeLimit, Reader, Writer};
/// use tcp_serve::{Serve, WhereToListen};
/// use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tcp_serve::Error> {
/// let shout = Buffered::new(
///     |_peer: std::net::SocketAddr, reader: Reader<tokio::net::TcpStream>, mut writer: Writer| async move {
///         let mut lines = reader.lines();
///         while let Some(line) = lines.next_line().await? {
///             writer.write_all(line.to_uppercase().as_bytes()).await?;
///             writer.write_all(b"\n").await?;
///         }
///         Ok::<_, std::io::Error>(())
///     },
/// )
/// .buffer_age_limit(BufferAgeLimit::AtMost(std::time::Duration::from_secs(30)));
/// let server = Serve::new(WhereToListen::localhost_port_chosen_by_os()).serve(shout).await?;
/// # server.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Buffered<H> {
    handler: H,
    age_limit: BufferAgeLimit,
}

impl<H> Buffered<H> {
    /// Serves each connection with `handler`, with the default [`BufferAgeLimit`] (2 min).
    pub fn new(handler: H) -> Self {
        Buffered { handler, age_limit: BufferAgeLimit::default() }
    }

    /// How long written bytes may wait for a peer that is not reading.
    pub fn buffer_age_limit(mut self, limit: BufferAgeLimit) -> Self {
        self.age_limit = limit;
        self
    }
}

impl<H> fmt::Debug for Buffered<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Buffered").field("age_limit", &self.age_limit).finish_non_exhaustive()
    }
}

impl<H, A, S, Fut, E> Service<(A, S)> for Buffered<H>
where
    H: FnMut(A, Reader<S>, Writer) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
    S: AsyncRead + AsyncWrite,
{
    type Response = ();
    type Error = BoxError;
    type Future = Connection<Fut, S>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, (peer, stream): (A, S)) -> Self::Future {
        let (reader, socket) = tokio::io::split(stream);
        let shared = Arc::new(writer::Shared::default());
        let handler =
            (self.handler)(peer, BufReader::new(reader), Writer::new(Arc::clone(&shared)));
        Connection::new(handler, shared, AgeLimited::new(socket, self.age_limit))
    }
}

/// The future of a [`Buffered`] connection: runs the handler while flushing its writer.
#[pin_project]
pub struct Connection<Fut, S> {
    #[pin]
    handler: Fut,
    // How the handler ended (a panic becomes an error); `None` while it runs.
    ended: Option<Result<(), BoxError>>,
    // Why the socket stopped taking bytes, once it has.
    failed: Option<io::Error>,
    shared: Arc<writer::Shared>,
    #[pin]
    socket: AgeLimited<WriteHalf<S>>,
    // Bounds the last flush once the handler has ended, or the handler once the socket
    // has failed.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<Fut, S> Connection<Fut, S> {
    fn new(handler: Fut, shared: Arc<writer::Shared>, socket: AgeLimited<WriteHalf<S>>) -> Self {
        Connection { handler, ended: None, failed: None, shared, socket, deadline: None }
    }
}

impl<Fut, E, S> Future for Connection<Fut, S>
where
    Fut: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
    S: AsyncWrite,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.ended.is_none() {
            let handler = this.handler.as_mut();
            let ended = match panic::catch_unwind(AssertUnwindSafe(|| handler.poll(cx))) {
                Ok(Poll::Pending) => None,
                Ok(Poll::Ready(result)) => Some(result.map_err(Into::into)),
                Err(payload) => Some(Err(HandlerPanicked::from_payload(payload).into())),
            };
            if let Some(ended) = ended {
                *this.ended = Some(ended);
                this.shared.close();
                if this.failed.is_none() {
                    *this.deadline = Some(Box::pin(tokio::time::sleep(CLOSE_FLUSH_TIMEOUT)));
                }
            }
        }
        if this.failed.is_none() {
            match this.shared.poll_flush_into(cx, this.socket.as_mut()) {
                Poll::Ready(Ok(())) if this.ended.is_some() => {
                    // All the handler wrote reached the socket, even if it then failed: send
                    // EOF after a clean end, so the peer knows it has everything.
                    if matches!(this.ended, Some(Ok(()))) {
                        let _ = std::task::ready!(this.socket.poll_shutdown(cx));
                    }
                    return Poll::Ready(this.ended.take().expect("checked above"));
                }
                // The writer is closed but the handler still runs (it may only read now).
                Poll::Ready(Ok(())) | Poll::Pending => {}
                // The handler had already failed: its error is the one to report.
                Poll::Ready(Err(error)) if matches!(this.ended, Some(Err(_))) => {
                    tracing::debug!(%error, "the handler's last bytes were not delivered");
                    return Poll::Ready(this.ended.take().expect("checked above"));
                }
                Poll::Ready(Err(error)) => {
                    *this.failed = Some(error);
                    *this.deadline = Some(Box::pin(tokio::time::sleep(FAILED_HANDLER_GRACE)));
                }
            }
        }
        let out_of_time = this.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready());
        if this.failed.is_some() {
            // Whatever the handler did after the socket failed is a consequence of it.
            let done = this.ended.is_some() || out_of_time;
            return match this.failed.take_if(|_| done) {
                Some(failure) => Poll::Ready(failed(failure)),
                None => Poll::Pending,
            };
        }
        if !out_of_time {
            return Poll::Pending;
        }
        Poll::Ready(match this.ended.take() {
            Some(Err(error)) => Err(error),
            _ => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the handler's last bytes did not reach the peer within 30 s of its end",
            )
            .into()),
        })
    }
}

/// How a connection whose socket failed ends: an exceeded age limit is the connection's
/// error; a peer that left just ends it.
fn failed(failure: io::Error) -> Result<(), BoxError> {
    if BufferAgeLimitExceeded::find(&failure).is_some() {
        Err(failure.into())
    } else {
        tracing::debug!(error = %failure, "the peer has gone; ending the connection");
        Ok(())
    }
}

impl<Fut, S> fmt::Debug for Connection<Fut, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("ended", &self.ended)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}
