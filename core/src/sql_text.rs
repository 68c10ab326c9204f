//! Checks that a SQL expression given to `vasscm.bind` stays an expression: it is pasted
//! between parentheses into a generated trigger function, so it must not be able to close
//! them, end the statement, start a comment, or open a dollar-quoted string.

/// Why an expression is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpressionError {
    /// Empty or blank.
    #[error("the expression is empty")]
    Empty,
    /// A character that could end or escape the expression.
    #[error("{0} is not allowed in a mapping or condition expression (outside quoted text)")]
    Forbidden(&'static str),
    /// Parentheses do not balance.
    #[error("parentheses do not balance")]
    Unbalanced,
    /// A quoted string or identifier is not closed.
    #[error("a quoted string or identifier is not closed")]
    Unterminated,
}

/// Accepts an expression only if, outside quoted strings and identifiers, it has balanced
/// parentheses and no `;`, `--`, `/*` or `$` (no dollar quoting, no parameters).
pub fn check_expression(expr: &str) -> Result<(), ExpressionError> {
    if expr.trim().is_empty() {
        return Err(ExpressionError::Empty);
    }
    let b = expr.as_bytes();
    let mut i = 0;
    let mut depth: i64 = 0;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                // E'…' strings allow backslash escapes; standard strings double the quote.
                let escapes = i > 0 && matches!(b[i - 1], b'e' | b'E') && (i < 2 || !b[i - 2].is_ascii_alphanumeric() && b[i - 2] != b'_');
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(ExpressionError::Unterminated),
                        Some(b'\\') if escapes => i += 2,
                        Some(b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
                        Some(b'\'') => break,
                        Some(_) => i += 1,
                    }
                }
            }
            b'"' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(ExpressionError::Unterminated),
                        Some(b'"') if b.get(i + 1) == Some(&b'"') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
            }
            b';' => return Err(ExpressionError::Forbidden("';'")),
            b'$' => return Err(ExpressionError::Forbidden("'$'")),
            b'-' if b.get(i + 1) == Some(&b'-') => return Err(ExpressionError::Forbidden("a comment ('--')")),
            b'/' if b.get(i + 1) == Some(&b'*') => return Err(ExpressionError::Forbidden("a comment ('/*')")),
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(ExpressionError::Unbalanced);
                }
            }
            _ => {}
        }
        i += 1;
    }
    if depth != 0 {
        return Err(ExpressionError::Unbalanced);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_expressions_pass() {
        for e in [
            "ctr_nbr",
            "upper(trim(ctr_nbr))",
            "'XE'",
            "created AT TIME ZONE 'Asia/Ho_Chi_Minh'",
            "CASE WHEN fe = 'F' THEN 'F' ELSE 'E' END",
            "'it''s; -- not a comment'",
            "E'a\\'b;'",
            "\"Weird;Column\"",
            "OLD.out_time IS NULL AND NEW.out_time IS NOT NULL",
            "ARRAY[decl1, decl2]",
        ] {
            assert_eq!(check_expression(e), Ok(()), "{e}");
        }
    }

    #[test]
    fn escapes_are_refused() {
        assert_eq!(check_expression("1); DROP TABLE x; --"), Err(ExpressionError::Unbalanced));
        assert_eq!(check_expression("1 FROM pg_authid --"), Err(ExpressionError::Forbidden("a comment ('--')")));
        assert_eq!(check_expression("x; DROP TABLE y"), Err(ExpressionError::Forbidden("';'")));
        assert_eq!(check_expression("$fn$ || 1"), Err(ExpressionError::Forbidden("'$'")));
        assert_eq!(check_expression("a /* b */"), Err(ExpressionError::Forbidden("a comment ('/*')")));
        assert_eq!(check_expression("'open"), Err(ExpressionError::Unterminated));
        assert_eq!(check_expression("(a"), Err(ExpressionError::Unbalanced));
        assert_eq!(check_expression("  "), Err(ExpressionError::Empty));
    }
}
