//! Projected volumes, as the kubelet's `projected` plugin writes them: the
//! files of several sources (ServiceAccount token, ConfigMap, Secret,
//! downward API) in one directory, swapped in at once by [`atomic_write`]
//! (the kubelet's `AtomicWriter`), so a reader never sees half a token:
//!
//! ```text
//! kube-api-access-x7k2q/
//!   ..2026_12_02_16_40_00.1234/{token,ca.crt,namespace}   one generation
//!   ..data -> ..2026_12_02_16_40_00.1234                  swapped by rename(2)
//!   token -> ..data/token    ca.crt -> ..data/ca.crt    namespace -> ..data/namespace
//! ```
//!
//! A token is asked for through TokenRequest, bound to the pod, and asked
//! for again when [`requires_refresh`] says so (the kubelet's token
//! manager). The rules and the files are pure; the writing is [`atomic_write`].

use crate::volumes::File;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ProjectedVolumeSource, Secret};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

/// Where a pod's projected volumes live, under its volumes directory.
pub use crate::volumes::PROJECTED_KIND as VOLUME_KIND;

/// The kubelet's limit on a token's age, whatever its expiry (`maxTTL`).
pub const MAX_TOKEN_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// A token the apiserver issued for one `serviceAccountToken` source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
    /// What was asked for (the token lives that long from its issue).
    pub expiration_seconds: i64,
    /// `status.expirationTimestamp` of the TokenRequest.
    pub expires_at: Timestamp,
}

/// The kubelet's `requiresRefresh`: a token is replaced once 80% of its
/// lifetime has passed, or once it is `max_age` old (24 h), whichever comes
/// first. (The kubelet subtracts up to 10 s of jitter so that its pods do
/// not all ask at once; a node agent of a few pods need not.)
pub fn requires_refresh(issued: &Issued, now: Timestamp, max_age: Duration) -> bool {
    let lifetime = jiff::SignedDuration::from_secs(issued.expiration_seconds.max(0));
    let issued_at = issued.expires_at - lifetime;
    let too_old = jiff::SignedDuration::try_from(max_age).is_ok_and(|max| now > issued_at + max);
    let late = now > issued.expires_at - lifetime / 5;
    too_old || late
}

/// The value of a downward API `fieldRef` in a volume (the fields the
/// kubelet offers there: the pod's name, namespace, uid, labels, annotations).
fn downward_value(pod: &Pod, path: &str) -> Result<String, String> {
    let m = &pod.metadata;
    let all = |map: &Option<BTreeMap<String, String>>| {
        map.iter().flatten().map(|(k, v)| format!("{k}={v:?}\n")).collect::<String>()
    };
    let one = |map: &Option<BTreeMap<String, String>>, key: &str| {
        map.as_ref().and_then(|l| l.get(key.trim_end_matches("']")).cloned()).unwrap_or_default()
    };
    Ok(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_else(|| "default".into()),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => all(&m.labels),
        "metadata.annotations" => all(&m.annotations),
        p => match (p.strip_prefix("metadata.labels['"), p.strip_prefix("metadata.annotations['")) {
            (Some(key), _) => one(&m.labels, key),
            (_, Some(key)) => one(&m.annotations, key),
            _ => return Err(format!("unsupported fieldPath: {p}")),
        },
    })
}

/// The files of the projected volume `name` of `pod`: `tokens` holds the
/// issued token of each `serviceAccountToken` source, by its `path`.
pub fn files(
    name: &str,
    pod: &Pod,
    src: &ProjectedVolumeSource,
    config_maps: &BTreeMap<String, ConfigMap>,
    secrets: &BTreeMap<String, Secret>,
    tokens: &BTreeMap<String, String>,
) -> Result<Vec<File>, String> {
    let default_mode = src.default_mode;
    let mode = |m: Option<i32>| m.or(default_mode).map_or(0o644, |m| (m as u32) & 0o777);
    let failed = |why: String| format!("MountVolume.SetUp failed for volume \"{name}\" : {why}");
    let mut out = Vec::new();
    for source in src.sources.iter().flatten() {
        if let Some(t) = &source.service_account_token {
            let token = tokens.get(&t.path).ok_or_else(|| failed(format!("no token yet for {}", t.path)))?;
            out.push(File { path: t.path.clone(), content: token.clone().into_bytes(), mode: mode(None) });
        }
        if let Some(c) = &source.config_map {
            let optional = c.optional == Some(true);
            let data = match config_maps.get(&c.name) {
                Some(cm) => crate::volumes::config_map_data(cm),
                None if optional => BTreeMap::new(),
                None => return Err(failed(format!("configmap \"{}\" not found", c.name))),
            };
            out.extend(crate::volumes::files("configmap", &data, c.items.as_deref(), default_mode, optional)?);
        }
        if let Some(s) = &source.secret {
            let optional = s.optional == Some(true);
            let data = match secrets.get(&s.name) {
                Some(secret) => crate::volumes::secret_data(secret),
                None if optional => BTreeMap::new(),
                None => return Err(failed(format!("secret \"{}\" not found", s.name))),
            };
            out.extend(crate::volumes::files("secret", &data, s.items.as_deref(), default_mode, optional)?);
        }
        if let Some(d) = &source.downward_api {
            for item in d.items.iter().flatten() {
                let Some(field) = &item.field_ref else { continue };
                let value = downward_value(pod, &field.field_path).map_err(failed)?;
                out.push(File { path: item.path.clone(), content: value.into_bytes(), mode: mode(item.mode) });
            }
        }
    }
    Ok(out)
}

/// The generation directory's name: the kubelet's `..2006_01_02_15_04_05.`
/// and a number that makes it unique.
fn generation_name(now: Timestamp) -> String {
    format!("..{}.{}", now.strftime("%Y_%m_%d_%H_%M_%S"), now.subsec_nanosecond())
}

/// What `dir`'s current generation holds (empty when it has none).
fn current_files(dir: &Path) -> Vec<File> {
    let Ok(generation) = std::fs::read_link(dir.join("..data")) else { return Vec::new() };
    let mut out = Vec::new();
    let mut stack = vec![(dir.join(&generation), String::new())];
    while let Some((at, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&at).into_iter().flatten().flatten() {
            let path = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push((entry.path(), format!("{path}/")));
            } else if let Ok(content) = std::fs::read(entry.path()) {
                out.push(File { path, content, mode: meta.permissions().mode() & 0o777 });
            }
        }
    }
    out
}

/// Writes `files` into `dir` as one generation, then swaps it in: the new
/// generation's directory, a `..data_tmp` symlink to it renamed over
/// `..data` (atomic), a `name -> ..data/name` link per top-level name, and
/// the old generation and stale links removed. Nothing is written when the
/// files are what the volume already holds.
pub fn atomic_write(dir: &Path, files: &[File]) -> Result<(), String> {
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    let mut want = files.to_vec();
    want.sort_by(|a, b| a.path.cmp(&b.path));
    let mut have = current_files(dir);
    have.sort_by(|a, b| a.path.cmp(&b.path));
    if !have.is_empty() && have == want {
        return Ok(());
    }
    for f in files {
        if f.path.is_empty() || f.path.starts_with('/') || f.path.split('/').any(|c| c == ".." || c.starts_with("..")) {
            return Err(format!("invalid path {:?} in volume {}", f.path, dir.display()));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
    let old = std::fs::read_link(dir.join("..data")).ok();
    let generation = generation_name(Timestamp::now());
    let gen_dir = dir.join(&generation);
    std::fs::create_dir(&gen_dir).map_err(|e| io("creating", &gen_dir, e))?;
    for f in files {
        let path = gen_dir.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
        }
        std::fs::write(&path, &f.content).map_err(|e| io("writing", &path, e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode)).map_err(|e| io("chmod", &path, e))?;
    }
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&generation, &tmp).map_err(|e| io("linking", &tmp, e))?;
    std::fs::rename(&tmp, dir.join("..data")).map_err(|e| io("renaming", &tmp, e))?;
    let top: std::collections::BTreeSet<String> =
        files.iter().filter_map(|f| f.path.split('/').next()).map(String::from).collect();
    for name in &top {
        let link = dir.join(name);
        if std::fs::read_link(&link).is_err() {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(format!("..data/{name}"), &link).map_err(|e| io("linking", &link, e))?;
        }
    }
    for entry in std::fs::read_dir(dir).map_err(|e| io("reading", dir, e))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !top.contains(&name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    if let Some(old) = old.filter(|o| *o != Path::new(&generation)) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_is_renewed_at_80_percent_or_after_a_day() {
        let hour = Issued { token: "t".into(), expiration_seconds: 3607, expires_at: at("2026-12-02T11:00:07Z") };
        let day = Duration::from_secs(86_400);
        for (now, want) in [
            ("2026-12-02T10:00:00Z", false),
            ("2026-12-02T10:48:05Z", false),
            // 80% of 3607 s after issue (10:00:00): 10:48:05.6.
            ("2026-12-02T10:48:06Z", true),
            ("2026-12-02T11:30:00Z", true),
        ] {
            assert_eq!(requires_refresh(&hour, at(now), day), want, "{now}");
        }
        // A long-lived token: replaced after 24 h, long before 80% of a year.
        let year =
            Issued { token: "t".into(), expiration_seconds: 365 * 86_400, expires_at: at("2027-12-02T00:00:00Z") };
        assert!(!requires_refresh(&year, at("2026-12-02T23:59:00Z"), day));
        assert!(requires_refresh(&year, at("2026-12-03T00:00:01Z"), day));
        // A shorter limit (the agent's flag, for tests) works the same way.
        assert!(requires_refresh(&hour, at("2026-12-02T10:00:03Z"), Duration::from_secs(2)));
    }

    fn pod() -> Pod {
        serde_json::from_value(
            json!({"metadata":{"name":"web","namespace":"team","uid":"u1","labels":{"app":"web","tier":"front"}}}),
        )
        .unwrap()
    }

    #[test]
    fn the_files_of_the_service_account_volume() {
        let src: ProjectedVolumeSource = serde_json::from_value(json!({"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
                                       {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}, "mode": 0o600}]}}]}))
        .unwrap();
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata":{"name":"kube-root-ca.crt"},"data":{"ca.crt":"PEM"}})).unwrap();
        let cms: BTreeMap<String, ConfigMap> = [("kube-root-ca.crt".to_string(), cm)].into();
        let tokens: BTreeMap<String, String> = [("token".to_string(), "eyJ".to_string())].into();
        let f = |path: &str, content: &str, mode: u32| File { path: path.into(), content: content.into(), mode };
        assert_eq!(
            files("kube-api-access-x", &pod(), &src, &cms, &BTreeMap::new(), &tokens).unwrap(),
            [
                f("token", "eyJ", 0o644),
                f("ca.crt", "PEM", 0o644),
                f("namespace", "team", 0o644),
                f("labels", "app=\"web\"\ntier=\"front\"\n", 0o600)
            ]
        );
        assert_eq!(
            files("kube-api-access-x", &pod(), &src, &BTreeMap::new(), &BTreeMap::new(), &tokens),
            Err(r#"MountVolume.SetUp failed for volume "kube-api-access-x" : configmap "kube-root-ca.crt" not found"#
                .into())
        );
    }

    #[test]
    fn a_generation_is_swapped_in_whole() {
        let dir = std::env::temp_dir().join(format!("projected-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let f = |path: &str, content: &str| File { path: path.into(), content: content.into(), mode: 0o644 };
        atomic_write(&dir, &[f("token", "one"), f("ca.crt", "PEM"), f("sub/x", "1")]).unwrap();
        let first = std::fs::read_link(dir.join("..data")).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), "one");
        assert_eq!(std::fs::read_link(dir.join("token")).unwrap(), Path::new("..data/token"));
        assert_eq!(std::fs::read_to_string(dir.join("sub/x")).unwrap(), "1");
        // The same files: nothing written.
        atomic_write(&dir, &[f("ca.crt", "PEM"), f("token", "one"), f("sub/x", "1")]).unwrap();
        assert_eq!(std::fs::read_link(dir.join("..data")).unwrap(), first);
        // A new token: a new generation, the old one gone, a dropped name unlinked.
        atomic_write(&dir, &[f("token", "two"), f("ca.crt", "PEM")]).unwrap();
        let second = std::fs::read_link(dir.join("..data")).unwrap();
        assert_ne!(second, first);
        assert_eq!(std::fs::read_to_string(dir.join("token")).unwrap(), "two");
        assert!(!dir.join(&first).exists() && !dir.join("sub").exists());
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        let mut want = ["..data".to_string(), second.to_string_lossy().into_owned(), "ca.crt".into(), "token".into()];
        want.sort();
        assert_eq!(names, want);
        assert!(atomic_write(&dir, &[f("../escape", "x")]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
