//! Upstream's ServiceAccount admission plugin
//! (`plugin/pkg/admission/serviceaccount/admission.go`), on pod creation:
//!
//! - a pod naming no ServiceAccount runs as `default`;
//! - the account must exist (403 `error looking up service account ns/x:
//!   serviceaccount "x" not found`; `default` is waited for a moment, as the
//!   controller may be creating it in a new namespace);
//! - unless `automountServiceAccountToken` is false (the pod's word first,
//!   then the account's), a projected volume `kube-api-access-<5 random>`
//!   (a bound token, the `kube-root-ca.crt` bundle, the namespace) is added
//!   and mounted read-only at `/var/run/secrets/kubernetes.io/serviceaccount`
//!   in every init container and container that has nothing mounted there.
//!
//! [`service_account_name`] and [`mount_token`] are the rules (pure); the
//! registry calls [`Registry::admit_service_account`] before a pod's create.

use super::{store_err, Registry};
use crate::error::ApiError;
use api::json::str_at;
use api::resources::{PODS, SERVICE_ACCOUNTS};
use api::well_known::{
    DEFAULT_SERVICE_ACCOUNT, MIRROR_POD_ANNOTATION, ROOT_CA_CONFIG_MAP, ROOT_CA_CONFIG_MAP_KEY,
    SERVICE_ACCOUNT_MOUNT_PATH,
};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

/// Whether the plugin runs (`--disable-admission-plugins=ServiceAccount`
/// turns it off; unset: on, as upstream's default plugins).
pub static ENABLED: OnceLock<bool> = OnceLock::new();

/// The prefix of the token volume's name (upstream's `ServiceAccountVolumeName`).
pub const VOLUME_PREFIX: &str = "kube-api-access-";

/// The token's lifetime the volume asks for: an hour and 7 s, upstream's
/// `WarnOnlyBoundTokenExpirationSeconds` (a token past its hour is still
/// accepted, with a warning upstream, so old clients that never reread it
/// keep working).
pub const TOKEN_EXPIRATION_SECONDS: i64 = 60 * 60 + 7;

/// The characters of a generated name's suffix (apimachinery's
/// `utilrand.String`: no vowels, no look-alikes).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Five random characters, as a `generateName` suffix.
pub fn random_suffix() -> String {
    (0..5).map(|_| ALPHANUMS[fastrand::usize(..ALPHANUMS.len())] as char).collect()
}

/// The ServiceAccount the pod runs as, now written in both of its fields
/// (`serviceAccount` is the deprecated alias upstream keeps equal).
pub fn service_account_name(pod: &mut Value) -> String {
    let spec = &pod["spec"];
    let name = [str_at(spec, "/serviceAccountName"), str_at(spec, "/serviceAccount")]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or(DEFAULT_SERVICE_ACCOUNT)
        .to_string();
    if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("serviceAccountName".into(), json!(name));
        spec.insert("serviceAccount".into(), json!(name));
    }
    name
}

/// Upstream's `shouldAutomount`: the pod's `automountServiceAccountToken`,
/// else the account's, else yes.
pub fn should_automount(pod: &Value, account: &Value) -> bool {
    let word = |v: &Value, at: &str| v.pointer(at).and_then(Value::as_bool);
    word(pod, "/spec/automountServiceAccountToken")
        .or_else(|| word(account, "/automountServiceAccountToken"))
        .unwrap_or(true)
}

/// The projected volume's sources, exactly as upstream's `TokenVolumeSource`.
pub fn token_volume_source() -> Value {
    json!({
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
            {"configMap": {"name": ROOT_CA_CONFIG_MAP, "items": [{"key": ROOT_CA_CONFIG_MAP_KEY, "path": ROOT_CA_CONFIG_MAP_KEY}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
        ],
        "defaultMode": 0o644
    })
}

/// Upstream's `mountServiceAccountToken`: the token volume (an existing
/// `kube-api-access-*` one is reused; otherwise named with `suffix`) and a
/// read-only mount of it in every container without a mount at the path.
pub fn mount_token(pod: &mut Value, suffix: &str) {
    let existing = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| str_at(v, "/name"))
        .find(|n| n.starts_with(VOLUME_PREFIX))
        .map(String::from);
    let name = existing.clone().unwrap_or_else(|| format!("{VOLUME_PREFIX}{suffix}"));
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return };
    let mut needed = false;
    for list in ["initContainers", "containers"] {
        for c in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            let mounts = c.as_object_mut().map(|c| c.entry("volumeMounts").or_insert_with(|| json!([])));
            let Some(mounts) = mounts.and_then(Value::as_array_mut) else { continue };
            if mounts.iter().any(|m| str_at(m, "/mountPath") == SERVICE_ACCOUNT_MOUNT_PATH) {
                continue;
            }
            mounts.push(json!({"name": name, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH}));
            needed = true;
        }
    }
    if existing.is_none() && needed {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if let Some(volumes) = volumes.as_array_mut() {
            volumes.push(json!({"name": name, "projected": token_volume_source()}));
        }
    }
}

/// How often `default` is read before it is called missing, and the pause
/// between reads (upstream: 10 tries, 100-200 ms apart; the controller is
/// likely creating it in a namespace made a moment ago).
const DEFAULT_ACCOUNT_TRIES: usize = 10;

impl Registry {
    /// The plugin on a pod about to be created in `namespace` (a no-op when
    /// `--disable-admission-plugins=ServiceAccount`).
    pub async fn admit_service_account(&self, namespace: &str, pod: &mut Value) -> Result<(), ApiError> {
        // A mirror pod (a kubelet's static pod) runs as nothing the API gives.
        let mirror = pod.pointer("/metadata/annotations").and_then(|a| a.get(MIRROR_POD_ANNOTATION)).is_some();
        if !*ENABLED.get().unwrap_or(&true) || mirror {
            return Ok(());
        }
        let name = service_account_name(pod);
        let key = SERVICE_ACCOUNTS.etcd_key(Some(namespace), &name);
        let tries = if name == DEFAULT_SERVICE_ACCOUNT { DEFAULT_ACCOUNT_TRIES } else { 1 };
        let mut account = None;
        for attempt in 0..tries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 + fastrand::u64(..100))).await;
            }
            if let Some(found) = self.store.get(&key).await.map_err(store_err)? {
                account = Some(found.object);
                break;
            }
        }
        let Some(account) = account else {
            let why =
                format!("error looking up service account {namespace}/{name}: serviceaccount \"{name}\" not found");
            return Err(ApiError::forbidden(&PODS, str_at(pod, "/metadata/name"), &why));
        };
        if should_automount(pod, &account) {
            mount_token(pod, &random_suffix());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_mount(volume: &str) -> Value {
        json!({"name": volume, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT_PATH})
    }

    #[test]
    fn the_account_a_pod_runs_as() {
        for (spec, want) in [
            (json!({}), "default"),
            (json!({"serviceAccountName": "builder"}), "builder"),
            (json!({"serviceAccount": "old-style"}), "old-style"),
            (json!({"serviceAccountName": "", "serviceAccount": ""}), "default"),
        ] {
            let mut pod = json!({"spec": spec});
            assert_eq!(service_account_name(&mut pod), want);
            assert_eq!((str_at(&pod, "/spec/serviceAccountName"), str_at(&pod, "/spec/serviceAccount")), (want, want));
        }
    }

    #[test]
    fn automount_pod_first_then_account() {
        let (yes, no, unsaid) = (json!(true), json!(false), Value::Null);
        for (pod, account, want) in [
            (&unsaid, &unsaid, true),
            (&no, &unsaid, false),
            (&unsaid, &no, false),
            (&yes, &no, true),
            (&no, &yes, false),
        ] {
            let pod = json!({"spec": {"automountServiceAccountToken": pod}});
            let account = json!({"automountServiceAccountToken": account});
            assert_eq!(should_automount(&pod, &account), want, "{pod} {account}");
        }
    }

    #[test]
    fn the_token_volume_and_its_mounts() {
        let volume = json!({"name": "kube-api-access-x7k2q", "projected": token_volume_source()});
        let cases = [
            // Every container and init container gets the mount; one volume.
            (
                json!({"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                       "volumes": [{"name": "data", "emptyDir": {}}]}),
                json!({"initContainers": [{"name": "i", "volumeMounts": [token_mount("kube-api-access-x7k2q")]}],
                       "containers": [{"name": "a", "volumeMounts": [token_mount("kube-api-access-x7k2q")]},
                                      {"name": "b", "volumeMounts": [{"name": "data", "mountPath": "/data"}, token_mount("kube-api-access-x7k2q")]}],
                       "volumes": [{"name": "data", "emptyDir": {}}, volume.clone()]}),
            ),
            // Something already mounted at the path: left alone, and no volume for nobody.
            (
                json!({"containers": [{"name": "a", "volumeMounts": [{"name": "mine", "mountPath": SERVICE_ACCOUNT_MOUNT_PATH}]}]}),
                json!({"containers": [{"name": "a", "volumeMounts": [{"name": "mine", "mountPath": SERVICE_ACCOUNT_MOUNT_PATH}]}]}),
            ),
            // An existing kube-api-access volume is reused, not added twice.
            (
                json!({"containers": [{"name": "a"}], "volumes": [{"name": "kube-api-access-old12", "projected": {"sources": []}}]}),
                json!({"containers": [{"name": "a", "volumeMounts": [token_mount("kube-api-access-old12")]}],
                       "volumes": [{"name": "kube-api-access-old12", "projected": {"sources": []}}]}),
            ),
        ];
        for (spec, want) in cases {
            let mut pod = json!({"spec": spec});
            mount_token(&mut pod, "x7k2q");
            assert_eq!(pod["spec"], want);
        }
    }

    #[test]
    fn upstreams_volume_sources() {
        let v = token_volume_source();
        assert_eq!(v["defaultMode"], 420);
        assert_eq!(v["sources"][0]["serviceAccountToken"], json!({"expirationSeconds": 3607, "path": "token"}));
        assert_eq!(v["sources"][1]["configMap"]["name"], "kube-root-ca.crt");
        assert_eq!(v["sources"][2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"], "metadata.namespace");
        let suffix = random_suffix();
        assert!(suffix.len() == 5 && suffix.bytes().all(|b| ALPHANUMS.contains(&b)), "{suffix}");
    }
}
