//! QUIC endpoints with mutual TLS 1.3 under the cluster CA.

use crate::NetError;
use crate::certs::NODE_SERVER_NAME;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::RootCertStore;
use rustls::crypto::ring::default_provider;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// ALPN protocol id of the fabric.
pub const ALPN: &[u8] = b"sixfold-fabric/1";
/// Idle time after which a silent peer's connection is closed.
const IDLE_TIMEOUT_MS: u32 = 10_000;
/// Keep-alive interval, below the idle timeout.
const KEEP_ALIVE_MS: u64 = 2_000;

/// Where a node's certificate files are.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The cluster CA certificate (PEM).
    pub ca: PathBuf,
    /// This node's certificate (PEM).
    pub cert: PathBuf,
    /// This node's private key (PEM).
    pub key: PathBuf,
}

impl TlsFiles {
    /// The files `gen-certs` writes for `name` in `dir`.
    pub fn in_dir(dir: &Path, name: &str) -> TlsFiles {
        TlsFiles { ca: dir.join("ca.pem"), cert: dir.join(format!("{name}.pem")), key: dir.join(format!("{name}.key")) }
    }

    fn load(&self) -> Result<(Arc<RootCertStore>, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), NetError> {
        let pem_err = |p: &Path, e: rustls_pki_types::pem::Error| NetError::Tls(format!("{}: {e}", p.display()));
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(&self.ca).map_err(|e| pem_err(&self.ca, e))? {
            roots.add(ca.map_err(|e| pem_err(&self.ca, e))?).map_err(|e| NetError::Tls(e.to_string()))?;
        }
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| pem_err(&self.cert, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| pem_err(&self.cert, e))?;
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| pem_err(&self.key, e))?;
        Ok((Arc::new(roots), certs, key))
    }
}

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(quinn::VarInt::from_u32(IDLE_TIMEOUT_MS).into()));
    t.keep_alive_interval(Some(std::time::Duration::from_millis(KEEP_ALIVE_MS)));
    Arc::new(t)
}

fn tls_err(e: impl std::fmt::Display) -> NetError {
    NetError::Tls(e.to_string())
}

/// A server endpoint on `addr` that accepts only clients whose certificate
/// the cluster CA signed.
pub fn server_endpoint(addr: SocketAddr, files: &TlsFiles) -> Result<quinn::Endpoint, NetError> {
    let (roots, certs, key) = files.load()?;
    let provider = Arc::new(default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone()).build().map_err(tls_err)?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(tls_err)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(tls_err)?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(transport());
    quinn::Endpoint::server(cfg, addr).map_err(|e| NetError::io(format!("binding {addr}"), e))
}

/// A client endpoint that presents this node's certificate and accepts only
/// servers whose certificate the cluster CA signed.
pub fn client_endpoint(files: &TlsFiles) -> Result<quinn::Endpoint, NetError> {
    let (roots, certs, key) = files.load()?;
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(tls_err)?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(tls_err)?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = QuicClientConfig::try_from(tls).map_err(tls_err)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(transport());
    let bind: SocketAddr = ([0, 0, 0, 0], 0).into();
    let mut ep = quinn::Endpoint::client(bind).map_err(|e| NetError::io("binding a client endpoint", e))?;
    ep.set_default_client_config(cfg);
    Ok(ep)
}

/// Connects to a node.
pub async fn connect(ep: &quinn::Endpoint, addr: SocketAddr) -> Result<quinn::Connection, NetError> {
    let connecting = ep.connect(addr, NODE_SERVER_NAME).map_err(|e| NetError::Quic(e.to_string()))?;
    connecting.await.map_err(|e| NetError::Quic(e.to_string()))
}
