//! ISO 6346 container numbers: normalisation and check digit.

use std::borrow::Cow;

/// Trims, upper-cases and removes inner white space (customs data pads numbers with spaces).
pub fn normalize(raw: &str) -> String {
    normalized(raw).into_owned()
}

/// [`normalize`] without a copy when the number is already normal (ASCII capitals and digits
/// only, as TOS data and customs' usually are): a whole-yard report calls it per row.
pub fn normalized(raw: &str) -> Cow<'_, str> {
    if raw.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(raw.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_uppercase).collect())
    }
}

/// ISO 6346 letter values: A=10 … Z=38, skipping multiples of 11.
fn letter_value(c: char) -> Option<u32> {
    if !c.is_ascii_uppercase() {
        return None;
    }
    let mut v = 10;
    let mut l = 'A';
    while l != c {
        v += 1;
        if v % 11 == 0 {
            v += 1;
        }
        l = (l as u8 + 1) as char;
    }
    Some(v)
}

/// Why a container number is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContainerError {
    /// Not 3 letters + U/J/Z + 6 digits (+ check digit).
    #[error("a container number is 3 letters (owner), U, J or Z (category), 6 digits and a check digit; got {0}")]
    Format(String),
    /// Well-formed but the check digit is wrong.
    #[error("check digit of {number} should be {expected}")]
    CheckDigit {
        /// The number as given.
        number: String,
        /// The digit ISO 6346 computes.
        expected: u32,
    },
}

/// Computes the ISO 6346 check digit from the first 10 characters (owner code, category, serial).
/// Accepts 10 or 11 characters (an 11th is ignored); the input must already be normalised.
pub fn check_digit(number: &str) -> Result<u32, ContainerError> {
    let chars: Vec<char> = number.chars().collect();
    let bad = || ContainerError::Format(crate::problem::quote(number));
    if chars.len() != 10 && chars.len() != 11 {
        return Err(bad());
    }
    let mut sum = 0u32;
    for (i, c) in chars[..10].iter().enumerate() {
        let v = match i {
            0..=2 => letter_value(*c).ok_or_else(bad)?,
            3 if matches!(c, 'U' | 'J' | 'Z') => letter_value(*c).ok_or_else(bad)?,
            3 => return Err(bad()),
            _ => c.to_digit(10).ok_or_else(bad)?,
        };
        sum += v << i;
    }
    Ok(sum % 11 % 10)
}

/// Checks a normalised 11-character container number, check digit included.
pub fn validate(number: &str) -> Result<(), ContainerError> {
    if number.chars().count() != 11 {
        return Err(ContainerError::Format(crate::problem::quote(number)));
    }
    let expected = check_digit(number)?;
    let last = number.chars().last().and_then(|c| c.to_digit(10));
    match last {
        Some(d) if d == expected => Ok(()),
        Some(_) => Err(ContainerError::CheckDigit { number: number.to_string(), expected }),
        None => Err(ContainerError::Format(crate::problem::quote(number))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers() {
        assert_eq!(check_digit("CSQU305438"), Ok(3));
        assert!(validate("CSQU3054383").is_ok());
        assert!(validate("MSKU1234565").is_ok());
        assert_eq!(
            validate("MSKU1234566"),
            Err(ContainerError::CheckDigit { number: "MSKU1234566".into(), expected: 5 })
        );
    }

    #[test]
    fn check_digit_ten_maps_to_zero() {
        // TGHU765432 sums to a multiple of 11 plus 10: digit 0.
        assert_eq!(check_digit("TGHU765432"), Ok(0));
    }

    #[test]
    fn malformed() {
        assert!(matches!(validate("MSKX1234565"), Err(ContainerError::Format(_))));
        assert!(matches!(validate("MSK"), Err(ContainerError::Format(_))));
        assert!(matches!(check_digit("12KU123456"), Err(ContainerError::Format(_))));
    }

    #[test]
    fn normalises() {
        assert_eq!(normalize("  msku 123456 5 "), "MSKU1234565");
        assert!(matches!(normalized("MSKU1234565"), Cow::Borrowed("MSKU1234565")));
        assert_eq!(normalized("MSKU\u{a0}1234565"), "MSKU1234565");
        assert_eq!(normalized("mšku1"), "MŠKU1");
    }
}
