//! TODO: dynamic
