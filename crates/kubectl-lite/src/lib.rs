//! The lab's CLI: what learners type. Same words, columns and messages as
//! kubectl, plus views kubectl does not have.
//!
//! # Layout
//! - [`commands`]: `get` (and `-w`), `apply`, `delete`, `describe svc`,
//!   `scale`, `version`, `api-resources`, and the teaching view `ipvs`.
//! - [`table`]: a server-side Table printed as kubectl prints it.
//! - [`describe`]: `describe svc`, with Go's tabwriter layout.
//!
//! Still to come (issue "kubectl-lite"): describe for other kinds, rollout
//! status, expose, `trace svc`, completion, and the snapshot and fuzz tests.

pub mod commands;
pub mod describe;
pub mod manifests;
pub mod table;
pub mod trace;
