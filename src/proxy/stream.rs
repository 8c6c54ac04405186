//! The stream a service behind [`ProxyProtocolLayer`](super::ProxyProtocolLayer) reads:
//! the bytes read along with the header first, then the connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project::pin_project;
use tokio::io::{AsyncRead, ReadBuf};

use super::header::ProxyInfo;
use crate::rewind::Rewind;

/// A connection whose PROXY header has been read: reads return exactly the bytes the
/// client sent after the header (or all of them, for a direct client without one), and
/// [`proxy_info`](Self::proxy_info) says what the header said.
///
/// The header is read in a few large reads rather than byte by byte, so bytes that came
/// with it are kept here and handed out by the first reads, as hyper's `Rewind` does.
/// Once they are handed out a read costs one comparison more than the inner stream's.
#[pin_project]
#[derive(Debug)]
pub struct ProxiedStream<S> {
    #[pin]
    inner: Rewind<S>,
    // Boxed: it is rarely looked at, and the stream moves into every handler.
    info: Option<Box<ProxyInfo>>,
}

impl<S> ProxiedStream<S> {
    /// A stream that first returns `replay`, then reads from `inner`; `info` is what the
    /// header said (`None` for a direct client).
    pub(super) fn new(inner: S, replay: Vec<u8>, info: Option<ProxyInfo>) -> Self {
        ProxiedStream { inner: Rewind::new(inner, replay), info: info.map(Box::new) }
    }

    /// What the PROXY header said: the client, the destination, TLVs. `None` for a client
    /// served without a header (see [`Header::Optional`](super::Header::Optional)).
    pub fn proxy_info(&self) -> Option<&ProxyInfo> {
        self.info.as_deref()
    }

    /// The connection.
    pub fn get_ref(&self) -> &S {
        self.inner.get_ref()
    }

    /// The connection, mutably. Reading from it directly skips any bytes still kept here.
    pub fn get_mut(&mut self) -> &mut S {
        self.inner.get_mut()
    }

    /// The connection and the bytes read from it that have not been handed out yet (there
    /// are none once the first reads have returned them).
    pub fn into_parts(self) -> (S, Vec<u8>) {
        self.inner.into_parts()
    }
}

impl<S: AsyncRead> AsyncRead for ProxiedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.project().inner.poll_read(cx, buf)
    }
}

forward_async_write!(ProxiedStream, inner);
