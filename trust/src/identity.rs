//! Who a certificate names: the identity a verified peer certificate carries (its URI
//! SANs, `urn:agency:<member id>`, and its serial), as the directory checks it.

use crate::tls::TlsError;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// What a verified client certificate says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// URI subject alternative names, e.g. `urn:agency:school-a`.
    pub uris: Vec<String>,
    /// Serial number, lower-case hex without separators.
    pub serial: String,
}

impl PeerCertificate {
    /// Reads the leaf certificate (the first of the peer's chain). The chain has already
    /// been verified by rustls against the federation CA.
    pub fn from_der(der: &[u8]) -> Result<Self, TlsError> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| TlsError::Config(format!("unreadable peer certificate: {e}")))?;
        let uris = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|name| match name {
                        GeneralName::URI(uri) => Some((*uri).to_owned()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            uris,
            serial: hex(cert.raw_serial()),
        })
    }
}

/// Lower-case hex without separators; leading zero bytes of DER integers are dropped so
/// that a serial reads the same whichever tool printed it.
pub fn hex(bytes: &[u8]) -> String {
    let trimmed = match bytes.iter().position(|b| *b != 0) {
        Some(first) => &bytes[first..],
        None => &bytes[bytes.len().saturating_sub(1)..],
    };
    schemas::hex::lower_hex(trimmed)
}

/// The URI SAN that names a member in its certificate.
pub fn member_uri(member_id: &str) -> String {
    format!("urn:agency:{member_id}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_drops_leading_zero_bytes() {
        assert_eq!(super::hex(&[0, 0x1f, 0xa0]), "1fa0");
        assert_eq!(super::hex(&[0]), "00");
    }
}
