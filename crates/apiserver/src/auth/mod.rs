//! Who a request comes from and whether they may make it, in upstream's
//! order: authentication (a client certificate; a ServiceAccount's signed token, checked by
//! `serviceaccount_token`; a bearer token from `--token-auth-file`; or
//! anonymous), impersonation (`Impersonate-*` headers, each checked with
//! the `impersonate` verb), authorization (`--authorization-mode`:
//! `AlwaysAllow`, or `RBAC` on the [`cache`]d policy), then with RBAC
//! upstream's [`node_restriction`] admission on each node agent's writes.
//!
//! - [`x509`]: client certificates (CN the user, O the groups), verified
//!   during the TLS handshake; the first authenticator, as upstream's.
//! - [`tokens`]: the token file and the `Authorization: Bearer` header.
//! - [`attributes`]: a request's verb, resource, name and namespace as
//!   upstream derives them; the 403's wording.
//! - [`cache`]: the RBAC objects in memory, fed by the watch caches.
//! - [`bootstrap_policy`]: the default roles and bindings.
//! - [`escalation`]: no granting, through a Role or binding, of rights one
//!   does not hold.
//! - [`reviews`]: the access reviews and SelfSubjectReview (`kubectl auth`).
//! - [`node_restriction`]: a node agent writes only its own Node, Lease,
//!   pods and pods' tokens (run by the registry, which has the objects).

pub mod attributes;
pub mod bootstrap_policy;
pub mod cache;
pub mod escalation;
pub mod node_restriction;
pub mod reviews;
pub mod tokens;
pub mod x509;

use crate::error::ApiError;
use crate::registry::Registry;
use crate::request::{percent_decode, Query};
use crate::serviceaccount_token::ServiceAccountTokens;
use api::rbac::{Attributes, Decision};
use api::user::{service_account_groups, service_account_of, UserInfo, ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `--authorization-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    AlwaysAllow,
    Rbac,
}

impl Mode {
    /// Upstream's comma-separated list: RBAC when it is named (here the
    /// only authorizer that can say no), else AlwaysAllow.
    pub fn parse(flag: &str) -> Result<Self, String> {
        let mut mode = Mode::AlwaysAllow;
        for m in flag.split(',').map(str::trim) {
            match m {
                "RBAC" => mode = Mode::Rbac,
                "AlwaysAllow" | "Node" => {}
                other => return Err(format!("authorization mode {other:?} is not supported (AlwaysAllow, RBAC)")),
            }
        }
        Ok(mode)
    }
}

/// The user a request is served as (after impersonation), for handlers.
#[derive(Debug, Clone)]
pub struct Identity(pub UserInfo);

pub struct Auth {
    /// None without `--token-auth-file`: then no authenticator reads
    /// bearer tokens, and a request that sends one is anonymous, as
    /// upstream's union of authenticators has it.
    pub tokens: Option<tokens::TokenFile>,
    /// ServiceAccount tokens (JWTs this issuer signed), checked against
    /// the ServiceAccounts and pods that exist now.
    pub service_accounts: Option<(Arc<ServiceAccountTokens>, Registry)>,
    pub anonymous: bool,
    pub mode: Mode,
    pub policy: Arc<cache::PolicyCache>,
    /// The NodeRestriction admission plugin runs (with RBAC, unless
    /// `--disable-admission-plugins=NodeRestriction`).
    pub node_restriction: bool,
}

impl Auth {
    /// The node agent `user` is, when NodeRestriction judges its writes.
    pub fn restricted_node(&self, user: &UserInfo) -> Option<Arc<str>> {
        let on = self.node_restriction && self.mode == Mode::Rbac;
        on.then(|| node_restriction::node_of(user)).flatten().map(Arc::from)
    }

    /// The user the credentials name; 401 for a token no one has, or for
    /// no credentials when anonymous requests are off.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
        let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(tokens::bearer);
        match (token, &self.tokens) {
            (Some(token), Some(file)) => {
                file.user(token).map(|u| u.clone().authenticated()).ok_or_else(ApiError::unauthorized)
            }
            _ if self.anonymous => Ok(UserInfo::anonymous()),
            _ => Err(ApiError::unauthorized()),
        }
    }

    pub fn authorize(&self, user: &UserInfo, a: &Attributes) -> Decision {
        match self.mode {
            Mode::AlwaysAllow => Decision { allowed: true, reason: String::new() },
            Mode::Rbac => self.policy.current().authorize(user, a),
        }
    }

    /// The user `actor` asks to act as, each part allowed by the
    /// `impersonate` verb; `None` without `Impersonate-User`.
    pub fn impersonate(&self, actor: &UserInfo, headers: &HeaderMap) -> Result<Option<UserInfo>, ApiError> {
        let text = |v: &axum::http::HeaderValue| v.to_str().unwrap_or("").to_string();
        let name = headers.get("impersonate-user").map(text);
        let groups: Vec<String> = headers.get_all("impersonate-group").iter().map(text).collect();
        let uid = headers.get("impersonate-uid").map(text);
        let extras: Vec<(String, String)> = headers
            .iter()
            .filter_map(|(k, v)| Some((percent_decode(k.as_str().strip_prefix("impersonate-extra-")?), text(v))))
            .collect();
        let Some(name) = name else {
            if groups.is_empty() && uid.is_none() && extras.is_empty() {
                return Ok(None);
            }
            return Err(ApiError::bad_request(
                "requested impersonation of groups, a uid or extras without impersonating a user",
            ));
        };
        let mut checks = Vec::new();
        let mut user = UserInfo { name: name.clone(), groups: groups.clone(), ..UserInfo::default() };
        match service_account_of(&name) {
            Some((ns, sa)) => {
                checks.push(Attributes::resource("impersonate", "", "serviceaccounts", ns).with_name(sa));
                if groups.is_empty() {
                    user.groups = service_account_groups(ns);
                }
            }
            None => checks.push(Attributes::resource("impersonate", "", "users", "").with_name(&name)),
        }
        for g in &groups {
            checks.push(Attributes::resource("impersonate", "", "groups", "").with_name(g));
        }
        if let Some(uid) = uid {
            checks.push(Attributes::resource("impersonate", "authentication.k8s.io", "uids", "").with_name(&uid));
            user.uid = uid;
        }
        for (key, value) in extras {
            checks.push(
                Attributes::resource("impersonate", "authentication.k8s.io", "userextras", "")
                    .with_subresource(&key)
                    .with_name(&value),
            );
            user.extra.entry(key).or_default().push(value);
        }
        for a in &checks {
            let decision = self.authorize(actor, a);
            if !decision.allowed {
                return Err(attributes::forbidden(&actor.name, a, &decision.reason));
            }
        }
        let (always, unless) =
            if name == ANONYMOUS { (UNAUTHENTICATED, UNAUTHENTICATED) } else { (AUTHENTICATED, UNAUTHENTICATED) };
        if !user.in_group(always) && !user.in_group(unless) {
            user.groups.push(always.into());
        }
        Ok(Some(user))
    }

    /// The ServiceAccount a bearer token names, if it is a token this
    /// apiserver's issuer signed (`None`: not one, the other authenticators
    /// decide); 401 if it no longer holds (expired, forged, its
    /// ServiceAccount or bound pod deleted).
    pub async fn service_account(&self, headers: &HeaderMap) -> Option<Result<UserInfo, ApiError>> {
        let (issuer, registry) = self.service_accounts.as_ref()?;
        let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(tokens::bearer)?;
        Some(issuer.authenticate(registry, token).await?.map_err(|why| {
            tracing::debug!("a ServiceAccount token was refused: {why}");
            ApiError::unauthorized()
        }))
    }

    /// Authenticates, impersonates and authorizes one request.
    pub fn admit(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<UserInfo, ApiError> {
        let actor = self.authenticate(headers)?;
        self.admit_as(actor, method, path, query, headers)
    }

    /// [`Auth::admit`] for an actor already authenticated.
    pub fn admit_as(
        &self,
        actor: UserInfo,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<UserInfo, ApiError> {
        let user = self.impersonate(&actor, headers)?.unwrap_or(actor);
        let a = attributes::attributes(method, path, &Query::parse(query));
        let decision = self.authorize(&user, &a);
        if !decision.allowed {
            return Err(attributes::forbidden(&user.name, &a, &decision.reason));
        }
        Ok(user)
    }
}

/// The middleware in front of every API route.
pub async fn filter(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let (method, path, query) = (req.method().as_str(), req.uri().path(), req.uri().query());
    let certificate = req.extensions().get::<x509::ClientCertificate>().map(|c| c.0.clone());
    let admitted = match certificate {
        Some(actor) => auth.admit_as(actor, method, path, query, req.headers()),
        None => match auth.service_account(req.headers()).await {
            Some(Ok(actor)) => auth.admit_as(actor, method, path, query, req.headers()),
            Some(Err(e)) => Err(e),
            None => auth.admit(method, path, query, req.headers()),
        },
    };
    match admitted {
        Ok(user) => {
            req.extensions_mut().insert(Identity(user));
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// What the health routes (`/livez`, `/readyz`, `/healthz`) are judged
/// by. They answer from the first second, before etcd (and so before the
/// RBAC policy) is there; from then on they pass [`filter`] as every other
/// route does, so with `--anonymous-auth=false` a request without
/// credentials gets 401, and with it anonymous users get what
/// `system:public-info-viewer` allows, as upstream.
#[derive(Clone)]
pub struct HealthGate {
    pub anonymous: bool,
    pub auth: Arc<std::sync::OnceLock<Arc<Auth>>>,
}

pub async fn health_filter(State(gate): State<HealthGate>, req: Request, next: Next) -> Response {
    match gate.auth.get() {
        Some(auth) => filter(State(auth.clone()), req, next).await,
        // Starting: no credentials can be checked yet, but none at all is
        // already known to be refused.
        None if !gate.anonymous && !req.headers().contains_key(header::AUTHORIZATION) => {
            ApiError::unauthorized().into_response()
        }
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn auth(mode: Mode, anonymous: bool) -> Auth {
        let tokens = tokens::TokenFile::parse("admin-t,admin,1,system:masters\nalice-t,alice,2\n").unwrap();
        let policy = Arc::new(cache::PolicyCache::default());
        Auth { tokens: Some(tokens), service_accounts: None, anonymous, mode, policy, node_restriction: true }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn authentication() {
        let a = auth(Mode::AlwaysAllow, true);
        assert_eq!(a.authenticate(&headers(&[])).unwrap(), UserInfo::anonymous());
        let alice = a.authenticate(&headers(&[("authorization", "Bearer alice-t")])).unwrap();
        assert_eq!((alice.name.as_str(), alice.groups.as_slice()), ("alice", &[AUTHENTICATED.to_string()][..]));
        let bad = a.authenticate(&headers(&[("authorization", "Bearer nope")])).unwrap_err();
        assert_eq!(
            bad.status(),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
        );
        assert_eq!(auth(Mode::AlwaysAllow, false).authenticate(&headers(&[])).unwrap_err().code.as_u16(), 401);
        // Without a token file nothing reads tokens: whoever sends one is anonymous.
        let no_file = Auth { tokens: None, ..auth(Mode::AlwaysAllow, true) };
        assert_eq!(no_file.authenticate(&headers(&[("authorization", "Bearer any")])).unwrap(), UserInfo::anonymous());
        assert_eq!(Mode::parse("Node,RBAC"), Ok(Mode::Rbac));
        assert!(Mode::parse("ABAC").is_err());
    }

    /// A whole request's admission (token lookup, attributes from the path,
    /// RBAC among ~1,000 bindings): the figure is printed
    /// (`cargo test -p apiserver --lib auth::tests::admission -- --nocapture`).
    #[test]
    fn admission_cost_among_a_thousand_bindings() {
        let a = auth(Mode::Rbac, true);
        let mut role_bindings = Vec::new();
        for i in 0..1000 {
            let user = if i == 500 { "alice".to_string() } else { format!("user-{i}") };
            role_bindings.push(json!({"metadata": {"namespace": format!("ns-{}", i % 100), "name": format!("rb-{i}")},
                "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "name": user}]}));
        }
        let roles = bootstrap_policy::cluster_roles();
        a.policy.set(api::rbac::Policy::new(&[], &roles, &role_bindings, &bootstrap_policy::cluster_role_bindings()));
        let h = headers(&[("authorization", "Bearer alice-t")]);
        let path = "/apis/apps/v1/namespaces/ns-0/deployments";
        assert!(a.admit("GET", path, Some("limit=500"), &h).is_ok());
        assert_eq!(a.admit("POST", path, None, &h).unwrap_err().code.as_u16(), 403);
        let n = 20_000u32;
        let started = std::time::Instant::now();
        for _ in 0..n {
            let _ = std::hint::black_box(a.admit("GET", path, Some("limit=500"), &h));
        }
        let per = started.elapsed() / n;
        println!("admission: {} ns per request (authn + attributes + RBAC, 1,000+ bindings)", per.as_nanos());
        assert!(per < std::time::Duration::from_millis(1), "{per:?}");
    }

    #[test]
    fn impersonation_needs_the_verb() {
        let mut a = auth(Mode::Rbac, true);
        a.policy = Arc::new(cache::PolicyCache::default());
        a.policy.set(api::rbac::Policy::new(
            &[],
            &bootstrap_policy::cluster_roles(),
            &[],
            &bootstrap_policy::cluster_role_bindings(),
        ));
        let admin = a.authenticate(&headers(&[("authorization", "Bearer admin-t")])).unwrap();
        let alice = a.authenticate(&headers(&[("authorization", "Bearer alice-t")])).unwrap();
        let as_bob = headers(&[("impersonate-user", "bob"), ("impersonate-group", "devs")]);
        let bob = a.impersonate(&admin, &as_bob).unwrap().unwrap();
        assert_eq!((bob.name.as_str(), bob.groups.clone()), ("bob", vec!["devs".to_string(), AUTHENTICATED.into()]));
        let sa =
            a.impersonate(&admin, &headers(&[("impersonate-user", "system:serviceaccount:dev:x")])).unwrap().unwrap();
        assert_eq!(sa.groups, ["system:serviceaccounts", "system:serviceaccounts:dev", AUTHENTICATED]);
        let refused = a.impersonate(&alice, &as_bob).unwrap_err();
        assert_eq!(
            refused.message,
            r#"users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope"#
        );
        assert_eq!(a.impersonate(&admin, &headers(&[("impersonate-group", "x")])).unwrap_err().code.as_u16(), 400);
        assert_eq!(a.impersonate(&alice, &headers(&[])).unwrap(), None);
    }
}
