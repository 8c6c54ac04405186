//! `axum::serve`, the HTTP race's reference: as its documentation shows it, on a
//! `tokio::net::TcpListener` (backlog 128), with `ConnectInfo` for `/peer`.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::{router::router, runtime, Control, Started};

/// Serves until the child exits.
pub(super) fn serve(tx: &Started) {
    runtime().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tx.send((addr, Control::Unclosable)).expect("send");
        let app = router().into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.expect("axum::serve returns only on shutdown");
    });
}
