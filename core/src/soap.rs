//! SOAP 1.1 wrapping of VASSCM messages: the signed XML travels as an escaped string
//! parameter (`message` in a request, `return` in a reply), as customs' other services do.

use crate::xml_write::escape_into;

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

/// Whether a body is a SOAP envelope (rather than a bare VASSCM message).
pub fn is_soap(body: &str) -> bool {
    let head: String = body.chars().take(400).collect();
    head.contains(SOAP_NS) && head.contains("Envelope")
}

/// Takes the message out of a SOAP request (`message`) or reply (`return`).
pub fn unwrap(body: &str) -> Option<String> {
    for param in ["message", "return"] {
        let open = format!("<{param}>");
        let close = format!("</{param}>");
        if let (Some(a), Some(b)) = (body.find(&open), body.rfind(&close)) {
            if a + open.len() <= b {
                return unescape(&body[a + open.len()..b]);
            }
        }
    }
    None
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';')? + i;
        let ent = &rest[i + 1..end];
        let c = match ent {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ if ent.starts_with("#x") => char::from_u32(u32::from_str_radix(&ent[2..], 16).ok()?)?,
            _ if ent.starts_with('#') => char::from_u32(ent[1..].parse().ok()?)?,
            _ => return None,
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
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
    }
}
