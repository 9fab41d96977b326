//! dbabot adapter for teams (in progress).
