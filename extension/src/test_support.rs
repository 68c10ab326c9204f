//! Helpers shared by the `#[pg_test]`s.

use pgrx::prelude::*;

/// Runs `sql` in a subtransaction (a PL/pgSQL exception block, so that settings and locks of a
/// failed call are undone as in production) and returns "message | detail" of the error it
/// raised, or an empty string when it succeeded.
pub fn error_of(sql: &str) -> String {
    let q = sql.replace('\'', "''");
    Spi::run(&format!(
        "DO $t$ DECLARE m text; d text; BEGIN
             PERFORM set_config('vasscm_test.error', '', false);
             EXECUTE '{q}';
         EXCEPTION WHEN OTHERS THEN
             GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL;
             PERFORM set_config('vasscm_test.error', m || ' | ' || coalesce(d, ''), false);
         END $t$"
    ))
    .expect("the DO block itself runs");
    Spi::get_one::<String>("SELECT current_setting('vasscm_test.error')").ok().flatten().unwrap_or_default()
}

/// The port's settings of the tests (sender, receiver), and captured changes interpreted at the
/// end of each statement: a test never commits.
pub fn port_session() {
    Spi::run("SET vasscm.sender_code = 'CANGTEST'; SET vasscm.sender_name = 'Test'; SET vasscm.receiver_code = '03CC'").unwrap();
    Spi::run("SET CONSTRAINTS vasscm.interpret_at_commit IMMEDIATE").unwrap();
}

/// The number a query returns (-1 when NULL).
pub fn count(sql: &str) -> i64 {
    Spi::get_one::<i64>(sql).unwrap().unwrap_or(-1)
}

/// The text a query returns ("" when NULL).
pub fn text(sql: &str) -> String {
    Spi::get_one::<String>(sql).unwrap().unwrap_or_default()
}
