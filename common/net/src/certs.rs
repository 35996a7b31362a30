//! Development certificates: a cluster CA and one certificate per node,
//! signed by it, written as PEM files (`ca.pem`, `<name>.pem`,
//! `<name>.key`). Every node certificate names [`NODE_SERVER_NAME`], the name
//! clients verify, plus `localhost` and 127.0.0.1.

use crate::NetError;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::path::Path;

/// The DNS name in every node certificate, verified by connecting peers.
pub const NODE_SERVER_NAME: &str = "node.sixfold";

/// What a certificate's holder may do on the fabric, from the name in its
/// subject (`docs/protocol.md`, "Roles bound to certificates"): the name
/// is the node's, and its form says the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertRole {
    /// `storage-N`: a storage node.
    StorageNode,
    /// `writer`, `replica`, `replica-N`, `data`, `data-N`: a data node (a writer
    /// and a replica are the same role: a replica is promoted in place).
    DataNode,
    /// `snapshotter` or `snapshotter-N`.
    Snapshotter,
    /// Any other name (a tool's, a pod's): reads nothing, writes nothing.
    Other,
}

impl CertRole {
    /// The role a certificate named `name` carries.
    pub fn of(name: &str) -> CertRole {
        let numbered = |prefix: &str| {
            name == prefix
                || name
                    .strip_prefix(prefix)
                    .and_then(|r| r.strip_prefix('-'))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if name.starts_with("storage-") && numbered("storage") {
            CertRole::StorageNode
        } else if name == "writer" || numbered("replica") || numbered("data") {
            CertRole::DataNode
        } else if numbered("snapshotter") {
            CertRole::Snapshotter
        } else {
            CertRole::Other
        }
    }
}

/// The common name of the certificate the peer of `conn` presented.
pub fn peer_name(conn: &quinn::Connection) -> Option<String> {
    let ident = conn.peer_identity()?;
    let certs = ident.downcast::<Vec<rustls_pki_types::CertificateDer<'static>>>().ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(certs.first()?.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_string();
    Some(cn)
}

fn tls_err(e: rcgen::Error) -> NetError {
    NetError::Tls(e.to_string())
}

fn write(path: &Path, data: &str) -> Result<(), NetError> {
    std::fs::write(path, data).map_err(|e| NetError::io(format!("writing {}", path.display()), e))
}

/// Writes a private key readable by its owner only (mode 0600).
fn write_private(path: &Path, data: &str) -> Result<(), NetError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let what = || format!("writing {}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| NetError::io(what(), e))?;
    f.write_all(data.as_bytes()).map_err(|e| NetError::io(what(), e))
}

/// Creates `dir` with a new CA and certificates for each of `names`.
/// Existing files are replaced.
pub fn generate(dir: &Path, names: &[String]) -> Result<(), NetError> {
    std::fs::create_dir_all(dir).map_err(|e| NetError::io(format!("creating {}", dir.display()), e))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Sixfold cluster CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().map_err(tls_err)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_err)?;
    write(&dir.join("ca.pem"), &ca_cert.pem())?;
    let issuer = Issuer::new(ca_params, ca_key);
    for name in names {
        let sans = vec![NODE_SERVER_NAME.to_string(), "localhost".to_string(), "127.0.0.1".to_string()];
        let mut params = CertificateParams::new(sans).map_err(tls_err)?;
        params.distinguished_name.push(DnType::CommonName, name.as_str());
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.signed_by(&key, &issuer).map_err(tls_err)?;
        write(&dir.join(format!("{name}.pem")), &cert.pem())?;
        write_private(&dir.join(format!("{name}.key")), &key.serialize_pem())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_certificate_name() {
        assert_eq!(CertRole::of("storage-3"), CertRole::StorageNode);
        assert_eq!(CertRole::of("writer"), CertRole::DataNode);
        assert_eq!(CertRole::of("replica"), CertRole::DataNode);
        assert_eq!(CertRole::of("replica-2"), CertRole::DataNode);
        assert_eq!(CertRole::of("data-7"), CertRole::DataNode);
        assert_eq!(CertRole::of("data"), CertRole::DataNode);
        assert_eq!(CertRole::of("snapshotter"), CertRole::Snapshotter);
        for other in ["storage", "storage-x", "tool", "writer-2", "replicas", "data-", ""] {
            assert_eq!(CertRole::of(other), CertRole::Other, "{other}");
        }
    }
}
