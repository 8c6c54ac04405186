//! A stream whose first bytes were read already: the PROXY layer reads past its header, and
//! the HTTP adapter reads the client's first bytes to learn its HTTP version. Both hand
//! those bytes back with [`Rewind`], as hyper's own `Rewind` does.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tokio::io::{AsyncRead, ReadBuf};

/// A stream whose reads return the bytes given to [`new`](Self::new) first, then what
/// `inner` reads. Writes go to `inner`. Once the bytes are handed out a read costs one
/// comparison more than the inner stream's.
#[pin_project]
#[derive(Debug)]
pub(crate) struct Rewind<S> {
    #[pin]
    inner: S,
    // Bytes read already, handed out from `replayed` on; emptied (and freed) once all are
    // handed out.
    replay: Vec<u8>,
    replayed: usize,
}

impl<S> Rewind<S> {
    /// A stream that first returns `replay`, then reads from `inner`.
    pub(crate) fn new(inner: S, replay: Vec<u8>) -> Self {
        Rewind { inner, replay, replayed: 0 }
    }
}

// For `ProxiedStream`'s accessors; the HTTP adapter needs none.
#[cfg_attr(not(feature = "proxy-protocol"), allow(dead_code))]
impl<S> Rewind<S> {
    /// The inner stream.
    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner stream, mutably: reading from it skips the bytes not handed out yet.
    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The stream and the bytes that have not been handed out yet.
    pub(crate) fn into_parts(mut self) -> (S, Vec<u8>) {
        let unread = self.replay.split_off(self.replayed);
        (self.inner, unread)
    }
}

impl<S: AsyncRead> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if this.replay.is_empty() {
            return this.inner.poll_read(cx, buf);
        }
        let kept = &this.replay[*this.replayed..];
        let n = kept.len().min(buf.remaining());
        buf.put_slice(&kept[..n]);
        *this.replayed += n;
        if *this.replayed == this.replay.len() {
            *this.replay = Vec::new();
            *this.replayed = 0;
        }
        Poll::Ready(Ok(()))
    }
}

forward_async_write!(Rewind, inner);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn hands_back_the_bytes_read_then_reads_on() {
        let (mut client, stream) = tokio::io::duplex(64);
        client.write_all(b" and then the stream").await.unwrap();
        drop(client);
        let mut rewind = Rewind::new(stream, b"read already".to_vec());

        // A small buffer takes the kept bytes in pieces, never mixed with the stream's.
        let mut piece = [0; 5];
        assert_eq!(rewind.read(&mut piece).await.unwrap(), 5);
        assert_eq!(&piece, b"read ");
        let mut rest = String::new();
        rewind.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "already and then the stream");
        assert!(rewind.replay.capacity() == 0, "the kept bytes are freed once handed out");
    }

    #[test]
    fn into_parts_gives_back_what_was_not_handed_out() {
        let rewind = Rewind::new((), b"abc".to_vec());
        assert_eq!(rewind.into_parts(), ((), b"abc".to_vec()));
    }
}
