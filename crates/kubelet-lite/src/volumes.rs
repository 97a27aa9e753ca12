//! A container's volume mounts, made by its shim: each `volumeMount` is a
//! bind mount of the volume's directory on the node over the mount path,
//! made inside the mount namespace `ip netns exec` gives the container (so
//! no other process on the node sees it, and it goes when the container's
//! processes do).
//!
//! ```text
//! mount --bind /var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~configmap/config /etc/config
//! mount -o remount,bind,ro /etc/config
//! ```
//!
//! A mount path the node's filesystem lacks is created there first (an
//! empty directory left behind: the price of sharing the node's root).
//!
//! The volumes live where the kubelet keeps them, one directory each:
//! `<root-dir>/pods/<uid>/volumes/kubernetes.io~configmap/<volume>/<key>`
//! (also `kubernetes.io~secret`, `kubernetes.io~empty-dir`, and
//! `kubernetes.io~projected`, written by `projected.rs`). ConfigMap and
//! Secret volumes hold a file per key (or per `items` entry, at its `path`),
//! with `defaultMode` (or the item's `mode`; 0644 when unset), and are
//! mounted read-only, as the kubelet does.

use k8s_openapi::api::core::v1::{ConfigMap, Container, KeyToPath, Pod, Secret, Volume};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `<root-dir>/pods/<uid>/volumes`.
pub fn pod_volumes_dir(root: &Path, uid: &str) -> PathBuf {
    root.join("pods").join(uid).join("volumes")
}

/// The directory kind of projected volumes (`projected.rs` writes them).
pub const PROJECTED_KIND: &str = "kubernetes.io~projected";

/// A volume's directory, by its kind (`kubernetes.io~configmap`), if it is one this node makes.
fn volume_dir(volumes: &Path, v: &Volume) -> Option<PathBuf> {
    let kind = match () {
        _ if v.config_map.is_some() => "kubernetes.io~configmap",
        _ if v.secret.is_some() => "kubernetes.io~secret",
        _ if v.empty_dir.is_some() => "kubernetes.io~empty-dir",
        _ if v.projected.is_some() => PROJECTED_KIND,
        _ => return None,
    };
    Some(volumes.join(kind).join(&v.name))
}

/// A ConfigMap's keys and their bytes (`data` and `binaryData`).
pub fn config_map_data(cm: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut d: BTreeMap<String, Vec<u8>> =
        cm.data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())).collect();
    d.extend(cm.binary_data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())));
    d
}

/// A Secret's keys and their bytes (`data`, and `stringData` if a client left it).
pub fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut d: BTreeMap<String, Vec<u8>> = s.data.iter().flatten().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    d.extend(s.string_data.iter().flatten().map(|(k, v)| (k.clone(), v.clone().into_bytes())));
    d
}

/// One file of a ConfigMap or Secret volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: u32,
}

/// The files of a volume made from `data` (a ConfigMap's or Secret's keys).
/// A missing key named in `items` is an error unless the source is optional.
pub fn files(
    kind: &str,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Vec<File>, String> {
    let mode = |m: Option<i32>| m.or(default_mode).map_or(0o644, |m| (m as u32) & 0o777);
    match items {
        None => Ok(data.iter().map(|(k, v)| File { path: k.clone(), content: v.clone(), mode: mode(None) }).collect()),
        Some(items) => items
            .iter()
            .filter_map(|i| match data.get(&i.key) {
                Some(v) => Some(Ok(File { path: i.path.clone(), content: v.clone(), mode: mode(i.mode) })),
                None if optional => None,
                None => Some(Err(format!(
                    "{kind} references non-existent {} key: {}",
                    if kind == "secret" { "secret" } else { "config" },
                    i.key
                ))),
            })
            .collect(),
    }
}

/// Writes the pod's ConfigMap, Secret and emptyDir volumes under `volumes`.
pub fn write(
    volumes: &Path,
    pod: &Pod,
    config_maps: &BTreeMap<String, ConfigMap>,
    secrets: &BTreeMap<String, Secret>,
) -> Result<(), String> {
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let Some(dir) = volume_dir(volumes, v) else { continue };
        let made = if let Some(src) = &v.config_map {
            let optional = src.optional == Some(true);
            let data = match config_maps.get(&src.name) {
                Some(cm) => config_map_data(cm),
                None if optional => BTreeMap::new(),
                None => {
                    return Err(format!(
                        "MountVolume.SetUp failed for volume \"{}\" : configmap \"{}\" not found",
                        v.name, src.name
                    ))
                }
            };
            files("configmap", &data, src.items.as_deref(), src.default_mode, optional)?
        } else if let Some(src) = &v.secret {
            let name = src.secret_name.clone().unwrap_or_default();
            let optional = src.optional == Some(true);
            let data = match secrets.get(&name) {
                Some(s) => secret_data(s),
                None if optional => BTreeMap::new(),
                None => {
                    return Err(format!(
                        "MountVolume.SetUp failed for volume \"{}\" : secret \"{name}\" not found",
                        v.name
                    ))
                }
            };
            files("secret", &data, src.items.as_deref(), src.default_mode, optional)?
        } else if v.projected.is_some() {
            // Written (and its tokens renewed) by the agent's pass, `projected.rs`.
            if !dir.join("..data").exists() {
                return Err(format!("MountVolume.SetUp failed for volume \"{}\" : not written yet", v.name));
            }
            continue;
        } else {
            Vec::new()
        };
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        for f in made {
            let path = dir.join(&f.path);
            if f.path.split('/').any(|c| c == "..") || f.path.starts_with('/') {
                return Err(format!("invalid path {:?} in volume {}", f.path, v.name));
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
            }
            std::fs::write(&path, &f.content).map_err(|e| format!("writing {}: {e}", path.display()))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))
                .map_err(|e| format!("chmod {}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// The bind mounts of a container's `volumeMounts` (those of volumes this
/// node makes; `subPath` binds that part of the volume).
pub fn binds(volumes: &Path, pod: &Pod, c: &Container) -> Vec<Bind> {
    let all: Vec<&Volume> = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()).collect();
    c.volume_mounts
        .iter()
        .flatten()
        .filter_map(|m| {
            let v = all.iter().find(|v| v.name == m.name)?;
            let mut source = volume_dir(volumes, v)?;
            if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                source = source.join(sub);
            }
            let api_data = v.config_map.is_some() || v.secret.is_some() || v.projected.is_some();
            Some(Bind {
                source: source.to_string_lossy().into_owned(),
                target: m.mount_path.clone(),
                read_only: api_data || m.read_only == Some(true),
            })
        })
        .collect()
}

/// `SOURCE:TARGET[:ro]`, as the shim's `--bind` flag takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

impl Bind {
    pub fn flag(&self) -> String {
        format!("{}:{}{}", self.source, self.target, if self.read_only { ":ro" } else { "" })
    }

    pub fn parse(flag: &str) -> Option<Bind> {
        let (rest, read_only) = match flag.strip_suffix(":ro") {
            Some(rest) => (rest, true),
            None => (flag, false),
        };
        let (source, target) = rest.split_once(':')?;
        (!source.is_empty() && target.starts_with('/')).then(|| Bind {
            source: source.into(),
            target: target.into(),
            read_only,
        })
    }
}

fn mount(args: &[&str]) -> Result<(), String> {
    let out = Command::new("mount").args(args).output().map_err(|e| format!("running mount: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!("mount {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())),
    }
}

/// Makes every bind mount, in order.
pub fn bind_all(flags: &[String]) -> Result<(), String> {
    for flag in flags {
        let b = Bind::parse(flag).ok_or_else(|| format!("--bind {flag}: want SOURCE:TARGET[:ro]"))?;
        // A file (a subPath of one key) is bound over a file, a directory over a directory.
        if Path::new(&b.source).is_file() {
            if !Path::new(&b.target).exists() {
                if let Some(parent) = Path::new(&b.target).parent() {
                    std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
                }
                std::fs::write(&b.target, b"").map_err(|e| format!("creating {}: {e}", b.target))?;
            }
        } else {
            std::fs::create_dir_all(&b.target).map_err(|e| format!("creating {}: {e}", b.target))?;
        }
        // The mount table names the resolved path (`/var/run` is a link to
        // `/run`), and the read-only remount looks the target up there.
        let target = std::fs::canonicalize(&b.target).map_err(|e| format!("resolving {}: {e}", b.target))?;
        let target = target.to_string_lossy();
        mount(&["--bind", &b.source, &target])?;
        if b.read_only {
            mount(&["-o", "remount,bind,ro", &target])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    #[test]
    fn files_of_a_volume() {
        let data: BTreeMap<String, Vec<u8>> =
            [("a".to_string(), b"1".to_vec()), ("b.conf".to_string(), b"x=2".to_vec())].into();
        let f = |path: &str, content: &[u8], mode: u32| File { path: path.into(), content: content.to_vec(), mode };
        assert_eq!(
            files("configmap", &data, None, None, false).unwrap(),
            vec![f("a", b"1", 0o644), f("b.conf", b"x=2", 0o644)]
        );
        assert_eq!(files("configmap", &data, None, Some(0o400), false).unwrap()[0].mode, 0o400);
        let items: Vec<KeyToPath> = serde_json::from_value(
            json!([{"key":"b.conf","path":"conf/app.conf"},{"key":"a","path":"a.txt","mode":0o600}]),
        )
        .unwrap();
        assert_eq!(
            files("configmap", &data, Some(&items), Some(0o440), false).unwrap(),
            vec![f("conf/app.conf", b"x=2", 0o440), f("a.txt", b"1", 0o600)]
        );
        let missing: Vec<KeyToPath> = serde_json::from_value(json!([{"key":"nope","path":"n"}])).unwrap();
        assert_eq!(
            files("configmap", &data, Some(&missing), None, false),
            Err("configmap references non-existent config key: nope".into())
        );
        assert_eq!(files("configmap", &data, Some(&missing), None, true), Ok(vec![]));
        assert_eq!(
            files("secret", &data, Some(&missing), None, false),
            Err("secret references non-existent secret key: nope".into())
        );
    }

    #[test]
    fn mounts_of_a_container() {
        let pod: Pod = serde_json::from_value(json!({"metadata":{"uid":"u"},"spec":{
            "volumes":[{"name":"cfg","configMap":{"name":"settings"}},{"name":"scratch","emptyDir":{}},{"name":"host","hostPath":{"path":"/x"}}],
            "containers":[{"name":"c","volumeMounts":[
                {"name":"cfg","mountPath":"/etc/config"},
                {"name":"cfg","mountPath":"/etc/app.conf","subPath":"app.conf"},
                {"name":"scratch","mountPath":"/data"},
                {"name":"host","mountPath":"/host"}]}]}}))
        .unwrap();
        let dir = pod_volumes_dir(Path::new("/var/lib/kubelet"), "u");
        let c = &pod.spec.as_ref().unwrap().containers[0];
        let flags: Vec<String> = binds(&dir, &pod, c).iter().map(Bind::flag).collect();
        assert_eq!(
            flags,
            [
                "/var/lib/kubelet/pods/u/volumes/kubernetes.io~configmap/cfg:/etc/config:ro",
                "/var/lib/kubelet/pods/u/volumes/kubernetes.io~configmap/cfg/app.conf:/etc/app.conf:ro",
                "/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/scratch:/data",
            ]
        );
    }

    #[test]
    fn bind_flags() {
        let b = Bind { source: "/var/lib/kubelet/x".into(), target: "/etc/config".into(), read_only: true };
        assert_eq!(b.flag(), "/var/lib/kubelet/x:/etc/config:ro");
        assert_eq!(Bind::parse(&b.flag()), Some(b.clone()));
        let rw = Bind { read_only: false, ..b };
        assert_eq!(Bind::parse("/var/lib/kubelet/x:/etc/config"), Some(rw));
        for bad in ["", "/a", "/a:rel", ":/b", "/a:ro"] {
            assert_eq!(Bind::parse(bad), None, "{bad}");
        }
    }
}
