//! The verbs of a view: a resource served in a second version over another
//! row's objects (`ResourceType::view_of`). Every verb runs on the stored
//! row; bodies are converted on the way in and objects on the way out
//! (`api::conversion`), and errors name the resource the client asked for,
//! as upstream's one storage behind two versions does.

use super::objects::{check_type_meta, judge_unknown_fields, normalize, FieldValidation};
use super::{apply_patch, DeleteOptions, PatchType, Registry, WriteOptions, Written};
use crate::error::ApiError;
use api::conversion::{check_create, from_view, to_view};
use api::json::str_at;
use api::resources::ResourceType;
use serde_json::{json, Value};

/// A view's body decoded through its own schema (unknown fields reported
/// per `fieldValidation`), then converted to the stored version.
pub fn incoming(view: &ResourceType, body: Value, fv: FieldValidation) -> Result<(Value, Vec<String>), ApiError> {
    check_type_meta(view, &body)?;
    let decoded = normalize(view, body.clone())?;
    let warnings = judge_unknown_fields(&body, &decoded, fv)?;
    Ok((from_view(view, decoded), warnings))
}

/// A stored object as the view shows it, in the view schema's field order.
pub fn outgoing(view: &ResourceType, stored: Value) -> Value {
    let converted = to_view(view, stored);
    normalize(view, converted.clone()).unwrap_or(converted)
}

/// An error about the stored row, told about the view: `events "x" not
/// found` becomes `events.events.k8s.io "x" not found`.
pub fn renamed(view: &ResourceType, mut e: ApiError) -> ApiError {
    let stored = view.view_of.unwrap_or(view);
    for (from, to) in [(stored.qualified_name(), view.qualified_name()), (kind_of(stored), kind_of(view))] {
        if from != to {
            e.message = e.message.replacen(&format!("{from} \""), &format!("{to} \""), 1);
        }
    }
    if let Some(details) = e.details.as_mut().and_then(Value::as_object_mut) {
        if view.group.is_empty() {
            details.remove("group");
        } else {
            details.insert("group".into(), json!(view.group));
        }
    }
    e
}

/// The kind as an Invalid error names it: `Event` or `Event.events.k8s.io`.
fn kind_of(r: &ResourceType) -> String {
    if r.group.is_empty() {
        r.kind.to_string()
    } else {
        format!("{}.{}", r.kind, r.group)
    }
}

fn shown(view: &ResourceType, w: Result<Written, ApiError>, mut warnings: Vec<String>) -> Result<Written, ApiError> {
    let w = w.map_err(|e| renamed(view, e))?;
    warnings.extend(w.warnings);
    Ok(Written { object: outgoing(view, w.object), created: w.created, warnings })
}

impl Registry {
    pub(super) async fn view_get(
        &self,
        view: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let obj = Box::pin(self.get(view.stored(), namespace, name)).await.map_err(|e| renamed(view, e))?;
        Ok(outgoing(view, obj))
    }

    pub(super) async fn view_create(
        &self,
        view: &'static ResourceType,
        namespace: Option<&str>,
        body: Value,
        opts: WriteOptions,
    ) -> Result<Written, ApiError> {
        let name = str_at(&body, "/metadata/name").to_string();
        let decoded = normalize(view, body.clone())?;
        let (stored, warnings) = incoming(view, body, opts.field_validation)?;
        let errors = check_create(view, &decoded);
        if !errors.is_empty() {
            return Err(ApiError::invalid(view, &name, &errors));
        }
        shown(view, Box::pin(self.create(view.stored(), namespace, stored, opts)).await, warnings)
    }

    pub(super) async fn view_update(
        &self,
        view: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        body: Value,
        opts: WriteOptions,
    ) -> Result<Written, ApiError> {
        let (stored, warnings) = incoming(view, body, opts.field_validation)?;
        shown(view, Box::pin(self.update(view.stored(), namespace, name, subresource, stored, opts)).await, warnings)
    }

    /// A patch applies to the object as the view shows it, then goes back.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn view_patch(
        &self,
        view: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        patch_type: PatchType,
        patch: Value,
        opts: WriteOptions,
    ) -> Result<Written, ApiError> {
        let fv = opts.field_validation;
        let patched = |current: &Value| {
            let shown = outgoing(view, current.clone());
            let patched = apply_patch(view, patch_type, &shown, &patch)?;
            Ok(incoming(view, patched, fv)?.0)
        };
        match Box::pin(self.patch_with(view.stored(), namespace, name, subresource, opts.clone(), patched)).await {
            Ok(Some(w)) => shown(view, Ok(w), Vec::new()),
            Ok(None) => Box::pin(self.absent_patch(view, namespace, name, subresource, patch_type, patch, opts)).await,
            Err(e) => Err(renamed(view, e)),
        }
    }

    pub(super) async fn view_delete(
        &self,
        view: &'static ResourceType,
        namespace: Option<&str>,
        name: &str,
        opts: DeleteOptions,
    ) -> Result<Value, ApiError> {
        let obj = Box::pin(self.delete(view.stored(), namespace, name, opts)).await.map_err(|e| renamed(view, e))?;
        Ok(outgoing(view, obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::resources::{EVENTS, EVENTS_V1, HORIZONTAL_POD_AUTOSCALERS_V1};

    #[test]
    fn errors_name_the_resource_asked_for() {
        let e = renamed(&EVENTS_V1, ApiError::not_found(&EVENTS, "x"));
        assert_eq!(e.message, "events.events.k8s.io \"x\" not found");
        assert_eq!(e.details.unwrap()["group"], "events.k8s.io");
        let e = renamed(&EVENTS_V1, ApiError::invalid(&EVENTS, "x", &[]));
        assert!(e.message.starts_with("Event.events.k8s.io \"x\" is invalid"), "{}", e.message);
    }

    #[test]
    fn bodies_are_checked_against_the_view() {
        let wrong = json!({"apiVersion":"v1","kind":"Event","metadata":{"name":"e"}});
        assert!(incoming(&EVENTS_V1, wrong, FieldValidation::Warn).is_err());
        let body = json!({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e"},"note":"n","bogus":1});
        assert!(incoming(&EVENTS_V1, body.clone(), FieldValidation::Strict).is_err());
        let (stored, warnings) = incoming(&EVENTS_V1, body, FieldValidation::Warn).unwrap();
        assert_eq!(warnings, ["unknown field \"bogus\""]);
        assert_eq!((stored["apiVersion"].as_str(), stored["message"].as_str()), (Some("v1"), Some("n")));
        let hpa = json!({"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler","metadata":{"name":"h"},
            "spec":{"scaleTargetRef":{"kind":"Deployment","name":"web"},"maxReplicas":3,"targetCPUUtilizationPercentage":"high"}});
        assert!(incoming(&HORIZONTAL_POD_AUTOSCALERS_V1, hpa, FieldValidation::Warn).is_err());
    }
}
