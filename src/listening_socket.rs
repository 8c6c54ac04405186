//! The listening socket, shared between the acceptor and whoever looks at it.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

use socket2::SockRef;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::listen::Family;

/// The listener, with a guard that reports when its fd has been closed.
pub(crate) struct ListenerCell<F: Family> {
    pub(crate) listener: F::Listener,
    // Dropped after `listener` (fields drop in order): cancels `listener_closed` once the
    // fd is really closed, which is what `close_finished` waits for.
    _closed: DropGuard,
}

impl<F: Family> ListenerCell<F> {
    pub(crate) fn new(listener: F::Listener, listener_closed: CancellationToken) -> Self {
        ListenerCell { listener, _closed: listener_closed.drop_guard() }
    }
}

/// A view of a server's listening socket, from
/// [`Server::listening_socket`](crate::Server::listening_socket).
///
/// For setting socket options (through [`sock_ref`](Self::sock_ref)) or handing the fd to
/// code that needs it, as Async's `listening_socket` is meant for. Use it with care:
/// accepting on it directly bypasses `max_connections` and the error policy. While a view
/// is alive the fd stays open, so drop it promptly: `close_finished` waits for it.
pub struct ListeningSocket<F: Family> {
    cell: Arc<ListenerCell<F>>,
}

impl<F: Family> ListeningSocket<F> {
    pub(crate) fn new(cell: Arc<ListenerCell<F>>) -> Self {
        ListeningSocket { cell }
    }

    /// The socket, borrowed for `socket2`'s getters and setters.
    pub fn sock_ref(&self) -> SockRef<'_> {
        SockRef::from(&self.cell.listener)
    }
}

impl<F: Family> AsFd for ListeningSocket<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.cell.listener.as_fd()
    }
}

impl<F: Family> AsRawFd for ListeningSocket<F> {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl<F: Family> fmt::Debug for ListeningSocket<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ListeningSocket").field(&self.cell.listener).finish()
    }
}
