//! An embeddable kubelet.
//!
//! This crate will hold the pod workers, the sync loop and PLEG, status and probes, volumes, the
//! node lease and the kubelet API, driving containers through the `Runtime` seam: containerd
//! over CRI for real pods, and a simulated runtime (no processes) for scale tests. It uses only
//! the client half of [`kube_api`].
