//! rustls configurations for the federation: servers that ask for a client certificate
//! from the federation CA, clients that present their member's certificate and check that
//! the server is the member they meant to call.

use crate::identity::PeerCertificate;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} from {path}: {source}")]
    Pem {
        what: &'static str,
        path: String,
        source: rustls_pki_types::pem::Error,
    },
    #[error("{0} holds no certificate")]
    NoCertificate(String),
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Pem {
            what: "certificates",
            path: path.display().to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.display().to_string()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsError::Pem {
        what: "a private key",
        path: path.display().to_string(),
        source,
    })
}

fn root_store(ca: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::Config(format!("federation CA {}: {e}", ca.display())))?;
    }
    Ok(Arc::new(roots))
}

/// Files that make up one member's TLS identity.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct TlsFiles {
    /// PEM certificate chain of this member, leaf first.
    pub cert: std::path::PathBuf,
    /// PEM private key (PKCS#8).
    pub key: std::path::PathBuf,
    /// PEM certificate(s) of the federation CA.
    pub ca: std::path::PathBuf,
}

/// Whether a server asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client certificate is requested; if one is presented it must chain to the
    /// federation CA (else the handshake fails). Routes that need one refuse requests
    /// without it (403). Lets health checks and the API docs answer without a certificate.
    VerifyIfPresented,
    /// No client certificate is requested (the gateway's practitioner face).
    None,
}

/// Server configuration with HTTP/2 and HTTP/1.1 offered by ALPN.
pub fn server_config(
    files: &TlsFiles,
    client_auth: ClientAuth,
) -> Result<rustls::ServerConfig, TlsError> {
    crate::install_crypto_provider();
    let builder = rustls::ServerConfig::builder();
    let builder = match client_auth {
        ClientAuth::VerifyIfPresented => {
            let verifier = WebPkiClientVerifier::builder(root_store(&files.ca)?)
                .allow_unauthenticated()
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        ClientAuth::None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(read_certs(&files.cert)?, read_key(&files.key)?)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Client configuration presenting this member's certificate and trusting only the
/// federation CA.
pub fn client_config(files: &TlsFiles) -> Result<rustls::ClientConfig, TlsError> {
    crate::install_crypto_provider();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(root_store(&files.ca)?)
        .with_client_auth_cert(read_certs(&files.cert)?, read_key(&files.key)?)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Client configuration that trusts the federation CA but presents no certificate
/// (health probes; tests of refusals).
pub fn client_config_without_identity(ca: &Path) -> Result<rustls::ClientConfig, TlsError> {
    crate::install_crypto_provider();
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(root_store(ca)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Client configuration for calling one particular member: besides chaining to the
/// federation CA and naming the host, the server's certificate must carry one of the
/// identities the directory lists for `member`, and must not be revoked. Checked at every
/// handshake against the directory in force, so rotation and revocation need no restart.
pub fn client_config_for_member(
    files: &TlsFiles,
    member: schemas::AgencyId,
    directory: crate::DirectoryHandle,
) -> Result<rustls::ClientConfig, TlsError> {
    let mut config = client_config(files)?;
    let inner = rustls::client::WebPkiServerVerifier::builder(root_store(&files.ca)?)
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config
        .dangerous()
        .set_certificate_verifier(Arc::new(MemberServerVerifier {
            inner,
            member,
            directory,
        }));
    Ok(config)
}

/// The CA check of webpki, then the directory's say on who this server may be.
#[derive(Debug)]
struct MemberServerVerifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    member: schemas::AgencyId,
    directory: crate::DirectoryHandle,
}

impl rustls::client::danger::ServerCertVerifier for MemberServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let peer = PeerCertificate::from_der(end_entity.as_ref())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        let directory = self.directory.get();
        match directory.authenticate(Some(&peer)) {
            Ok(found) if found.id == self.member => Ok(verified),
            Ok(found) => Err(rustls::Error::General(format!(
                "the server presented the certificate of '{}', not of '{}'",
                found.id, self.member
            ))),
            Err(e) => Err(rustls::Error::General(format!(
                "server certificate refused: {e}"
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
