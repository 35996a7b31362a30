//! Mutual TLS: a node certificate signed by the cluster CA gets through; a
//! certificate from another CA, or no certificate at all, is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use quinn::crypto::rustls::QuicClientConfig;
use sixfold_net::certs::{NODE_SERVER_NAME, generate};
use sixfold_net::tls::{ALPN, TlsFiles, client_endpoint, connect, server_endpoint};
use sixfold_net::{NetError, framed};
use sixfold_wire::{Message, Role};
use std::path::PathBuf;
use std::sync::Arc;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sixfold-mtls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Accepts connections and echoes the first message of each stream.
fn spawn_echo(server: quinn::Endpoint) {
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                while let Ok((mut tx, mut rx)) = conn.accept_bi().await {
                    if let Ok(m) = framed::recv(&mut rx).await {
                        let _ = framed::send(&mut tx, &m).await;
                        let _ = tx.finish();
                    }
                }
            });
        }
    });
}

async fn echo(conn: &quinn::Connection) -> Result<Message, NetError> {
    let (mut tx, mut rx) = conn.open_bi().await.map_err(|e| NetError::Quic(e.to_string()))?;
    framed::send(&mut tx, &Message::Hello { node: 7, role: Role::Reader }).await?;
    framed::recv(&mut rx).await
}

#[tokio::test]
async fn only_cluster_certificates_get_through() {
    let dir = tmp("cluster");
    generate(&dir, &["server".into(), "client".into()]).unwrap();
    let rogue = tmp("rogue");
    generate(&rogue, &["client".into()]).unwrap();

    let server = server_endpoint("127.0.0.1:0".parse().unwrap(), &TlsFiles::in_dir(&dir, "server")).unwrap();
    let addr = server.local_addr().unwrap();
    spawn_echo(server);

    let good = client_endpoint(&TlsFiles::in_dir(&dir, "client")).unwrap();
    let conn = connect(&good, addr).await.unwrap();
    assert_eq!(echo(&conn).await.unwrap(), Message::Hello { node: 7, role: Role::Reader });

    // A client certificate from another CA (trusting the real CA for the server).
    let mut files = TlsFiles::in_dir(&rogue, "client");
    files.ca = dir.join("ca.pem");
    let bad = client_endpoint(&files).unwrap();
    let refused = match connect(&bad, addr).await {
        Err(_) => true,
        Ok(c) => echo(&c).await.is_err(),
    };
    assert!(refused, "a certificate from another CA must be refused");

    // No client certificate at all.
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for ca in rustls_pki_types::CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut anon = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    anon.set_default_client_config(quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap())));
    let refused = match anon.connect(addr, NODE_SERVER_NAME).unwrap().await {
        Err(_) => true,
        Ok(c) => echo(&c).await.is_err(),
    };
    assert!(refused, "a client without a certificate must be refused");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&rogue).unwrap();
}
