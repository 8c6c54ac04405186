//! TLS for servers built in the tests: a self-signed certificate for `localhost`, and a
//! client that trusts only it.

use std::sync::Arc;

use tcp_serve::tls::rustls;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::within;

/// A server config with a certificate for `localhost` (generated here), and a client config
/// that trusts only that certificate.
pub fn tls_configs() -> (rustls::ServerConfig, rustls::ClientConfig) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = generated.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (server, client)
}

/// A TLS handshake as `localhost` over `tcp` with the client config `config` (bounded by
/// [`WAIT`](super::WAIT)); its result, as the client sees it.
pub async fn tls_connect(
    config: rustls::ClientConfig,
    tcp: TcpStream,
) -> std::io::Result<TlsStream<TcpStream>> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = "localhost".try_into().expect("a server name");
    within("the handshake", connector.connect(name, tcp)).await
}
