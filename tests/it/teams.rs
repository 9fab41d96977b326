//! teams adapter tests (in progress).
