//! vasscm: the VASSCM (Vietnam Customs automated seaport supervision) PostgreSQL extension.
//!
//! Message logic lives in `vasscm-core`; this crate is the SQL edge: settings, the per-backend
//! catalogue cache, the SQL functions and the schema (`extension/sql/*.sql`).

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod api;
mod camera;
mod cache;
mod capture;
#[cfg(any(test, feature = "pg_test"))]
mod worker_tests;
#[cfg(any(test, feature = "pg_test"))]
mod audit_tests;
#[cfg(any(test, feature = "pg_test"))]
mod obligations_tests;
#[cfg(any(test, feature = "pg_test"))]
mod ops_tests;
#[cfg(any(test, feature = "pg_test"))]
mod clearance_tests;
mod error;
mod schema;
mod settings;
#[cfg(any(test, feature = "pg_test"))]
mod test_support;

/// Called when the library is loaded: registers the `vasscm.*` settings.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    settings::register();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    /// One-off set-up before the tests.
    pub fn setup(_options: Vec<&str>) {}

    /// Settings the test cluster needs.
    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["vasscm.sender_code = 'CANGTEST'", "vasscm.sender_name = 'Cảng thử nghiệm'", "vasscm.receiver_code = '03CC'"]
    }
}
