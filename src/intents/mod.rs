//! Understanding a message: the intent catalog (data), the classifier, and slot extraction.

pub mod catalog;
pub mod classify;
pub mod registry;
pub mod slots;

pub use catalog::{
    Catalog, CatalogError, Engines, ErrorCode, Flavour, Intent, MessagePattern, Playbook, Report,
    Scope, SlotQuestions, Step, Vocabulary,
};
pub use classify::{Classification, Classifier};
pub use slots::{extract, Extracted, Slots};
