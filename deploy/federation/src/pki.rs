//! The dev federation's PKI: one federation CA and a certificate per member. Production
//! supplies its own; these are for trying the federation and for tests.

use anyhow::Context;
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber, date_time_ymd,
};

/// Which TLS usages a certificate carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Serves TLS and presents itself as a client (nodes, gateways).
    ServerAndClient,
    /// Only presents itself as a client (integration systems).
    Client,
}

/// Validity window, as calendar dates.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: (i32, u8, u8),
    pub not_after: (i32, u8, u8),
}

impl Default for Validity {
    fn default() -> Self {
        Self {
            not_before: (2025, 1, 1),
            not_after: (2036, 1, 1),
        }
    }
}

pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
    /// Lower-case hex, as the directory's `revoked_serials` lists it.
    pub serial: String,
}

pub struct CertificateAuthority {
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl CertificateAuthority {
    pub fn generate(name: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(
            DnType::OrganizationName,
            "Child view federation (development)",
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let validity = Validity::default();
        params.not_before = ymd(validity.not_before);
        params.not_after = ymd(validity.not_after);
        let cert = params.self_signed(&key)?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Issues a certificate naming the member by a URI SAN `urn:agency:<id>`, plus the
    /// DNS names / IP addresses it serves on.
    pub fn issue(
        &self,
        member_id: &str,
        hosts: &[&str],
        usage: Usage,
        validity: Validity,
    ) -> anyhow::Result<IssuedCert> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params =
            CertificateParams::new(hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())?;
        params.subject_alt_names.push(SanType::URI(
            trust::identity::member_uri(member_id)
                .try_into()
                .context("member uri")?,
        ));
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, member_id);
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match usage {
            Usage::ServerAndClient => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Usage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        };
        params.not_before = ymd(validity.not_before);
        params.not_after = ymd(validity.not_after);
        let mut serial = [0u8; 16];
        rand::rng().fill_bytes(&mut serial);
        serial[0] &= 0x7f; // positive DER integer
        serial[0] |= 0x01; // no leading zero byte, so the hex form is stable
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: trust::identity::hex(&serial),
        })
    }
}

fn ymd((y, m, d): (i32, u8, u8)) -> time::OffsetDateTime {
    date_time_ymd(y, m, d)
}

/// An Ed25519 key pair for a dev token issuer: (private PKCS#8 PEM, public SPKI PEM).
pub fn token_issuer_keys() -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}
