//! One error type for every handler, turned into the `Status` body that
//! kubectl, kube-rs and the Python client parse (`reason` drives their
//! behaviour: `AlreadyExists` makes `kubectl create` fail politely,
//! `NotFound` makes `kubectl apply` create instead of patch).

use api::field_errors::{invalid_message, FieldError};
use api::resources::ResourceType;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Upstream's `metav1.StatusReason`: what a client decides on (retry,
/// create instead, give up), so control flow matches on it, never on text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NotFound,
    AlreadyExists,
    Conflict,
    Invalid,
    BadRequest,
    Unauthorized,
    Forbidden,
    MethodNotAllowed,
    UnsupportedMediaType,
    RequestEntityTooLarge,
    Expired,
    TooManyRequests,
    Timeout,
    InternalError,
    ServiceUnavailable,
}

impl Reason {
    /// The reason as the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotFound => "NotFound",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Invalid => "Invalid",
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::Expired => "Expired",
            Reason::TooManyRequests => "TooManyRequests",
            Reason::Timeout => "Timeout",
            Reason::InternalError => "InternalError",
            Reason::ServiceUnavailable => "ServiceUnavailable",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: StatusCode,
    pub reason: Reason,
    pub message: String,
    pub details: Option<Value>,
}

/// Every response is JSON with an explicit Content-Type, whatever the client
/// preferred (kubectl describe asks for protobuf first).
pub fn json_response(code: StatusCode, body: &Value) -> Response {
    let mut resp = (code, api::wire::to_vec(body)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

impl ApiError {
    fn new(code: StatusCode, reason: Reason, message: impl Into<String>) -> Self {
        Self { code, reason, message: message.into(), details: None }
    }

    fn with_details(mut self, resource: &ResourceType, name: &str) -> Self {
        let mut details = json!({ "name": name, "kind": resource.plural });
        if !resource.group.is_empty() {
            details["group"] = json!(resource.group);
        }
        self.details = Some(details);
        self
    }

    /// `services "myapp" not found`
    pub fn not_found(resource: &ResourceType, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            Reason::NotFound,
            format!("{} \"{name}\" not found", resource.qualified_name()),
        )
        .with_details(resource, name)
    }

    /// `services "myapp" already exists`
    pub fn already_exists(resource: &ResourceType, name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            Reason::AlreadyExists,
            format!("{} \"{name}\" already exists", resource.qualified_name()),
        )
        .with_details(resource, name)
    }

    /// Optimistic concurrency lost: the object changed since the client read it.
    pub fn conflict(resource: &ResourceType, name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            Reason::Conflict,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                resource.qualified_name()
            ),
        )
        .with_details(resource, name)
    }

    /// Server-side apply's conflicts: one cause per field, naming its owner.
    pub fn apply_conflict(message: String, causes: Vec<(String, String)>) -> Self {
        let causes: Vec<Value> = causes
            .into_iter()
            .map(|(m, f)| json!({ "reason": "FieldManagerConflict", "message": m, "field": f }))
            .collect();
        Self {
            details: Some(json!({ "causes": causes })),
            ..Self::new(StatusCode::CONFLICT, Reason::Conflict, message)
        }
    }

    /// A write that could not be carried out now, and why: `Operation cannot
    /// be fulfilled on services "x": ...`.
    pub fn conflict_with(resource: &ResourceType, name: &str, why: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            Reason::Conflict,
            format!("Operation cannot be fulfilled on {} \"{name}\": {why}", resource.qualified_name()),
        )
        .with_details(resource, name)
    }

    /// A conflict with a reason of its own: `Operation cannot be fulfilled on
    /// pods/binding "x": pod x is already assigned to node "node1"`.
    pub fn conflict_because(resource: &ResourceType, subresource: &str, name: &str, why: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            Reason::Conflict,
            format!("Operation cannot be fulfilled on {}/{subresource} \"{name}\": {why}", resource.qualified_name()),
        )
        .with_details(resource, name)
    }

    /// 422 with one cause per field error, as upstream's `NewInvalid`; the
    /// kind is named as its `GroupKind` prints (`Deployment.apps "x" is invalid`).
    pub fn invalid(resource: &ResourceType, name: &str, errors: &[FieldError]) -> Self {
        Self::invalid_kind(&qualified_kind(resource), resource.group, resource.kind, name, errors)
    }

    /// [`ApiError::invalid`] for a kind that is no served resource (a
    /// subresource's, as `TokenRequest.authentication.k8s.io`).
    pub fn invalid_kind(qualified: &str, group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let causes: Vec<Value> =
            errors.iter().map(|e| json!({ "reason": e.reason(), "message": e.body(), "field": e.field })).collect();
        let mut err =
            Self::new(StatusCode::UNPROCESSABLE_ENTITY, Reason::Invalid, invalid_message(qualified, name, errors));
        let mut details = json!({ "name": name, "kind": kind, "causes": causes });
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        err.details = Some(details);
        err
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Reason::BadRequest, message)
    }

    /// 422 for a request that parsed but cannot be carried out (a failed JSON patch `test`).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, Reason::Invalid, message)
    }

    pub fn forbidden(resource: &ResourceType, name: &str, why: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            Reason::Forbidden,
            format!("{} \"{name}\" is forbidden: {why}", resource.qualified_name()),
        )
        .with_details(resource, name)
    }

    /// A path that names no resource we serve.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, Reason::NotFound, "the server could not find the requested resource")
    }

    pub fn method_not_allowed(verb: &str, what: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Reason::MethodNotAllowed,
            format!("the server does not allow this method on the requested resource ({verb} {what})"),
        )
    }

    /// A patch in a media type we do not apply; `accepted` as upstream lists them.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Reason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: {} (got {content_type:?})",
                accepted.join(", ")
            ),
        )
    }

    /// A create or update body in a format we do not decode (protobuf, CBOR).
    pub fn unsupported_body_type(content_type: &str) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, Reason::UnsupportedMediaType, format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type:?})"))
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Reason::RequestEntityTooLarge,
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// A watch resumed from a revision the cache no longer holds.
    pub fn expired(requested: i64, oldest: i64) -> Self {
        Self::new(StatusCode::GONE, Reason::Expired, format!("too old resource version: {requested} ({oldest})"))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Reason::InternalError,
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// A credential that names no one (upstream says no more than this).
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Reason::Unauthorized, "Unauthorized")
    }

    /// Authorization said no: `message` is upstream's whole sentence,
    /// `details` its group, kind (the resource) and name.
    pub fn denied(message: String, details: Option<Value>) -> Self {
        Self { details, ..Self::new(StatusCode::FORBIDDEN, Reason::Forbidden, message) }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, Reason::ServiceUnavailable, message)
    }

    /// The `Status` object, as in the body of the response or a watch ERROR event.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.as_str(),
            "code": self.code.as_u16(),
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.code, &self.status())
    }
}

/// `Service`, or `Lease.coordination.k8s.io` for a kind in a named group.
fn qualified_kind(resource: &ResourceType) -> String {
    if resource.group.is_empty() {
        resource.kind.to_string()
    } else {
        format!("{}.{}", resource.kind, resource.group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::resources::{DEPLOYMENTS, SERVICES};

    #[test]
    fn status_bodies_match_upstream() {
        let s = ApiError::not_found(&SERVICES, "x").status();
        assert_eq!(
            s,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"services \"x\" not found","reason":"NotFound","details":{"name":"x","kind":"services"},"code":404})
        );
        let d = ApiError::already_exists(&DEPLOYMENTS, "web").status();
        assert_eq!(d["message"], "deployments.apps \"web\" already exists");
        assert_eq!(d["details"]["group"], "apps");
        let inv = ApiError::invalid(&SERVICES, "x", &[FieldError::required("spec.ports", "")]);
        assert_eq!(inv.code, StatusCode::UNPROCESSABLE_ENTITY);
        let web = ApiError::invalid(&DEPLOYMENTS, "web", &[FieldError::required("spec.selector", "")]);
        assert_eq!(web.message, "Deployment.apps \"web\" is invalid: spec.selector: Required value");
        assert_eq!(
            inv.status()["details"]["causes"][0],
            json!({"reason":"FieldValueRequired","message":"Required value","field":"spec.ports"})
        );
    }
}
