//! TODO: selector
