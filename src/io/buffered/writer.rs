//! The buffered writer a [`Buffered`](super::Buffered) handler writes to, and the flusher
//! that drains it into the socket on the connection's task.
//!
//! As Async's `Writer`: writes land in a buffer and return at once; the connection drains
//! the buffer into the socket in the background, and does so again after the handler has
//! returned, so nothing the handler wrote is lost at close. Unlike Async's, the buffer is
//! bounded: a handler that outruns its peer waits for room, and the age limit on the socket
//! underneath ends a peer that stopped reading.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;
use tokio::io::AsyncWrite;

use crate::clock;
use crate::io::BufferAgeLimitExceeded;

/// How many unflushed bytes a [`Writer`] holds before a write waits for the peer.
const WRITER_CAPACITY: usize = 64 * 1024;

/// What the handler's [`Writer`] and the connection's flusher share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

/// What the writer's errors carry once the socket has failed, so that the connection can
/// tell the writer's error, passed back up by the handler, from the handler's own.
#[derive(Debug)]
pub(super) struct SocketFailed(String);

impl fmt::Display for SocketFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SocketFailed {}

/// A socket error, kept so that each later write can fail with its own copy.
#[derive(Debug)]
enum Failure {
    AgeLimit(BufferAgeLimitExceeded),
    Io(io::ErrorKind, String),
}

#[derive(Debug, Default)]
struct State {
    buf: Vec<u8>,
    // How much of `buf` has reached the socket.
    flushed: usize,
    // Why the socket can take no more, once it cannot; every later write fails with it.
    failed: Option<Failure>,
    // No more bytes will come: the writer was shut down or dropped, or the handler ended.
    closed: bool,
    // The handler, waiting for room or for a flush.
    writer_waker: Option<Waker>,
    // The connection, waiting for bytes.
    flusher_waker: Option<Waker>,
}

impl State {
    fn pending(&self) -> &[u8] {
        &self.buf[self.flushed..]
    }

    fn error(&self) -> Option<io::Error> {
        self.failed.as_ref().map(|failure| match failure {
            Failure::AgeLimit(exceeded) => clock::timed_out(*exceeded),
            Failure::Io(kind, message) => io::Error::new(*kind, SocketFailed(message.clone())),
        })
    }

    fn wake_writer(&mut self) {
        if let Some(waker) = self.writer_waker.take() {
            waker.wake();
        }
    }

    fn wake_flusher(&mut self) {
        if let Some(waker) = self.flusher_waker.take() {
            waker.wake();
        }
    }
}

impl Shared {
    /// Ready once every buffered byte has reached the socket.
    fn poll_flushed(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.state.lock();
        if let Some(error) = state.error() {
            return Poll::Ready(Err(error));
        }
        if state.pending().is_empty() {
            return Poll::Ready(Ok(()));
        }
        state.writer_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// No more bytes will come; the flusher finishes once the buffer is empty.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        state.wake_flusher();
    }

    /// Writes buffered bytes to `socket` until the buffer is empty and closed (`Ok`), the
    /// socket fails (`Err`, also recorded for the writer), or it must wait (`Pending`).
    pub(crate) fn poll_flush_into<W: AsyncWrite>(
        &self,
        cx: &mut Context<'_>,
        mut socket: Pin<&mut W>,
    ) -> Poll<io::Result<()>> {
        let mut state = self.state.lock();
        loop {
            if state.pending().is_empty() {
                if let Err(error) = std::task::ready!(socket.as_mut().poll_flush(cx)) {
                    return Poll::Ready(Err(fail(&mut state, error)));
                }
                if state.closed {
                    return Poll::Ready(Ok(()));
                }
                state.flusher_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            match std::task::ready!(socket.as_mut().poll_write(cx, state.pending())) {
                Ok(0) => {
                    let error =
                        io::Error::new(io::ErrorKind::WriteZero, "the socket took no bytes");
                    return Poll::Ready(Err(fail(&mut state, error)));
                }
                Ok(n) => {
                    state.flushed += n;
                    if state.pending().is_empty() {
                        state.buf.clear();
                        state.flushed = 0;
                    }
                    state.wake_writer();
                }
                Err(error) => return Poll::Ready(Err(fail(&mut state, error))),
            }
        }
    }
}

fn fail(state: &mut State, error: io::Error) -> io::Error {
    state.failed = Some(match BufferAgeLimitExceeded::find(&error) {
        Some(exceeded) => Failure::AgeLimit(*exceeded),
        None => Failure::Io(error.kind(), error.to_string()),
    });
    state.wake_writer();
    error
}

/// The writing end a [`Buffered`](super::Buffered) handler gets: a buffered
/// [`AsyncWrite`] over the connection's socket.
///
/// `write` returns once the bytes are buffered (waiting only while 64 KiB are unflushed);
/// `flush` waits until they have reached the socket. Whatever is buffered when the handler
/// returns is still sent. Once the socket fails (the peer left, or the buffer age limit
/// passed) every write and flush fails with that error.
#[derive(Debug)]
pub struct Writer {
    shared: Arc<Shared>,
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Writer { shared }
    }
}

impl AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.shared.state.lock();
        if let Some(error) = state.error() {
            return Poll::Ready(Err(error));
        }
        if state.closed {
            let error = io::Error::new(io::ErrorKind::BrokenPipe, "the writer was shut down");
            return Poll::Ready(Err(error));
        }
        let room = WRITER_CAPACITY.saturating_sub(state.pending().len());
        if room == 0 {
            state.writer_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(buf.len());
        state.buf.extend_from_slice(&buf[..n]);
        // The connection's task flushes right after it polls the handler: when the handler
        // writes from that task, waking it would only poll it once more for nothing.
        if !state.flusher_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            state.wake_flusher();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.poll_flushed(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.shared.poll_flushed(cx))?;
        self.shared.close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.close();
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tower::{Layer, ServiceExt};

    use super::*;
    use crate::io::{BufferedConnection, BufferingLayer};

    /// A handler's write on the connection's own task is flushed in the same poll, so it
    /// must not wake the task again: one poll per line echoed, and one for the end.
    #[tokio::test]
    async fn a_write_on_the_connections_own_task_does_not_wake_it_again() {
        let (mut peer, server) = tokio::io::duplex(64 * 1024);
        let echo = BufferingLayer::new().layer(tower::service_fn(
            |(_peer, mut reader, mut writer): BufferedConnection<(), DuplexStream>| async move {
                let mut line = String::new();
                while reader.read_line(&mut line).await? > 0 {
                    writer.write_all(line.as_bytes()).await?;
                    line.clear();
                }
                Ok::<_, io::Error>(())
            },
        ));
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&polls);
        let mut connection = Box::pin(echo.oneshot(((), server)));
        let connection = tokio::spawn(std::future::poll_fn(move |cx| {
            counted.fetch_add(1, Ordering::Relaxed);
            connection.as_mut().poll(cx)
        }));
        let mut echoed = [0; 2];
        for _ in 0..100 {
            peer.write_all(b"x\n").await.unwrap();
            peer.read_exact(&mut echoed).await.unwrap();
            assert_eq!(&echoed, b"x\n");
        }
        drop(peer);
        connection.await.expect("no panic").expect("the handler's Ok");
        let polls = polls.load(Ordering::Relaxed);
        assert!(polls <= 101, "{polls} polls for 100 lines: one a line and one to end");
    }
}
