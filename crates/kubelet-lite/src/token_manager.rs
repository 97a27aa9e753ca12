//! The IO of a pod's projected volumes (the kubelet's token manager and
//! projected plugin): each `serviceAccountToken` source's token asked for
//! through TokenRequest, bound to the pod (so it dies with it), with the
//! source's audience and `expirationSeconds`; the volume written whole by
//! [`projected::atomic_write`]; its tokens asked for again when
//! [`projected::requires_refresh`] says so, and the volume swapped again.

use crate::projected::{self, Issued};
use api::well_known::DEFAULT_SERVICE_ACCOUNT;
use jiff::Timestamp;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{
    ConfigMap, Pod, ProjectedVolumeSource, Secret, ServiceAccount, ServiceAccountTokenProjection,
};
use kube::api::{Api, PostParams};
use kube::Client;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the agent keeps of one pod's projected volumes.
#[derive(Debug, Default)]
pub struct PodTokens {
    /// The tokens issued, by (volume, path).
    issued: BTreeMap<(String, String), Issued>,
    /// Whether every projected volume has been written once.
    written: bool,
    /// After a failure, when to try again.
    retry_at: Option<Instant>,
}

/// Writes the pod's projected volumes under `volumes` (its
/// `<root-dir>/pods/<uid>/volumes`) if they are not yet written or a token
/// is due for renewal; `max_age` is the kubelet's 24 h limit.
pub async fn sync(client: &Client, volumes: &Path, pod: &Pod, state: &mut PodTokens, max_age: Duration) {
    let projected: Vec<(&str, &ProjectedVolumeSource)> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| Some((v.name.as_str(), v.projected.as_ref()?)))
        .collect();
    if projected.is_empty() || state.retry_at.is_some_and(|t| Instant::now() < t) {
        return;
    }
    let now = Timestamp::now();
    if state.written && !state.issued.values().any(|i| projected::requires_refresh(i, now, max_age)) {
        return;
    }
    match write_all(client, volumes, pod, &projected, state, max_age).await {
        Ok(()) => (state.written, state.retry_at) = (true, None),
        Err(e) => {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            tracing::warn!(pod = name, "{e}");
            state.retry_at = Some(Instant::now() + Duration::from_secs(2));
        }
    }
}

async fn write_all(
    client: &Client,
    volumes: &Path,
    pod: &Pod,
    projected: &[(&str, &ProjectedVolumeSource)],
    state: &mut PodTokens,
    max_age: Duration,
) -> Result<(), String> {
    let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let now = Timestamp::now();
    for (name, src) in projected {
        let sources = src.sources.iter().flatten();
        let mut tokens = BTreeMap::new();
        for t in sources.clone().filter_map(|s| s.service_account_token.as_ref()) {
            let key = (name.to_string(), t.path.clone());
            let issued = match state.issued.get(&key) {
                Some(i) if !projected::requires_refresh(i, now, max_age) => i.clone(),
                _ => {
                    let fresh = request(client, pod, &ns, t).await.map_err(|e| {
                        format!("MountVolume.SetUp failed for volume \"{name}\" : failed to fetch token: {e}")
                    })?;
                    tracing::info!(pod = pod.metadata.name.as_deref().unwrap_or_default(), volume = name, expires = %fresh.expires_at, "token issued");
                    state.issued.insert(key, fresh.clone());
                    fresh
                }
            };
            tokens.insert(t.path.clone(), issued.token);
        }
        let (mut config_maps, mut secrets) = (BTreeMap::new(), BTreeMap::new());
        for c in sources.clone().filter_map(|s| s.config_map.as_ref()) {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
            if let Some(cm) = api.get_opt(&c.name).await.map_err(|e| e.to_string())? {
                config_maps.insert(c.name.clone(), cm);
            }
        }
        for s in sources.filter_map(|s| s.secret.as_ref()) {
            let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
            if let Some(secret) = api.get_opt(&s.name).await.map_err(|e| e.to_string())? {
                secrets.insert(s.name.clone(), secret);
            }
        }
        let files = projected::files(name, pod, src, &config_maps, &secrets, &tokens)?;
        projected::atomic_write(&volumes.join(projected::VOLUME_KIND).join(name), &files)?;
    }
    Ok(())
}

/// A TokenRequest for the pod's ServiceAccount, bound to the pod.
async fn request(
    client: &Client,
    pod: &Pod,
    ns: &str,
    t: &ServiceAccountTokenProjection,
) -> Result<Issued, kube::Error> {
    let account = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).filter(|n| !n.is_empty());
    let account = account.unwrap_or_else(|| DEFAULT_SERVICE_ACCOUNT.into());
    let expiration_seconds = t.expiration_seconds.unwrap_or(api::service_account_token::DEFAULT_EXPIRATION_SECONDS);
    let audiences: Vec<&str> = t.audience.as_deref().filter(|a| !a.is_empty()).into_iter().collect();
    let body = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": audiences,
            "expirationSeconds": expiration_seconds,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": pod.metadata.name, "uid": pod.metadata.uid},
        },
    });
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let answer: TokenRequest = api.create_subresource("token", &account, &PostParams::default(), &body).await?;
    let Some(status) = answer.status else {
        return Err(kube::Error::Service("a TokenRequest answered without status".into()));
    };
    Ok(Issued {
        token: status.token,
        expiration_seconds: answer.spec.expiration_seconds.unwrap_or(expiration_seconds),
        expires_at: status.expiration_timestamp.0,
    })
}
