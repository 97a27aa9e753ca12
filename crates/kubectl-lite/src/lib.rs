//! The lab's CLI: what learners type. Same words, columns and messages as
//! kubectl, plus views kubectl does not have.
//!
//! # Layout
//! - [`commands`]: `get` (`-w`, `--show-labels`, `--sort-by`), `apply`,
//!   `create`, `delete`, `describe`, `scale`, `rollout status`, `expose`,
//!   `version`, `api-resources`, and the teaching views `ipvs` and `trace`.
//! - [`manifests`]: `-f FILE|DIR|-` (`-R`), parsed without panics.
//! - [`table`]: a server-side Table printed as kubectl prints it.
//! - [`describe`]: `describe svc|po|deploy|node` texts (pure).
//! - [`tabwriter`]: Go's tabwriter, the layout under `describe`.
//! - [`trace`]: a Service's timeline and its pods' verdicts (pure).

pub mod commands;
pub mod describe;
pub mod manifests;
pub mod table;
pub mod tabwriter;
pub mod trace;
