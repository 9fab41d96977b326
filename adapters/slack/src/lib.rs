//! dbabot adapter for slack (in progress).
