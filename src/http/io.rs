use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::request::Shared;
use crate::rewind::Rewind;

/// What an HTTP/2 client with prior knowledge sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads the client's first bytes into `prefix` until they tell HTTP/2's preface from
/// anything else (often the first byte does), or until EOF.
///
/// hyper-util's auto builder reads them too, but with no timeout: a client that sends
/// nothing would hold its connection forever. The adapter reads them under the header read
/// timeout, then hands them back to hyper with [`Prefixed`].
pub(super) async fn read_version<Io>(io: &mut Io, prefix: &mut Vec<u8>) -> io::Result<()>
where
    Io: AsyncRead + Unpin,
{
    let mut chunk = [0; H2_PREFACE.len()];
    while prefix.len() < H2_PREFACE.len() && H2_PREFACE.starts_with(prefix) {
        let n = io.read(&mut chunk[..H2_PREFACE.len() - prefix.len()]).await?;
        if n == 0 {
            break;
        }
        prefix.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

/// The connection's stream as hyper gets it: the client's first bytes, read by
/// [`read_version`], come back first. Dropping it tells the connection that its socket is
/// gone, even when an HTTP upgrade took it into a task of the service's own.
#[pin_project]
#[derive(Debug)]
pub(super) struct Prefixed<Io> {
    #[pin]
    io: Rewind<Io>,
    // Declared after `io`, so dropped after it: the socket is closed by the time the
    // connection hears of it.
    _gone: StreamGone,
}

impl<Io> Prefixed<Io> {
    pub(super) fn new(prefix: Vec<u8>, io: Io, shared: Arc<Shared>) -> Self {
        Prefixed { io: Rewind::new(io, prefix), _gone: StreamGone(shared) }
    }
}

impl<Io: AsyncRead> AsyncRead for Prefixed<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

forward_async_write!(Prefixed, io);

/// Tells the connection, when dropped, that its stream is gone.
#[derive(Debug)]
struct StreamGone(Arc<Shared>);

impl Drop for StreamGone {
    fn drop(&mut self) {
        self.0.stream_dropped();
    }
}
