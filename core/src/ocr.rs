//! OCR correction of container numbers read by gate cameras (ISO 6346).
//!
//! A camera read is normalised, then every valid ISO 6346 number it may stand for is listed
//! ([`candidates`]): characters that cannot stand in their position are mapped to what they
//! look like (a `0` in the owner code is an `O` or a `D`, an `S` in the serial is a `5`), and
//! at most one character that *is* valid in its position may have been confused with a
//! look-alike (`8`↔`6`, `O`↔`Q`, …). [`correct`] replaces a read only when exactly one
//! candidate is *plausible* (expected at this gate); anything else goes to review with the
//! candidates — a read is never guessed.
//!
//! The confusion model, by position (1-based: owner code 1–3, category 4, serial 5–10, check
//! digit 11). A pair `(truth, read)` means the OCR may read `truth` as `read`:
//!
//! * [`LETTER_DIGIT`]: a letter read as a digit and back — `O D Q`↔`0`, `I L`↔`1`, `Z`↔`2`,
//!   `A`↔`4`, `S`↔`5`, `G`↔`6`, `T`↔`7`, `B`↔`8`. A digit in the owner code is mapped to its
//!   letters; a letter in the serial or check digit to its digit.
//! * [`CATEGORY`]: the category identifier — `U` read as `V`, `J` as `I` or `1`, `Z` as `2`.
//! * [`LETTER_SWAPS`] (owner code) and [`DIGIT_SWAPS`] (serial, check digit): look-alikes
//!   that are both valid in the position — at most **one** of these per read.

use crate::container::{check_digit, normalize, validate};

/// Letters and the digits OCR confuses them with, `(letter, digit)`, both ways.
pub const LETTER_DIGIT: &[(char, char)] = &[
    ('O', '0'),
    ('D', '0'),
    ('Q', '0'),
    ('I', '1'),
    ('L', '1'),
    ('Z', '2'),
    ('A', '4'),
    ('S', '5'),
    ('G', '6'),
    ('T', '7'),
    ('B', '8'),
];

/// Category identifier misreads, `(truth, read)`: the read is never a valid category.
pub const CATEGORY: &[(char, char)] = &[('U', 'V'), ('J', 'I'), ('J', '1'), ('Z', '2')];

/// Owner-code letters confused with one another (symmetric): at most one per read.
pub const LETTER_SWAPS: &[(char, char)] = &[('O', 'Q'), ('O', 'D'), ('C', 'G'), ('E', 'F'), ('M', 'N'), ('U', 'V'), ('P', 'R')];

/// Digits confused with one another (symmetric), in the serial and check digit: at most one
/// per read.
pub const DIGIT_SWAPS: &[(char, char)] = &[('0', '8'), ('3', '8'), ('6', '8'), ('5', '6'), ('1', '7')];

/// Characters a camera read may contain besides letters and digits, dropped on normalisation.
const SEPARATORS: &[char] = &['-', '.', '/', '_'];

/// What a position of an ISO 6346 number holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Positions 1–3: the owner code, letters.
    Owner,
    /// Position 4: the category identifier, `U`, `J` or `Z`.
    Category,
    /// Positions 5–11: the serial number and the check digit, digits.
    Digit,
}

impl Slot {
    /// The slot of a 0-based position in an 11-character number.
    #[must_use]
    pub fn of(position: usize) -> Slot {
        match position {
            0..=2 => Slot::Owner,
            3 => Slot::Category,
            _ => Slot::Digit,
        }
    }

    /// Whether `c` may stand in this slot.
    #[must_use]
    pub fn accepts(self, c: char) -> bool {
        match self {
            Slot::Owner => c.is_ascii_uppercase(),
            Slot::Category => matches!(c, 'U' | 'J' | 'Z'),
            Slot::Digit => c.is_ascii_digit(),
        }
    }

    /// The look-alikes of `c` that are both valid in this slot (one confusion per read).
    fn swaps(self, c: char) -> Vec<char> {
        let table = match self {
            Slot::Owner => LETTER_SWAPS,
            Slot::Category => return Vec::new(),
            Slot::Digit => DIGIT_SWAPS,
        };
        table.iter().filter_map(|&(a, b)| if a == c { Some(b) } else if b == c { Some(a) } else { None }).collect()
    }

    /// What a character that is *not* valid in this slot may really be.
    fn coercions(self, read: char) -> Vec<char> {
        match self {
            Slot::Owner => LETTER_DIGIT.iter().filter(|&&(_, d)| d == read).map(|&(l, _)| l).collect(),
            Slot::Category => CATEGORY.iter().filter(|&&(_, r)| r == read).map(|&(t, _)| t).collect(),
            Slot::Digit => LETTER_DIGIT.iter().filter(|&&(l, _)| l == read).map(|&(_, d)| d).collect(),
        }
    }

    /// The confusion model forwards: what OCR may read instead of `truth` in this slot.
    #[must_use]
    pub fn misreads(self, truth: char) -> Vec<char> {
        let mut out = self.swaps(truth);
        match self {
            Slot::Owner => out.extend(LETTER_DIGIT.iter().filter(|&&(l, _)| l == truth).map(|&(_, d)| d)),
            Slot::Category => out.extend(CATEGORY.iter().filter(|&&(t, _)| t == truth).map(|&(_, r)| r)),
            Slot::Digit => out.extend(LETTER_DIGIT.iter().filter(|&&(_, d)| d == truth).map(|&(l, _)| l)),
        }
        out
    }
}

/// Normalises a camera read: trims, upper-cases, drops white space and `-` `.` `/` `_`.
#[must_use]
pub fn normalize_read(read: &str) -> String {
    normalize(read).chars().filter(|c| !SEPARATORS.contains(c)).collect()
}

/// For each position, the characters a read character may stand for, each with whether taking
/// it uses the one allowed confusion between two valid characters. `None`: some character
/// cannot stand for anything in its position, or the read is not 11 characters long.
fn options(read: &str) -> Option<Vec<Vec<(char, bool)>>> {
    let chars: Vec<char> = read.chars().collect();
    if chars.len() != 11 {
        return None;
    }
    let mut all = Vec::with_capacity(11);
    for (i, &c) in chars.iter().enumerate() {
        let slot = Slot::of(i);
        let here: Vec<(char, bool)> = if slot.accepts(c) {
            std::iter::once((c, false)).chain(slot.swaps(c).into_iter().map(|s| (s, true))).collect()
        } else {
            slot.coercions(c).into_iter().map(|s| (s, false)).collect()
        };
        if here.is_empty() {
            return None;
        }
        all.push(here);
    }
    Some(all)
}

/// Depth-first walk over the options, using at most `swaps_left` confusions between valid
/// characters; pushes every combination that passes the check digit.
fn walk(options: &[Vec<(char, bool)>], prefix: &mut String, swaps_left: usize, out: &mut Vec<String>) {
    let Some(here) = options.get(prefix.len()) else {
        if validate(prefix).is_ok() {
            out.push(prefix.clone());
        }
        return;
    };
    for &(c, swap) in here {
        if swap && swaps_left == 0 {
            continue;
        }
        if prefix.len() == 10 && check_digit(prefix).ok().and_then(|d| char::from_digit(d, 10)) != Some(c) {
            continue;
        }
        prefix.push(c);
        walk(options, prefix, swaps_left - usize::from(swap), out);
        prefix.pop();
    }
}

/// Every valid number a normalised read may stand for with up to one confusion between valid
/// characters, sorted and deduplicated (the read itself included when valid).
fn reachable(read: &str) -> Vec<String> {
    let Some(opts) = options(read) else { return Vec::new() };
    let mut out = Vec::new();
    walk(&opts, &mut String::with_capacity(11), 1, &mut out);
    out.sort();
    out.dedup();
    out
}

/// The valid ISO 6346 numbers a camera read may stand for under the confusion model (see the
/// module documentation), sorted and deduplicated. A read that is already a valid number gives
/// just itself; an unreadable one (wrong length, a character that stands for nothing in its
/// position, no valid reading) gives none.
#[must_use]
pub fn candidates(read: &str) -> Vec<String> {
    let n = normalize_read(read);
    if validate(&n).is_ok() {
        return vec![n];
    }
    reachable(&n)
}

/// The outcome of correcting a camera read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Correction {
    /// The read (normalised) passes the check digit and is kept as read, with whether it is
    /// plausible (expected at this gate). An unexpected valid read is *not* replaced.
    Valid {
        /// The number as read, normalised.
        number: String,
        /// Whether it is expected at this gate.
        plausible: bool,
    },
    /// The read fails the check digit and exactly one candidate is plausible.
    Corrected {
        /// The plausible candidate.
        number: String,
        /// The read, normalised.
        from: String,
    },
    /// No single plausible candidate: for review, never guessed.
    Ambiguous {
        /// The plausible candidates when there are several (for a valid but unexpected read: the
        /// read followed by its plausible look-alikes), otherwise every candidate (possibly
        /// none plausible).
        candidates: Vec<String>,
    },
    /// No valid number is reachable from the read.
    Unreadable,
}

/// Corrects a camera read against what is expected at this gate (`plausible`: in the yard, on
/// a gate appointment, on an expected list).
///
/// * A read that passes the check digit is kept ([`Correction::Valid`]), plausible or not —
///   **except** when it is not plausible while a look-alike one confusion away is: ISO 6346
///   misses some single confusions (a sum that moves between remainders 10 and 0 keeps check
///   digit 0; letters 11 apart such as `G`/`Q` weigh the same), so the read may be a misread
///   of the expected container — or exactly the unexpected container it says. Both are
///   possible and opening a barrier on a guess is the costly error, so the outcome is
///   [`Correction::Ambiguous`] with the read first, then the plausible look-alikes.
/// * Otherwise the read is corrected only when exactly one candidate is plausible; none or
///   several plausible candidates give [`Correction::Ambiguous`]; no candidate at all gives
///   [`Correction::Unreadable`].
pub fn correct(read: &str, plausible: impl Fn(&str) -> bool) -> Correction {
    let n = normalize_read(read);
    if validate(&n).is_ok() {
        return correct_valid(n, &plausible);
    }
    let all = reachable(&n);
    if all.is_empty() {
        return Correction::Unreadable;
    }
    let mut fitting: Vec<String> = all.iter().filter(|c| plausible(c)).cloned().collect();
    match fitting.len() {
        1 => Correction::Corrected { number: fitting.remove(0), from: n },
        0 => Correction::Ambiguous { candidates: all },
        _ => Correction::Ambiguous { candidates: fitting },
    }
}

/// A read that passes the check digit: kept, unless unexpected while a look-alike is expected.
fn correct_valid(n: String, plausible: &impl Fn(&str) -> bool) -> Correction {
    if plausible(&n) {
        return Correction::Valid { number: n, plausible: true };
    }
    let look_alikes: Vec<String> = reachable(&n).into_iter().filter(|c| *c != n && plausible(c)).collect();
    if look_alikes.is_empty() {
        return Correction::Valid { number: n, plausible: false };
    }
    Correction::Ambiguous { candidates: std::iter::once(n).chain(look_alikes).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn only<'a>(set: &'a [&'a str]) -> impl Fn(&str) -> bool + 'a {
        move |c| set.contains(&c)
    }

    #[test]
    fn a_valid_read_is_its_only_candidate() {
        assert_eq!(candidates(" csqu-305438.3 "), vec!["CSQU3054383".to_string()]);
        assert_eq!(correct("CSQU 305438 3", only(&["CSQU3054383"])), Correction::Valid { number: "CSQU3054383".into(), plausible: true });
        assert_eq!(correct("CSQU3054383", only(&[])), Correction::Valid { number: "CSQU3054383".into(), plausible: false });
    }

    #[test]
    fn letters_and_digits_are_mapped_by_position() {
        // MSKU1234565: M and S read as look-alike digits are impossible (no M↔digit); the S
        // read as 5, the U as V, the 1 as I and the 5 of the check digit as S.
        let c = candidates("M5KVI23456S");
        assert!(c.contains(&"MSKU1234565".to_string()), "{c:?}");
        assert!(c.iter().all(|n| validate(n).is_ok()));
        assert_eq!(correct("M5KVI23456S", only(&["MSKU1234565"])), Correction::Corrected { number: "MSKU1234565".into(), from: "M5KVI23456S".into() });
    }

    #[test]
    fn one_confusion_between_valid_characters() {
        // CSQU3054383 with the 8 read as 6: 6 is a valid digit, the check digit fails.
        let c = candidates("CSQU3054363");
        assert!(c.contains(&"CSQU3054383".to_string()), "{c:?}");
        assert!(!c.contains(&"CSQU3054363".to_string()));
        // Two confusions between valid characters are beyond the model.
        assert!(!candidates("CSQU3064363").contains(&"CSQU3054383".to_string()));
    }

    #[test]
    fn ambiguous_reads_are_not_guessed() {
        // OOLU… with both Os read as 0: each may be O, D or Q.
        let c = candidates("00LU3050043");
        assert!(c.len() >= 3, "{c:?}");
        assert!(c.contains(&"DOLU3050043".to_string()) && c.contains(&"OQLU3050048".to_string()), "{c:?}");
        assert_eq!(correct("00LU3050043", only(&[&c[0], &c[1]])), Correction::Ambiguous { candidates: vec![c[0].clone(), c[1].clone()] });
        assert_eq!(correct("00LU3050043", only(&[])), Correction::Ambiguous { candidates: c.clone() });
        assert_eq!(
            correct("00LU3050043", only(&["OQLU3050048", "OOLU3050043"])),
            Correction::Corrected { number: "OQLU3050048".into(), from: "00LU3050043".into() }
        );
    }

    #[test]
    fn unreadable_reads() {
        assert_eq!(candidates("CSQU305438"), Vec::<String>::new());
        assert_eq!(correct("CSQU30543833", only(&[])), Correction::Unreadable);
        assert_eq!(correct("CSQX3054383", only(&[])), Correction::Unreadable, "X is no category look-alike");
        assert_eq!(correct("CSQU30543#3", only(&[])), Correction::Unreadable);
        assert_eq!(correct("", only(&[])), Correction::Unreadable);
    }

    /// Finds a valid number with check digit 0 whose sum is 0 mod 11 and a digit swap that
    /// moves it to 10 mod 11: both pass the check digit.
    fn collision() -> (String, String) {
        for serial in 0..1_000_000u32 {
            let prefix = format!("TGHU{serial:06}");
            let Ok(0) = check_digit(&prefix) else { continue };
            let number = format!("{prefix}0");
            for (i, c) in number.chars().enumerate().skip(4).take(6) {
                for s in Slot::Digit.swaps(c) {
                    let mut other: Vec<char> = number.chars().collect();
                    other[i] = s;
                    let other: String = other.into_iter().collect();
                    if validate(&other).is_ok() {
                        return (number, other);
                    }
                }
            }
        }
        unreachable!("ISO 6346 has check-digit collisions")
    }

    #[test]
    fn a_valid_but_unexpected_read_with_an_expected_look_alike_goes_to_review() {
        let (truth, read) = collision();
        assert_eq!(correct(&read, only(&[&truth])), Correction::Ambiguous { candidates: vec![read.clone(), truth.clone()] });
        assert_eq!(correct(&read, only(&[&read, &truth])), Correction::Valid { number: read.clone(), plausible: true });
    }

    /// A valid number: an owner code, U/J/Z, a serial and its check digit.
    fn number() -> impl Strategy<Value = String> {
        ("[A-Z]{3}", "[UJZ]", 0..1_000_000u32).prop_filter_map("valid", |(owner, cat, serial)| {
            let prefix = format!("{owner}{cat}{serial:06}");
            let d = check_digit(&prefix).ok()?;
            Some(format!("{prefix}{d}"))
        })
    }

    /// A number with one confusion of the model applied, if its characters allow one.
    fn misread(truth: &str, pick: usize) -> Option<String> {
        let all: Vec<(usize, char)> =
            truth.chars().enumerate().flat_map(|(i, c)| Slot::of(i).misreads(c).into_iter().map(move |m| (i, m))).collect();
        let &(i, m) = all.get(pick % all.len().max(1))?;
        Some(truth.chars().enumerate().map(|(j, c)| if j == i { m } else { c }).collect())
    }

    proptest! {
        #[test]
        fn one_confusion_is_recovered_and_never_replaced_by_another_number(
            truth in number(),
            others in proptest::collection::vec(number(), 0..=3),
            pick in any::<usize>(),
        ) {
            let Some(read) = misread(&truth, pick) else { return Ok(()) };
            prop_assert_ne!(&read, &truth);
            // Alone: recovered when the read fails the check digit; review when it passes.
            match correct(&read, |c| c == truth) {
                Correction::Corrected { number, .. } => prop_assert_eq!(number, truth.clone()),
                Correction::Ambiguous { candidates } => {
                    prop_assert!(validate(&read).is_ok(), "{} not recovered: {:?}", read, candidates);
                    prop_assert_eq!(candidates, vec![read.clone(), truth.clone()]);
                }
                other => prop_assert!(false, "{} -> {:?}", read, other),
            }
            // With other expected numbers: never a number other than the truth.
            let expected = |c: &str| c == truth || others.iter().any(|o| o == c);
            match correct(&read, expected) {
                Correction::Corrected { number, .. } => prop_assert_eq!(number, truth.clone()),
                Correction::Valid { number, plausible: true } => prop_assert_eq!(number, truth.clone()),
                Correction::Ambiguous { candidates } => prop_assert!(candidates.contains(&truth)),
                other => prop_assert!(false, "{} -> {:?}", read, other),
            }
        }
    }
}
