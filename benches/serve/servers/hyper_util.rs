//! The HTTP race's floor: hyper-util's auto (HTTP/1.1 or HTTP/2) connection builder in a
//! plain accept loop, no limits, no graceful shutdown, nothing else; each request gets
//! `ConnectInfo` for `/peer`, as axum's connect-info service would give it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use tokio::net::TcpListener;
use tower::Service;

use super::{router::router, runtime, Control, Started};

/// Serves until the child exits.
pub(super) fn serve(tx: &Started) {
    runtime().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tx.send((addr, Control::Unclosable)).expect("send");
        let router = router();
        // One builder for every connection, as tcp-serve's adapter shares its own.
        let builder = Arc::new(Builder::new(TokioExecutor::new()));
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                // As tokio-raw: out of descriptors, try again soon (and spin meanwhile).
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
            };
            let router = router.clone();
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                router.clone().call(request)
            });
            let builder = Arc::clone(&builder);
            tokio::spawn(async move {
                let _ = builder.serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
}
