//! XML-DSig for VASSCM messages (profile v1 of the domain notes): an enveloped signature over
//! the whole document (`Reference URI=""`, enveloped-signature transform), C14N 1.0,
//! SHA-256 digest, RSA-SHA256, `KeyInfo/X509Data` with `X509SubjectName` and
//! `X509Certificate`. RSA-SHA1 (with SHA-1 digest) and C14N-with-comments for `SignedInfo` are
//! settings, for older customs services.
//!
//! Canonicalisation is done by `bergshamra` (a proven implementation); the RSA operation is
//! behind [`RawSigner`], so the key can stay on a PKCS#11 token.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bergshamra::c14n::C14nMode;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::{Signer, Verifier};
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

fn c14n(xml: &str, mode: C14nMode) -> Result<Vec<u8>, DsigError> {
    bergshamra::c14n::canonicalize::<&str>(xml, mode, None, &[]).map_err(|e| DsigError::C14n(e.to_string()))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Signs a document: returns it with an enveloped `ds:Signature` as the last child of the root.
pub fn sign(xml: &str, signer: &dyn RawSigner, cert: &Certificate, profile: Profile) -> Result<String, DsigError> {
    if find_signature(xml).is_some() {
        return Err(DsigError::Document("the message is already signed".into()));
    }
    let close = root_close_tag_start(xml).ok_or_else(|| DsigError::Document("no closing tag of the root element".into()))?;
    let digest = openssl::hash::hash(profile.signature.digest(), &c14n(xml, C14nMode::Inclusive)?)?;
    let signed_info = format!(
        "<ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{}\"/><ds:SignatureMethod Algorithm=\"{}\"/>\
<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{C14N}\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"{}\"/><ds:DigestValue>{}</ds:DigestValue></ds:Reference></ds:SignedInfo>",
        profile.canonicalization.uri(),
        profile.signature.uri(),
        profile.signature.digest_uri(),
        B64.encode(digest)
    );
    let canonical_si = c14n(&with_dsig_ns(&signed_info, "ds"), profile.canonicalization.mode())?;
    let value = signer.sign(profile.signature, &canonical_si)?;
    let signature = format!(
        "<ds:Signature xmlns:ds=\"{DSIG_NS}\">{signed_info}<ds:SignatureValue>{}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>\
<ds:X509SubjectName>{}</ds:X509SubjectName><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        B64.encode(value),
        escape(cert.subject()),
        B64.encode(&cert.der)
    );
    let mut out = String::with_capacity(xml.len() + signature.len());
    out.push_str(&xml[..close]);
    out.push_str(&signature);
    out.push_str(&xml[close..]);
    Ok(out)
}

/// Verifies the enveloped signature of a document against `cert` (the registered certificate
/// of the sender, not the one the message carries).
pub fn verify(xml: &str, cert: &X509) -> Result<(), DsigError> {
    let (start, end, prefix) = find_signature(xml).ok_or_else(|| DsigError::Invalid("the message is not signed".into()))?;
    let sig = &xml[start..end];
    let p = if prefix.is_empty() { String::new() } else { format!("{prefix}:") };
    let si = element(sig, &format!("{p}SignedInfo")).ok_or_else(|| DsigError::Invalid("no SignedInfo".into()))?;
    let algo = |name: &str| attribute(element(si, &format!("{p}{name}")).unwrap_or(""), "Algorithm");
    let signature = match algo("SignatureMethod").as_deref() {
        Some(RSA_SHA256) => SignatureAlgorithm::RsaSha256,
        Some(RSA_SHA1) => SignatureAlgorithm::RsaSha1,
        other => return Err(DsigError::Invalid(format!("unsupported signature method {other:?}"))),
    };
    let canonicalization = match algo("CanonicalizationMethod").as_deref() {
        Some(C14N) => Canonicalization::C14n,
        Some(C14N_COMMENTS) => Canonicalization::C14nWithComments,
        other => return Err(DsigError::Invalid(format!("unsupported canonicalization {other:?}"))),
    };
    let reference = element(si, &format!("{p}Reference")).ok_or_else(|| DsigError::Invalid("no Reference".into()))?;
    if attribute(reference, "URI").as_deref() != Some("") {
        return Err(DsigError::Invalid("the reference must be URI=\"\" (the whole document)".into()));
    }
    if !reference.contains(ENVELOPED) {
        return Err(DsigError::Invalid("the reference lacks the enveloped-signature transform".into()));
    }
    let digest_alg = match algo("DigestMethod").as_deref() {
        Some(SHA256) => MessageDigest::sha256(),
        Some(SHA1) => MessageDigest::sha1(),
        other => return Err(DsigError::Invalid(format!("unsupported digest method {other:?}"))),
    };
    let digest_value = text(reference, &format!("{p}DigestValue")).ok_or_else(|| DsigError::Invalid("no DigestValue".into()))?;
    let unsigned = format!("{}{}", &xml[..start], &xml[end..]);
    let digest = openssl::hash::hash(digest_alg, &c14n(&unsigned, C14nMode::Inclusive)?)?;
    let expected = B64.decode(digest_value.trim()).map_err(|e| DsigError::Invalid(format!("DigestValue is not base64: {e}")))?;
    if digest.as_ref() != expected.as_slice() {
        return Err(DsigError::Invalid("the digest does not match: the document was changed after signing".into()));
    }
    let value = text(sig, &format!("{p}SignatureValue")).ok_or_else(|| DsigError::Invalid("no SignatureValue".into()))?;
    let value: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let value = B64.decode(value).map_err(|e| DsigError::Invalid(format!("SignatureValue is not base64: {e}")))?;
    let canonical_si = c14n(&with_dsig_ns(si, prefix), canonicalization.mode())?;
    let key = cert.public_key()?;
    let mut v = Verifier::new(signature.digest(), &key)?;
    v.update(&canonical_si)?;
    if !v.verify(&value).unwrap_or(false) {
        return Err(DsigError::Invalid("the signature value does not verify with the registered certificate".into()));
    }
    Ok(())
}

/// Adds the dsig namespace declaration to a `SignedInfo` element taken out of its context
/// (inclusive C14N renders the in-scope declaration on the apex element).
fn with_dsig_ns(signed_info: &str, prefix: &str) -> String {
    let tag = if prefix.is_empty() { "<SignedInfo".to_string() } else { format!("<{prefix}:SignedInfo") };
    let decl = if prefix.is_empty() { format!(" xmlns=\"{DSIG_NS}\"") } else { format!(" xmlns:{prefix}=\"{DSIG_NS}\"") };
    match signed_info.strip_prefix(tag.as_str()) {
        Some(rest) if !rest.trim_start().starts_with("xmlns") => format!("{tag}{decl}{rest}"),
        _ => signed_info.to_string(),
    }
}

/// Byte offset of the root element's closing tag.
fn root_close_tag_start(xml: &str) -> Option<usize> {
    let trimmed = xml.trim_end();
    let pos = trimmed.rfind("</")?;
    trimmed[pos..].ends_with('>').then_some(pos)
}

/// Finds the `Signature` element in the dsig namespace: (start, end, prefix).
fn find_signature(xml: &str) -> Option<(usize, usize, &str)> {
    let mut from = 0;
    while let Some(rel) = xml[from..].find("Signature") {
        let at = from + rel;
        from = at + 1;
        let lt = xml[..at].rfind('<')?;
        let name = &xml[lt + 1..at];
        let prefix = match name {
            "" => "",
            n if n.ends_with(':') && n[..n.len() - 1].chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-') => &n[..n.len() - 1],
            _ => continue,
        };
        let after = xml[at + "Signature".len()..].chars().next()?;
        if !(after.is_whitespace() || after == '>') {
            continue;
        }
        let tag_end = at + xml[at..].find('>')?;
        if !xml[at..tag_end].contains(DSIG_NS) && !xml[..lt].contains(DSIG_NS) {
            continue;
        }
        let close = if prefix.is_empty() { "</Signature>".to_string() } else { format!("</{prefix}:Signature>") };
        let end = at + xml[at..].find(&close)? + close.len();
        return Some((lt, end, prefix));
    }
    None
}

/// The first element `<name …>…</name>` (or `<name …/>`) in `xml`, as a slice.
fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}");
    let mut from = 0;
    loop {
        let start = from + xml[from..].find(&open)?;
        let next = xml[start + open.len()..].chars().next()?;
        if !(next.is_whitespace() || next == '>' || next == '/') {
            from = start + 1;
            continue;
        }
        let tag_end = start + xml[start..].find('>')?;
        if xml[..tag_end].ends_with('/') {
            return Some(&xml[start..=tag_end]);
        }
        let close = format!("</{name}>");
        let end = tag_end + xml[tag_end..].find(&close)? + close.len();
        return Some(&xml[start..end]);
    }
}

fn attribute(element: &str, name: &str) -> Option<String> {
    let tag_end = element.find('>')?;
    let tag = &element[..tag_end];
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    let end = start + tag[start..].find('"')?;
    Some(tag[start..end].to_string())
}

fn text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let el = element(xml, name)?;
    let start = el.find('>')? + 1;
    let end = el.rfind("</")?;
    (start <= end).then(|| &el[start..end])
}

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
