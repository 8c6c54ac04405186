use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project::pin_project;
use tokio::io::{AsyncWrite, WriteHalf};
use tokio::time::Sleep;

use super::writer::{self, SocketFailed};
use crate::chain;
use crate::error::{BoxError, HandlerPanicked};
use crate::io::{AgeLimited, BufferAgeLimitExceeded};

/// How long the bytes a handler left behind may take to reach the peer, and the write side
/// to shut down, once it has returned: Async's writer waits as long at close.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a handler may go on once its socket has failed: time to see the error on its
/// next write or flush and return. Then the connection is closed regardless.
const FAILED_HANDLER_GRACE: Duration = Duration::from_secs(1);

/// The future of a [`Buffered`](super::Buffered) connection: runs the handler while
/// flushing its writer into the socket, then flushes the rest and closes.
#[pin_project]
pub struct ResponseFuture<Fut, S> {
    // The handler, until it ends or its grace after a socket failure runs out.
    #[pin]
    handler: Option<Fut>,
    // How the handler ended (a panic becomes an error); `None` while it runs.
    ended: Option<Result<(), BoxError>>,
    // Why the socket stopped taking bytes, once it has.
    failed: Option<io::Error>,
    shared: Arc<writer::Shared>,
    #[pin]
    socket: AgeLimited<WriteHalf<S>>,
    // Bounds the handler once the socket has failed, then the close once it has ended.
    #[pin]
    deadline: Option<Sleep>,
}

impl<Fut, S> ResponseFuture<Fut, S> {
    pub(super) fn new(
        handler: Fut,
        shared: Arc<writer::Shared>,
        socket: AgeLimited<WriteHalf<S>>,
    ) -> Self {
        ResponseFuture {
            handler: Some(handler),
            ended: None,
            failed: None,
            shared,
            socket,
            deadline: None,
        }
    }
}

impl<Fut, E, S> Future for ResponseFuture<Fut, S>
where
    Fut: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
    S: AsyncWrite,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(handler) = this.handler.as_mut().as_pin_mut() {
            let ended = match panic::catch_unwind(AssertUnwindSafe(|| handler.poll(cx))) {
                Ok(Poll::Pending) => None,
                Ok(Poll::Ready(result)) => Some(result.map_err(Into::into)),
                Err(payload) => Some(Err(HandlerPanicked::from_payload(payload).into())),
            };
            if let Some(ended) = ended {
                // Dropping the handler drops its writer, which closes the buffer.
                this.handler.set(None);
                this.shared.close();
                *this.ended = Some(ended);
                this.deadline.set(Some(tokio::time::sleep(CLOSE_FLUSH_TIMEOUT)));
            }
        }
        if this.failed.is_none() {
            match this.shared.poll_flush_into(cx, this.socket.as_mut()) {
                Poll::Ready(Err(error)) => {
                    *this.failed = Some(error);
                    if this.handler.is_some() {
                        this.deadline.set(Some(tokio::time::sleep(FAILED_HANDLER_GRACE)));
                    }
                }
                // Everything the handler wrote reached the socket: after a clean end, send
                // EOF so the peer knows it has it all. A failed shutdown ends it the same.
                Poll::Ready(Ok(())) if this.ended.is_some() => {
                    let shut = match this.ended {
                        Some(Ok(())) => this.socket.as_mut().poll_shutdown(cx).is_ready(),
                        _ => true,
                    };
                    if shut {
                        return Poll::Ready(outcome(this.ended.take(), this.failed.take()));
                    }
                }
                // The writer is open, or closed with the handler still reading.
                Poll::Ready(Ok(())) | Poll::Pending => {}
            }
        }
        if this.ended.is_some() && this.failed.is_some() {
            return Poll::Ready(outcome(this.ended.take(), this.failed.take()));
        }
        let out_of_time = this.deadline.as_pin_mut().is_some_and(|d| d.poll(cx).is_ready());
        if !out_of_time {
            return Poll::Pending;
        }
        if this.ended.is_none() {
            // The socket failed and the handler did not return within its grace.
            this.handler.set(None);
            return Poll::Ready(outcome(None, this.failed.take()));
        }
        Poll::Ready(match this.ended.take() {
            Some(Err(error)) if !is_the_writers(&*error) => Err(error),
            _ => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the handler's last bytes did not reach the peer within 30 s of its end",
            )
            .into()),
        })
    }
}

/// How a connection ends. The handler's own failure (an error it made, or a panic) always
/// counts; the socket's failure counts only if it is the buffer age limit: a peer that left
/// just ends the connection, also when the handler returned the writer's error for it.
fn outcome(ended: Option<Result<(), BoxError>>, failed: Option<io::Error>) -> Result<(), BoxError> {
    if let Some(Err(error)) = ended {
        if !is_the_writers(&*error) {
            return Err(error);
        }
    }
    match failed {
        Some(failure) if BufferAgeLimitExceeded::find(&failure).is_some() => Err(failure.into()),
        Some(failure) => {
            tracing::debug!(error = %failure, "the peer has gone; ending the connection");
            Ok(())
        }
        None => Ok(()),
    }
}

/// Whether `error` is one the writer gave the handler, passed back up as it was or as the
/// source of the handler's own.
fn is_the_writers(error: &(dyn std::error::Error + 'static)) -> bool {
    chain::find::<SocketFailed>(error).is_some() || BufferAgeLimitExceeded::find(error).is_some()
}

impl<Fut, S> fmt::Debug for ResponseFuture<Fut, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("running", &self.handler.is_some())
            .field("ended", &self.ended)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncWriteExt, DuplexStream};
    use tower::{Layer, ServiceExt};

    use super::*;
    use crate::io::{BufferedConnection, BufferingLayer};

    /// A handler's own error with the writer's as its source, as `anyhow`'s context makes.
    #[derive(Debug)]
    struct WhileAnswering(io::Error);

    impl fmt::Display for WhileAnswering {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("while answering")
        }
    }

    impl std::error::Error for WhileAnswering {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// A peer that left ends the connection quietly, also when the handler passes the
    /// writer's error on inside one of its own.
    #[tokio::test]
    async fn the_writers_error_inside_the_handlers_own_is_still_the_writers() {
        let (peer, server) = tokio::io::duplex(64);
        drop(peer);
        let handler = BufferingLayer::new().layer(tower::service_fn(
            |(_peer, _reader, mut writer): BufferedConnection<(), DuplexStream>| async move {
                loop {
                    let written = async {
                        writer.write_all(b"x").await?;
                        writer.flush().await
                    };
                    if let Err(error) = written.await {
                        return Err::<(), _>(WhileAnswering(error));
                    }
                }
            },
        ));
        let ended = tokio::time::timeout(Duration::from_secs(10), handler.oneshot(((), server)));
        let ended = ended.await.expect("the handler sees the gone peer");
        assert!(ended.is_ok(), "a gone peer is no handler failure: {ended:?}");
    }
}
