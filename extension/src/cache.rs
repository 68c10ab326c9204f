//! Per-backend cache of the resolved catalogues, rebuilt when `vasscm.catalogue` changes.
//!
//! Loading or activating a catalogue fires a statement trigger that queues a relcache
//! invalidation of `vasscm.catalogue` (`_catalogue_changed`). Every backend receives it at
//! its next command (this one at once), and the callback below bumps a generation counter:
//! the next call re-reads the tables. So the hot path (build / validate) costs no query.

use crate::error::VasscmError;
use pgrx::prelude::*;
use pgrx::JsonB;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use vasscm_core::{Catalogue, Catalogues};

thread_local! {
    static GENERATION: Cell<u64> = const { Cell::new(1) };
    static CACHED: RefCell<Option<(u64, Rc<Catalogues>)>> = const { RefCell::new(None) };
    static CALLBACK_REGISTERED: Cell<bool> = const { Cell::new(false) };
    static CATALOGUE_OID: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let ours = CATALOGUE_OID.with(Cell::get);
    if relid == pg_sys::InvalidOid || relid == ours {
        GENERATION.with(|g| g.set(g.get() + 1));
    }
}

fn ensure_callback() {
    if !CALLBACK_REGISTERED.with(Cell::get) {
        // SAFETY: registering a plain function pointer; it only touches thread-local cells.
        unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache_invalidation), pg_sys::Datum::from(0)) };
        CALLBACK_REGISTERED.with(|c| c.set(true));
    }
}

/// The catalogues of this database, from cache or freshly loaded.
pub fn catalogues() -> Result<Rc<Catalogues>, VasscmError> {
    ensure_callback();
    let current = GENERATION.with(Cell::get);
    if let Some((gen, cats)) = CACHED.with(|c| c.borrow().clone()) {
        if gen == current {
            return Ok(cats);
        }
    }
    let cats = Rc::new(load()?);
    CACHED.with(|c| *c.borrow_mut() = Some((current, cats.clone())));
    Ok(cats)
}

fn load() -> Result<Catalogues, VasscmError> {
    let (rel, rows) = Spi::connect(|client| {
        let rel = client
            .select("SELECT 'vasscm.catalogue'::regclass::oid", None, &[])?
            .first()
            .get_one::<pg_sys::Oid>()?
            .unwrap_or(pg_sys::InvalidOid);
        let table = client.select("SELECT version, active, source FROM vasscm.catalogue", None, &[])?;
        let mut out = Vec::new();
        for row in table {
            let version = row.get::<String>(1)?.unwrap_or_default();
            let active = row.get::<bool>(2)?.unwrap_or(false);
            let source = row.get::<JsonB>(3)?.unwrap_or(JsonB(serde_json::Value::Null));
            out.push((version, active, source));
        }
        Ok::<_, pgrx::spi::Error>((rel, out))
    })
    .map_err(|e| VasscmError::Spi(e.to_string()))?;
    CATALOGUE_OID.with(|c| c.set(rel));
    let mut cats = Catalogues::default();
    for (version, active, source) in rows {
        let cat = Catalogue::from_value(&source.0)?;
        if active {
            cats.active = Some(version.clone());
        }
        cats.by_version.insert(version, Arc::new(cat));
    }
    Ok(cats)
}

/// Called by the catalogue tables' statement trigger: tells every backend to reload.
#[pg_extern(volatile, parallel_unsafe)]
pub(crate) fn _catalogue_changed() {
    let oid = Spi::get_one::<pg_sys::Oid>("SELECT 'vasscm.catalogue'::regclass::oid")
        .ok()
        .flatten()
        .unwrap_or(pg_sys::InvalidOid);
    // SAFETY: queues a relcache invalidation message for an existing relation.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(oid) };
    GENERATION.with(|g| g.set(g.get() + 1));
}
