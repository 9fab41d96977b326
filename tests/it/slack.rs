//! slack adapter tests (in progress).
