//! One problem found in a message or its data: where, which rule, and what was wrong.

use std::fmt;

/// A validation finding. `path` is XPath-like (`Data/LIST_CONTAINER/ITEM[2]/SO_CONTAINER`),
/// `rule` a short stable keyword (`mandatory`, `length`, `check_digit`, …) and `detail` a
/// sentence for the person who must fix it, quoting the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the problem is.
    pub path: String,
    /// Which rule was broken.
    pub rule: String,
    /// What exactly is wrong.
    pub detail: String,
}

impl Problem {
    /// Creates a problem.
    pub fn new(path: impl Into<String>, rule: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem { path: path.into(), rule: rule.into(), detail: detail.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.path, self.rule, self.detail)
    }
}

/// Shortens a value quoted in a problem so that a hostile 1 MiB value does not flood logs.
pub fn quote(value: &str) -> String {
    const MAX: usize = 60;
    if value.chars().count() <= MAX {
        format!("'{value}'")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("'{head}…' ({} characters)", value.chars().count())
    }
}
