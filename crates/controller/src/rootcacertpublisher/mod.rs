//! The root CA publisher (kube-controller-manager's
//! `root-ca-certificate-publisher-controller`): a ConfigMap
//! `kube-root-ca.crt` with key `ca.crt` in every namespace, holding the CA
//! bundle of `--root-ca-file`, so every pod's ServiceAccount volume can
//! project it and check the apiserver it talks to. [`desired`] decides
//! (pure); [`controller`] watches and writes.

pub mod controller;
pub mod desired;
