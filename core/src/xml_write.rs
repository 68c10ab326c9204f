//! Renders a message as compact UTF-8 XML in catalogue order (no indentation: nothing for a
//! signature's canonicalisation to trip on).

use crate::catalogue::{Catalogue, FieldDef, Shape};
use crate::record::{Record, Value};

/// Writes the envelope with its header and data.
pub fn write_message(cat: &Catalogue, fields: &[FieldDef], header: &Record, data: &Record) -> String {
    let env = &cat.envelope;
    let mut out = String::with_capacity(1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    open(&mut out, &env.root);
    open(&mut out, &env.header);
    write_record(&mut out, &env.header_fields, header);
    close(&mut out, &env.header);
    open(&mut out, &env.data);
    write_record(&mut out, fields, data);
    close(&mut out, &env.data);
    close(&mut out, &env.root);
    out
}

fn write_record(out: &mut String, defs: &[FieldDef], rec: &Record) {
    for def in defs {
        let Some(v) = rec.get(&def.name) else { continue };
        match (v, &def.shape) {
            (Value::Text(t), Shape::Scalar(_)) => element(out, &def.name, t),
            (Value::List(vs), Shape::List(elem)) => {
                open(out, &def.name);
                for t in vs {
                    element(out, &elem.name, t);
                }
                close(out, &def.name);
            }
            (Value::Items(items), Shape::Group { item, fields }) => match item {
                Some(item) => {
                    open(out, &def.name);
                    for r in items {
                        open(out, item);
                        write_record(out, fields, r);
                        close(out, item);
                    }
                    close(out, &def.name);
                }
                None => {
                    for r in items {
                        open(out, &def.name);
                        write_record(out, fields, r);
                        close(out, &def.name);
                    }
                }
            },
            _ => {}
        }
    }
}

fn open(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn element(out: &mut String, name: &str, text: &str) {
    open(out, name);
    escape_into(out, text);
    close(out, name);
}

/// Escapes text content: `& < > " '` as entities, CR as `&#13;` (so it survives end-of-line
/// normalisation); every other character, Vietnamese diacritics included, stays UTF-8.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes() {
        let mut s = String::new();
        super::escape_into(&mut s, "Vải & <may> \"mặc\" 'x'\r\n");
        assert_eq!(s, "Vải &amp; &lt;may&gt; &quot;mặc&quot; &apos;x&apos;&#13;\n");
    }
}
