//! Signing: an enveloped `ds:Signature` as the last child of the root, its digest and its
//! `SignedInfo` canonicalised from the parsed tree (never from text cut out of context).

use crate::tree::{self, is_dsig};
use crate::{escape_text, Certificate, DsigError, Profile, RawSigner, C14N, DSIG_NS, ENVELOPED};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bergshamra::c14n::C14nMode;
use bergshamra::xml::nodeset::NodeSet;
use uppsala::NodeKind;

/// Stands in for the signature value until `SignedInfo` has been canonicalised in place.
const PLACEHOLDER: &str = "SIGNATURE-VALUE-PLACEHOLDER";

/// Signs a document: returns it with an enveloped `ds:Signature` as the last child of the root.
pub fn sign(xml: &str, signer: &dyn RawSigner, cert: &Certificate, profile: Profile) -> Result<String, DsigError> {
    let doc = tree::parse(xml)?;
    let root = doc.document_element().ok_or_else(|| DsigError::Document("no root element".into()))?;
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if is_dsig(&doc, id, "Signature") {
            return Err(DsigError::Document("the message is already signed".into()));
        }
        stack.extend(doc.children_iter(id).filter(|&c| matches!(doc.node_kind(c), Some(NodeKind::Element(_)))));
    }
    let name = doc.element(root).map(|e| e.name.prefixed_name().into_owned()).unwrap_or_default();
    let close_tag = format!("</{name}>");
    let end = doc.node_range(root).map(|r| r.end).ok_or_else(|| DsigError::Document("no source range of the root element".into()))?;
    let close = end
        .checked_sub(close_tag.len())
        .filter(|&at| xml.get(at..end) == Some(close_tag.as_str()))
        .ok_or_else(|| DsigError::Document(format!("the root element has no closing tag {close_tag}")))?;

    let digest = openssl::hash::hash(profile.signature.digest(), &tree::c14n(&doc, C14nMode::Inclusive, &tree::document_without(&doc, None))?)?;
    let signed_info = format!(
        "<ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{}\"/><ds:SignatureMethod Algorithm=\"{}\"/>\
<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{C14N}\"/></ds:Transforms>\
<ds:DigestMethod Algorithm=\"{}\"/><ds:DigestValue>{}</ds:DigestValue></ds:Reference></ds:SignedInfo>",
        profile.canonicalization.uri(),
        profile.signature.uri(),
        profile.signature.digest_uri(),
        B64.encode(digest)
    );
    let signature = format!(
        "<ds:Signature xmlns:ds=\"{DSIG_NS}\">{signed_info}<ds:SignatureValue>{PLACEHOLDER}</ds:SignatureValue><ds:KeyInfo><ds:X509Data>\
<ds:X509SubjectName>{}</ds:X509SubjectName><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
        escape_text(cert.subject()),
        B64.encode(&cert.der)
    );
    let value_at = close + signature.find(PLACEHOLDER).unwrap_or_default();
    let mut out = String::with_capacity(xml.len() + signature.len() + 400);
    out.push_str(&xml[..close]);
    out.push_str(&signature);
    out.push_str(&xml[close..]);

    // SignedInfo canonicalised in its place in the signed document, as a verifier does.
    let canonical_si = {
        let signed = tree::parse(&out)?;
        let root = signed.document_element().ok_or_else(|| DsigError::Document("no root element".into()))?;
        let sig = signed
            .children_iter(root)
            .rev()
            .find(|&c| is_dsig(&signed, c, "Signature"))
            .ok_or_else(|| DsigError::Document("the signature was not inserted".into()))?;
        let si = signed
            .children_iter(sig)
            .find(|&c| is_dsig(&signed, c, "SignedInfo"))
            .ok_or_else(|| DsigError::Document("no SignedInfo".into()))?;
        let set = match profile.canonicalization.mode() {
            C14nMode::InclusiveWithComments => NodeSet::tree_with_comments(si, &signed),
            _ => NodeSet::tree_without_comments(si, &signed),
        };
        tree::c14n(&signed, profile.canonicalization.mode(), &set)?
    };
    let value = signer.sign(profile.signature, &canonical_si)?;
    out.replace_range(value_at..value_at + PLACEHOLDER.len(), &B64.encode(value));
    Ok(out)
}
