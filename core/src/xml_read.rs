//! A defensive XML reader: size and depth caps, no DOCTYPE, no entities beyond the five
//! predefined ones, UTF-8 only. Produces a small element tree, then records by catalogue.

use crate::catalogue::{FieldDef, Shape};
use crate::problem::Problem;
use crate::record::{Record, Value};
use crate::scalar::is_xml_char;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Resource limits for reading untrusted XML.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted document in bytes (setting `vasscm.max_message_bytes`).
    pub max_bytes: usize,
    /// Deepest accepted element nesting (setting `vasscm.max_xml_depth`).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 1024 * 1024, max_depth: 32 }
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Larger than the size limit.
    #[error("message is {size} bytes, more than the limit of {limit} bytes (setting vasscm.max_message_bytes)")]
    TooLarge {
        /// Size of the document.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Nested deeper than the depth limit.
    #[error("elements are nested deeper than {limit} levels (setting vasscm.max_xml_depth)")]
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// A DOCTYPE (and with it any entity declaration) was present.
    #[error("DOCTYPE and entity declarations are not allowed in VASSCM messages")]
    Doctype,
    /// An entity reference other than the five predefined ones.
    #[error("entity &{0}; is not allowed: only &amp; &lt; &gt; &quot; &apos; and character references are")]
    UnknownEntity(String),
    /// A processing instruction other than the XML declaration.
    #[error("processing instruction <?{0} …?> is not allowed")]
    ProcessingInstruction(String),
    /// A declared encoding other than UTF-8.
    #[error("encoding {0:?} is not supported: VASSCM messages are UTF-8")]
    Encoding(String),
    /// A character XML 1.0 does not allow.
    #[error("character U+{0:04X} is not allowed in XML")]
    BadChar(u32),
    /// Not well-formed.
    #[error("XML is not well-formed near byte {position}: {message}")]
    Malformed {
        /// Byte offset where the reader stopped.
        position: u64,
        /// What the reader said.
        message: String,
    },
    /// No root element at all.
    #[error("the message is empty (no root element)")]
    Empty,
}

impl XmlError {
    /// The rule keyword used in `validate_message` rows.
    pub fn rule(&self) -> &'static str {
        match self {
            XmlError::TooLarge { .. } => "size",
            XmlError::TooDeep { .. } => "depth",
            XmlError::Doctype => "doctype",
            XmlError::UnknownEntity(_) => "entity",
            XmlError::Encoding(_) => "encoding",
            XmlError::BadChar(_) => "xml_char",
            _ => "well_formed",
        }
    }
}

/// An element: qualified name, attributes, child elements and concatenated text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element {
    /// Qualified name as written (`ds:Signature`).
    pub name: String,
    /// Attributes (name, unescaped value).
    pub attributes: Vec<(String, String)>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// Text content (character data of this element only).
    pub text: String,
}

impl Element {
    /// The name without its prefix.
    pub fn local_name(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    /// The value of an attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first child with this name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Reads a document into its root element, enforcing `limits`.
pub fn parse_tree(text: &str, limits: &Limits) -> Result<Element, XmlError> {
    if text.len() > limits.max_bytes {
        return Err(XmlError::TooLarge { size: text.len(), limit: limits.max_bytes });
    }
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let malformed = |reader: &Reader<&[u8]>, message: String| XmlError::Malformed { position: reader.buffer_position(), message };
    loop {
        let event = reader.read_event().map_err(|e| malformed(&reader, e.to_string()))?;
        match event {
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                let _ = e;
                return Err(malformed(&reader, "a second root element".into()));
            }
            Event::Start(e) => {
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep { limit: limits.max_depth });
                }
                stack.push(start_element(&e).map_err(|m| malformed(&reader, m))?);
            }
            Event::Empty(e) => {
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep { limit: limits.max_depth });
                }
                let el = start_element(&e).map_err(|m| malformed(&reader, m))?;
                attach(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(|| malformed(&reader, "closing tag without opening tag".into()))?;
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => push_text(&mut stack, &t.xml10_content()).map_err(|e| or_malformed(e, &reader))?,
            Event::CData(c) => push_text(&mut stack, &c.xml10_content()).map_err(|e| or_malformed(e, &reader))?,
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().map_err(|e| malformed(&reader, e.to_string()))? {
                    Some(c) => c,
                    None => match r.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(XmlError::UnknownEntity(other.chars().take(40).collect())),
                    },
                };
                push_text(&mut stack, ch.encode_utf8(&mut [0; 4])).map_err(|e| or_malformed(e, &reader))?;
            }
            Event::Decl(d) => {
                if let Some(enc) = d.encoding() {
                    let enc = enc.map_err(|e| malformed(&reader, e.to_string()))?;
                    if !enc.eq_ignore_ascii_case("utf-8") {
                        return Err(XmlError::Encoding(enc.chars().take(40).collect()));
                    }
                }
            }
            Event::PI(p) => return Err(XmlError::ProcessingInstruction(p.target().chars().take(40).collect())),
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed(&reader, format!("element <{}> is not closed", stack.last().map(|e| e.name.as_str()).unwrap_or(""))));
    }
    root.ok_or(XmlError::Empty)
}

fn or_malformed(e: XmlError, reader: &Reader<&[u8]>) -> XmlError {
    match e {
        XmlError::Malformed { message, .. } => XmlError::Malformed { position: reader.buffer_position(), message },
        other => other,
    }
}

fn start_element(e: &BytesStart<'_>) -> Result<Element, String> {
    let mut el = Element { name: e.name().as_ref().to_string(), ..Element::default() };
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|e| e.to_string())?;
        if let Some(c) = v.chars().find(|&c| !is_xml_char(c)) {
            return Err(format!("character U+{:04X} is not allowed in XML", c as u32));
        }
        el.attributes.push((a.key.as_ref().to_string(), v.into_owned()));
    }
    Ok(el)
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    if let Some(c) = text.chars().find(|&c| !is_xml_char(c)) {
        return Err(XmlError::BadChar(c as u32));
    }
    match stack.last_mut() {
        Some(el) => el.text.push_str(text),
        None if text.trim().is_empty() => {}
        None => return Err(XmlError::Malformed { position: 0, message: "text outside the root element".into() }),
    }
    Ok(())
}

/// Maps an element's children onto `defs`; unknown elements, repeats, wrong order and
/// mixed content go to `out` (the XSD's `xs:sequence` order is enforced here too).
pub fn record_from_element(defs: &[FieldDef], el: Element, prefix: &str, out: &mut Vec<Problem>) -> Record {
    let mut rec = Record::default();
    let mut last_index = 0usize;
    let mut last_name = "";
    if !el.children.is_empty() && !el.text.trim().is_empty() {
        out.push(Problem::new(prefix, "type", format!("{} mixes text with elements", el.name)));
    }
    for child in el.children {
        let path = || format!("{prefix}/{}", child.name);
        let Some(idx) = defs.iter().position(|d| d.name == child.name) else {
            out.push(Problem::new(path(), "unknown_field", format!("{} is not a field of this message", child.name)));
            continue;
        };
        let def = &defs[idx];
        if idx < last_index {
            out.push(Problem::new(path(), "order", format!("{} must come before {last_name}", child.name)));
        } else {
            last_index = idx;
            last_name = &def.name;
        }
        let repeats_ok = matches!(def.shape, Shape::Group { item: None, .. });
        if rec.get(&def.name).is_some() && !repeats_ok {
            out.push(Problem::new(path(), "cardinality", format!("{} appears more than once", child.name)));
            continue;
        }
        match &def.shape {
            Shape::Scalar(_) => {
                if !child.children.is_empty() {
                    out.push(Problem::new(path(), "type", format!("{} must be a simple value, not contain elements", child.name)));
                    continue;
                }
                rec.0.push((def.name.clone(), Value::Text(child.text)));
            }
            Shape::List(elem) => {
                let mut values = Vec::new();
                for (i, c) in child.children.into_iter().enumerate() {
                    if c.name != elem.name || !c.children.is_empty() {
                        out.push(Problem::new(
                            format!("{}/{}[{}]", path(), c.name, i + 1),
                            "unknown_field",
                            format!("{} may only contain {} values", def.name, elem.name),
                        ));
                        continue;
                    }
                    values.push(c.text);
                }
                rec.0.push((def.name.clone(), Value::List(values)));
            }
            Shape::Group { item: Some(item), fields } => {
                let mut items = Vec::new();
                for (i, c) in child.children.into_iter().enumerate() {
                    let p = format!("{}/{item}[{}]", path(), i + 1);
                    if &c.name != item {
                        out.push(Problem::new(p, "unknown_field", format!("{} may only contain {item} elements", def.name)));
                        continue;
                    }
                    items.push(record_from_element(fields, c, &p, out));
                }
                rec.0.push((def.name.clone(), Value::Items(items)));
            }
            Shape::Group { item: None, fields } => {
                let n = match rec.get(&def.name) {
                    Some(Value::Items(v)) => v.len(),
                    _ => 0,
                };
                let item_path = format!("{}[{}]", path(), n + 1);
                let item = record_from_element(fields, child, &item_path, out);
                match rec.0.iter_mut().find(|(name, _)| name == &def.name) {
                    Some((_, Value::Items(v))) => v.push(item),
                    _ => rec.0.push((def.name.clone(), Value::Items(vec![item]))),
                }
            }
        }
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Element, XmlError> {
        parse_tree(s, &Limits::default())
    }

    #[test]
    fn reads_text_entities_and_char_refs() {
        let el = parse("<?xml version=\"1.0\" encoding=\"utf-8\"?><a><b>x &amp; y &#13;&#x1EA1;</b></a>").unwrap();
        assert_eq!(el.children[0].text, "x & y \rạ");
    }

    #[test]
    fn refuses_hostile_documents() {
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><a>&lol2;</a>";
        assert_eq!(parse(bomb), Err(XmlError::Doctype));
        assert_eq!(parse("<a>&ext;</a>"), Err(XmlError::UnknownEntity("ext".into())));
        assert_eq!(parse("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>"), Err(XmlError::Encoding("ISO-8859-1".into())));
        assert!(matches!(parse("<?php echo 1 ?><a/>"), Err(XmlError::ProcessingInstruction(_))));
        assert!(matches!(parse("<a><b></a>"), Err(XmlError::Malformed { .. })));
        assert!(matches!(parse("<a></a><b/>"), Err(XmlError::Malformed { .. })));
        assert!(matches!(parse("<a>&#1;</a>"), Err(XmlError::BadChar(1)) | Err(XmlError::Malformed { .. })));
        assert_eq!(parse(""), Err(XmlError::Empty));
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert_eq!(parse(&deep), Err(XmlError::TooDeep { limit: 32 }));
        let big = format!("<a>{}</a>", "x".repeat(2_000_000));
        assert!(matches!(parse(&big), Err(XmlError::TooLarge { .. })));
    }
}
