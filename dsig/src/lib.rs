//! XML-DSig for VASSCM messages (profile v1 of the domain notes): an enveloped signature over
//! the whole document (`Reference URI=""`, enveloped-signature transform), C14N 1.0,
//! SHA-256 digest, RSA-SHA256, `KeyInfo/X509Data` with `X509SubjectName` and
//! `X509Certificate`. RSA-SHA1 (with SHA-1 digest) and C14N-with-comments for `SignedInfo` are
//! settings, for older customs services.
//!
//! Canonicalisation is done by `bergshamra` (a proven implementation) over an `uppsala` tree;
//! the RSA operation is behind [`RawSigner`], so the key can stay on a PKCS#11 token.
//!
//! Verification parses the document once, locates the one `ds:Signature` in that tree (the last
//! element child of `Customs`), checks the digest over the canonical form of that same tree
//! and returns those canonical bytes as [`Verified::document`]: the only text a caller may
//! store, parse or apply. What is applied is exactly what was verified.

use bergshamra::c14n::C14nMode;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use openssl::x509::X509;

/// The XML-DSig namespace.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const C14N_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";

/// Errors of signing and verification.
#[derive(Debug, thiserror::Error)]
pub enum DsigError {
    /// The document cannot be signed or verified as it is.
    #[error("{0}")]
    Document(String),
    /// Canonicalisation failed.
    #[error("canonicalisation failed: {0}")]
    C14n(String),
    /// The signer (token, key) failed.
    #[error("signing failed: {0}")]
    Signer(String),
    /// A cryptographic library error.
    #[error("crypto error: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    /// The signature does not verify.
    #[error("signature is not valid: {0}")]
    Invalid(String),
}

/// The RSA signature algorithm (and the digest that goes with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256 (profile v1).
    RsaSha256,
    /// RSA PKCS#1 v1.5 with SHA-1 (older customs services).
    RsaSha1,
}

impl SignatureAlgorithm {
    fn uri(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha256 => RSA_SHA256,
            SignatureAlgorithm::RsaSha1 => RSA_SHA1,
        }
    }
    fn digest_uri(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaSha256 => SHA256,
            SignatureAlgorithm::RsaSha1 => SHA1,
        }
    }
    fn digest(self) -> MessageDigest {
        match self {
            SignatureAlgorithm::RsaSha256 => MessageDigest::sha256(),
            SignatureAlgorithm::RsaSha1 => MessageDigest::sha1(),
        }
    }
    /// Parses `rsa-sha256` / `rsa-sha1` (settings).
    pub fn from_setting(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rsa-sha256" => Some(SignatureAlgorithm::RsaSha256),
            "rsa-sha1" => Some(SignatureAlgorithm::RsaSha1),
            _ => None,
        }
    }
}

/// The canonicalisation of `SignedInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Canonicalization {
    /// C14N 1.0 (profile v1).
    C14n,
    /// C14N 1.0 with comments (older customs services).
    C14nWithComments,
}

impl Canonicalization {
    fn uri(self) -> &'static str {
        match self {
            Canonicalization::C14n => C14N,
            Canonicalization::C14nWithComments => C14N_COMMENTS,
        }
    }
    fn mode(self) -> C14nMode {
        match self {
            Canonicalization::C14n => C14nMode::Inclusive,
            Canonicalization::C14nWithComments => C14nMode::InclusiveWithComments,
        }
    }
    /// Parses `c14n` / `c14n-with-comments` (settings).
    pub fn from_setting(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "c14n" => Some(Canonicalization::C14n),
            "c14n-with-comments" => Some(Canonicalization::C14nWithComments),
            _ => None,
        }
    }
}

/// Algorithms of a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// RSA-SHA256 or RSA-SHA1.
    pub signature: SignatureAlgorithm,
    /// Canonicalisation of `SignedInfo`.
    pub canonicalization: Canonicalization,
}

impl Default for Profile {
    fn default() -> Self {
        Profile { signature: SignatureAlgorithm::RsaSha256, canonicalization: Canonicalization::C14n }
    }
}

/// Produces an RSA PKCS#1 v1.5 signature of `data` (hashing it with the algorithm's digest),
/// as PKCS#11's `CKM_SHA256_RSA_PKCS` does.
pub trait RawSigner {
    /// Signs `data`.
    fn sign(&self, algorithm: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, DsigError>;
}

/// A signer with the private key in memory (the customs simulator's test key; never the port's).
pub struct KeySigner(pub PKey<Private>);

impl KeySigner {
    /// Loads a PEM private key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, DsigError> {
        Ok(KeySigner(PKey::private_key_from_pem(pem)?))
    }
}

impl RawSigner for KeySigner {
    fn sign(&self, algorithm: SignatureAlgorithm, data: &[u8]) -> Result<Vec<u8>, DsigError> {
        let mut s = Signer::new(algorithm.digest(), &self.0)?;
        s.update(data)?;
        Ok(s.sign_to_vec()?)
    }
}

/// The signing certificate: DER bytes and subject name (RFC 2253-like), for `KeyInfo`.
#[derive(Clone)]
pub struct Certificate {
    /// The parsed certificate.
    pub x509: X509,
    der: Vec<u8>,
    subject: String,
}

impl Certificate {
    /// Reads a PEM or DER certificate.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DsigError> {
        let x509 = X509::from_pem(bytes).or_else(|_| X509::from_der(bytes))?;
        Self::from_x509(x509)
    }

    /// Wraps a parsed certificate.
    pub fn from_x509(x509: X509) -> Result<Self, DsigError> {
        let der = x509.to_der()?;
        let mut parts: Vec<String> = x509
            .subject_name()
            .entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?").to_string();
                let val = e.data().to_string().unwrap_or_default();
                format!("{key}={}", val.replace(',', "\\,"))
            })
            .collect();
        parts.reverse();
        Ok(Certificate { x509, der, subject: parts.join(",") })
    }

    /// The subject name as written in `X509SubjectName`.
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// Escapes text content.
fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

mod sign;
mod tree;
mod verify;

pub use sign::sign;
pub use verify::{verify, verify_body, Verified, MAX_DOCUMENT_BYTES};

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::asn1::Asn1Time;
    use openssl::rsa::Rsa;
    use openssl::x509::{X509NameBuilder, X509};

    fn key_and_cert() -> (KeySigner, Certificate) {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("C", "VN").unwrap();
        name.append_entry_by_text("CN", "Cảng Test, Hải Phòng").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap()).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = Certificate::from_x509(b.build()).unwrap();
        (KeySigner(key), cert)
    }

    const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Customs><Header><Message_Type>14</Message_Type></Header>\
<Data><LY_DO>A &amp; B &lt;x&gt; &quot;q&quot; Đường&#13;</LY_DO></Data></Customs>";

    #[test]
    fn signs_and_verifies_and_detects_tampering() {
        let (signer, cert) = key_and_cert();
        for profile in [
            Profile::default(),
            Profile { signature: SignatureAlgorithm::RsaSha1, canonicalization: Canonicalization::C14nWithComments },
        ] {
            let signed = sign(DOC, &signer, &cert, profile).unwrap();
            assert!(signed.ends_with("</ds:Signature></Customs>"), "{signed}");
            verify(&signed, &cert.x509).unwrap();
            let tampered = signed.replace("<Message_Type>14", "<Message_Type>15");
            assert!(matches!(verify(&tampered, &cert.x509), Err(DsigError::Invalid(m)) if m.contains("digest")));
        }
        let (_, other) = key_and_cert();
        let signed = sign(DOC, &signer, &cert, Profile::default()).unwrap();
        assert!(matches!(verify(&signed, &other.x509), Err(DsigError::Invalid(_))));
        assert!(matches!(verify(DOC, &cert.x509), Err(DsigError::Invalid(m)) if m.contains("not signed")));
        assert!(matches!(sign(&signed, &signer, &cert, Profile::default()), Err(DsigError::Document(_))));
    }
}
