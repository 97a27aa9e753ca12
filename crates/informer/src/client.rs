//! How the controller finds its apiserver: `--server URL`, or
//! `--kubeconfig FILE`, or kube-rs's usual inference (`KUBECONFIG`,
//! `~/.kube/config`, in-cluster), as every Kubernetes client does.

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

pub async fn config(server: Option<&str>, kubeconfig: Option<&Path>) -> anyhow::Result<kube::Config> {
    if let Some(server) = server {
        return Ok(kube::Config::new(server.parse()?));
    }
    if let Some(path) = kubeconfig {
        let kc = Kubeconfig::read_from(path)?;
        return Ok(kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?);
    }
    Ok(kube::Config::infer().await?)
}
