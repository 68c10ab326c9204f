//! SOAP 1.1 wrapping of VASSCM messages: the signed XML travels as an escaped string
//! parameter (`message` in a request, `return` in a reply), as customs' other services do.

use crate::xml_write::escape_into;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAPAction of a send.
pub const SOAP_ACTION: &str = "urn:vasscm#Send";

/// Wraps a message as the `message` parameter of `Send`.
pub fn wrap_request(xml: &str) -> String {
    wrap("Send", "message", xml)
}

/// Wraps a reply as the `return` value of `SendResponse`.
pub fn wrap_response(xml: &str) -> String {
    wrap("SendResponse", "return", xml)
}

fn wrap(op: &str, param: &str, xml: &str) -> String {
    let mut s = String::with_capacity(xml.len() + 300);
    s.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"");
    s.push_str(SOAP_NS);
    s.push_str(&format!("\"><soap:Body><{op} xmlns=\"urn:vasscm\"><{param}>"));
    escape_into(&mut s, xml);
    s.push_str(&format!("</{param}></{op}></soap:Body></soap:Envelope>"));
    s
}

/// Whether a body is a SOAP envelope (rather than a bare VASSCM message): its root element is
/// `Envelope` in the SOAP 1.1 namespace.
pub fn is_soap(body: &str) -> bool {
    let mut reader = NsReader::from_str(body);
    loop {
        match reader.read_resolved_event() {
            Ok((ns, Event::Start(e) | Event::Empty(e))) => {
                return e.local_name().as_ref() == "Envelope" && matches!(ns, ResolveResult::Bound(n) if n.as_ref() == SOAP_NS);
            }
            Ok((_, Event::Eof)) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// Takes the message out of a SOAP request (`message`) or reply (`return`) by parsing the
/// envelope: `Envelope` / optional `Header` / `Body` / one operation element / one parameter
/// element, whose text is the message. `None` for any other shape, a DOCTYPE, a processing
/// instruction or an unknown entity (never a guess from a text search).
pub fn unwrap(body: &str) -> Option<String> {
    let mut reader = NsReader::from_str(body);
    // The path of open elements, as (namespace is SOAP, local name).
    let mut path: Vec<(bool, String)> = Vec::new();
    let mut message: Option<String> = None;
    let mut seen_body = false;
    let mut operations = 0;
    loop {
        let (ns, event) = reader.read_resolved_event().ok()?;
        let soap = matches!(ns, ResolveResult::Bound(n) if n.as_ref() == SOAP_NS);
        match event {
            Event::Start(e) => {
                let local = e.local_name().as_ref().to_string();
                let ok = match path.len() {
                    0 => soap && local == "Envelope",
                    1 if soap && local == "Header" => !seen_body,
                    1 => soap && local == "Body" && !std::mem::replace(&mut seen_body, true),
                    2 if path[1].1 == "Header" => true,
                    2 => {
                        operations += 1;
                        operations == 1
                    }
                    3 if path[1].1 == "Body" => (local == "message" || local == "return") && message.is_none(),
                    _ => path.get(1).is_some_and(|p| p.1 == "Header"),
                };
                if !ok {
                    return None;
                }
                if path.len() == 3 && path[1].1 == "Body" {
                    message = Some(String::new());
                }
                path.push((soap, local));
            }
            Event::Empty(e) => {
                let local = e.local_name().as_ref().to_string();
                let in_header = path.get(1).is_some_and(|p| p.1 == "Header");
                let ok = in_header || (path.len() == 1 && soap && local == "Header" && !seen_body);
                if !ok {
                    return None;
                }
            }
            Event::End(_) => {
                path.pop()?;
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                match (path.len(), message.as_mut()) {
                    (4, Some(m)) if path[1].1 == "Body" => m.push_str(&text),
                    _ if text.trim().is_empty() => {}
                    _ if path.get(1).is_some_and(|p| p.1 == "Header") => {}
                    _ => return None,
                }
            }
            Event::CData(c) => match (path.len(), message.as_mut()) {
                (4, Some(m)) if path[1].1 == "Body" => m.push_str(&c.xml10_content()),
                _ => return None,
            },
            Event::GeneralRef(r) => {
                let ch = match r.resolve_char_ref().ok()? {
                    Some(c) => c,
                    None => match r.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return None,
                    },
                };
                match (path.len(), message.as_mut()) {
                    (4, Some(m)) if path[1].1 == "Body" => m.push(ch),
                    _ if path.get(1).is_some_and(|p| p.1 == "Header") => {}
                    _ => return None,
                }
            }
            Event::Decl(_) | Event::Comment(_) => {}
            Event::PI(_) | Event::DocType(_) => return None,
            Event::Eof => break,
        }
    }
    if !path.is_empty() {
        return None;
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let xml = "<?xml version=\"1.0\"?><Customs><Data><LY_DO>A &amp; B\r</LY_DO></Data></Customs>";
        let req = wrap_request(xml);
        assert!(is_soap(&req));
        assert_eq!(unwrap(&req).as_deref(), Some(xml));
        assert_eq!(unwrap(&wrap_response(xml)).as_deref(), Some(xml));
        assert!(!is_soap(xml));
        assert_eq!(unwrap("<return>&bogus;</return>"), None);
        // The parameter is found by parsing, never by a text search.
        let two = req.replace("</message></Send>", "</message><message>x</message></Send>");
        assert_eq!(unwrap(&two), None, "two parameters");
        let commented = req.replace("<soap:Body>", "<soap:Body><!-- <message>evil</message> -->");
        assert_eq!(unwrap(&commented).as_deref(), Some(xml));
        assert_eq!(unwrap(&req.replace("<soap:Envelope", "<!DOCTYPE x><soap:Envelope")), None, "DOCTYPE");
        assert_eq!(unwrap(&req.replace(SOAP_NS, "urn:other")), None, "not SOAP 1.1");
        let plain = "<Customs><Data><LY_DO>A &amp; B</LY_DO></Data></Customs>";
        let cdata = wrap("Send", "message", "").replace("<message></message>", &format!("<message><![CDATA[{plain}]]></message>"));
        assert_eq!(unwrap(&cdata).as_deref(), Some(plain));
    }
}
