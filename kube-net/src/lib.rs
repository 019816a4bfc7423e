//! Service networking (kube-proxy).
//!
//! This crate will turn Services and EndpointSlices into a desired service map and hand it to a
//! `ProxyBackend` that makes the data plane match: nftables by default, iptables, or a userspace
//! proxy. It uses only the client half of [`kube_api`].
