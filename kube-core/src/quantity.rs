//! TODO: quantity
