//! ServiceAccount tokens from the TokenRequest API (`serviceaccounts/<name>/token`),
//! against a real etcd: asked for by the kube crate and over raw HTTP, and
//! checked *without us*, with the keys the OIDC discovery documents publish,
//! as any relying party would. Upstream's defaults (one hour, the issuer as
//! audience), its refusals (under ten minutes, a missing ServiceAccount, a
//! bound object whose uid is not the one on record) and its claims.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use e2e::{http, kubectl_ok, Apiserver, Etcd, Kubeconfig, ScratchDir};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::{json, Value};
use std::path::Path;

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

fn call(api: &Apiserver, method: &str, path: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() { String::new() } else { body.to_string() };
    let (code, text) = http(method, &api.url, path, (!body.is_empty()).then_some("application/json"), &body);
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// The token's claims, checked against the published JWKS alone.
fn verified(api: &Apiserver, token: &str, audience: &str) -> Value {
    let (code, config) = call(api, "GET", "/.well-known/openid-configuration", Value::Null);
    assert_eq!(code, 200);
    assert_eq!(config["issuer"], ISSUER);
    assert_eq!(config["jwks_uri"], format!("{ISSUER}/openid/v1/jwks"));
    let (_, jwks) = call(api, "GET", "/openid/v1/jwks", Value::Null);
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("the token's key is published");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    jsonwebtoken::decode::<Value>(token, &key, &validation).expect("a valid signature").claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_requests_give_tokens_anyone_can_check() {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let client = kube::Client::try_from(kube::Config::new(api.url.parse().unwrap())).unwrap();
    let sas: Api<ServiceAccount> = Api::default_namespaced(client);
    let sa = sas
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata":{"name":"builder"}})).unwrap())
        .await
        .unwrap();
    let sa_uid = sa.metadata.uid.unwrap();

    // The kube crate's call: upstream's defaults filled in.
    let request: TokenRequest = serde_json::from_value(json!({"spec":{"audiences":[]}})).unwrap();
    let issued = sas.create_token_request("builder", &PostParams::default(), &request).await.unwrap();
    let spec = issued.spec;
    assert_eq!((spec.audiences, spec.expiration_seconds), (vec![ISSUER.to_string()], Some(3600)));
    let status = issued.status.unwrap();
    let claims = verified(&api, &status.token, ISSUER);
    assert_eq!(claims["sub"], "system:serviceaccount:default:builder");
    assert_eq!(claims["kubernetes.io"]["serviceaccount"], json!({"name":"builder","uid":sa_uid}));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);
    assert_eq!(claims["exp"].as_i64().unwrap(), status.expiration_timestamp.0.as_second());

    // Bound to a pod: the token names it, with its uid.
    let pods = "/api/v1/namespaces/default/pods";
    let (code, pod) = call(
        &api,
        "POST",
        pods,
        json!({"metadata":{"name":"web-0"},"spec":{"serviceAccountName":"builder","containers":[{"name":"c","image":"busybox"}]}}),
    );
    assert_eq!(code, 201, "{pod}");
    let token_path = "/api/v1/namespaces/default/serviceaccounts/builder/token";
    let bound = json!({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest",
        "spec":{"audiences":["vault"],"expirationSeconds":600,"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web-0"}}});
    let (code, issued) = call(&api, "POST", token_path, bound);
    assert_eq!(code, 201, "{issued}");
    assert_eq!(issued["spec"]["boundObjectRef"]["uid"], pod["metadata"]["uid"]);
    let claims = verified(&api, issued["status"]["token"].as_str().unwrap(), "vault");
    assert_eq!(claims["kubernetes.io"]["pod"], json!({"name":"web-0","uid":pod["metadata"]["uid"]}));
    assert_eq!(claims["aud"], json!(["vault"]));

    // kubectl create token (a protobuf TokenRequest), bound and with a duration.
    let kc = Kubeconfig::new(&api.url);
    let printed = kubectl_ok(
        &kc,
        &["create", "token", "builder", "--duration=20m", "--bound-object-kind=Pod", "--bound-object-name=web-0"],
    );
    let claims = verified(&api, printed.trim(), ISSUER);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 1200);
    assert_eq!(claims["kubernetes.io"]["pod"]["name"], "web-0");

    // Refusals, in upstream's words.
    let (code, status) = call(&api, "POST", token_path, json!({"spec":{"expirationSeconds":10}}));
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")), "{status}");
    assert_eq!(
        status["message"],
        "TokenRequest.authentication.k8s.io \"builder\" is invalid: spec.expirationSeconds: Invalid value: 10: may not specify a duration less than 10 minutes"
    );
    let (code, status) = call(&api, "POST", "/api/v1/namespaces/default/serviceaccounts/nope/token", json!({}));
    assert_eq!((code, status["message"].as_str()), (404, Some("serviceaccounts \"nope\" not found")));
    let stale = json!({"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web-0","uid":"not-its-uid"}}});
    let (code, status) = call(&api, "POST", token_path, stale);
    assert_eq!(code, 409, "{status}");
    assert!(status["message"].as_str().unwrap().ends_with("The object might have been deleted and then recreated"));
    let (code, _) = call(&api, "POST", token_path, json!({"spec":{"boundObjectRef":{"kind":"Pod","name":"gone"}}}));
    assert_eq!(code, 404);

    // Discovery says the subresource is there, as kube-apiserver lists it.
    let (_, v1) = call(&api, "GET", "/api/v1", Value::Null);
    let token = v1["resources"].as_array().unwrap().iter().find(|r| r["name"] == "serviceaccounts/token").unwrap();
    assert_eq!(
        (token["group"].as_str(), token["kind"].as_str(), token["verbs"].clone()),
        (Some("authentication.k8s.io"), Some("TokenRequest"), json!(["create"]))
    );
}

/// Two apiservers given one signing key sign tokens each other's JWKS
/// verifies (the HA shape), and the JWKS publishes extra verifying keys.
#[test]
fn apiservers_sharing_a_key_file_publish_the_same_key() {
    let dir = ScratchDir::new("sa-key");
    let key = dir.0.join("sa.key");
    let generated = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out"])
        .arg(&key)
        .status();
    if !generated.is_ok_and(|s| s.success()) {
        panic!("openssl is needed to make a test key (apt-get install openssl)");
    }
    let etcd = Etcd::start();
    let flag = ["--service-account-signing-key-file", key.to_str().unwrap()];
    let a = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &flag);
    let b = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &flag);
    let (_, jwks_a) = call(&a, "GET", "/openid/v1/jwks", Value::Null);
    let (_, jwks_b) = call(&b, "GET", "/openid/v1/jwks", Value::Null);
    assert_eq!(jwks_a, jwks_b);
    assert_eq!(jwks_a["keys"].as_array().unwrap().len(), 1);
    call(&a, "POST", "/api/v1/namespaces/default/serviceaccounts", json!({"metadata":{"name":"shared"}}));
    let (code, issued) = call(&a, "POST", "/api/v1/namespaces/default/serviceaccounts/shared/token", json!({}));
    assert_eq!(code, 201, "{issued}");
    let token = issued["status"]["token"].as_str().unwrap();
    assert_eq!(verified(&b, token, ISSUER)["sub"], "system:serviceaccount:default:shared");
    // The header names the key; the payload is plain base64url JSON.
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(payload["iss"], ISSUER);
}

/// `whoami` as a token's bearer: the SelfSubjectReview's user, or the 401.
fn whoami(api: &Apiserver, token: &str) -> (u16, Value) {
    let addr = api.url.trim_start_matches("http://");
    let headers = [
        ("Authorization".to_string(), format!("Bearer {token}")),
        ("Content-Type".to_string(), "application/json".to_string()),
    ];
    let body = json!({"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}).to_string();
    let path = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
    let answer =
        support::send(addr, "POST", path, &headers, body.as_bytes(), std::time::Duration::from_secs(10), false)
            .unwrap();
    (answer.status, serde_json::from_slice(&answer.body).unwrap_or(Value::Null))
}

/// A ServiceAccount token authenticates its ServiceAccount, with upstream's
/// groups and extras, for as long as the ServiceAccount and the pod it is
/// bound to exist; a forged one never does. Under RBAC, as the SA's
/// role allows.
#[test]
fn a_service_account_token_authenticates_while_what_it_names_exists() {
    let etcd = Etcd::start();
    // An admin (system:masters) from a token file makes the objects.
    let admin = ScratchDir::new("sa-admin");
    let token_file = admin.0.join("tokens.csv");
    std::fs::write(&token_file, "admin-token,admin,1,system:masters\n").unwrap();
    let flags = ["--authorization-mode", "RBAC", "--token-auth-file", token_file.to_str().unwrap()];
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &flags);
    let as_admin = |method: &str, path: &str, body: Value| -> (u16, Value) {
        let addr = api.url.trim_start_matches("http://");
        let headers = [
            ("Authorization".to_string(), "Bearer admin-token".to_string()),
            ("Content-Type".to_string(), "application/json".to_string()),
        ];
        let body = if body.is_null() { String::new() } else { body.to_string() };
        let a = support::send(addr, method, path, &headers, body.as_bytes(), std::time::Duration::from_secs(10), false)
            .unwrap();
        (a.status, serde_json::from_slice(&a.body).unwrap_or(Value::Null))
    };
    assert_eq!(
        as_admin("POST", "/api/v1/namespaces/default/serviceaccounts", json!({"metadata":{"name":"builder"}})).0,
        201
    );
    let pod = json!({"metadata":{"name":"web-0"},"spec":{"serviceAccountName":"builder","containers":[{"name":"c","image":"busybox"}]}});
    assert_eq!(as_admin("POST", "/api/v1/namespaces/default/pods", pod).0, 201);
    let token_path = "/api/v1/namespaces/default/serviceaccounts/builder/token";
    let (code, plain) = as_admin("POST", token_path, json!({}));
    assert_eq!(code, 201, "{plain}");
    let bound = json!({"spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"web-0"}}});
    let (_, bound) = as_admin("POST", token_path, bound);
    let (plain, bound) = (plain["status"]["token"].as_str().unwrap(), bound["status"]["token"].as_str().unwrap());

    let (code, review) = whoami(&api, bound);
    assert_eq!(code, 201, "{review}");
    let user = &review["status"]["userInfo"];
    assert_eq!(user["username"], "system:serviceaccount:default:builder");
    assert_eq!(
        user["groups"],
        json!(["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"])
    );
    assert_eq!(user["extra"]["authentication.kubernetes.io/pod-name"], json!(["web-0"]));

    // RBAC judges it as that ServiceAccount: no role yet, so a 403 naming it.
    let addr = api.url.trim_start_matches("http://");
    let headers = [("Authorization".to_string(), format!("Bearer {plain}"))];
    let a = support::send(
        addr,
        "GET",
        "/api/v1/namespaces/default/pods",
        &headers,
        b"",
        std::time::Duration::from_secs(10),
        false,
    )
    .unwrap();
    let status: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(a.status, 403, "{status}");
    assert_eq!(
        status["message"],
        "pods is forbidden: User \"system:serviceaccount:default:builder\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
    );

    // Forged: the signature breaks.
    let mut forged: Vec<&str> = plain.split('.').collect();
    let other = URL_SAFE_NO_PAD.encode(
        json!({"iss":ISSUER,"sub":"system:serviceaccount:kube-system:admin","aud":[ISSUER],"exp":4102444800_i64})
            .to_string(),
    );
    forged[1] = &other;
    assert_eq!(whoami(&api, &forged.join(".")).0, 401);
    // The bound pod goes: its token dies; the unbound one lives on.
    assert_eq!(as_admin("DELETE", "/api/v1/namespaces/default/pods/web-0?gracePeriodSeconds=0", Value::Null).0, 200);
    let (code, status) = whoami(&api, bound);
    assert_eq!((code, status["message"].as_str()), (401, Some("Unauthorized")), "{status}");
    assert_eq!(whoami(&api, plain).0, 201);
    // The ServiceAccount goes: every token of it dies.
    assert_eq!(as_admin("DELETE", "/api/v1/namespaces/default/serviceaccounts/builder", Value::Null).0, 200);
    assert_eq!(whoami(&api, plain).0, 401);
}
