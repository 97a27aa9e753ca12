//! The lab's CLI: apply, get, describe, delete, scale, watch, and views that
//! teach the Service lifecycle. Its tables come from `api::printers`, the
//! same code the apiserver's Table responses use.
//!
//! Not built yet (issue "kubectl-lite").
