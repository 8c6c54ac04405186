//! The client side of what the contestants speak ([`Protocol`]): the echo, the echo over
//! TLS or after a PROXY header, and HTTP/1.1 `GET`s, one exchange at a time. The count
//! drives every contestant through these; the HTTP race's burst and recovery use
//! [`http_get`].

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;

use crate::certs;
use crate::contestants::Protocol;
use crate::load::{connect, round_trip_on};

/// A client's stream, whatever the protocol wraps it in.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A stream of any protocol; the client's cost does not matter, so it is boxed.
pub type Stream = Box<dyn Io>;

/// A keep-alive `GET /`.
pub const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n";
/// A `GET /` after which the server closes.
pub const GET_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n";
/// A `GET /peer`, keep-alive.
pub const GET_PEER: &[u8] = b"GET /peer HTTP/1.1\r\nhost: bench\r\n\r\n";

/// What HAProxy's `send-proxy-v2` sends first: the v2 signature, PROXY over TCP/IPv4,
/// 12 bytes of addresses: client 192.0.2.7:4242 to 127.0.0.1:443.
const PROXY_V2: [u8; 28] = [
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, // signature
    0x21, 0x11, 0x00, 0x0c, // v2 PROXY, TCP over IPv4, length 12
    192, 0, 2, 7, 127, 0, 0, 1, // source, destination
    0x10, 0x92, 0x01, 0xbb, // ports 4242, 443
];

/// Connects (from the next source address, see [`connect`]) and does what comes before
/// the first exchange: the TLS handshake, or the PROXY header.
pub async fn open(protocol: Protocol, to: SocketAddr) -> io::Result<Stream> {
    let mut tcp = connect(to).await?;
    match protocol {
        Protocol::Echo | Protocol::Http => Ok(Box::new(tcp)),
        Protocol::ProxyEcho => {
            tcp.write_all(&PROXY_V2).await?;
            Ok(Box::new(tcp))
        }
        Protocol::TlsEcho => {
            let connector = TlsConnector::from(certs::parent().client_config());
            Ok(Box::new(connector.connect(certs::server_name(), tcp).await?))
        }
    }
}

/// One exchange: 32 bytes and their echo, or a keep-alive `GET /` and its response.
pub async fn exchange(stream: &mut Stream, protocol: Protocol) -> io::Result<()> {
    match protocol {
        Protocol::Http => http_get(stream, GET).await.map(drop),
        _ => round_trip_on(stream).await,
    }
}

/// [`open`] and one [`exchange`]; the connection is returned open.
pub async fn open_exchanged(protocol: Protocol, to: SocketAddr) -> io::Result<Stream> {
    let mut stream = open(protocol, to).await?;
    exchange(&mut stream, protocol).await?;
    Ok(stream)
}

/// Closes our side and waits for the server to close its own. A TLS server that closes
/// without `close_notify` reads as EOF too.
pub async fn close_and_wait(mut stream: Stream) -> io::Result<()> {
    stream.shutdown().await?;
    let mut rest = [0u8; 256];
    loop {
        match stream.read(&mut rest).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Sends `request` and reads its response; returns the status and the body. Enough
/// HTTP/1.1 for the router's answers: a head, then a `content-length` body (or, without
/// one, the body up to the server's close).
pub async fn http_get<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    request: &[u8],
) -> io::Result<(u16, Vec<u8>)> {
    stream.write_all(request).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a response"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let bad = || io::Error::other(format!("not an HTTP/1.1 response: {head:?}"));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().map_err(|_| bad()))
        .transpose()?;
    loop {
        let have = buf.len() - head_end;
        if length.is_some_and(|len| have >= len) {
            break;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            if length.is_none() {
                break;
            }
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed mid-body"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((status, buf.split_off(head_end)))
}
