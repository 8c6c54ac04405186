use std::sync::{Arc, Mutex};

use tokio_test::{assert_pending, assert_ready_ok};
use tower::{service_fn, Layer, Service};
use tower_test::mock;

use super::{ErrorPolicyLayer, OnHandlerError};
use crate::error::BoxError;

/// What the policy under test reported: `(peer, error message, raised)`.
type Reports = Arc<Mutex<Vec<(u16, String, bool)>>>;

fn layer(
    on_error: impl FnOnce(Reports) -> OnHandlerError<u16>,
) -> (ErrorPolicyLayer<u16>, Reports) {
    let reports = Reports::default();
    let raised = Arc::clone(&reports);
    let layer =
        ErrorPolicyLayer::new(on_error(Arc::clone(&reports)), move |peer, error: BoxError| {
            raised.lock().unwrap().push((peer, error.to_string(), true));
        });
    (layer, reports)
}

fn calling(reports: Reports) -> OnHandlerError<u16> {
    OnHandlerError::call(move |peer, error| {
        reports.lock().unwrap().push((*peer, error.to_string(), false))
    })
}

#[tokio::test]
async fn a_failed_handler_is_reported_with_its_peer() {
    let (layer, reports) = layer(calling);
    let (mut service, mut handle) = mock::spawn_layer::<(u16, Arc<()>), (), _>(layer);
    let socket = Arc::new(());

    assert_ready_ok!(service.poll_ready());
    let mut connection = tokio_test::task::spawn(service.call((7, Arc::clone(&socket))));
    let (request, reply) = handle.next_request().await.expect("the handler is called");
    assert_pending!(connection.poll());
    reply.send_error("boom");
    assert_ready_ok!(connection.poll(), "the policy's future never fails");
    drop(request);
    assert_eq!(*reports.lock().unwrap(), vec![(7, "boom".to_owned(), false)]);
}

#[tokio::test]
async fn raise_runs_the_raise_function_and_ignore_does_nothing() {
    for (on_error, expected) in [(OnHandlerError::Raise, 1), (OnHandlerError::Ignore, 0)] {
        let (layer, reports) = layer(|_| on_error);
        let mut service = layer.layer(service_fn(|_: (u16, ())| async { Err::<(), _>("nope") }));
        let mut connection = tokio_test::task::spawn(service.call((9, ())));
        assert_ready_ok!(connection.poll());
        assert_eq!(reports.lock().unwrap().len(), expected);
    }
}

#[tokio::test]
async fn panics_in_call_and_in_the_future_become_errors() {
    let (layer, reports) = layer(calling);
    let mut in_call =
        layer.layer(service_fn(|_: (u16, ())| -> std::future::Ready<Result<(), BoxError>> {
            panic!("in call")
        }));
    assert_ready_ok!(tokio_test::task::spawn(in_call.call((1, ()))).poll());
    let mut in_future = layer.layer(service_fn(|_: (u16, ())| async {
        panic!("in the future");
        #[allow(unreachable_code)]
        Ok::<(), BoxError>(())
    }));
    assert_ready_ok!(tokio_test::task::spawn(in_future.call((2, ()))).poll());

    let reports = reports.lock().unwrap();
    assert_eq!(reports[0].0, 1);
    assert!(reports[0].1.contains("in call"), "{reports:?}");
    assert_eq!(reports[1].0, 2);
    assert!(reports[1].1.contains("in the future"), "{reports:?}");
}

#[tokio::test]
async fn a_panicking_callback_raises() {
    let (layer, reports) = layer(|_| OnHandlerError::call(|_, _| panic!("callback")));
    let mut service = layer.layer(service_fn(|_: (u16, ())| async { Err::<(), _>("first") }));
    assert_ready_ok!(tokio_test::task::spawn(service.call((3, ()))).poll());
    assert_eq!(*reports.lock().unwrap(), vec![(3, "first".to_owned(), true)]);
}
