//! Controllers for Kubernetes.
//!
//! This crate will hold the `Controller` builder that operator authors use (for / owns / watches,
//! reconcile returning an action, finalizer helper), the stock controllers (deployment,
//! replicaset, statefulset, daemonset, job, cronjob, garbage collector, namespace, node
//! lifecycle, ...), the scheduler with its plugin extension points, and the cloud controller
//! manager behind the `CloudProvider` seam. It uses only the client half of [`kube_api`].
