//! TODO: gvk
