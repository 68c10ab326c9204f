//! The parsed tree that signing and verification both work on: one strict `uppsala` parse
//! (no DTD, bounded depth), and small accessors that refuse anything unexpected instead of
//! guessing.

use crate::{DsigError, DSIG_NS};
use bergshamra::c14n::C14nMode;
use bergshamra::xml::nodeset::NodeSet;
use uppsala::{Document, NodeId, NodeKind};

/// Deepest element nesting accepted (VASSCM messages are a few levels deep).
const MAX_DEPTH: u32 = 64;

/// Parses a document strictly: no `DOCTYPE` (so no entity declarations), bounded depth.
pub(crate) fn parse(xml: &str) -> Result<Document<'_>, DsigError> {
    let doc = uppsala::Parser::new()
        .with_forbid_dtd(true)
        .with_max_depth(MAX_DEPTH)
        .parse(xml)
        .map_err(|e| DsigError::Document(format!("not well-formed XML: {e}")))?;
    if doc.doctype.is_some() {
        return Err(DsigError::Document("a DOCTYPE is not allowed".into()));
    }
    if let Some(decl) = &doc.xml_declaration {
        if decl.version != "1.0" {
            return Err(DsigError::Document(format!("XML version {} is not accepted, only 1.0", decl.version)));
        }
        if let Some(enc) = decl.encoding.as_deref().filter(|e| !e.eq_ignore_ascii_case("utf-8")) {
            return Err(DsigError::Document(format!("encoding {enc} is not accepted, only UTF-8")));
        }
    }
    Ok(doc)
}

/// Canonical bytes (inclusive C14N 1.0) of the nodes of `set` in `doc`.
pub(crate) fn c14n(doc: &Document<'_>, mode: C14nMode, set: &NodeSet) -> Result<Vec<u8>, DsigError> {
    bergshamra::c14n::canonicalize_doc::<&str>(doc, mode, Some(set), &[]).map_err(|e| DsigError::C14n(e.to_string()))
}

/// The node set of the whole document without comments and without the subtree at `skip`
/// (`Reference URI=""` followed by the enveloped-signature transform).
pub(crate) fn document_without(doc: &Document<'_>, skip: Option<NodeId>) -> NodeSet {
    let mut set = NodeSet::all_without_comments(doc);
    if let Some(id) = skip {
        remove_subtree(doc, id, &mut set);
    }
    set
}

fn remove_subtree(doc: &Document<'_>, id: NodeId, set: &mut NodeSet) {
    set.remove_id(id);
    for child in doc.children_iter(id) {
        remove_subtree(doc, child, set);
    }
}

/// Whether `id` is an element in the XML-DSig namespace with this local name.
pub(crate) fn is_dsig(doc: &Document<'_>, id: NodeId, local: &str) -> bool {
    doc.element(id).is_some_and(|e| e.name.namespace_uri.as_deref() == Some(DSIG_NS) && e.name.local_name == local)
}

/// The element children of `id`; refuses non-blank text and processing instructions between
/// them (a signature element has element content only). Comments are allowed (C14N drops them).
pub(crate) fn element_children(doc: &Document<'_>, id: NodeId, what: &str) -> Result<Vec<NodeId>, DsigError> {
    let mut out = Vec::new();
    for c in doc.children_iter(id) {
        match doc.node_kind(c) {
            Some(NodeKind::Element(_)) => out.push(c),
            Some(NodeKind::Text(t)) | Some(NodeKind::CData(t)) if t.trim().is_empty() => {}
            Some(NodeKind::Comment(_)) => {}
            _ => return Err(DsigError::Invalid(format!("{what} may only contain elements"))),
        }
    }
    Ok(out)
}

/// Checks that the element children of `id` are exactly the dsig elements `names` (a name
/// ending in `?` is optional) and returns them in that order.
pub(crate) fn dsig_children(doc: &Document<'_>, id: NodeId, what: &str, names: &[&str]) -> Result<Vec<Option<NodeId>>, DsigError> {
    let children = element_children(doc, id, what)?;
    let mut out = Vec::with_capacity(names.len());
    let mut it = children.iter().peekable();
    for name in names {
        let (name, optional) = match name.strip_suffix('?') {
            Some(n) => (n, true),
            None => (*name, false),
        };
        match it.peek() {
            Some(&&c) if is_dsig(doc, c, name) => {
                out.push(Some(c));
                it.next();
            }
            _ if optional => out.push(None),
            _ => return Err(DsigError::Invalid(format!("{what} must contain ds:{name} here"))),
        }
    }
    if let Some(&extra) = it.next() {
        let name = doc.element(extra).map(|e| e.name.local_name.to_string()).unwrap_or_default();
        return Err(DsigError::Invalid(format!("{what} must not contain {name}")));
    }
    Ok(out)
}

/// The value of the only allowed attributes of an element: refuses any attribute not listed.
pub(crate) fn attributes<'d>(doc: &'d Document<'_>, id: NodeId, what: &str, allowed: &[&str]) -> Result<Vec<(&'d str, &'d str)>, DsigError> {
    let el = doc.element(id).ok_or_else(|| DsigError::Invalid(format!("{what} is not an element")))?;
    let mut out = Vec::new();
    for a in &el.attributes {
        if a.name.namespace_uri.is_some() || !allowed.contains(&a.name.local_name.as_ref()) {
            return Err(DsigError::Invalid(format!("{what} must not have the attribute {}", a.name.prefixed_name())));
        }
        out.push((a.name.local_name.as_ref(), a.value.as_ref()));
    }
    Ok(out)
}

/// The `Algorithm` attribute of an element with no element content.
pub(crate) fn algorithm<'d>(doc: &'d Document<'_>, id: NodeId, what: &str) -> Result<&'d str, DsigError> {
    if !element_children(doc, id, what)?.is_empty() {
        return Err(DsigError::Invalid(format!("{what} must not have parameters")));
    }
    attributes(doc, id, what, &["Algorithm"])?
        .into_iter()
        .find(|(n, _)| *n == "Algorithm")
        .map(|(_, v)| v)
        .ok_or_else(|| DsigError::Invalid(format!("{what} has no Algorithm")))
}

/// The text of an element with text content only (base64 values), whitespace removed.
pub(crate) fn base64_text(doc: &Document<'_>, id: NodeId, what: &str) -> Result<Vec<u8>, DsigError> {
    use base64::Engine;
    let mut text = String::new();
    for c in doc.children_iter(id) {
        match doc.node_kind(c) {
            Some(NodeKind::Text(t)) => text.push_str(t),
            Some(NodeKind::Comment(_)) => {}
            _ => return Err(DsigError::Invalid(format!("{what} must contain text only"))),
        }
    }
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| DsigError::Invalid(format!("{what} is not base64: {e}")))
}
