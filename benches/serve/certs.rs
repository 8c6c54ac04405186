//! The tcp-serve-tls contestant's certificate: made once by the parent (rcgen, a
//! self-signed ECDSA P-256 certificate for `localhost`), handed to each server child in
//! `BENCH_TLS_CERT` and `BENCH_TLS_KEY` (DER, hex), and the only root the parent's client
//! trusts.

use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};

const CERT_VAR: &str = "BENCH_TLS_CERT";
const KEY_VAR: &str = "BENCH_TLS_KEY";

/// A certificate and its private key, DER.
pub struct Cert {
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// The parent's certificate, made on first use.
pub fn parent() -> &'static Cert {
    static CERT: OnceLock<Cert> = OnceLock::new();
    CERT.get_or_init(|| {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
            .expect("rcgen makes a self-signed certificate");
        Cert { cert: made.cert.der().to_vec(), key: made.key_pair.serialize_der() }
    })
}

/// The variables that hand the parent's certificate to a child.
pub fn env() -> [(&'static str, String); 2] {
    let cert = parent();
    [(CERT_VAR, hex(&cert.cert)), (KEY_VAR, hex(&cert.key))]
}

/// The certificate the parent handed this child.
pub fn from_env() -> Cert {
    let read = |var| {
        let text = std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"));
        unhex(&text).unwrap_or_else(|| panic!("{var} is not hex"))
    };
    Cert { cert: read(CERT_VAR), key: read(KEY_VAR) }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Cert {
    /// rustls's defaults (TLS 1.3 and 1.2, session tickets as rustls sends them) with this
    /// certificate: what a server would hand `TlsLayer::new`.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let key = PrivatePkcs8KeyDer::from(self.key.clone());
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(self.cert.clone())], key.into())
            .expect("rcgen's certificate and key match");
        Arc::new(config)
    }

    /// A client trusting only this certificate, with resumption off, so that every
    /// connection is a full handshake: the server's worst case, and the same every time.
    pub fn client_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from(self.cert.clone())).expect("a valid certificate");
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        Arc::new(config)
    }
}

/// The name the certificate is for.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("a valid DNS name")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
}
