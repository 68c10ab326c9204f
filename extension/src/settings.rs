//! `vasscm.*` settings (GUCs): header defaults and limits for untrusted XML.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use pgrx::prelude::*;
use std::ffi::CString;
use vasscm_core::{Direction, HeaderDefaults, Limits};

/// `vasscm.sender_code`: the port operator's customs-registered code (`Header/Sender_Code`).
pub static SENDER_CODE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `vasscm.sender_name`: the port operator's name (`Header/Sender_Name`).
pub static SENDER_NAME: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `vasscm.receiver_code`: the customs office messages go to (`Header/Receiver_Code`).
pub static RECEIVER_CODE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `vasscm.customs_sender_code`: the `Sender_Code`(s) customs' messages carry (comma-separated).
pub static CUSTOMS_SENDER_CODE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"TCHQ"));
/// `vasscm.place_code`: the supervision place code (`MA_DIA_DIEM`) of messages built by vasscm itself.
pub static PLACE_CODE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
/// `vasscm.max_message_bytes`: largest XML message accepted by the parser.
pub static MAX_MESSAGE_BYTES: GucSetting<i32> = GucSetting::<i32>::new(1024 * 1024);
/// `vasscm.max_xml_depth`: deepest element nesting accepted by the parser.
pub static MAX_XML_DEPTH: GucSetting<i32> = GucSetting::<i32>::new(32);

/// When captured TOS changes become ledger rows and messages (`vasscm.interpret`).
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum InterpretMode {
    /// At the commit of the TOS transaction that made them (the default).
    #[name = c"at_commit"]
    AtCommit,
    /// Later, by `vasscm.interpret()` (job, worker, or a reader catching up).
    #[name = c"async"]
    Async,
}

/// `vasscm.interpret`: when captured changes are interpreted (see `InterpretMode`).
pub static INTERPRET: GucSetting<InterpretMode> = GucSetting::<InterpretMode>::new(InterpretMode::AtCommit);

/// `vasscm.amendment_delay_seconds`: how long an amendment (16) made by capture waits before it
/// is sent, so that a seal change or strip reported a transaction later can withdraw it.
pub static AMENDMENT_DELAY_SECONDS: GucSetting<i32> = GucSetting::<i32>::new(10);

/// Registers the settings; called from `_PG_init`.
pub fn register() {
    GucRegistry::define_string_guc(
        c"vasscm.sender_code",
        c"Port operator's customs-registered code, written to Header/Sender_Code.",
        c"Set per database: ALTER DATABASE tos SET vasscm.sender_code = '...'.",
        &SENDER_CODE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"vasscm.sender_name",
        c"Port operator's name, written to Header/Sender_Name.",
        c"",
        &SENDER_NAME,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"vasscm.receiver_code",
        c"Customs office code the port reports to, written to Header/Receiver_Code.",
        c"",
        &RECEIVER_CODE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"vasscm.customs_sender_code",
        c"Header/Sender_Code of customs' messages to this port (comma-separated if several); others are refused.",
        c"Default TCHQ. Customs' messages must also name this port (vasscm.sender_code) as Receiver_Code.",
        &CUSTOMS_SENDER_CODE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"vasscm.place_code",
        c"Supervision place code (MA_DIA_DIEM) written into messages vasscm builds itself (discrepancies, DISCHARGE_DONE, YARD_MAP, queries).",
        c"",
        &PLACE_CODE,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"vasscm.interpret",
        c"When captured TOS changes become ledger rows and messages: at_commit (in the TOS transaction) or async (vasscm.interpret()).",
        c"async keeps the replica's apply at the cost of one insert per row; the job vasscm-interpret, the worker and every gate decision interpret what is pending.",
        &INTERPRET,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vasscm.amendment_delay_seconds",
        c"Seconds an amendment (16) made from a TOS correction waits before it is sent.",
        c"A seal change (24) or a strip / stuff (20 / 23) interpreted meanwhile withdraws an amendment that only carried its result.",
        &AMENDMENT_DELAY_SECONDS,
        0,
        3600,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vasscm.max_message_bytes",
        c"Largest XML message (bytes) vasscm parses or validates.",
        c"Larger input is refused with a clear error before parsing.",
        &MAX_MESSAGE_BYTES,
        1024,
        64 * 1024 * 1024,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"vasscm.max_xml_depth",
        c"Deepest element nesting vasscm parses or validates.",
        c"",
        &MAX_XML_DEPTH,
        4,
        256,
        GucContext::Userset,
        GucFlags::default(),
    );
}

fn text(setting: &GucSetting<Option<CString>>) -> String {
    setting.get().map(|c| c.to_string_lossy().trim().to_string()).unwrap_or_default()
}

/// Header defaults from the current settings for a message going `direction`: the port
/// writes to its customs office; a customs → port message (built for tests, simulations or a
/// manual entry) comes from customs' sender code to this port.
pub fn header_defaults(direction: Direction) -> HeaderDefaults {
    match direction {
        Direction::PortToCustoms => HeaderDefaults {
            application_version: env!("CARGO_PKG_VERSION").to_string(),
            sender_code: text(&SENDER_CODE),
            sender_name: text(&SENDER_NAME),
            receiver_code: text(&RECEIVER_CODE),
        },
        Direction::CustomsToPort => {
            let customs = text(&CUSTOMS_SENDER_CODE);
            let first = customs.split(',').next().unwrap_or_default().trim().to_string();
            HeaderDefaults {
                application_version: env!("CARGO_PKG_VERSION").to_string(),
                sender_name: first.clone(),
                sender_code: first,
                receiver_code: text(&SENDER_CODE),
            }
        }
    }
}

/// Parser limits from the current settings.
pub fn limits() -> Limits {
    Limits {
        max_bytes: usize::try_from(MAX_MESSAGE_BYTES.get()).unwrap_or(1024 * 1024),
        max_depth: usize::try_from(MAX_XML_DEPTH.get()).unwrap_or(32),
    }
}

/// `vasscm.customs_sender_code` as this backend sees it, default included: SQL reads it through
/// this function because `current_setting` knows the default only once the library is loaded.
#[pg_extern(stable, parallel_safe)]
pub(crate) fn _customs_sender_codes() -> String {
    text(&CUSTOMS_SENDER_CODE)
}
