use std::sync::Arc;

use tokio_test::{assert_pending, assert_ready_ok};
use tower_test::mock;

use super::{DropIncomingLayer, DropIncomingSwitch};

#[tokio::test]
async fn serves_while_off_and_drops_while_on() {
    let switch = DropIncomingSwitch::new();
    let (mut service, mut handle) =
        mock::spawn_layer::<Arc<()>, (), _>(DropIncomingLayer::new(switch.clone()));
    let connection = Arc::new(());

    assert_ready_ok!(service.poll_ready());
    let served = service.call(Arc::clone(&connection));
    let (request, reply) =
        handle.next_request().await.expect("the request reaches the inner service");
    assert!(Arc::ptr_eq(&request, &connection), "the inner service got this connection");
    assert_eq!(Arc::strong_count(&connection), 2, "served: the inner service holds it");
    drop(request);
    reply.send_response(());
    assert_ready_ok!(tokio_test::task::spawn(served).poll());
    assert_eq!(Arc::strong_count(&connection), 1, "the layer kept no reference of its own");

    switch.set(true);
    assert_ready_ok!(service.poll_ready());
    let mut dropped = tokio_test::task::spawn(service.call(Arc::clone(&connection)));
    assert_eq!(Arc::strong_count(&connection), 1, "the dropped connection is closed at once");
    assert_ready_ok!(dropped.poll());
    assert_pending!(handle.poll_request());
    assert_eq!(switch.dropped(), 1, "the drop is counted");

    switch.set(false);
    assert_ready_ok!(service.poll_ready());
    let _served_again = service.call(Arc::clone(&connection));
    let (request, _reply) = handle.next_request().await.expect("served once the switch is off");
    assert!(Arc::ptr_eq(&request, &connection));
    assert_eq!(switch.dropped(), 1);
}

#[tokio::test]
async fn is_ready_only_when_the_inner_service_is() {
    let (mut service, mut handle) =
        mock::spawn_layer::<(), (), _>(DropIncomingLayer::new(DropIncomingSwitch::new()));
    handle.allow(0);
    assert_pending!(service.poll_ready());
    handle.allow(1);
    assert_ready_ok!(service.poll_ready());
}
