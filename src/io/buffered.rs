//! Async's `Tcp.Server.create`: the handler gets the peer, a buffered reader and a
//! buffered writer, and both are closed when it ends.

use std::fmt;
use std::future::Future;
use std::io;
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
use crate::error::BoxError;

/// How long the bytes a handler left behind may take to reach the peer once it has
/// returned, as Async's writer waits at close.
const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// The reading end a [`Buffered`] handler gets: tokio's [`BufReader`], so `lines()`,
/// `read_line` and `read_until` work as usual.
pub type Reader<S> = BufReader<ReadHalf<S>>;

/// A service that hands each connection to `handler(peer, reader, writer)`, as Async's
/// `Tcp.Server.create`.
///
/// When the handler returns `Ok`, what it wrote is flushed (waiting at most 30 s), the
/// write side is shut down (the peer reads EOF) and the socket closed. When it returns an
/// error or panics, the connection is closed at once and the error goes to the server's
/// `on_handler_error`. When the peer stops reading for longer than the
/// [`BufferAgeLimit`], the connection fails with [`BufferAgeLimitExceeded`]; when the peer
/// goes away, it ends.
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
        Connection {
            handler,
            handler_done: false,
            shared,
            socket: AgeLimited::new(socket, self.age_limit),
            close_timer: None,
        }
    }
}

/// The future of a [`Buffered`] connection: runs the handler while flushing its writer.
#[pin_project]
pub struct Connection<Fut, S> {
    #[pin]
    handler: Fut,
    handler_done: bool,
    shared: Arc<writer::Shared>,
    #[pin]
    socket: AgeLimited<WriteHalf<S>>,
    // Bounds the last flush, once the handler has returned.
    close_timer: Option<Pin<Box<Sleep>>>,
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
        if !*this.handler_done {
            if let Poll::Ready(result) = this.handler.poll(cx) {
                result.map_err(Into::into)?;
                *this.handler_done = true;
                this.shared.close();
                *this.close_timer = Some(Box::pin(tokio::time::sleep(CLOSE_FLUSH_TIMEOUT)));
            }
        }
        match this.shared.poll_flush_into(cx, this.socket.as_mut()) {
            Poll::Ready(Ok(())) if *this.handler_done => {
                // Everything reached the socket: send EOF, so the peer knows it has it all.
                let _ = std::task::ready!(this.socket.poll_shutdown(cx));
                Poll::Ready(Ok(()))
            }
            // The writer is closed but the handler still runs (it may only read now).
            Poll::Ready(Ok(())) => Poll::Pending,
            Poll::Ready(Err(error)) if BufferAgeLimitExceeded::find(&error).is_some() => {
                Poll::Ready(Err(error.into()))
            }
            Poll::Ready(Err(error)) => {
                tracing::debug!(%error, "the peer has gone; ending the connection");
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let timed_out =
                    this.close_timer.as_mut().is_some_and(|t| t.as_mut().poll(cx).is_ready());
                if timed_out {
                    let error = io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the handler's last bytes did not reach the peer within 30 s of its end",
                    );
                    return Poll::Ready(Err(error.into()));
                }
                Poll::Pending
            }
        }
    }
}

impl<Fut, S> fmt::Debug for Connection<Fut, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("handler_done", &self.handler_done)
            .finish_non_exhaustive()
    }
}
