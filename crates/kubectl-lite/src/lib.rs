//! The lab's CLI: what learners type. Same words, columns and messages as
//! kubectl, plus views kubectl does not have.
//!
//! # Layout
//! Start at [`commands`]; each command reads through [`client`], decides
//! with a pure module, and prints. Imports run one way, down this list.
//! - [`commands`]: `get` (`-w`, `--show-labels`, `--sort-by`), `apply`,
//!   `create`, `delete`, `describe`, `scale`, `rollout status`, `expose`,
//!   `version`, `api-resources`, and the teaching views `ipvs` and `trace`.
//! - [`client`]: the HTTP edge: the apiserver's requests with their media
//!   types, the reads several commands share, a node proxy's status port.
//! - [`manifests`]: `-f FILE|DIR|-` (`-R`), parsed without panics.
//! - [`decide`]: pure decisions: `--sort-by` order, a rollout's status, the
//!   Service `expose` makes.
//! - [`trace`]: a Service's timeline and its pods' verdicts (pure).
//! - [`describe`]: `describe svc|po|deploy|node` texts (pure).
//! - [`table`]: a server-side Table printed as kubectl prints it.
//! - [`tabwriter`]: Go's tabwriter, the layout under `describe`.
//! - [`error`]: [`error::CliError`], every failure in kubectl's words.

pub mod client;
pub mod commands;
pub mod decide;
pub mod describe;
pub mod error;
pub mod manifests;
pub mod table;
pub mod tabwriter;
pub mod trace;
