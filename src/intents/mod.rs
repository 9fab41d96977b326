//! Understanding a message: the intent catalog (data), the classifier, and slot extraction.

pub mod catalog;
pub mod classify;
pub mod slots;

pub use catalog::{Catalog, CatalogError, ErrorCode, Intent, Playbook, Report, Step};
pub use classify::{Classification, Classifier};
pub use slots::{extract, Extracted, Slots};
