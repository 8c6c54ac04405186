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
//! Flags: those of the echo example (`--listen`, `--unix`, `--max-connections`, ...).
//! Environment, since the shared command line takes no example-specific flags:
//!
//! - `TLS_CERT`, `TLS_KEY`: PEM files with the certificate chain and its private key. Without
//!   them, a self-signed certificate for `localhost` and `127.0.0.1` is generated with rcgen.
//! - `TLS_WRITE_CERT`: where to write the generated certificate (PEM), for a client's CA file.
//! - `TLS_HANDSHAKE_TIMEOUT_MS`: how long a client may take over its handshake (default
//!   10000). A client that stalls is disconnected then; one that sends garbage instead of a
//!   TLS hello is disconnected at once. Neither holds a `--max-connections` slot for longer.
//!
//! On SIGINT or SIGTERM it drains as the echo example does, and exits 0.

mod common;

use std::error::Error;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use common::Args;
use tcp_serve::tls::rustls::pki_types::pem::PemObject;
use tcp_serve::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tcp_serve::tls::{rustls, TlsLayer, TlsStream};
use tcp_serve::{service_fn, Family, Serve, WhereToListen};

/// The certificate chain and key: from `TLS_CERT` and `TLS_KEY`, or generated.
fn certificate() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Box<dyn Error>> {
    match (std::env::var_os("TLS_CERT"), std::env::var_os("TLS_KEY")) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(&cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("TLS_CERT {}: {e}", cert.to_string_lossy()))?;
            let key = PrivateKeyDer::from_pem_file(&key)
                .map_err(|e| format!("TLS_KEY {}: {e}", key.to_string_lossy()))?;
            Ok((chain, key))
        }
        (None, None) => {
            let generated = rcgen::generate_simple_self_signed(vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
            ])?;
            if let Some(path) = std::env::var_os("TLS_WRITE_CERT") {
                std::fs::write(&path, generated.cert.pem())
                    .map_err(|e| format!("TLS_WRITE_CERT {}: {e}", path.to_string_lossy()))?;
            }
            let key = PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der());
            Ok((vec![generated.cert.der().clone()], key.into()))
        }
        _ => Err("give both TLS_CERT and TLS_KEY, or neither".into()),
    }
}

async fn run<F: Family>(
    where_to_listen: WhereToListen<F>,
    args: &Args,
) -> Result<(), Box<dyn Error>> {
    let (chain, key) = certificate()?;
    // rustls needs a crypto provider; name ring, the one tcp-serve's `tls` feature enables.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    let mut tls = TlsLayer::new(Arc::new(config));
    if let Some(ms) = common::setting("TLS_HANDSHAKE_TIMEOUT_MS")? {
        tls = tls.handshake_timeout(Duration::from_millis(ms));
    }

    // The TLS layer sits inside the server's own policies: the handshake runs in the
    // connection's task, holding a `max_connections` slot only until it succeeds, fails or
    // times out.
    let serve = args.configure(Serve::new(where_to_listen)).layer(tls);
    let shutdown = serve.shutdown_signal();
    let server = serve
        .serve(service_fn(move |(_peer, stream): (F::Addr, TlsStream<F::Stream>)| {
            common::echo(stream, shutdown.clone(), |_| Ok(()))
        }))
        .await?;
    common::run_until_signal("tls", server).await
}

#[tokio::main]
async fn main() -> ExitCode {
    common::run_main!("tls", "127.0.0.1:8443", run)
}
