//! TLS material from config: the listener's certificate chain and key, and the roots an
//! `https://` upstream is checked against (the platform's, or the route's `upstream_ca`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;

use super::Tls;

/// Loads a PEM certificate chain and private key into a server TLS config (HTTP/2 and
/// HTTP/1.1 by ALPN).
///
/// # Errors
/// A file that cannot be read, holds no certificate or key, or a key that does not match.
pub fn load_tls(cert: &Path, key: &Path) -> Result<Tls, String> {
    let certs = read_certs(cert)?;
    let key_bytes = std::fs::read(key)
        .map_err(|e| format!("key file {} cannot be read: {e}", key.display()))?;
    let private = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        format!(
            "key file {} holds no usable PEM private key: {e}",
            key.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, private)
    .map_err(|e| {
        format!(
            "cert {} and key {} do not make a TLS identity: {e}",
            cert.display(),
            key.display()
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        cert: cert.to_owned(),
        key: key.to_owned(),
        config: Arc::new(config),
    })
}

/// Reads every PEM certificate in `path`.
fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("certificate file {} cannot be read: {e}", path.display()))?;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "certificate file {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

/// The TLS client config for an https upstream: the platform's roots, or the PEM bundle `ca`.
pub(super) fn client_tls(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in read_certs(path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("certificate file {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A platform store may hold a certificate rustls cannot use; skip it.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no CA certificates found on this system; give `upstream_ca`".into());
            }
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    // hookwall speaks HTTP/1.1 to its upstreams.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
