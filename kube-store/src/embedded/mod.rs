//! The embedded store.

/// The embedded store. (Being written.)
#[derive(Debug)]
pub struct EmbeddedStore {}

/// Options of the embedded store. (Being written.)
#[derive(Debug, Default)]
pub struct EmbeddedOptions {}
