//! Vietnamese and English: every label of the console comes from one table per language
//! ([`vi::LABELS`], [`en::LABELS`]), looked up by key. Texts that come from the database
//! (gate-out reasons, deadline details) are already bilingual there.

mod en;
mod vi;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Tiếng Việt.
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The language of a code (`vi`, `en`), if it is one.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language's code (`vi`, `en`), also its HTML `lang`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The label `key` in this language; the key itself when the table has none (visible in
    /// the page, and caught by the tests).
    pub fn t(self, key: &str) -> String {
        let table = match self {
            Lang::Vi => vi::LABELS,
            Lang::En => en::LABELS,
        };
        table.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_string()).unwrap_or_else(|| key.to_string())
    }

    /// The label of `prefix.value` if the table has one, else the value itself (for column
    /// names and status values coming from the database).
    pub fn t_or(self, prefix: &str, value: &str) -> String {
        let key = format!("{prefix}.{value}");
        let s = self.t(&key);
        if s == key {
            value.to_string()
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tables_have_the_same_keys_once() {
        fn keys(t: &'static [(&'static str, &'static str)]) -> Vec<&'static str> {
            let mut k: Vec<&str> = t.iter().map(|(k, _)| *k).collect();
            k.sort_unstable();
            k
        }
        let (v, e) = (keys(vi::LABELS), keys(en::LABELS));
        let mut dedup = v.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), v.len(), "a key appears twice in vi");
        let only_vi: Vec<_> = v.iter().filter(|k| !e.contains(k)).collect();
        let only_en: Vec<_> = e.iter().filter(|k| !v.contains(k)).collect();
        assert!(only_vi.is_empty() && only_en.is_empty(), "only in vi: {only_vi:?}; only in en: {only_en:?}");
    }

    #[test]
    fn every_key_used_in_the_code_has_a_label() {
        // Every literal passed to .t("…") in the sources must be in the tables.
        let sources = [
            include_str!("../layout.rs"),
            include_str!("../pages/login.rs"),
            include_str!("../pages/monitor.rs"),
            include_str!("../pages/messages.rs"),
            include_str!("../pages/clearance.rs"),
            include_str!("../pages/audit.rs"),
            include_str!("../pages/incidents.rs"),
            include_str!("../auth.rs"),
        ];
        let mut missing = Vec::new();
        for s in sources {
            for part in s.split(".t(\"").skip(1) {
                if let Some(end) = part.find('"') {
                    let key = &part[..end];
                    if Lang::En.t(key) == key || Lang::Vi.t(key) == key {
                        missing.push(key.to_string());
                    }
                }
            }
        }
        assert!(missing.is_empty(), "labels missing: {missing:?}");
    }
}
