use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

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

/// A stream whose first bytes were read already: reads give those back first. Dropping it
/// drops `dropped`, which tells the connection its socket is gone, even when an HTTP
/// upgrade took it into a task of the service's own.
#[derive(Debug)]
pub(super) struct Prefixed<Io> {
    prefix: Vec<u8>,
    // How much of `prefix` has been given back.
    given: usize,
    io: Io,
    _dropped: oneshot::Sender<()>,
}

impl<Io> Prefixed<Io> {
    pub(super) fn new(prefix: Vec<u8>, io: Io, dropped: oneshot::Sender<()>) -> Self {
        Prefixed { prefix, given: 0, io, _dropped: dropped }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Prefixed<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let rest = &this.prefix[this.given..];
        if rest.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = rest.len().min(buf.remaining());
        buf.put_slice(&rest[..n]);
        this.given += n;
        Poll::Ready(Ok(()))
    }
}

// By hand, each method: hyper writes vectored when the stream can.
impl<Io: AsyncWrite + Unpin> AsyncWrite for Prefixed<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}
