//! The echo server behind TLS: `TlsLayer` terminates TLS (tokio-rustls, ring) before the
//! handler, which then echoes over the encrypted stream exactly as over a plain one.
//!
//! ```text
//! # A self-signed certificate for localhost and 127.0.0.1, written out for the client:
//! TLS_WRITE_CERT=/tmp/cert.pem cargo run --example tls     # TLS on 127.0.0.1:8443
//! openssl s_client -connect 127.0.0.1:8443 -CAfile /tmp/cert.pem -quiet   # type, see it again
//! # Your own certificate chain and key, in PEM files:
//! TLS_CERT=cert.pem TLS_KEY=key.pem cargo run --example tls -- --listen 0.0.0.0:8443
//! ```
//!
//! Flags: those of the echo example (`--listen`, `--unix`, `--max-connections`, ...) and the
//! TLS ones below, each also read from the environment variable named (`--help` lists them):
//!
//! - `--cert`, `--key` (`TLS_CERT`, `TLS_KEY`): PEM files with the certificate chain and its
//!   private key. Without them, a self-signed certificate for `localhost` and `127.0.0.1` is
//!   generated with rcgen.
//! - `--write-cert` (`TLS_WRITE_CERT`): where to write the generated certificate (PEM), for a
//!   client's CA file.
//! - `--handshake-timeout-ms` (`TLS_HANDSHAKE_TIMEOUT_MS`): how long a client may take over
//!   its handshake (default 10000). A client that stalls is disconnected then; one that sends
//!   garbage instead of a TLS hello is disconnected at once. Neither holds a
//!   `--max-connections` slot for longer.
//!
//! On SIGINT or SIGTERM it drains as the echo example does, and exits 0.

mod common;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use common::{Listen, ServerArgs};
use tcp_serve::tls::rustls::pki_types::pem::PemObject;
use tcp_serve::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tcp_serve::tls::{rustls, TlsLayer, TlsStream};
use tcp_serve::{service_fn, Family, Serve, ShutdownSignal, WhereToListen};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Parser)]
#[command(about = "The echo server behind TLS")]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
    /// The certificate chain, PEM (with --key)
    #[arg(long, env = "TLS_CERT", requires = "key")]
    cert: Option<PathBuf>,
    /// The certificate's private key, PEM (with --cert)
    #[arg(long, env = "TLS_KEY", requires = "cert")]
    key: Option<PathBuf>,
    /// Where to write the generated self-signed certificate, PEM
    #[arg(long, env = "TLS_WRITE_CERT")]
    write_cert: Option<PathBuf>,
    /// How long a client may take over its TLS handshake, in milliseconds
    #[arg(long, env = "TLS_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000)]
    handshake_timeout_ms: u64,
}

/// The certificate chain and key: from `--cert` and `--key`, or generated (and written to
/// `--write-cert`).
fn certificate(
    args: &Args,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Box<dyn Error>> {
    match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--cert {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("--key {}: {e}", key.display()))?;
            Ok((chain, key))
        }
        _ => common::self_signed_certificate(args.write_cert.as_deref()),
    }
}

/// Echoes until the client closes its side or a drain begins (as in `examples/echo.rs`).
async fn echo<S>(stream: S, shutdown: ShutdownSignal) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Once a drain begins, reads end as at the client's EOF.
    let mut stream = shutdown.until_drain(stream);
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            // Over TLS this sends close_notify first.
            return stream.shutdown().await;
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let (chain, key) = certificate(args)?;
    // rustls needs a crypto provider; name ring, the one tcp-serve's `tls` feature enables.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    let tls = TlsLayer::new(Arc::new(config))
        .handshake_timeout(Duration::from_millis(args.handshake_timeout_ms));

    // The TLS layer sits inside the server's own policies: the handshake runs in the
    // connection's task, holding a `max_connections` slot only until it succeeds, fails or
    // times out.
    let serve = args.server.configure(Serve::new(where_to_listen)).layer(tls);
    let shutdown = serve.shutdown_signal();
    let server = serve
        .serve(service_fn(move |(_peer, stream): (F::Addr, TlsStream<F::Stream>)| {
            echo(stream, shutdown.clone())
        }))
        .await?;
    // Signals are handled from here on; only then say where we listen, so that whoever
    // reads the line and sends SIGTERM finds the drain ready.
    let drain = server.drain_on_signals(args.server.drain_deadline())?;
    println!("tls: listening on {}", server.endpoint());
    let drained = drain.await?;
    println!("tls: stopped ({drained:?})");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::log_to_stderr("info");
    let args = Args::parse();
    let result = match args.server.listen(([127, 0, 0, 1], 8443).into()) {
        Listen::Inet(addr) => run(WhereToListen::addr(addr), &args).await,
        Listen::Unix(path) => run(WhereToListen::unix(path), &args).await,
    };
    common::exit_code("tls", result)
}
