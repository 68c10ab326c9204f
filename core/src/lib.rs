//! vasscm-core: everything about VASSCM messages that does not need PostgreSQL.
//!
//! The [`catalogue`] (loaded from a versioned JSON data file) is the single source of truth;
//! [`message`] builds, validates and parses messages from it, and [`xsd`] exports an XML Schema
//! from the same definitions. The PostgreSQL extension, the worker and the customs simulator
//! all call into this crate.

pub mod catalogue;
pub mod container;
pub mod json;
pub mod message;
pub mod ocr;
pub mod problem;
pub mod record;
pub mod scalar;
pub mod soap;
pub mod sql_text;
pub mod validate;
pub mod xml_read;
pub mod xml_write;
pub mod xsd;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod message_tests;

pub use catalogue::{Catalogue, CatalogueError, Catalogues, Direction, FieldDef, MessageDef, Shape};
pub use message::{build, check_data, parse, prepare, validate, BuildError, HeaderDefaults, Parsed, Prepared};
pub use problem::Problem;
pub use scalar::ScalarType;
pub use xml_read::{Limits, XmlError};

/// The catalogue v1 shipped with vasscm (`catalogue/v1.json`), loaded at `CREATE EXTENSION`.
pub const BUILTIN_CATALOGUE_V1: &str = include_str!("../../catalogue/v1.json");
