use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use proxy_header::{ProxiedAddress, ProxyHeader, Tlv};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;
use tower::{service_fn, Layer, Service, ServiceExt};

use super::*;
use crate::error::BoxError;

const BALANCER: &str = "127.0.0.1:40000";
const CLIENT: &str = "192.0.2.7:4242";
const FRONTEND: &str = "198.51.100.1:443";
/// How long the test handler waits for more bytes before it concludes none are coming.
const QUIET: Duration = Duration::from_secs(1);
/// The bound on every wait. The tests run on paused time, where it costs nothing and turns
/// a hang into a failure; it is longer than any wait a test means.
const WAIT: Duration = Duration::from_secs(120);

/// `future`'s output, or a failure naming `what` after [`WAIT`].
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What a handler was called with: the address, the header, every byte it could read.
#[derive(Debug, Clone, PartialEq)]
struct Call {
    address: SocketAddr,
    info: Option<ProxyInfo>,
    bytes: Vec<u8>,
}

type Calls = Arc<Mutex<Vec<Call>>>;

/// A handler that records its call, reading until EOF or a quiet second.
fn recording(
    calls: &Calls,
) -> impl Service<
    (SocketAddr, ProxiedStream<DuplexStream>),
    Response = (),
    Error = io::Error,
    Future = impl Send,
> + Clone {
    let calls = Arc::clone(calls);
    service_fn(move |(address, mut stream): (SocketAddr, ProxiedStream<DuplexStream>)| {
        let calls = Arc::clone(&calls);
        async move {
            let info = stream.proxy_info().cloned();
            let mut bytes = Vec::new();
            while let Ok(Ok(n)) = tokio::time::timeout(QUIET, stream.read_buf(&mut bytes)).await {
                if n == 0 {
                    break;
                }
            }
            calls.lock().unwrap().push(Call { address, info, bytes });
            Ok(())
        }
    })
}

/// Serves one connection from `peer` through `layer`; the client's end and the
/// connection's future, which fails the test if it has not ended after [`WAIT`].
async fn connect(
    layer: &ProxyProtocolLayer,
    calls: &Calls,
    peer: &str,
) -> (DuplexStream, impl std::future::Future<Output = Result<(), BoxError>>) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let mut service = layer.layer(recording(calls));
    let future = service.ready().await.unwrap().call((addr(peer), server));
    (client, async move { within("the connection to end", future).await })
}

fn v2(address: Option<ProxiedAddress>, tlvs: Vec<Tlv<'static>>) -> Vec<u8> {
    let mut header = Vec::new();
    ProxyHeader::with_tlvs(address, tlvs).encode_v2(&mut header).unwrap();
    header
}

fn proxied() -> Option<ProxiedAddress> {
    Some(ProxiedAddress::stream(addr(CLIENT), addr(FRONTEND)))
}

#[tokio::test(start_paused = true)]
async fn a_v1_header_names_the_client_and_the_bytes_after_it_reach_the_handler() {
    let calls = Calls::default();
    let (mut client, connection) = connect(&ProxyProtocolLayer::new(), &calls, BALANCER).await;
    let connection = tokio::spawn(connection);
    // Split mid-header, and the application's bytes in the header's last segment.
    client.write_all(b"PROXY TCP4 192.0.2.7 198.51.100.1 42").await.unwrap();
    tokio::task::yield_now().await;
    client.write_all(b"42 443\r\nhello").await.unwrap();
    drop(client);
    connection.await.unwrap().unwrap();
    let call = calls.lock().unwrap().pop().expect("the handler was called");
    assert_eq!(call.address, addr(CLIENT));
    assert_eq!(call.bytes, b"hello");
    let info = call.info.expect("the header");
    assert_eq!((info.version(), info.is_local()), (Version::V1, false));
    assert_eq!(info.destination(), Some(addr(FRONTEND)));
}

#[tokio::test(start_paused = true)]
async fn a_v2_header_carries_its_tlvs_to_the_handler() {
    let calls = Calls::default();
    let (mut client, connection) = connect(&ProxyProtocolLayer::new(), &calls, BALANCER).await;
    let mut sent = v2(
        proxied(),
        vec![Tlv::Authority("example.com".into()), Tlv::Custom(0xE0, b"x".to_vec().into())],
    );
    sent.extend_from_slice(b"\r\n\r\nbinary\0after");
    client.write_all(&sent).await.unwrap();
    drop(client);
    connection.await.unwrap();
    let call = calls.lock().unwrap().pop().expect("the handler was called");
    assert_eq!(call.address, addr(CLIENT));
    assert_eq!(call.bytes, b"\r\n\r\nbinary\0after");
    let info = call.info.expect("the header");
    assert_eq!(info.version(), Version::V2);
    assert_eq!(info.header().authority(), Some("example.com"));
    assert_eq!(info.tlvs().count(), 2);
}

#[tokio::test(start_paused = true)]
async fn v2_local_and_v1_unknown_are_served_as_the_peer_itself() {
    let local = v2(None, vec![]);
    let unix_family = {
        // PROXY (not LOCAL) for AF_UNIX: no inet client either, but not a health check.
        let mut header = b"\r\n\r\n\x00\r\nQUIT\n\x21\x31\x00\xd8".to_vec();
        header.extend_from_slice(&[0; 216]);
        header
    };
    for (sent, local_expected) in
        [(local, true), (b"PROXY UNKNOWN ignored\r\n".to_vec(), false), (unix_family, false)]
    {
        let calls = Calls::default();
        let (mut client, connection) = connect(&ProxyProtocolLayer::new(), &calls, BALANCER).await;
        client.write_all(&sent).await.unwrap();
        client.write_all(b"GET /health").await.unwrap();
        drop(client);
        connection.await.unwrap();
        let call = calls.lock().unwrap().pop().expect("served");
        assert_eq!(call.address, addr(BALANCER));
        assert_eq!(call.bytes, b"GET /health");
        let info = call.info.expect("the header");
        assert_eq!((info.is_local(), info.client()), (local_expected, None));
    }
}

#[tokio::test(start_paused = true)]
async fn a_local_header_whose_address_block_is_odd_is_still_a_health_check() {
    // LOCAL with the TCP4 family but no addresses: the spec says to ignore the block.
    let calls = Calls::default();
    let (mut client, connection) = connect(&ProxyProtocolLayer::new(), &calls, BALANCER).await;
    client.write_all(b"\r\n\r\n\x00\r\nQUIT\n\x20\x11\x00\x00ping").await.unwrap();
    drop(client);
    connection.await.unwrap();
    let call = calls.lock().unwrap().pop().expect("served");
    assert_eq!((call.address, call.bytes.as_slice()), (addr(BALANCER), &b"ping"[..]));
    assert!(call.info.expect("the header").is_local());
}

#[tokio::test(start_paused = true)]
async fn bad_headers_close_the_connection_without_calling_the_handler() {
    let oversized = {
        let mut header = v2(proxied(), vec![]);
        header[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        header
    };
    let cases: [(&str, &[u8]); 7] = [
        ("garbage", b"GET / HTTP/1.1\r\n\r\n"),
        ("v1 with a bad address", b"PROXY TCP4 999.0.0.1 127.0.0.1 1 2\r\n"),
        ("v1 without CRLF in 107 bytes", &[b'P'; 120]),
        ("v1 ending in a lone LF", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
        ("v2 of another version", b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c"),
        ("v2 too short for its family", b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x04\x01\x02\x03\x04"),
        ("v2 over 16 KiB, at once", &oversized),
    ];
    for (what, sent) in cases {
        let calls = Calls::default();
        let (mut client, connection) = connect(&ProxyProtocolLayer::new(), &calls, BALANCER).await;
        let started = Instant::now();
        client.write_all(sent).await.unwrap();
        // The client keeps its side open: the header alone decides.
        connection.await.unwrap_or_else(|e| panic!("{what}: not a handler error: {e}"));
        assert_eq!(started.elapsed(), Duration::ZERO, "{what}: decided without waiting");
        assert!(calls.lock().unwrap().is_empty(), "{what}: the handler was not called");
        let mut rest = Vec::new();
        within("EOF", client.read_to_end(&mut rest)).await.expect("closed");
        assert!(rest.is_empty(), "{what}: closed, nothing sent back");
    }
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_stalls_mid_header_is_closed_at_the_header_timeout() {
    let timeout = Duration::from_secs(3);
    for header in [Header::Required, Header::Optional] {
        let layer = ProxyProtocolLayer::new().header(header).header_timeout(timeout);
        let calls = Calls::default();
        let (mut client, connection) = connect(&layer, &calls, BALANCER).await;
        let started = Instant::now();
        client.write_all(b"PROXY TCP4 192.0.2.7 ").await.unwrap();
        connection.await.unwrap();
        assert_eq!(started.elapsed(), timeout, "{header:?}");
        assert!(calls.lock().unwrap().is_empty(), "{header:?}: not served");
    }
}

#[tokio::test(start_paused = true)]
async fn required_closes_a_direct_client_and_one_that_sends_nothing() {
    let calls = Calls::default();
    let layer = ProxyProtocolLayer::new().header_timeout(Duration::from_secs(2));
    let (_silent, connection) = connect(&layer, &calls, BALANCER).await;
    let started = Instant::now();
    connection.await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    let (mut direct, connection) = connect(&layer, &calls, BALANCER).await;
    direct.write_all(b"PRO").await.unwrap();
    drop(direct);
    connection.await.unwrap();
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn optional_serves_a_direct_client_with_its_bytes_intact() {
    let layer = ProxyProtocolLayer::new().header(Header::Optional);
    // Bytes that leave the signatures at once, and bytes that look like one for a while.
    for sent in [&b"GET / HTTP/1.1\r\n"[..], b"PROXIMITY", b"\r\n\r\nnot v2", b"P"] {
        let calls = Calls::default();
        let (mut client, connection) = connect(&layer, &calls, BALANCER).await;
        client.write_all(sent).await.unwrap();
        drop(client);
        connection.await.unwrap();
        let call = calls.lock().unwrap().pop().expect("served");
        assert_eq!(call, Call { address: addr(BALANCER), info: None, bytes: sent.to_vec() });
    }
}

#[tokio::test(start_paused = true)]
async fn optional_serves_a_silent_client_once_the_header_timeout_has_passed() {
    let timeout = Duration::from_secs(2);
    let layer = ProxyProtocolLayer::new().header(Header::Optional).header_timeout(timeout);
    let calls = Calls::default();
    let (mut client, connection) = connect(&layer, &calls, BALANCER).await;
    let connection = tokio::spawn(connection);
    tokio::time::sleep(timeout).await;
    client.write_all(b"late").await.unwrap();
    drop(client);
    connection.await.unwrap().unwrap();
    let call = calls.lock().unwrap().pop().expect("served");
    assert_eq!((call.address, call.bytes.as_slice()), (addr(BALANCER), &b"late"[..]));
}

#[tokio::test(start_paused = true)]
async fn an_untrusted_peer_is_refused_or_served_as_itself_without_reading() {
    let stranger = "203.0.113.9:5555";
    let header = b"PROXY TCP4 192.0.2.7 198.51.100.1 4242 443\r\nhi";

    let calls = Calls::default();
    let (mut client, connection) = connect(&ProxyProtocolLayer::new(), &calls, stranger).await;
    connection.await.unwrap();
    assert!(client.write_all(header).await.is_err(), "required: closed, nothing read");
    assert!(calls.lock().unwrap().is_empty(), "required: refused");

    let layer = ProxyProtocolLayer::new().header(Header::Optional);
    let (mut client, connection) = connect(&layer, &calls, stranger).await;
    client.write_all(header).await.unwrap();
    drop(client);
    connection.await.unwrap();
    let call = calls.lock().unwrap().pop().expect("optional: served");
    assert_eq!(call, Call { address: addr(stranger), info: None, bytes: header.to_vec() });

    // Trusting it by range makes the header count.
    let layer = ProxyProtocolLayer::new().trusted(["203.0.113.0/24".parse().unwrap()]);
    let (mut client, connection) = connect(&layer, &calls, stranger).await;
    client.write_all(header).await.unwrap();
    drop(client);
    connection.await.unwrap();
    assert_eq!(calls.lock().unwrap().pop().expect("served").address, addr(CLIENT));
    // ...and loopback, no longer in the list, is refused.
    let (mut client, connection) = connect(&layer, &calls, BALANCER).await;
    connection.await.unwrap();
    assert!(client.write_all(header).await.is_err(), "closed, nothing read");
    assert!(calls.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_handlers_error_carries_the_client_only_when_the_header_named_one() {
    let failing = service_fn(|(_, _): (SocketAddr, ProxiedStream<DuplexStream>)| async {
        Err::<(), _>(io::Error::other("handler failed"))
    });
    let mut service = ProxyProtocolLayer::new().layer(failing);
    for (sent, client) in [
        (&b"PROXY TCP4 192.0.2.7 198.51.100.1 4242 443\r\n"[..], Some(addr(CLIENT))),
        (b"PROXY UNKNOWN\r\n", None),
    ] {
        let (mut peer, server) = tokio::io::duplex(1024);
        peer.write_all(sent).await.unwrap();
        let call = service.ready().await.unwrap().call((addr(BALANCER), server));
        let error = call.await.expect_err("the handler's error");
        let carried = error.downcast_ref::<ClientError<SocketAddr>>();
        assert_eq!(carried.map(|e| *e.peer()), client);
        let source = carried.map_or(&error, |e| e.error());
        assert_eq!(source.to_string(), "handler failed");
    }
}

#[tokio::test(start_paused = true)]
async fn on_a_unix_socket_the_peer_stays_and_the_client_is_in_the_header() {
    let (unix_peer, _other) = tokio::net::UnixStream::pair().unwrap();
    let peer = unix_peer.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(None));
    let recorded = Arc::clone(&seen);
    let service = service_fn(
        move |(peer, stream): (tokio::net::unix::SocketAddr, ProxiedStream<DuplexStream>)| {
            *recorded.lock().unwrap() = Some((peer, stream.proxy_info().and_then(|i| i.client())));
            async { Ok::<_, io::Error>(()) }
        },
    );
    let (mut client, server) = tokio::io::duplex(1024);
    client.write_all(b"PROXY TCP4 192.0.2.7 198.51.100.1 4242 443\r\n").await.unwrap();
    ProxyProtocolLayer::new().layer(service).oneshot((peer, server)).await.unwrap();
    let (peer, client) = seen.lock().unwrap().take().expect("served: Unix peers are trusted");
    assert!(peer.is_unnamed());
    assert_eq!(client, Some(addr(CLIENT)));
}

#[test]
fn cidrs_parse_contain_and_refuse_nonsense() {
    let range: Cidr = "10.20.30.40/16".parse().unwrap();
    assert_eq!(range.to_string(), "10.20.0.0/16");
    assert!(range.contains("10.20.255.1".parse().unwrap()));
    assert!(!range.contains("10.21.0.1".parse().unwrap()));
    assert!(!range.contains("::ffff:10.21.0.1".parse().unwrap()));
    assert!(range.contains("::ffff:10.20.0.1".parse().unwrap()));
    assert!(!"fd00::/8".parse::<Cidr>().unwrap().contains("10.20.0.1".parse().unwrap()));
    assert!("fd00::/8".parse::<Cidr>().unwrap().contains("fdab::1".parse().unwrap()));
    assert!(Cidr::ANY_IPV4.contains("203.0.113.1".parse().unwrap()));
    assert_eq!("::1".parse::<Cidr>().unwrap().prefix(), 128);
    for bad in ["10.0.0.0/33", "::/129", "10.0.0/8", "localhost", "10.0.0.0/x", ""] {
        let error = bad.parse::<Cidr>().expect_err(bad);
        assert!(!error.to_string().is_empty());
    }
    let default = ProxyProtocolLayer::new();
    let private = ProxyProtocolLayer::new().trusted(PRIVATE_NETWORKS.iter().copied());
    for (ip, by_default, on_private_networks) in [
        ("127.0.0.1", true, false),
        ("10.1.1.1", false, true),
        ("172.31.0.1", false, true),
        ("172.32.0.1", false, false),
        ("192.168.1.1", false, true),
        ("::1", true, false),
        ("fd12::1", false, true),
        ("8.8.8.8", false, false),
        ("2001:db8::1", false, false),
    ] {
        let ip = Some(ip.parse().unwrap());
        assert_eq!(default.config.trusts(ip), by_default, "{ip:?}");
        assert_eq!(private.config.trusts(ip), on_private_networks, "{ip:?}");
    }
}

/// A connection's first bytes, for the property test: garbage, or a header (valid, or
/// damaged) and what follows it.
fn first_bytes() -> impl Strategy<Value = Vec<u8>> {
    let address = prop_oneof![
        Just(None),
        Just(proxied()),
        Just(Some(ProxiedAddress::stream(
            "[2001:db8::7]:4242".parse().unwrap(),
            "[2001:db8::1]:443".parse().unwrap()
        ))),
    ];
    // Up to 1.5 kB of TLV: past the first read's buffer.
    let header = (address, any::<bool>(), prop::collection::vec(any::<u8>(), 0..1500)).prop_map(
        |(address, version_2, tlv)| {
            let mut bytes = Vec::new();
            if version_2 {
                let tlvs =
                    if tlv.is_empty() { vec![] } else { vec![Tlv::Custom(0xE0, tlv.into())] };
                ProxyHeader::with_tlvs(address, tlvs).encode_v2(&mut bytes).unwrap();
            } else {
                // No address: `PROXY UNKNOWN`.
                ProxyHeader::with_tlvs(address, []).encode_v1(&mut bytes).unwrap();
            }
            bytes
        },
    );
    let damaged = (header.clone(), any::<prop::sample::Index>(), any::<u8>(), any::<bool>())
        .prop_map(|(mut bytes, at, byte, truncate)| {
            let at = at.index(bytes.len());
            if truncate {
                bytes.truncate(at);
            } else {
                bytes[at] = byte;
            }
            bytes
        });
    let payload = prop::collection::vec(any::<u8>(), 0..64);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        (header, payload.clone()).prop_map(|(h, p)| [h, p].concat()),
        (damaged, payload).prop_map(|(h, p)| [h, p].concat()),
    ]
}

/// How a case ended: the handler's call, if any.
async fn serve_case(
    bytes: &[u8],
    splits: &[prop::sample::Index],
    header: Header,
    close: bool,
) -> Option<Call> {
    let calls = Calls::default();
    let layer = ProxyProtocolLayer::new().header(header);
    let (mut client, connection) = connect(&layer, &calls, BALANCER).await;
    let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(bytes.len() + 1)).collect();
    cuts.extend([0, bytes.len()]);
    cuts.sort_unstable();
    let sender = async move {
        for piece in cuts.windows(2) {
            // A closed connection refuses the rest: that is the layer's answer.
            if client.write_all(&bytes[piece[0]..piece[1]]).await.is_err() {
                return client;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if close {
            client.shutdown().await.ok();
        }
        client
    };
    // Bounded: the header timeout (5 s), then the handler's quiet second.
    let bounded = tokio::time::timeout(Duration::from_secs(30), async {
        let (mut client, ended) = tokio::join!(sender, connection);
        ended.expect("a bad header is never a handler error");
        // The server's end is gone: no slot is kept.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.expect("the server's end is dropped");
    });
    bounded.await.expect("the connection ended");
    let call = calls.lock().unwrap().pop();
    call
}

#[test]
fn arbitrary_bytes_and_splits_never_panic_hang_or_keep_the_connection() {
    let config =
        ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() };
    let strategy = (
        first_bytes(),
        prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        any::<bool>(),
        any::<bool>(),
    );
    // Cases served with a header, served as direct, closed: all three must occur.
    let outcomes = std::cell::Cell::new([0; 3]);
    let result = TestRunner::new(config).run(&strategy, |(bytes, splits, optional, close)| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let header = if optional { Header::Optional } else { Header::Required };
        let split = runtime.block_on(serve_case(&bytes, &splits, header, close));
        let whole = runtime.block_on(serve_case(&bytes, &[], header, close));
        // The header alone decides, not how it was cut.
        prop_assert_eq!(&split, &whole);
        // A header the decoder takes is the one used, and exactly the bytes after it reach
        // the handler. (The decoder alone would take `PROXY` followed by any byte.)
        let signed = bytes.starts_with(b"PROXY ") || bytes.starts_with(b"\r\n\r\n\0\r\nQUIT\n");
        let decoded = ProxyHeader::parse(&bytes, proxy_header::ParseConfig::default());
        if let (true, Ok((decoded, len)), Some(call)) = (signed, &decoded, &split) {
            prop_assert_eq!(&call.bytes[..], &bytes[*len..]);
            let client = decoded.proxied_address().map_or(addr(BALANCER), |a| a.source);
            prop_assert_eq!(call.address, client);
        }
        // Whatever is served as direct gets every byte.
        if let Some(Call { info: None, bytes: got, .. }) = &split {
            prop_assert_eq!(got, &bytes);
        }
        let mut counts = outcomes.get();
        counts[match &split {
            Some(Call { info: Some(_), .. }) => 0,
            Some(Call { info: None, .. }) => 1,
            None => 2,
        }] += 1;
        outcomes.set(counts);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("a connection's first bytes broke the PROXY layer: {failure}");
    }
    let [with_header, direct, closed] = outcomes.get();
    println!(
        "PROXY layer: {with_header} served with a header, {direct} as direct, {closed} closed"
    );
    assert!(with_header > 0 && direct > 0 && closed > 0, "every outcome was tried");
}
