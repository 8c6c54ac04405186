//! tokio-raw: `TcpListener::accept` + `tokio::spawn`, nothing else.

use std::sync::mpsc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

use super::{echo, runtime, Control, Started};
use crate::contestants::Contestant;

/// Serves until the parent's `close`, then drops the runtime (its only way to close).
pub(super) fn serve(c: &Contestant, tx: &Started) {
    let rt = runtime();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    rt.block_on(async move {
        let listener = match c.backlog {
            // `TcpListener::bind`'s backlog is mio's: 128.
            None => TcpListener::bind("127.0.0.1:0").await.expect("bind"),
            Some(backlog) => {
                let socket = TcpSocket::new_v4().expect("socket");
                socket.set_reuseaddr(true).expect("reuseaddr");
                socket.bind(([127, 0, 0, 1], 0).into()).expect("bind");
                socket.listen(backlog as u32).expect("listen")
            }
        };
        let addr = listener.local_addr().expect("addr");
        tx.send((addr, Control::Raw(Some((stop_tx, done_rx))))).expect("send");
        let buf = c.buf;
        let accept_loop = async {
            loop {
                match listener.accept().await {
                    Ok((stream, _peer)) => {
                        if c.nodelay == Some(true) {
                            // The `tokio-raw+nodelay` diagnostic: as tcp-serve by default.
                            let _ = stream.set_nodelay(true);
                        }
                        tokio::spawn(async move {
                            let _ = echo(stream, buf).await;
                        });
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
        };
        tokio::select! {
            _ = stop_rx => {}
            () = accept_loop => {}
        }
    });
    drop(rt);
    let _ = done_tx.send(());
}
