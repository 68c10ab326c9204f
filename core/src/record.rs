//! The neutral form of a message's header or data, between JSON and XML.

/// A field's value: one text, a list of texts (`LIST_TK/SO_TK`), or items of a group.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A simple value, as written in the XML.
    Text(String),
    /// Repeated simple elements.
    List(Vec<String>),
    /// Repeated items, each a record.
    Items(Vec<Record>),
}

/// Named values in document (or input) order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record(pub Vec<(String, Value)>);

impl Record {
    /// The value of a field, if present.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The text of a simple field, if present.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(Value::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// Sets (replaces or appends) a field.
    pub fn set(&mut self, name: &str, value: Value) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name.to_string(), value)),
        }
    }
}
