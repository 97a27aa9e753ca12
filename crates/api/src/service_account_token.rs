//! ServiceAccount tokens as data: a `TokenRequest`'s spec defaulted and
//! validated as upstream (`authentication/validation`), the claims of the
//! JWT the apiserver signs for it (`pkg/serviceaccount/claims.go`), and the
//! user a valid token names. Signing and checking signatures are the
//! apiserver's (`apiserver/src/serviceaccount_token.rs`); nothing here does IO.
//!
//! ```text
//! {"aud": ["https://kubernetes.default.svc.cluster.local"], "exp": .., "iat": .., "nbf": ..,
//!  "iss": "https://kubernetes.default.svc.cluster.local", "jti": "<uuid>",
//!  "sub": "system:serviceaccount:default:default",
//!  "kubernetes.io": {"namespace": "default",
//!                    "serviceaccount": {"name": "default", "uid": ".."},
//!                    "pod": {"name": "web-0", "uid": ".."}}}
//! ```

use crate::field_errors::FieldError;
use crate::user::{service_account_groups, service_account_username, UserInfo};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Upstream's default `expirationSeconds` (one hour).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// Shorter is refused (ten minutes)...
const MIN_EXPIRATION_SECONDS: i64 = 10 * 60;
/// ...and so is longer (2^32 seconds).
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;
/// The kinds a token can be bound to, as upstream (Node behind a feature
/// gate that 1.32 turns on).
const BINDABLE: [&str; 3] = ["Pod", "Secret", "Node"];

/// A TokenRequest's spec, defaulted.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSpec {
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
    pub bound: Option<BoundObject>,
}

/// `spec.boundObjectRef`: the token dies with this object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundObject {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
}

/// Reads a TokenRequest's spec, filling upstream's defaults (the apiserver's
/// audiences, one hour), or says what is wrong with it in upstream's words.
pub fn token_spec(request: &Value, api_audiences: &[String]) -> Result<TokenSpec, Vec<FieldError>> {
    let spec = &request["spec"];
    let audiences: Vec<String> = match spec.get("audiences").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.iter().filter_map(Value::as_str).map(String::from).collect(),
        _ => api_audiences.to_vec(),
    };
    let expiration_seconds =
        spec.get("expirationSeconds").and_then(Value::as_i64).unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let mut errors = Vec::new();
    let field = "spec.expirationSeconds";
    if expiration_seconds < MIN_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            field,
            expiration_seconds.to_string(),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration_seconds > MAX_EXPIRATION_SECONDS {
        errors.push(FieldError::invalid(
            field,
            expiration_seconds.to_string(),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    let bound = match spec.get("boundObjectRef").filter(|b| !b.is_null()) {
        None => None,
        Some(b) => match serde_json::from_value::<BoundObject>(b.clone()) {
            Ok(bound) if BINDABLE.contains(&bound.kind.as_str()) => Some(bound),
            Ok(bound) => {
                errors.push(FieldError::not_supported("spec.boundObjectRef.kind", &bound.kind, &BINDABLE));
                None
            }
            Err(_) => {
                errors.push(FieldError::required("spec.boundObjectRef.name", ""));
                None
            }
        },
    };
    if errors.is_empty() {
        Ok(TokenSpec { audiences, expiration_seconds, bound })
    } else {
        Err(errors)
    }
}

/// `kubernetes.io` in the claims: whose token it is, and what it is bound to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Private {
    pub namespace: String,
    pub serviceaccount: Ref,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Ref>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

/// A signed token's claims (the registered ones, then Kubernetes' own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: Private,
    pub nbf: i64,
    pub sub: String,
}

/// The claims for ServiceAccount `namespace/name` (`uid`), issued at `now`
/// (Unix seconds) by `issuer`, bound to `bound` (its uid resolved).
pub fn claims(
    issuer: &str,
    (namespace, name, uid): (&str, &str, &str),
    spec: &TokenSpec,
    bound: Option<Ref>,
    now: i64,
    jti: String,
) -> Claims {
    let kind = spec.bound.as_ref().map(|b| b.kind.as_str());
    Claims {
        aud: spec.audiences.clone(),
        exp: now + spec.expiration_seconds,
        iat: now,
        iss: issuer.to_string(),
        jti,
        kubernetes: Private {
            namespace: namespace.to_string(),
            serviceaccount: Ref { name: name.to_string(), uid: uid.to_string() },
            pod: bound.clone().filter(|_| kind == Some("Pod")),
            secret: bound.clone().filter(|_| kind == Some("Secret")),
            node: bound.filter(|_| kind == Some("Node")),
        },
        nbf: now,
        sub: service_account_username(namespace, name),
    }
}

/// The user of `claims`, as upstream's authenticator says it (the
/// ServiceAccount's name, uid and groups; the bound pod or node and the
/// token's id as extras), or why they name none (a `sub` that does not
/// agree with the private claims).
pub fn user_of(claims: &Claims) -> Result<UserInfo, String> {
    let k = &claims.kubernetes;
    let expected = service_account_username(&k.namespace, &k.serviceaccount.name);
    if claims.sub != expected {
        return Err(format!(
            "sub {:?} does not name serviceaccount {}/{}",
            claims.sub, k.namespace, k.serviceaccount.name
        ));
    }
    let mut user = UserInfo {
        name: expected,
        uid: k.serviceaccount.uid.clone(),
        groups: service_account_groups(&k.namespace),
        ..UserInfo::default()
    };
    let mut extra = |key: &str, value: &str| {
        user.extra.entry(format!("authentication.kubernetes.io/{key}")).or_default().push(value.to_string());
    };
    if let Some(pod) = &k.pod {
        extra("pod-name", &pod.name);
        extra("pod-uid", &pod.uid);
    }
    if let Some(node) = &k.node {
        extra("node-name", &node.name);
        extra("node-uid", &node.uid);
    }
    extra("credential-id", &format!("JTI={}", claims.jti));
    Ok(user.authenticated())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn aud() -> Vec<String> {
        vec!["https://kubernetes.default.svc.cluster.local".to_string()]
    }

    #[test]
    fn a_token_request_is_defaulted_and_validated_as_upstream() {
        let spec = token_spec(&json!({}), &aud()).unwrap();
        assert_eq!(spec, TokenSpec { audiences: aud(), expiration_seconds: 3600, bound: None });
        let spec = token_spec(&json!({"spec":{"audiences":["vault"],"expirationSeconds":600}}), &aud()).unwrap();
        assert_eq!((spec.audiences, spec.expiration_seconds), (vec!["vault".to_string()], 600));
        let bound = json!({"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web-0","uid":"u"}}});
        let want = BoundObject { kind: "Pod".into(), name: "web-0".into(), uid: "u".into() };
        assert_eq!(token_spec(&bound, &aud()).unwrap().bound, Some(want));

        let message = |request: Value| -> Vec<String> {
            token_spec(&request, &aud()).unwrap_err().iter().map(ToString::to_string).collect()
        };
        assert_eq!(
            message(json!({"spec":{"expirationSeconds":10}})),
            ["spec.expirationSeconds: Invalid value: 10: may not specify a duration less than 10 minutes"]
        );
        assert_eq!(
            message(json!({"spec":{"expirationSeconds":4294967297_i64}})),
            ["spec.expirationSeconds: Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds"]
        );
        assert_eq!(
            message(json!({"spec":{"boundObjectRef":{"kind":"Deployment","name":"x"}}})),
            [r#"spec.boundObjectRef.kind: Unsupported value: "Deployment": supported values: "Pod", "Secret", "Node""#]
        );
    }

    #[test]
    fn claims_name_the_service_account_and_what_the_token_is_bound_to() {
        let bound = json!({"spec":{"boundObjectRef":{"kind":"Pod","name":"web-0"}}});
        let spec = token_spec(&bound, &aud()).unwrap();
        let pod = Ref { name: "web-0".into(), uid: "pod-uid".into() };
        let c = claims(&aud()[0], ("default", "builder", "sa-uid"), &spec, Some(pod.clone()), 1_000, "j1".into());
        assert_eq!((c.iat, c.nbf, c.exp), (1_000, 1_000, 4_600));
        assert_eq!(c.sub, "system:serviceaccount:default:builder");
        assert_eq!((&c.kubernetes.pod, &c.kubernetes.secret), (&Some(pod), &None));
        let wire = serde_json::to_value(&c).unwrap();
        assert_eq!(wire["kubernetes.io"]["serviceaccount"], json!({"name":"builder","uid":"sa-uid"}));
        assert!(wire["kubernetes.io"].get("node").is_none(), "{wire}");

        let user = user_of(&c).unwrap();
        assert_eq!(user.name, "system:serviceaccount:default:builder");
        assert_eq!(user.groups, ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]);
        assert_eq!(user.extra["authentication.kubernetes.io/pod-name"], ["web-0"]);
        assert_eq!(user.extra["authentication.kubernetes.io/credential-id"], ["JTI=j1"]);
        let forged = Claims { sub: "system:serviceaccount:kube-system:admin".into(), ..c };
        assert!(user_of(&forged).is_err());
    }
}
