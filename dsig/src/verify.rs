//! Verification of an enveloped signature, profile v1 (and its older settings), strictly:
//! one parse, one `ds:Signature` as the last element child of `Customs`, one reference to the
//! whole document, and the canonical bytes that were digested handed back as the document.

use crate::tree::{self, algorithm, attributes, base64_text, dsig_children, is_dsig};
use crate::{Canonicalization, DsigError, SignatureAlgorithm, C14N, C14N_COMMENTS, DSIG_NS, ENVELOPED, RSA_SHA1, RSA_SHA256, SHA1, SHA256};
use bergshamra::c14n::C14nMode;
use bergshamra::xml::nodeset::NodeSet;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use openssl::x509::X509;
use uppsala::{Document, NodeId, NodeKind};

/// The largest document accepted for verification (VASSCM messages are kilobytes).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

/// The name of the root element of every VASSCM message.
const ROOT: &str = "Customs";

/// A document whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    document: String,
    /// The algorithms the signature used.
    pub signature: SignatureAlgorithm,
    /// The canonicalisation of its `SignedInfo`.
    pub canonicalization: Canonicalization,
}

impl Verified {
    /// The signed content exactly as digested: the canonical form (C14N 1.0, no comments) of
    /// the document without its signature. Store, parse and apply this text, nothing else.
    pub fn document(&self) -> &str {
        &self.document
    }

    /// Takes the verified document.
    pub fn into_document(self) -> String {
        self.document
    }
}

/// Verifies the enveloped signature of a VASSCM document against `cert` (the registered
/// certificate of the sender, never the one the message carries) and returns what was signed.
///
/// Refused: a DOCTYPE, processing instructions, a root other than `Customs`, no signature or
/// more than one, a signature anywhere but as the last element child of `Customs`, any other
/// XML-DSig element outside it, `SignedInfo` with other than exactly one `Reference URI=""`,
/// transforms other than enveloped-signature optionally followed by C14N 1.0, algorithms
/// outside the profile, parameters on algorithms, `Object` elements, and of course a digest or
/// signature value that does not match.
pub fn verify(xml: &str, cert: &X509) -> Result<Verified, DsigError> {
    if xml.len() > MAX_DOCUMENT_BYTES {
        return Err(DsigError::Document(format!("the document has {} bytes, more than the {MAX_DOCUMENT_BYTES} accepted", xml.len())));
    }
    let doc = tree::parse(xml)?;
    let root = doc.document_element().ok_or_else(|| DsigError::Document("no root element".into()))?;
    match doc.element(root) {
        Some(e) if e.name.local_name == ROOT && e.name.namespace_uri.is_none() => {}
        Some(e) => return Err(DsigError::Document(format!("the root element is {}, not {ROOT}", e.name.prefixed_name()))),
        None => return Err(DsigError::Document("no root element".into())),
    }
    let signature = the_signature(&doc, root)?;
    let [signed_info, signature_value, key_info] = dsig_children(&doc, signature, "Signature", &["SignedInfo", "SignatureValue", "KeyInfo?"])?[..] else {
        return Err(DsigError::Invalid("Signature has an unexpected shape".into()));
    };
    let (signed_info, signature_value) = (signed_info.ok_or_else(shape)?, signature_value.ok_or_else(shape)?);
    attributes(&doc, signature, "Signature", &["Id"])?;
    attributes(&doc, signed_info, "SignedInfo", &["Id"])?;
    attributes(&doc, signature_value, "SignatureValue", &["Id"])?;
    let [c14n_method, sig_method, reference] = dsig_children(&doc, signed_info, "SignedInfo", &["CanonicalizationMethod", "SignatureMethod", "Reference"])?[..] else {
        return Err(shape());
    };
    let canonicalization = match algorithm(&doc, c14n_method.ok_or_else(shape)?, "CanonicalizationMethod")? {
        C14N => Canonicalization::C14n,
        C14N_COMMENTS => Canonicalization::C14nWithComments,
        other => return Err(DsigError::Invalid(format!("unsupported canonicalization {other:?}"))),
    };
    let signature_alg = match algorithm(&doc, sig_method.ok_or_else(shape)?, "SignatureMethod")? {
        RSA_SHA256 => SignatureAlgorithm::RsaSha256,
        RSA_SHA1 => SignatureAlgorithm::RsaSha1,
        other => return Err(DsigError::Invalid(format!("unsupported signature method {other:?}"))),
    };
    let (digest_alg, digest_value) = the_reference(&doc, reference.ok_or_else(shape)?)?;
    if let Some(key_info) = key_info {
        certificates_are(&doc, key_info, cert)?;
    }

    // The digest over this tree without comments and without the signature: these canonical
    // bytes are what the caller gets, so what is applied is what was verified.
    let canonical = tree::c14n(&doc, C14nMode::Inclusive, &tree::document_without(&doc, Some(signature)))?;
    let digest = openssl::hash::hash(digest_alg, &canonical)?;
    if digest.as_ref() != digest_value.as_slice() {
        return Err(DsigError::Invalid("the digest does not match: the document was changed after signing".into()));
    }
    let si_set = match canonicalization {
        Canonicalization::C14n => NodeSet::tree_without_comments(signed_info, &doc),
        Canonicalization::C14nWithComments => NodeSet::tree_with_comments(signed_info, &doc),
    };
    let canonical_si = tree::c14n(&doc, canonicalization.mode(), &si_set)?;
    let value = base64_text(&doc, signature_value, "SignatureValue")?;
    let key = cert.public_key()?;
    let mut v = Verifier::new(signature_alg.digest(), &key)?;
    v.update(&canonical_si)?;
    if !v.verify(&value).unwrap_or(false) {
        return Err(DsigError::Invalid("the signature value does not verify with the registered certificate".into()));
    }
    let document = String::from_utf8(canonical).map_err(|e| DsigError::C14n(e.to_string()))?;
    Ok(Verified { document, signature: signature_alg, canonicalization })
}

/// A certificate carried in `KeyInfo` is not trusted, but when one is there it must be the
/// registered one: a message naming another signer is refused, not silently re-attributed.
fn certificates_are(doc: &Document<'_>, key_info: NodeId, cert: &X509) -> Result<(), DsigError> {
    let registered = cert.to_der()?;
    let mut stack = vec![key_info];
    while let Some(id) = stack.pop() {
        if is_dsig(doc, id, "X509Certificate") && base64_text(doc, id, "X509Certificate")? != registered {
            return Err(DsigError::Invalid("KeyInfo carries a certificate other than the registered one".into()));
        }
        stack.extend(doc.children_iter(id));
    }
    Ok(())
}

/// Verifies a body as it arrived from customs: a bare message, or a SOAP 1.1 envelope whose
/// parameter (`message` / `return`) is the message, taken out by parsing the envelope.
pub fn verify_body(body: &str, cert: &X509) -> Result<Verified, DsigError> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(DsigError::Document(format!("the body has {} bytes, more than the {MAX_DOCUMENT_BYTES} accepted", body.len())));
    }
    if vasscm_core::soap::is_soap(body) {
        let message = vasscm_core::soap::unwrap(body)
            .ok_or_else(|| DsigError::Document("a SOAP envelope without exactly one message parameter".into()))?;
        verify(&message, cert)
    } else {
        verify(body, cert)
    }
}

fn shape() -> DsigError {
    DsigError::Invalid("the signature has an unexpected shape".into())
}

/// The one `ds:Signature`: the last element child of the root, with no other XML-DSig element
/// and no processing instruction anywhere else in the document.
fn the_signature(doc: &Document<'_>, root: NodeId) -> Result<NodeId, DsigError> {
    let last = doc
        .children_iter(root)
        .rev()
        .find(|&c| matches!(doc.node_kind(c), Some(NodeKind::Element(_))))
        .filter(|&c| is_dsig(doc, c, "Signature"))
        .ok_or_else(|| DsigError::Invalid("the message is not signed: ds:Signature is not the last element of Customs".into()))?;
    let mut stack = vec![doc.root()];
    while let Some(id) = stack.pop() {
        if id == last {
            continue;
        }
        match doc.node_kind(id) {
            Some(NodeKind::ProcessingInstruction(p)) => {
                return Err(DsigError::Document(format!("processing instruction <?{}?> is not allowed", p.target)));
            }
            Some(NodeKind::Element(e)) => {
                if e.name.namespace_uri.as_deref() == Some(DSIG_NS) || e.name.local_name == "Signature" {
                    return Err(DsigError::Invalid(format!("{} outside the one signature of the message", e.name.prefixed_name())));
                }
                if e.namespace_declarations.iter().any(|(_, uri)| uri == DSIG_NS) {
                    return Err(DsigError::Invalid("the XML-DSig namespace is declared outside the signature".into()));
                }
            }
            _ => {}
        }
        stack.extend(doc.children_iter(id));
    }
    Ok(last)
}

/// Checks the one `Reference` (`URI=""`, enveloped-signature transform optionally followed by
/// C14N 1.0) and returns its digest algorithm and value.
fn the_reference(doc: &Document<'_>, reference: NodeId) -> Result<(MessageDigest, Vec<u8>), DsigError> {
    let attrs = attributes(doc, reference, "Reference", &["URI", "Id", "Type"])?;
    if attrs.iter().find(|(n, _)| *n == "URI").map(|(_, v)| *v) != Some("") {
        return Err(DsigError::Invalid("the reference must be URI=\"\" (the whole document)".into()));
    }
    let [transforms, digest_method, digest_value] = dsig_children(doc, reference, "Reference", &["Transforms", "DigestMethod", "DigestValue"])?[..] else {
        return Err(shape());
    };
    let transforms = transforms.ok_or_else(shape)?;
    attributes(doc, transforms, "Transforms", &[])?;
    let mut algorithms = Vec::new();
    for t in tree::element_children(doc, transforms, "Transforms")? {
        if !is_dsig(doc, t, "Transform") {
            return Err(DsigError::Invalid("Transforms may only contain ds:Transform".into()));
        }
        algorithms.push(algorithm(doc, t, "Transform")?);
    }
    if !(algorithms == [ENVELOPED] || algorithms == [ENVELOPED, C14N]) {
        return Err(DsigError::Invalid(format!("unexpected transforms {algorithms:?}: only enveloped-signature, then C14N 1.0")));
    }
    let digest_alg = match algorithm(doc, digest_method.ok_or_else(shape)?, "DigestMethod")? {
        SHA256 => MessageDigest::sha256(),
        SHA1 => MessageDigest::sha1(),
        other => return Err(DsigError::Invalid(format!("unsupported digest method {other:?}"))),
    };
    let digest_value = digest_value.ok_or_else(shape)?;
    attributes(doc, digest_value, "DigestValue", &[])?;
    Ok((digest_alg, base64_text(doc, digest_value, "DigestValue")?))
}
