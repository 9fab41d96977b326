//! dbabot adapter for discord (in progress).
