use std::error::Error as _;
use std::io;
use std::sync::Arc;

use super::*;

/// What anyhow and eyre print: each error of the chain, one after another.
fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut chain = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        chain.push(error.to_string());
        next = error.source();
    }
    chain
}

#[test]
fn each_cause_is_printed_once_along_the_chain() {
    let cause = io::Error::new(io::ErrorKind::AddrInUse, "the OS's words");
    let error =
        Error::AddrInUse { endpoint: Endpoint::Inet(([127, 0, 0, 1], 80).into()), source: cause };
    let printed = chain(&error);
    assert_eq!(printed.len(), 2, "{printed:?}");
    assert!(!printed[0].contains("the OS's words"), "{printed:?}");
    assert_eq!(printed[1], "the OS's words");

    let handler: ServerError<u16> = ServerError::Handler {
        peer: 7,
        source: Arc::new(HandlerPanicked::from_payload(Box::new("boom"))),
    };
    let printed = chain(&handler);
    assert_eq!(printed.len(), 2, "{printed:?}");
    assert_eq!(printed.iter().filter(|line| line.contains("boom")).count(), 1, "{printed:?}");
    assert!(handler.source().is_some());

    let wrapped = PeerError::new(7_u16, error);
    let printed = chain(&wrapped);
    assert_eq!(printed, chain(wrapped.error().as_ref()), "the wrapper adds no line");
    assert_eq!(printed.len(), 2, "{printed:?}");
}

#[test]
fn a_peer_error_is_taken_apart_only_for_its_own_address_type() {
    let wrapped: BoxError = Box::new(PeerError::new(7_u16, io::Error::other("failed")));
    let wrapped = PeerError::<u32>::take(wrapped).expect_err("another address type");
    let (peer, error) = PeerError::<u16>::take(wrapped).expect("a PeerError<u16>");
    assert_eq!((peer, error.to_string()), (7, "failed".to_owned()));
    let plain: BoxError = Box::new(io::Error::other("plain"));
    assert_eq!(PeerError::<u16>::take(plain).expect_err("not wrapped").to_string(), "plain");
}
