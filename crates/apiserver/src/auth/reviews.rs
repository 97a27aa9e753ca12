//! `authorization.k8s.io/v1` access reviews and `authentication.k8s.io/v1`
//! SelfSubjectReview: the questions `kubectl auth can-i` and `kubectl auth
//! whoami` ask. Each is a create that stores nothing and answers with the
//! object and its `status`.

use super::{Auth, Identity, Mode};
use crate::error::{json_response, ApiError};
use crate::registry::objects::parse_body;
use api::rbac::{Attributes, PolicyRule};
use api::user::UserInfo;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};
use std::sync::Arc;

const AUTHORIZATION: &str = "authorization.k8s.io/v1";

fn body(headers: &HeaderMap, bytes: &Bytes) -> Result<Value, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    parse_body(ct, bytes)
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The attributes a review's spec asks about (exactly one of the two kinds).
fn spec_attributes(kind: &str, spec: &Value) -> Result<Attributes, ApiError> {
    let (res, non) = (spec.get("resourceAttributes"), spec.get("nonResourceAttributes"));
    match (res.filter(|v| v.is_object()), non.filter(|v| v.is_object())) {
        (Some(r), None) => Ok(Attributes {
            verb: s(r, "/verb").into(),
            resource_request: true,
            namespace: s(r, "/namespace").into(),
            api_group: s(r, "/group").into(),
            api_version: s(r, "/version").into(),
            resource: s(r, "/resource").into(),
            subresource: s(r, "/subresource").into(),
            name: s(r, "/name").into(),
            path: String::new(),
        }),
        (None, Some(n)) => Ok(Attributes::non_resource(s(n, "/verb"), s(n, "/path"))),
        _ => Err(ApiError::unprocessable(format!(
            "{kind}.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
        ))),
    }
}

/// The review, answered: the request's object with `status` filled in.
fn answer(auth: &Auth, mut review: Value, kind: &str, user: &UserInfo, a: &Attributes) -> Response {
    let decision = auth.authorize(user, a);
    let mut status = json!({ "allowed": decision.allowed });
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    review["status"] = status;
    review["apiVersion"] = json!(AUTHORIZATION);
    review["kind"] = json!(kind);
    if review.get("metadata").is_none_or(|m| !m.is_object()) {
        review["metadata"] = json!({});
    }
    json_response(StatusCode::CREATED, &review)
}

/// `kubectl auth can-i create services` (and `--as`: the impersonated user).
pub async fn self_subject_access(
    State(auth): State<Arc<Auth>>,
    Extension(Identity(user)): Extension<Identity>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let review = body(&headers, &bytes)?;
    let a = spec_attributes("SelfSubjectAccessReview", review.get("spec").unwrap_or(&Value::Null))?;
    Ok(answer(&auth, review, "SelfSubjectAccessReview", &user, &a))
}

/// The user a SubjectAccessReview asks about: exactly as given, groups and
/// all (no `system:authenticated` added, as upstream).
fn spec_user(kind: &str, spec: &Value) -> Result<UserInfo, ApiError> {
    let strings = |p: &str| -> Vec<String> {
        spec.pointer(p)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect()
    };
    let user = UserInfo {
        name: s(spec, "/user").into(),
        uid: s(spec, "/uid").into(),
        groups: strings("/groups"),
        extra: spec
            .get("extra")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let vals = v.as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from);
                        (k.clone(), vals.collect())
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    if user.name.is_empty() && user.groups.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "{kind}.authorization.k8s.io \"\" is invalid: spec.user: Invalid value: \"\": at least one of user or group must be specified"
        )));
    }
    Ok(user)
}

pub async fn subject_access(
    State(auth): State<Arc<Auth>>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let review = body(&headers, &bytes)?;
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let user = spec_user("SubjectAccessReview", &spec)?;
    let a = spec_attributes("SubjectAccessReview", &spec)?;
    Ok(answer(&auth, review, "SubjectAccessReview", &user, &a))
}

/// A SubjectAccessReview within one namespace (what `admin` may ask).
pub async fn local_subject_access(
    State(auth): State<Arc<Auth>>,
    Path(namespace): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let mut review = body(&headers, &bytes)?;
    let kind = "LocalSubjectAccessReview";
    let spec = review.get("spec").cloned().unwrap_or(Value::Null);
    let user = spec_user(kind, &spec)?;
    let mut a = spec_attributes(kind, &spec)?;
    if !a.resource_request {
        return Err(ApiError::unprocessable(format!(
            "{kind}.authorization.k8s.io \"\" is invalid: spec.nonResourceAttributes: Invalid value: \"\": disallowed on this kind of request"
        )));
    }
    if a.namespace.is_empty() {
        a.namespace = namespace.clone();
    } else if a.namespace != namespace {
        return Err(ApiError::unprocessable(format!(
            "{kind}.authorization.k8s.io \"\" is invalid: spec.resourceAttributes.namespace: Invalid value: {:?}: must match metadata.namespace",
            a.namespace
        )));
    }
    review["metadata"]["namespace"] = json!(namespace);
    Ok(answer(&auth, review, kind, &user, &a))
}

/// `kubectl auth can-i --list`: every rule the user has in a namespace.
pub async fn self_subject_rules(
    State(auth): State<Arc<Auth>>,
    Extension(Identity(user)): Extension<Identity>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let mut review = body(&headers, &bytes)?;
    let namespace = s(&review, "/spec/namespace").to_string();
    let (rules, errors) = match auth.mode {
        // AlwaysAllow's rules: everything (upstream's alwaysAllowAuthorizer says so too).
        Mode::AlwaysAllow => {
            (vec![PolicyRule::resources(&["*"], &["*"], &["*"]), PolicyRule::urls(&["*"], &["*"])], Vec::new())
        }
        Mode::Rbac => auth.policy.current().rules_for(&user, &namespace),
    };
    let resource_rules: Vec<Value> =
        rules.iter().filter(|r| r.non_resource_urls.is_empty()).map(PolicyRule::to_json).collect();
    let non_resource_rules: Vec<Value> = rules
        .iter()
        .filter(|r| !r.non_resource_urls.is_empty())
        .map(|r| json!({ "verbs": r.verbs, "nonResourceURLs": r.non_resource_urls }))
        .collect();
    let mut status = json!({ "resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": !errors.is_empty() });
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    review["status"] = status;
    review["apiVersion"] = json!(AUTHORIZATION);
    review["kind"] = json!("SelfSubjectRulesReview");
    Ok(json_response(StatusCode::CREATED, &review))
}

/// `kubectl auth whoami`.
pub async fn self_subject(Extension(Identity(user)): Extension<Identity>) -> Response {
    json_response(
        StatusCode::CREATED,
        &json!({
            "kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
            "metadata": { "creationTimestamp": null },
            "status": { "userInfo": user.to_json() },
        }),
    )
}

/// The review routes, with their state: merged into the app.
pub fn routes(auth: Arc<Auth>) -> axum::Router {
    use axum::routing::post;
    axum::Router::new()
        .route("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", post(self_subject_access))
        .route("/apis/authorization.k8s.io/v1/subjectaccessreviews", post(subject_access))
        .route(
            "/apis/authorization.k8s.io/v1/namespaces/{namespace}/localsubjectaccessreviews",
            post(local_subject_access),
        )
        .route("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", post(self_subject_rules))
        .route("/apis/authentication.k8s.io/v1/selfsubjectreviews", post(self_subject))
        .with_state(auth)
}
