mod common;

use common::*;
use tcp_serve::{Inet, Serve, WhereToListen};

#[tokio::test]
async fn echoes_and_closes() {
    let server = Serve::new(WhereToListen::localhost_port_chosen_by_os())
        .serve(echo::<Inet>())
        .await
        .unwrap();
    let mut client = connect(&server).await;
    assert_echoes(&mut client, b"hello").await;
    until_connections(&server, 1).await;
    server.invariant();
    within("close", server.close()).await;
    assert!(server.is_closed());
    assert_echoes(&mut client, b"still served").await;
    drop(client);
    until_connections(&server, 0).await;
    server.invariant();
    println!("{server:?}");
}
