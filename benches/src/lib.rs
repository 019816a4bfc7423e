//! Shared helpers of the benchmark workloads (tables, percentiles).
