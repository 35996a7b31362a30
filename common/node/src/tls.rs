//! TLS for RESP clients, as Redis names it: `tls-port`, `tls-cert-file`,
//! `tls-key-file`, `tls-ca-cert-file` and `tls-auth-clients` (`yes`: a
//! client must present a certificate the CA signed; `optional`: it may;
//! `no`: it is not asked). rustls through tokio-rustls, TLS 1.2 and 1.3.
//! The files are read again when one of them changes on disk, so a renewed
//! certificate serves the next connection without a restart (a file that
//! does not load keeps the previous configuration, with a warning).

use anyhow::Context;
use rustls::RootCertStore;
use rustls::crypto::ring::default_provider;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio_rustls::TlsAcceptor;

/// `tls-auth-clients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A valid client certificate is required (Redis's default).
    Yes,
    /// A client certificate is checked if given.
    Optional,
    /// None is asked for.
    No,
}

/// The TLS files and client rule.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// `tls-cert-file`: the server's certificate chain (PEM).
    pub cert_file: PathBuf,
    /// `tls-key-file`: its private key (PEM).
    pub key_file: PathBuf,
    /// `tls-ca-cert-file`: CAs that sign client certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// `tls-auth-clients`.
    pub auth_clients: ClientAuth,
}

impl TlsSettings {
    fn files(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.cert_file, &self.key_file].into_iter().chain(self.ca_file.as_ref())
    }

    fn stamps(&self) -> Vec<Option<SystemTime>> {
        self.files().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()).collect()
    }

    fn server_config(&self) -> anyhow::Result<rustls::ServerConfig> {
        let certs = CertificateDer::pem_file_iter(&self.cert_file)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .with_context(|| format!("reading tls-cert-file {}", self.cert_file.display()))?;
        let key = PrivateKeyDer::from_pem_file(&self.key_file)
            .with_context(|| format!("reading tls-key-file {}", self.key_file.display()))?;
        let provider = Arc::new(default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("choosing TLS versions")?;
        let builder = match (&self.ca_file, self.auth_clients) {
            (_, ClientAuth::No) => builder.with_no_client_auth(),
            (None, _) => anyhow::bail!("tls-auth-clients yes or optional needs tls-ca-cert-file"),
            (Some(ca), auth) => {
                let mut roots = RootCertStore::empty();
                for c in CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))? {
                    roots.add(c.with_context(|| format!("reading {}", ca.display()))?)?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if auth == ClientAuth::Optional { verifier.allow_unauthenticated() } else { verifier };
                builder.with_client_cert_verifier(verifier.build()?)
            }
        };
        builder.with_single_cert(certs, key).context("the certificate does not match the key")
    }
}

/// Hands out the acceptor for the current files.
pub struct Acceptor {
    settings: TlsSettings,
    current: Mutex<(Vec<Option<SystemTime>>, TlsAcceptor)>,
}

impl Acceptor {
    /// Loads the files (an error stops the server at start-up).
    pub fn new(settings: TlsSettings) -> anyhow::Result<Acceptor> {
        let stamps = settings.stamps();
        let acceptor = TlsAcceptor::from(Arc::new(settings.server_config()?));
        Ok(Acceptor { settings, current: Mutex::new((stamps, acceptor)) })
    }

    /// The acceptor for the next connection, reloaded if a file changed.
    pub fn get(&self) -> TlsAcceptor {
        let mut cur = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let stamps = self.settings.stamps();
        if stamps != cur.0 {
            match self.settings.server_config() {
                Ok(cfg) => {
                    tracing::info!("TLS files changed: new connections use them");
                    cur.1 = TlsAcceptor::from(Arc::new(cfg));
                }
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "TLS files changed but do not load; keeping the previous ones")
                }
            }
            cur.0 = stamps;
        }
        cur.1.clone()
    }
}
