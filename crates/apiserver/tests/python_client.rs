//! The Python `kubernetes` client from PyPI against the apiserver (the
//! script asserts; see `python/service_crud.py`).

use e2e::{Apiserver, Etcd};
use std::path::Path;
use std::process::Command;

#[test]
fn python_client_creates_lists_patches_replaces_and_deletes() {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/service_crud.py");
    let out = Command::new("python3").arg(script).arg(&api.url).output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("python client: create, list, patch, replace, delete ok"), "{stdout}");
}

/// `utils.create_from_yaml` of a multi-document file of five kinds, and
/// its per-object conflicts the second time (see `python/create_from_yaml.py`).
#[test]
fn python_client_creates_a_mixed_manifest_from_yaml() {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/create_from_yaml.py");
    let out = Command::new("python3").arg(script).arg(&api.url).output().expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("python client: create_from_yaml of a mixed manifest ok"), "{stdout}");
}

/// The dynamic client on a CRD's objects (see `python/crd_dynamic.py`).
#[test]
fn python_dynamic_client_serves_a_custom_resource() {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(env!("CARGO_BIN_EXE_apiserver")), &etcd, &[]);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let out = Command::new("python3")
        .arg(dir.join("python/crd_dynamic.py"))
        .arg(&api.url)
        .arg(dir.join("manifests/crd-crontab.yaml"))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python client failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("python dynamic client on a CRD ok"), "{stdout}");
}
