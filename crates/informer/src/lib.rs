//! What every component that watches the API shares (client-go calls it an
//! informer): finding the apiserver, watching a resource, and a cache that
//! says what changed.
//!
//! # Layout
//! - [`client`]: `--server`, `--kubeconfig`, or kube-rs's inference.
//! - [`cache`]: a watch as a stream, and the cache it feeds, which reports
//!   (before, after) for every change and diffs relists.
//! - [`process`]: logs, the node's name, and the shutdown signal.

pub mod cache;
pub mod client;
pub mod process;
