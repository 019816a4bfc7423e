//! Nothing shared: each example is a thin binary.
