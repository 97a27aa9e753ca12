//! The four patch types, applied to an object.

use crate::error::ApiError;
use api::resources::ResourceType;
use serde_json::Value;

/// How a PATCH body says what to change (upstream's `types.PatchType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902: a list of operations (`[{"op":"replace",...}]`).
    Json,
    /// RFC 7386: an object merged in, `null` deleting.
    Merge,
    /// Kubernetes' merge, which merges lists by key (`kubectl apply`'s, client side).
    StrategicMerge,
    /// Server-side apply (`registry::managed`; a second version's view still merges strategically).
    Apply,
}

impl PatchType {
    /// Every media type a patch may be sent as.
    pub const MEDIA_TYPES: [(&'static str, PatchType); 5] = [
        ("application/json-patch+json", PatchType::Json),
        ("application/merge-patch+json", PatchType::Merge),
        ("application/strategic-merge-patch+json", PatchType::StrategicMerge),
        ("application/apply-patch+yaml", PatchType::Apply),
        ("application/apply-patch+json", PatchType::Apply),
    ];

    /// The media types upstream names when it refuses another one.
    pub const ADVERTISED: [&'static str; 4] = [
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/apply-patch+yaml",
        "application/strategic-merge-patch+json",
    ];

    /// The patch type a media type (without parameters) names.
    pub fn from_media_type(media: &str) -> Option<Self> {
        Self::MEDIA_TYPES.iter().find(|(m, _)| *m == media).map(|(_, t)| *t)
    }
}

/// Applies a patch of the given type to an object.
pub fn apply_patch(
    resource: &ResourceType,
    patch_type: PatchType,
    current: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    match patch_type {
        PatchType::Merge => {
            let mut out = current.clone();
            json_patch::merge(&mut out, patch);
            Ok(out)
        }
        PatchType::Json => {
            use api::json_patch_limits::{Error, MAX_OPERATIONS};
            let too_large =
                |e: Error| ApiError { message: format!("Request entity too large: {e}"), ..ApiError::too_large(0) };
            // Counted before decoding: a refused patch is never copied into operations.
            match patch.as_array() {
                Some(ops) if ops.len() > MAX_OPERATIONS => return Err(too_large(Error::TooManyOperations(ops.len()))),
                _ => {}
            }
            let ops = <json_patch::Patch as serde::Deserialize>::deserialize(patch)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            let mut out = current.clone();
            // Bounded in operations and in what copies may add (CVE-2019-1002100).
            api::json_patch_limits::apply(&mut out, &ops).map_err(|e| match e {
                Error::TooManyOperations(_) => too_large(e),
                e => ApiError::unprocessable(format!(
                    "the server rejected our request due to an error in our request: {e}"
                )),
            })?;
            Ok(out)
        }
        PatchType::StrategicMerge => {
            api::smp::apply(resource.kind, current, patch).map_err(|e| ApiError::bad_request(e.to_string()))
        }
        // Stored kinds apply through `managed::apply`; a view (events.k8s.io,
        // autoscaling/v1) still merges the configuration strategically.
        PatchType::Apply => {
            api::smp::apply(resource.kind, current, patch).map_err(|e| ApiError::bad_request(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::resources::DEPLOYMENTS;
    use serde_json::json;

    #[test]
    fn patches_by_content_type() {
        let cur = json!({"metadata":{"name":"d","labels":{"a":"1"}},"spec":{"replicas":3}});
        let merged = apply_patch(
            &DEPLOYMENTS,
            PatchType::Merge,
            &cur,
            &json!({"spec":{"replicas":5},"metadata":{"labels":{"a":null}}}),
        )
        .unwrap();
        assert_eq!(merged, json!({"metadata":{"name":"d","labels":{}},"spec":{"replicas":5}}));
        let jp = apply_patch(
            &DEPLOYMENTS,
            PatchType::Json,
            &cur,
            &json!([{"op":"replace","path":"/spec/replicas","value":1}]),
        )
        .unwrap();
        assert_eq!(jp["spec"]["replicas"], 1);
        assert_eq!(
            apply_patch(&DEPLOYMENTS, PatchType::Json, &cur, &json!([{"op":"test","path":"/spec/replicas","value":9}]))
                .unwrap_err()
                .code,
            422
        );
        assert_eq!(PatchType::from_media_type("text/plain"), None);
        assert_eq!(PatchType::from_media_type("application/apply-patch+yaml"), Some(PatchType::Apply));
    }
}
