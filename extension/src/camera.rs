//! Camera gates: OCR correction of container-number reads (ISO 6346, see `vasscm_core::ocr`).

use pgrx::prelude::*;
use std::collections::HashSet;
use vasscm_core::container::normalize;
use vasscm_core::ocr::{self, Correction};

/// `container_read_candidates(read text) RETURNS text[]`: the valid ISO 6346 numbers a camera
/// read may stand for — letters and digits swapped by position (`0`→`O` in the owner code,
/// `S`→`5` in the serial, …) plus at most one confusion between look-alikes (`8`↔`6`, `O`↔`Q`,
/// …) — sorted. A valid read gives just itself, an unreadable one an empty array.
///
/// ```sql
/// SELECT vasscm.container_read_candidates('M5KV 123456 S');  -- {MSKU1234565}
/// ```
#[pg_extern(immutable, strict, parallel_safe)]
pub(crate) fn container_read_candidates(read: &str) -> Vec<String> {
    ocr::candidates(read)
}

/// The row of `correct_container_read`: outcome, the number to use, the candidates.
type CorrectionRow = (String, Option<String>, Vec<String>);

/// Turns a correction into its SQL row; `read` gives the candidates of a corrected read.
fn correction_row(correction: Correction, read: &str) -> CorrectionRow {
    match correction {
        Correction::Valid { number, .. } => ("valid".into(), Some(number.clone()), vec![number]),
        Correction::Corrected { number, .. } => ("corrected".into(), Some(number), ocr::candidates(read)),
        Correction::Ambiguous { candidates } => ("ambiguous".into(), None, candidates),
        Correction::Unreadable => ("unreadable".into(), None, Vec::new()),
    }
}

/// `correct_container_read(read text, plausible text[]) RETURNS TABLE(outcome text,
/// container_no text, candidates text[])`: corrects a camera read of a container number
/// against `plausible`, the numbers expected at this gate (in the yard, on a gate appointment,
/// on an expected list; the caller computes it, entries are normalised). One row:
///
/// * `valid`: the read passes the check digit; `container_no` is the read (normalised),
///   expected or not (`container_no = ANY(plausible)` tells which);
/// * `corrected`: the read fails the check digit and exactly one candidate is plausible:
///   `container_no`; `candidates` lists every candidate;
/// * `ambiguous`: for review, never guessed: several plausible candidates (listed), none
///   (all candidates listed), or a valid read that is not expected while a look-alike one
///   confusion away is (the read first, then the look-alikes; ISO 6346 misses some single
///   confusions, so either may be right);
/// * `unreadable`: no valid number can be read (or `read` is NULL).
///
/// ```sql
/// SELECT * FROM vasscm.correct_container_read('CSQU 305436 3', ARRAY['CSQU3054383', 'MSKU1234565']);
/// --  outcome   | container_no |  candidates
/// --  corrected | CSQU3054383  | {CSQU3054383}
/// ```
#[pg_extern(immutable, parallel_safe)]
pub(crate) fn correct_container_read(
    read: Option<&str>,
    plausible: Option<Vec<Option<String>>>,
) -> TableIterator<'static, (name!(outcome, String), name!(container_no, Option<String>), name!(candidates, Vec<String>))> {
    let expected: HashSet<String> = plausible.unwrap_or_default().into_iter().flatten().map(|p| normalize(&p)).collect();
    let row = match read {
        Some(read) => correction_row(ocr::correct(read, |c| expected.contains(c)), read),
        None => correction_row(Correction::Unreadable, ""),
    };
    TableIterator::once(row)
}

/// `#[pg_test]`s of the camera-read functions.
#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    /// The row of `correct_container_read` for a query's arguments.
    fn correction(args: &str) -> (String, Option<String>, Vec<String>) {
        Spi::connect(|c| {
            let row = c
                .select(&format!("SELECT outcome, container_no, candidates FROM vasscm.correct_container_read({args})"), None, &[])
                .unwrap()
                .first();
            (row.get::<String>(1).unwrap().unwrap(), row.get::<String>(2).unwrap(), row.get::<Vec<String>>(3).unwrap().unwrap())
        })
    }

    #[pg_test]
    fn candidates_of_a_read() {
        let c = Spi::get_one::<Vec<String>>("SELECT vasscm.container_read_candidates('M5KV 123456 S')").unwrap().unwrap();
        assert_eq!(c, vec!["MSKU1234565".to_string()], "the documented example");
        let c = Spi::get_one::<Vec<String>>("SELECT vasscm.container_read_candidates('00LU3050043')").unwrap().unwrap();
        assert!(c.len() >= 3, "{c:?}");
        assert!(c.windows(2).all(|w| w[0] < w[1]), "sorted, distinct: {c:?}");
        let all_valid = Spi::get_one::<bool>(
            "SELECT bool_and(vasscm.is_valid_container_no(n)) FROM unnest(vasscm.container_read_candidates('00LU3050043')) n",
        )
        .unwrap();
        assert_eq!(all_valid, Some(true));
        assert_eq!(Spi::get_one::<Vec<String>>("SELECT vasscm.container_read_candidates('csqu-305438-3')").unwrap(), Some(vec!["CSQU3054383".to_string()]));
        assert_eq!(Spi::get_one::<Vec<String>>("SELECT vasscm.container_read_candidates('CSQX3054383')").unwrap(), Some(vec![]));
        assert_eq!(Spi::get_one::<Vec<String>>("SELECT vasscm.container_read_candidates(NULL)").unwrap(), None);
    }

    #[pg_test]
    fn corrections_of_reads() {
        let (outcome, number, candidates) = correction("'CSQU 305436 3', ARRAY['CSQU3054383', 'MSKU1234565']");
        assert_eq!((outcome.as_str(), number.as_deref()), ("corrected", Some("CSQU3054383")));
        assert!(candidates.contains(&"CSQU3054383".to_string()), "{candidates:?}");
        let (outcome, number, _) = correction("'csqu3054383', ARRAY[' CSQU 305438 3 ']");
        assert_eq!((outcome.as_str(), number.as_deref()), ("valid", Some("CSQU3054383")));
        let (outcome, number, _) = correction("'CSQU3054383', NULL");
        assert_eq!((outcome.as_str(), number.as_deref()), ("valid", Some("CSQU3054383")));
        let (outcome, number, candidates) = correction("'CSQU3054363', '{}'");
        assert_eq!((outcome.as_str(), number), ("ambiguous", None));
        assert!(candidates.contains(&"CSQU3054383".to_string()), "{candidates:?}");
        let (outcome, number, candidates) = correction("'00LU3050043', vasscm.container_read_candidates('00LU3050043')");
        assert_eq!((outcome.as_str(), number), ("ambiguous", None));
        assert!(candidates.len() >= 3, "{candidates:?}");
        assert_eq!(correction("'CSQX3054383', ARRAY['CSQU3054383']"), ("unreadable".into(), None, vec![]));
        assert_eq!(correction("NULL, ARRAY['CSQU3054383']"), ("unreadable".into(), None, vec![]));
    }

    #[pg_test]
    fn readers_may_call_them_and_public_may_not() {
        let granted = Spi::get_one::<bool>(
            "SELECT bool_and(has_function_privilege('vasscm_reader', f, 'EXECUTE'))
                    AND NOT bool_or(has_function_privilege('public', f, 'EXECUTE'))
               FROM unnest(ARRAY['vasscm.container_read_candidates(text)'::regprocedure,
                                 'vasscm.correct_container_read(text, text[])'::regprocedure]) f",
        )
        .unwrap();
        assert_eq!(granted, Some(true));
    }
}
