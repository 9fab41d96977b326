//! discord adapter tests (in progress).
