//! ServiceAccount tokens: the key that signs them (ES256), the
//! `serviceaccounts/<name>/token` subresource that issues them (the
//! TokenRequest API, `kubectl create token`), checking one a client
//! presents, and the OIDC discovery documents (`/.well-known/openid-configuration`,
//! `/openid/v1/jwks`) with which anyone can check them without us.
//!
//! Key: `--service-account-signing-key-file` (a P-256 key, PKCS#8 PEM, as
//! `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes);
//! `--service-account-key-file` adds public keys that verify (SPKI PEM),
//! for rotation and for the other apiservers' keys. Without a signing key
//! one is made in memory at start, with a warning: its tokens die with the
//! process and no other apiserver accepts them. The claims themselves are
//! `api::service_account_token`'s.

use crate::error::ApiError;
use crate::registry::Registry;
use api::resources::{PODS, SECRETS, SERVICE_ACCOUNTS};
use api::service_account_token::{claims, token_spec, user_of, Claims, Ref};
use api::user::UserInfo;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::path::Path;

/// The DER prefix of a P-256 public key's SubjectPublicKeyInfo; the 65
/// bytes of the uncompressed point follow it.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// One public key: its id (as upstream derives it: the SHA-256 of its SPKI
/// DER, base64url) and its point's coordinates (base64url).
#[derive(Clone)]
struct PublicKey {
    kid: String,
    x: String,
    y: String,
}

impl PublicKey {
    fn from_point(point: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(point.len() == 65 && point[0] == 4, "not an uncompressed P-256 point");
        let spki = [&P256_SPKI_PREFIX[..], point].concat();
        let kid = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &spki));
        Ok(Self { kid, x: URL_SAFE_NO_PAD.encode(&point[1..33]), y: URL_SAFE_NO_PAD.encode(&point[33..]) })
    }

    fn from_spki(der: &[u8]) -> anyhow::Result<Self> {
        let point = der.strip_prefix(&P256_SPKI_PREFIX[..]).ok_or_else(|| anyhow::anyhow!("not a P-256 public key"))?;
        Self::from_point(point)
    }

    fn decoding_key(&self) -> anyhow::Result<DecodingKey> {
        Ok(DecodingKey::from_ec_components(&self.x, &self.y)?)
    }
}

/// The issuer: signs new tokens, checks presented ones.
pub struct ServiceAccountTokens {
    pub issuer: String,
    pub audiences: Vec<String>,
    signing: EncodingKey,
    signing_kid: String,
    verifying: Vec<PublicKey>,
}

/// The DER inside the first PEM block labelled `label`.
fn pem_block(text: &str, label: &str) -> anyhow::Result<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body)
        .ok_or_else(|| anyhow::anyhow!("no {label} PEM block"))?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    Ok(STANDARD.decode(b64)?)
}

impl ServiceAccountTokens {
    /// From the flags: the signing key's file (or a new key in memory), and
    /// more public keys that verify.
    pub fn new(
        issuer: &str,
        audiences: &[String],
        signing_key_file: Option<&Path>,
        key_files: &[std::path::PathBuf],
    ) -> anyhow::Result<Self> {
        let pkcs8 = match signing_key_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("--service-account-signing-key-file {}: {e}", path.display()))?;
                pem_block(&text, "PRIVATE KEY")
                    .map_err(|e| anyhow::anyhow!("--service-account-signing-key-file {}: {e}", path.display()))?
            }
            None => {
                tracing::warn!(
                    "no --service-account-signing-key-file: signing ServiceAccount tokens with a key made now, in memory; they will not outlive this process, and no other apiserver accepts them"
                );
                let rng = ring::rand::SystemRandom::new();
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| anyhow::anyhow!("could not make a P-256 key"))?
                    .as_ref()
                    .to_vec()
            }
        };
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .map_err(|e| anyhow::anyhow!("the ServiceAccount signing key is not a P-256 PKCS#8 key: {e}"))?;
        let own = PublicKey::from_point(pair.public_key().as_ref())?;
        let mut verifying = vec![own.clone()];
        for path in key_files {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("--service-account-key-file {}: {e}", path.display()))?;
            let key = pem_block(&text, "PUBLIC KEY")
                .and_then(|der| PublicKey::from_spki(&der))
                .map_err(|e| anyhow::anyhow!("--service-account-key-file {}: {e}", path.display()))?;
            if key.kid != own.kid {
                verifying.push(key);
            }
        }
        let audiences = if audiences.is_empty() { vec![issuer.to_string()] } else { audiences.to_vec() };
        Ok(Self {
            issuer: issuer.to_string(),
            audiences,
            signing: EncodingKey::from_ec_der(&pkcs8),
            signing_kid: own.kid,
            verifying,
        })
    }

    fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        let header = Header { kid: Some(self.signing_kid.clone()), ..Header::new(Algorithm::ES256) };
        jsonwebtoken::encode(&header, claims, &self.signing)
            .map_err(|e| ApiError::internal(format!("signing the token: {e}")))
    }

    /// The claims of `token` if it is one of ours: signed by a key we know,
    /// issued by us, for one of our audiences, within its lifetime. `None`
    /// for a token that is not a JWT of this issuer (another authenticator's).
    pub fn verify(&self, token: &str) -> Option<Result<Claims, String>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let unverified: Value = token
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())?;
        if unverified["iss"] != self.issuer.as_str() {
            return None;
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 60; // upstream's allowance for clock skew
        let keys = self.verifying.iter().filter(|k| header.kid.as_ref().is_none_or(|kid| *kid == k.kid));
        let mut last = "no key matches the token's key id".to_string();
        for key in keys {
            let Ok(decoding) = key.decoding_key() else { continue };
            match jsonwebtoken::decode::<Claims>(token, &decoding, &validation) {
                Ok(data) => return Some(Ok(data.claims)),
                Err(e) => last = e.to_string(),
            }
        }
        Some(Err(last))
    }

    /// The user a presented token names, checked against what exists now,
    /// as upstream's validator does: the ServiceAccount (same uid), and the
    /// object the token is bound to (same uid, not being deleted).
    pub async fn authenticate(&self, registry: &Registry, token: &str) -> Option<Result<UserInfo, String>> {
        let claims = match self.verify(token)? {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        Some(self.still_valid(registry, &claims).await.and_then(|()| user_of(&claims)))
    }

    async fn still_valid(&self, registry: &Registry, claims: &Claims) -> Result<(), String> {
        let k = &claims.kubernetes;
        let alive =
            |obj: &Value, uid: &str| obj["metadata"]["uid"] == uid && obj["metadata"]["deletionTimestamp"].is_null();
        let ns = Some(k.namespace.as_str());
        let sa = registry.get(&SERVICE_ACCOUNTS, ns, &k.serviceaccount.name).await.ok();
        if !sa.is_some_and(|sa| alive(&sa, &k.serviceaccount.uid)) {
            return Err(format!("serviceaccount {}/{} has been deleted", k.namespace, k.serviceaccount.name));
        }
        for (resource, bound) in [(&PODS, &k.pod), (&SECRETS, &k.secret)] {
            if let Some(b) = bound {
                let obj = registry.get(resource, ns, &b.name).await.ok();
                if !obj.is_some_and(|o| alive(&o, &b.uid)) {
                    return Err(format!("{} {}/{} has been deleted", resource.plural, k.namespace, b.name));
                }
            }
        }
        Ok(())
    }

    /// `POST .../serviceaccounts/<name>/token`: a TokenRequest answered
    /// with its `status.token` and `status.expirationTimestamp` (201).
    pub async fn token_request(
        &self,
        registry: &Registry,
        namespace: &str,
        name: &str,
        request: Value,
    ) -> Result<Value, ApiError> {
        let spec = token_spec(&request, &self.audiences).map_err(|errors| {
            ApiError::invalid_kind(
                "TokenRequest.authentication.k8s.io",
                "authentication.k8s.io",
                "TokenRequest",
                name,
                &errors,
            )
        })?;
        let sa = registry.get(&SERVICE_ACCOUNTS, Some(namespace), name).await?;
        let sa_uid = sa["metadata"]["uid"].as_str().unwrap_or_default();
        let bound = match &spec.bound {
            None => None,
            Some(b) => {
                let resource = match b.kind.as_str() {
                    "Pod" => &PODS,
                    "Secret" => &SECRETS,
                    _ => &api::resources::NODES,
                };
                let scope = resource.namespaced.then_some(namespace);
                let obj = registry.get(resource, scope, &b.name).await?;
                let uid = obj["metadata"]["uid"].as_str().unwrap_or_default().to_string();
                if !b.uid.is_empty() && b.uid != uid {
                    return Err(ApiError::conflict_with(
                        &SERVICE_ACCOUNTS,
                        name,
                        &format!("the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated", b.uid),
                    ));
                }
                Some(Ref { name: b.name.clone(), uid })
            }
        };
        let now = jiff::Timestamp::now();
        let c = claims(
            &self.issuer,
            (namespace, name, sa_uid),
            &spec,
            bound.clone(),
            now.as_second(),
            uuid::Uuid::new_v4().to_string(),
        );
        let token = self.sign(&c)?;
        let expires = jiff::Timestamp::from_second(c.exp).unwrap_or(jiff::Timestamp::MAX);
        let mut spec_out =
            json!({"audiences": spec.audiences, "expirationSeconds": spec.expiration_seconds, "boundObjectRef": null});
        if let (Some(b), Some(r)) = (&spec.bound, &bound) {
            spec_out["boundObjectRef"] = json!({"kind": b.kind, "apiVersion": "v1", "name": b.name, "uid": r.uid});
        }
        Ok(json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()},
            "spec": spec_out,
            "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()},
        }))
    }

    /// `/.well-known/openid-configuration`, as upstream serves it.
    pub fn openid_configuration(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/openid/v1/jwks", self.issuer.trim_end_matches('/')),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
        })
    }

    /// `/openid/v1/jwks`: every key that verifies.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .verifying
            .iter()
            .map(|k| json!({"use": "sig", "kty": "EC", "kid": k.kid, "crv": "P-256", "alg": "ES256", "x": k.x, "y": k.y}))
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::service_account_token::TokenSpec;

    fn tokens() -> ServiceAccountTokens {
        ServiceAccountTokens::new("https://kubernetes.default.svc.cluster.local", &[], None, &[]).unwrap()
    }

    fn signed(t: &ServiceAccountTokens, now: i64, audiences: Vec<String>) -> String {
        let spec = TokenSpec { audiences, expiration_seconds: 3600, bound: None };
        t.sign(&claims(&t.issuer, ("default", "builder", "u1"), &spec, None, now, "j".into())).unwrap()
    }

    #[test]
    fn a_token_verifies_with_its_issuer_and_nowhere_else() {
        let t = tokens();
        let now = jiff::Timestamp::now().as_second();
        let token = signed(&t, now, t.audiences.clone());
        let c = t.verify(&token).unwrap().unwrap();
        assert_eq!((c.sub.as_str(), c.aud.clone()), ("system:serviceaccount:default:builder", t.audiences.clone()));
        // Another issuer's key: the kid names no key of ours.
        let other = tokens();
        assert!(other.verify(&token).unwrap().is_err());
        // Expired, or for someone else's audience.
        assert!(t.verify(&signed(&t, now - 7200, t.audiences.clone())).unwrap().is_err());
        assert!(t.verify(&signed(&t, now, vec!["vault".into()])).unwrap().is_err());
        // Tampered: the signature no longer holds.
        let mut parts: Vec<String> = token.split('.').map(String::from).collect();
        let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        payload["sub"] = json!("system:serviceaccount:kube-system:admin");
        parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert!(t.verify(&parts.join(".")).unwrap().is_err());
        // Not a JWT of ours at all: another authenticator's business.
        assert!(t.verify("31ada4fd-adec-460c-809a-9e56ceb75269").is_none());
    }

    #[test]
    fn keys_from_files_and_the_jwks_that_publishes_them() {
        let dir = std::env::temp_dir().join(format!("sa-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pem =
            format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(pkcs8.as_ref()));
        std::fs::write(dir.join("sa.key"), pem).unwrap();
        let first = ServiceAccountTokens::new("https://issuer", &[], Some(&dir.join("sa.key")), &[]).unwrap();
        // The same key read twice signs tokens either accepts.
        let again = ServiceAccountTokens::new("https://issuer", &[], Some(&dir.join("sa.key")), &[]).unwrap();
        let now = jiff::Timestamp::now().as_second();
        assert!(again.verify(&signed(&first, now, vec!["https://issuer".into()])).unwrap().is_ok());
        // A second apiserver with its own key, told the first's public key.
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let spki = [&P256_SPKI_PREFIX[..], pair.public_key().as_ref()].concat();
        let pub_pem = format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", STANDARD.encode(spki));
        std::fs::write(dir.join("sa.pub"), pub_pem).unwrap();
        let second = ServiceAccountTokens::new("https://issuer", &[], None, &[dir.join("sa.pub")]).unwrap();
        assert!(second.verify(&signed(&first, now, vec!["https://issuer".into()])).unwrap().is_ok());
        let jwks = second.jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        assert_eq!(jwks["keys"][1]["kid"], first.signing_kid.as_str());
        assert_eq!(first.openid_configuration()["jwks_uri"], "https://issuer/openid/v1/jwks");
        let bad = ServiceAccountTokens::new("https://issuer", &[], Some(&dir.join("sa.pub")), &[]);
        assert!(bad.err().unwrap().to_string().contains("no PRIVATE KEY PEM block"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
