//! Development certificates: a cluster CA and one certificate per node,
//! signed by it, written as PEM files (`ca.pem`, `<name>.pem`,
//! `<name>.key`). Every node certificate names [`NODE_SERVER_NAME`], the name
//! clients verify, plus `localhost` and 127.0.0.1.

use crate::NetError;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::path::Path;

/// The DNS name in every node certificate, verified by connecting peers.
pub const NODE_SERVER_NAME: &str = "node.sixfold";

fn tls_err(e: rcgen::Error) -> NetError {
    NetError::Tls(e.to_string())
}

fn write(path: &Path, data: &str) -> Result<(), NetError> {
    std::fs::write(path, data).map_err(|e| NetError::io(format!("writing {}", path.display()), e))
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
        write(&dir.join(format!("{name}.key")), &key.serialize_pem())?;
    }
    Ok(())
}
