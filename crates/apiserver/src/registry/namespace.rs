//! The Namespace strategy: the namespaces the cluster needs cannot be
//! deleted, and deleting one deletes what it holds first (upstream's
//! namespace controller does this asynchronously; here it is synchronous).

use super::strategy::Strategy;
use crate::error::ApiError;
use api::resources::NAMESPACES;

pub struct NamespaceStrategy;

/// Where the system and the `kubernetes` Service live.
const PROTECTED: [&str; 3] = ["default", "kube-system", "kube-public"];

impl Strategy for NamespaceStrategy {
    fn check_delete(&self, _namespace: Option<&str>, name: &str) -> Result<(), ApiError> {
        if PROTECTED.contains(&name) {
            return Err(ApiError::forbidden(&NAMESPACES, name, "this namespace may not be deleted"));
        }
        Ok(())
    }

    fn holds_namespace(&self) -> bool {
        true
    }
}
