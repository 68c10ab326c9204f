//! Differential test of verification against `xmlsec1 --verify`: thousands of mutations of
//! genuine customs-signed messages (comments, CDATA, character references, whitespace,
//! namespace prefixes, duplicated / moved / wrapped signatures, SOAP wrapping, entity
//! declarations, re-ordered and extra elements, changed references and transforms, forged
//! content, re-signing with another key…). For every mutant, vasscm may accept it only if
//! `xmlsec1` accepts it too, and the data vasscm would store (parsed from what it verified)
//! must equal the genuine message's. Zero accepted forgeries; the counts are printed.
//!
//! Needs `xmlsec1` on the PATH (`scripts/test` installs it). `VASSCM_MUTANTS` sets the number
//! of mutants per genuine message (default 1,000), `VASSCM_MUTATION_SEED` the seed.

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::x509::{X509NameBuilder, X509};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use vasscm_core::{Catalogue, Catalogues, HeaderDefaults, Limits};
use vasscm_dsig::{sign, verify_body, Certificate, KeySigner, Profile};

/// xorshift64*: a small deterministic generator, so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

fn key_and_cert(cn: &str) -> (KeySigner, Certificate) {
    let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("C", "VN").expect("c");
    name.append_entry_by_text("CN", cn).expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("version");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t")).expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(30).expect("t")).expect("na");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    (KeySigner(key), Certificate::from_x509(b.build()).expect("cert"))
}

fn catalogues() -> Catalogues {
    Catalogues::single(Catalogue::from_json(vasscm_core::BUILTIN_CATALOGUE_V1).expect("catalogue v1"))
}

fn customs_defaults() -> HeaderDefaults {
    HeaderDefaults {
        application_version: "1".into(),
        sender_code: "TCHQ".into(),
        sender_name: "Tổng cục Hải quan".into(),
        receiver_code: "CANGTEST".into(),
    }
}

/// What vasscm stores of a message: its header and data as parsed.
fn stored(cats: &Catalogues, document: &str) -> Option<Value> {
    vasscm_core::parse(cats, document, &Limits::default()).ok().map(|p| json!({"header": p.header, "data": p.data}))
}

// ---------------------------------------------------------------------------------------
// Mutations. Each takes the current text and returns a changed text (or None if it does not
// apply). They are text operations on purpose: an attacker writes bytes, not trees.

const DS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// Byte offsets just after each `>` (boundaries between markup).
fn boundaries(s: &str) -> Vec<usize> {
    s.match_indices('>').map(|(i, _)| i + 1).collect()
}

/// Ranges of non-empty text between `>` and `<` inside the root element.
fn text_nodes(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, _) in s.match_indices('>') {
        let start = i + 1;
        if let Some(len) = s[start..].find('<') {
            if len > 0 && !s[start..start + len].trim().is_empty() {
                out.push((start, start + len));
            }
        }
    }
    out
}

fn start_tags(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, _) in s.match_indices('<') {
        let rest = &s[i + 1..];
        if rest.starts_with(['/', '?', '!']) {
            continue;
        }
        if let Some(end) = rest.find('>') {
            out.push((i, i + 1 + end + 1));
        }
    }
    out
}

fn insert(s: &str, at: usize, what: &str) -> String {
    let mut o = String::with_capacity(s.len() + what.len());
    o.push_str(&s[..at]);
    o.push_str(what);
    o.push_str(&s[at..]);
    o
}

fn signature_range(s: &str) -> Option<(usize, usize)> {
    let a = s.find("<ds:Signature")?;
    let b = s.rfind("</ds:Signature>")? + "</ds:Signature>".len();
    (a < b).then_some((a, b))
}

/// Element ranges `<NAME>…</NAME>` of simple (text-only) elements.
fn simple_elements(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (a, b) in start_tags(s) {
        let tag = &s[a + 1..b - 1];
        if tag.ends_with('/') || tag.contains(' ') {
            continue;
        }
        let close = format!("</{tag}>");
        if let Some(rel) = s[b..].find(&close) {
            if !s[b..b + rel].contains('<') {
                out.push((a, b + rel + close.len()));
            }
        }
    }
    out
}

type Mutation = fn(&str, &mut Rng, &Forgery) -> Option<String>;

/// Material an attacker has: genuine messages of other contents, and a key of their own.
struct Forgery {
    other_genuine: String,
    attacker_signed_forgery: String,
    attacker_cert_b64: String,
}

fn comment_anywhere(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let b = boundaries(s);
    Some(insert(s, *r.pick(&b)?, "<!-- note -->"))
}

fn comment_in_text(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (a, b) = *r.pick(&text_nodes(s))?;
    let cut = a + r.below(b - a);
    s.is_char_boundary(cut).then(|| insert(s, cut, "<!---->"))
}

fn char_reference(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (a, b) = *r.pick(&text_nodes(s))?;
    let text = &s[a..b];
    let idx: Vec<(usize, char)> = text.char_indices().filter(|(_, c)| *c != '&' && *c != ';').collect();
    let (i, c) = *r.pick(&idx)?;
    if text[..i].rfind('&') > text[..i].rfind(';') {
        return None; // inside an existing reference
    }
    let reference = if r.below(2) == 0 { format!("&#{};", c as u32) } else { format!("&#x{:X};", c as u32) };
    Some(format!("{}{}{}{}", &s[..a + i], reference, &text[i + c.len_utf8()..], &s[b..]))
}

fn cdata(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (a, b) = *r.pick(&text_nodes(s))?;
    let text = &s[a..b];
    (!text.contains('&')).then(|| format!("{}<![CDATA[{}]]>{}", &s[..a], text, &s[b..]))
}

fn cdata_markup(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (a, b) = *r.pick(&text_nodes(s))?;
    Some(format!("{}<![CDATA[<ITEM><SO_CONTAINER>FAKE0000000</SO_CONTAINER></ITEM>]]>{}", &s[..a], &s[b..]))
}

fn tag_whitespace(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (_, b) = *r.pick(&start_tags(s))?;
    let at = if s[..b].ends_with("/>") { b - 2 } else { b - 1 };
    Some(insert(s, at, if r.below(2) == 0 { " " } else { "\n\t" }))
}

fn whitespace_between(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let b = boundaries(s);
    Some(insert(s, *r.pick(&b)?, ["\n", "  ", "\r\n", "\t"][r.below(4)]))
}

fn empty_element_form(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let selfclosing: Vec<usize> = s.match_indices("/>").map(|(i, _)| i).collect();
    let at = *r.pick(&selfclosing)?;
    let open = s[..at].rfind('<')?;
    let name = s[open + 1..at].split_whitespace().next()?.to_string();
    Some(format!("{}></{}>{}", &s[..at], name, &s[at + 2..]))
}

fn attribute_quotes(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let attrs: Vec<usize> = s.match_indices("=\"").map(|(i, _)| i).collect();
    let at = *r.pick(&attrs)?;
    let end = at + 2 + s[at + 2..].find('"')?;
    Some(format!("{}='{}'{}", &s[..at], &s[at + 2..end], &s[end + 1..]))
}

fn attribute_char_reference(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let attrs: Vec<usize> = s.match_indices("Algorithm=\"http").map(|(i, _)| i).collect();
    let at = *r.pick(&attrs)? + "Algorithm=\"".len();
    Some(format!("{}&#104;{}", &s[..at], &s[at + 1..]))
}

fn declaration(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let body = s.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>").unwrap_or(s);
    let decl = [
        "",
        "<?xml version=\"1.0\"?>",
        "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
        "<?xml version=\"1.1\" encoding=\"UTF-8\"?>",
        "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!-- before -->\n",
    ];
    Some(format!("{}{}", decl[r.below(decl.len())], body))
}

fn doctype_entity(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (a, b) = *r.pick(&text_nodes(s))?;
    let value = s[a..b].to_string();
    if value.contains('&') || value.contains('"') {
        return None;
    }
    let body = s.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>").unwrap_or(s);
    let shift = s.len() - body.len();
    let replaced = format!("{}&e;{}", &body[..a - shift], &body[b - shift..]);
    let entity = if r.below(2) == 0 { value } else { "<ITEM><SO_CONTAINER>FAKE0000000</SO_CONTAINER></ITEM>".to_string() };
    Some(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><!DOCTYPE Customs [<!ENTITY e \"{entity}\">]>{replaced}"))
}

fn processing_instruction(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let b = boundaries(s);
    Some(insert(s, *r.pick(&b)?, "<?vasscm note?>"))
}

/// The reported attack: the signature's start tag in one comment, the rest in another, and a
/// container customs never cleared inserted between them.
fn signature_in_comments(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (a, b) = signature_range(s)?;
    let sig = &s[a..b];
    let first = sig.find('>')? + 1;
    let item = "<LIST_CONTAINER><ITEM><SO_CONTAINER>CSQU3054383</SO_CONTAINER><SO_NIEM_PHONG>X1</SO_NIEM_PHONG></ITEM></LIST_CONTAINER>";
    let between = if r.below(2) == 0 { item } else { "" };
    let forged = s.replacen("</LIST_CONTAINER>", "<ITEM><SO_CONTAINER>CSQU3054383</SO_CONTAINER><SO_NIEM_PHONG>X1</SO_NIEM_PHONG></ITEM></LIST_CONTAINER>", 1);
    let (a2, b2) = signature_range(&forged)?;
    let base = if r.below(2) == 0 { forged.as_str() } else { s };
    let (a, b) = if base == s { (a, b) } else { (a2, b2) };
    let sig = &base[a..b];
    Some(format!("{}<!--{}-->{}<!--{}-->{}", &base[..a], &sig[..first], between, &sig[first..].replace("--", "- -"), &base[b..]))
}

fn duplicate_signature(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (a, b) = signature_range(s)?;
    let sig = s[a..b].to_string();
    let spots = [s.find("<Header>")?, s.find("<Data>")? + "<Data>".len(), s.find("</Header>")?, b, a];
    Some(insert(s, spots[r.below(spots.len())], &sig))
}

fn move_signature(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (a, b) = signature_range(s)?;
    let sig = s[a..b].to_string();
    let without = format!("{}{}", &s[..a], &s[b..]);
    let spots = [
        without.find("<Header>")?,
        without.find("<Data>")? + "<Data>".len(),
        without.find("</Data>")?,
        without.find("<Customs>")? + "<Customs>".len(),
    ];
    let moved = insert(&without, spots[r.below(spots.len())], &sig);
    Some(if r.below(3) == 0 { format!("{moved}") } else { moved.replacen("</Customs>", "<Extra/></Customs>", 1) })
}

fn wrap_signature(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (a, b) = signature_range(s)?;
    let wrapper = ["Wrapper", "ds:Object", "Data"][r.below(3)];
    let open = if wrapper.starts_with("ds:") { format!("<{wrapper} xmlns:ds=\"{DS}\">") } else { format!("<{wrapper}>") };
    Some(format!("{}{}{}</{}>{}", &s[..a], open, &s[a..b], wrapper, &s[b..]))
}

/// Signature wrapping: a forged document around (or beside) the genuine one.
fn wrap_document(s: &str, r: &mut Rng, f: &Forgery) -> Option<String> {
    let body = s.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>").unwrap_or(s);
    let forged_body = f.other_genuine.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>").unwrap_or(&f.other_genuine);
    let (a, b) = signature_range(body)?;
    Some(match r.below(4) {
        0 => format!("<Wrapper>{body}</Wrapper>"),
        // the genuine signature moved into a forged document, the genuine document kept inside it
        1 => {
            let (fa, _) = signature_range(forged_body)?;
            format!("{}<Original>{}</Original>{}</Customs>", &forged_body[..fa], body, &body[a..b])
        }
        // the genuine signature under a forged header and data
        2 => {
            let (fa, fb) = signature_range(forged_body)?;
            format!("{}{}{}", &forged_body[..fa], &body[a..b], &forged_body[fb..])
        }
        // SOAP as real XML (not an escaped parameter)
        _ => format!(
            "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><Send xmlns=\"urn:vasscm\"><message>{body}</message></Send></soap:Body></soap:Envelope>"
        ),
    })
}

fn reorder_elements(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let els = simple_elements(s);
    let adjacent: Vec<((usize, usize), (usize, usize))> = els.windows(2).filter(|w| w[0].1 == w[1].0).map(|w| (w[0], w[1])).collect();
    let ((a1, b1), (a2, b2)) = *r.pick(&adjacent)?;
    Some(format!("{}{}{}{}", &s[..a1], &s[a2..b2], &s[a1..b1], &s[b2..]))
}

fn extra_element(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let b = boundaries(s);
    let what = ["<EXTRA>x</EXTRA>", "<SO_CONTAINER>CSQU3054383</SO_CONTAINER>", &format!("<ds:Object xmlns:ds=\"{DS}\"/>"), "<Signature/>"][r.below(4)].to_string();
    Some(insert(s, *r.pick(&b)?, &what))
}

fn change_value(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let (a, b) = *r.pick(&text_nodes(s))?;
    let text = &s[a..b];
    let c = text.chars().next()?;
    let replacement = if c == 'X' { 'Y' } else { 'X' };
    Some(format!("{}{}{}{}", &s[..a], replacement, &text[c.len_utf8()..], &s[b..]))
}

fn insert_item(s: &str, _: &mut Rng, _: &Forgery) -> Option<String> {
    s.contains("</LIST_CONTAINER>").then(|| {
        s.replacen("</LIST_CONTAINER>", "<ITEM><SO_CONTAINER>CSQU3054383</SO_CONTAINER><SO_NIEM_PHONG>X1</SO_NIEM_PHONG></ITEM></LIST_CONTAINER>", 1)
    })
}

fn reference_uri(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    Some(match r.below(4) {
        0 => s.replacen("URI=\"\"", "URI=\"#x\"", 1).replacen("<Customs>", "<Customs Id=\"x\">", 1),
        1 => s.replacen(" URI=\"\"", "", 1),
        2 => s.replacen("URI=\"\"", "URI=\"\" Id=\"r1\"", 1),
        _ => s.replacen("URI=\"\"", "URI=\"#xpointer(/)\"", 1),
    })
}

fn second_reference(s: &str, _: &mut Rng, _: &Forgery) -> Option<String> {
    let a = s.find("<ds:Reference")?;
    let b = s.find("</ds:Reference>")? + "</ds:Reference>".len();
    Some(insert(s, b, &s[a..b].replacen("URI=\"\"", "URI=\"#other\"", 1)))
}

fn transforms(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let c14n = "<ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>";
    Some(match r.below(5) {
        0 => s.replacen(c14n, "", 1),
        1 => s.replacen(c14n, "<ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>", 1),
        2 => s.replacen(c14n, "<ds:Transform Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments\"/>", 1),
        3 => s.replacen(
            c14n,
            &format!("{c14n}<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>not(self::Data)</ds:XPath></ds:Transform>"),
            1,
        ),
        _ => {
            let a = s.find("<ds:Transforms>")?;
            let b = s.find("</ds:Transforms>")? + "</ds:Transforms>".len();
            format!("{}{}", &s[..a], &s[b..])
        }
    })
}

fn algorithms(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    Some(match r.below(4) {
        0 => s.replacen("xmldsig-more#rsa-sha256", "xmldsig-more#rsa-sha512", 1),
        1 => s.replacen("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"><ds:HMACOutputLength>0</ds:HMACOutputLength></ds:SignatureMethod>", 1),
        2 => s.replacen("xmlenc#sha256", "xmldsig#sha1", 1),
        _ => s.replacen("REC-xml-c14n-20010315\"/><ds:SignatureMethod", "REC-xml-c14n-20010315#WithComments\"/><ds:SignatureMethod", 1),
    })
}

fn key_info(s: &str, r: &mut Rng, f: &Forgery) -> Option<String> {
    let a = s.find("<ds:KeyInfo>")?;
    let b = s.find("</ds:KeyInfo>")? + "</ds:KeyInfo>".len();
    Some(match r.below(3) {
        0 => format!("{}{}", &s[..a], &s[b..]),
        1 => {
            let ca = s.find("<ds:X509Certificate>")? + "<ds:X509Certificate>".len();
            let cb = s.find("</ds:X509Certificate>")?;
            format!("{}{}{}", &s[..ca], f.attacker_cert_b64, &s[cb..])
        }
        _ => insert(s, b - "</ds:KeyInfo>".len(), "<ds:KeyName>customs</ds:KeyName>"),
    })
}

fn namespaces(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    Some(match r.below(5) {
        0 => s.replace("ds:", "dsig:").replace("xmlns:ds=", "xmlns:dsig="),
        1 => s.replace("ds:", "").replace("xmlns:ds=", "xmlns="),
        2 => s.replacen("<Customs>", &format!("<Customs xmlns:ds=\"{DS}\">"), 1),
        3 => s.replacen("<Customs>", "<Customs xmlns=\"urn:vasscm\">", 1),
        _ => s.replacen("<ds:Signature xmlns:ds=", "<ds:Signature xmlns:x=\"urn:x\" xmlns:ds=", 1),
    })
}

fn resign(s: &str, r: &mut Rng, f: &Forgery) -> Option<String> {
    Some(if r.below(2) == 0 { f.attacker_signed_forgery.clone() } else {
        // a genuine signature transplanted from another genuine message
        let (a, b) = signature_range(s)?;
        let (oa, ob) = signature_range(&f.other_genuine)?;
        format!("{}{}{}", &s[..a], &f.other_genuine[oa..ob], &s[b..])
    })
}

fn trailing(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    Some(format!("{s}{}", ["<!-- after -->", "\n", "<Customs/>", "garbage", "<?pi x?>"][r.below(5)]))
}

fn truncate(s: &str, r: &mut Rng, _: &Forgery) -> Option<String> {
    let cut = r.below(s.len());
    s.is_char_boundary(cut).then(|| s[..cut].to_string())
}

const MUTATIONS: &[(&str, Mutation)] = &[
    ("comment", comment_anywhere),
    ("comment in text", comment_in_text),
    ("character reference", char_reference),
    ("CDATA", cdata),
    ("CDATA with markup", cdata_markup),
    ("whitespace in a tag", tag_whitespace),
    ("whitespace between elements", whitespace_between),
    ("empty element form", empty_element_form),
    ("attribute quotes", attribute_quotes),
    ("attribute character reference", attribute_char_reference),
    ("XML declaration", declaration),
    ("entity declaration", doctype_entity),
    ("processing instruction", processing_instruction),
    ("signature in comments", signature_in_comments),
    ("duplicated signature", duplicate_signature),
    ("moved signature", move_signature),
    ("wrapped signature", wrap_signature),
    ("wrapped document", wrap_document),
    ("re-ordered elements", reorder_elements),
    ("extra element", extra_element),
    ("changed value", change_value),
    ("inserted container", insert_item),
    ("reference URI", reference_uri),
    ("second reference", second_reference),
    ("transforms", transforms),
    ("algorithms", algorithms),
    ("KeyInfo", key_info),
    ("namespace prefixes", namespaces),
    ("re-signed", resign),
    ("trailing content", trailing),
    ("truncated", truncate),
];

// ---------------------------------------------------------------------------------------

fn xmlsec_accepts(dir: &Path, cert_pem: &Path, n: usize, xml: &str) -> bool {
    let file = dir.join(format!("m{n}.xml"));
    std::fs::write(&file, xml).expect("write mutant");
    let ok = Command::new("xmlsec1")
        .arg("--verify")
        .arg("--pubkey-cert-pem")
        .arg(cert_pem)
        .arg(&file)
        .output()
        .map(|o| o.status.success())
        .expect("xmlsec1 must be installed (apt-get install xmlsec1; scripts/test does it)");
    let _ = std::fs::remove_file(&file);
    ok
}

#[derive(Default, Debug)]
struct Tally {
    tried: usize,
    both_accept: usize,
    both_refuse: usize,
    only_vasscm_refuses: usize,
    failures: Vec<String>,
}

#[test]
fn mutants_accepted_only_when_xmlsec1_accepts_and_the_data_is_genuine() {
    let per_message: usize = std::env::var("VASSCM_MUTANTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let seed: u64 = std::env::var("VASSCM_MUTATION_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5EED_CAFE_2026);
    let dir: PathBuf = std::env::temp_dir().join(format!("vasscm-differential-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (customs_key, customs_cert) = key_and_cert("Tong cuc Hai quan (test)");
    let (attacker_key, attacker_cert) = key_and_cert("Tong cuc Hai quan (test)"); // same name, other key
    let cert_pem = dir.join("customs.pem");
    std::fs::write(&cert_pem, customs_cert.x509.to_pem().expect("pem")).expect("write cert");

    let cats = catalogues();
    let build = |code: &str, data: &Value, header: Value| {
        let xml = vasscm_core::build(&cats, code, data, &header, &customs_defaults()).expect("genuine message builds");
        sign(&xml, &customs_key, &customs_cert, Profile::default()).expect("signs")
    };
    let example = |code: &str| cats.active().and_then(|c| c.message(code)).and_then(|m| m.example.clone()).expect("example");
    let tid = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";
    let genuine = vec![
        ("04", build("04", &example("04"), json!({}))),
        ("06", build("06", &example("06"), json!({}))),
        ("200", build("200", &example("200"), json!({"Request_ID": tid}))),
    ];
    let mut forged_04 = example("04");
    forged_04["LIST_CONTAINER"][0]["SO_CONTAINER"] = json!("CSQU3054383");
    let other_genuine = build("04", &forged_04, json!({}));
    let forged_unsigned = vasscm_core::build(&cats, "04", &forged_04, &json!({}), &customs_defaults()).expect("builds");
    let attacker_signed_forgery = sign(&forged_unsigned, &attacker_key, &attacker_cert, Profile::default()).expect("signs");
    let attacker_der = attacker_cert.x509.to_der().expect("der");
    use base64::Engine;
    let forgery = Forgery {
        other_genuine,
        attacker_signed_forgery,
        attacker_cert_b64: base64::engine::general_purpose::STANDARD.encode(attacker_der),
    };

    let mut tally = Tally::default();
    let mut by_mutation: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    let mut rng = Rng(seed);
    for (code, original) in &genuine {
        let expected = stored(&cats, verify_body(original, &customs_cert.x509).expect("the genuine message verifies").document()).expect("parses");
        assert!(xmlsec_accepts(&dir, &cert_pem, 0, original), "xmlsec1 must accept the genuine {code}");
        // The genuine message SOAP-wrapped is the same message.
        let soap = vasscm_core::soap::wrap_response(original);
        assert_eq!(stored(&cats, verify_body(&soap, &customs_cert.x509).expect("SOAP-wrapped verifies").document()), Some(expected.clone()));

        // Work is split over two threads: xmlsec1 is a process per mutant.
        let mut mutants = Vec::with_capacity(per_message);
        for _ in 0..per_message {
            let mut text = original.clone();
            let mut names = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let (name, m) = MUTATIONS[rng.below(MUTATIONS.len())];
                if let Some(t) = m(&text, &mut rng, &forgery) {
                    text = t;
                    names.push(name);
                }
            }
            if names.is_empty() || text == *original {
                continue;
            }
            mutants.push((names, text, rng.below(4) == 0));
        }
        let results: Vec<(Vec<&str>, bool, Option<Option<Value>>, String)> = std::thread::scope(|scope| {
            let halves: Vec<_> = mutants
                .chunks(mutants.len().div_ceil(2).max(1))
                .enumerate()
                .map(|(part, chunk)| {
                    let (dir, cert_pem, cats, cert) = (&dir, &cert_pem, &cats, &customs_cert);
                    scope.spawn(move || {
                        chunk
                            .iter()
                            .enumerate()
                            .map(|(i, (names, text, soap))| {
                                let body = if *soap { vasscm_core::soap::wrap_response(text) } else { text.clone() };
                                let ours = verify_body(&body, &cert.x509).ok().map(|v| stored(cats, v.document()));
                                let theirs = xmlsec_accepts(dir, cert_pem, 1 + part * 1_000_000 + i, text);
                                (names.clone(), theirs, ours, text.clone())
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            halves.into_iter().flat_map(|h| h.join().expect("thread")).collect()
        });
        for (names, theirs, ours, text) in results {
            tally.tried += 1;
            for n in &names {
                let e = by_mutation.entry(n).or_default();
                e.0 += 1;
                if ours.is_some() {
                    e.1 += 1;
                }
            }
            match (ours, theirs) {
                (Some(data), true) => {
                    tally.both_accept += 1;
                    if data.as_ref() != Some(&expected) {
                        tally.failures.push(format!("FORGERY ACCEPTED ({code}, {names:?}): stored data differs from the genuine message\n{text}"));
                    }
                }
                (Some(_), false) => tally.failures.push(format!("accepted although xmlsec1 refuses ({code}, {names:?})\n{text}")),
                (None, true) => tally.only_vasscm_refuses += 1,
                (None, false) => tally.both_refuse += 1,
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("differential test against xmlsec1 (seed {seed}): {} mutants of {} genuine customs messages", tally.tried, genuine.len());
    println!("  accepted by both (data identical to the genuine message): {}", tally.both_accept);
    println!("  refused by both: {}", tally.both_refuse);
    println!("  refused by vasscm only (stricter than xmlsec1): {}", tally.only_vasscm_refuses);
    println!("  accepted forgeries or acceptances xmlsec1 refuses: {}", tally.failures.len());
    for (name, (n, accepted)) in &by_mutation {
        println!("    {name:<32} {n:>5} mutants, {accepted:>5} accepted");
    }
    for f in tally.failures.iter().take(5) {
        eprintln!("{f}\n");
    }
    assert!(tally.failures.is_empty(), "{} mutants were wrongly accepted", tally.failures.len());
    assert!(tally.both_accept > 0 && tally.both_refuse > 0, "the generator must produce both harmless and hostile mutants");
}
