//! How the controller finds its apiserver: `--server URL`, or
//! `--kubeconfig FILE`, or kube-rs's usual inference (`KUBECONFIG`,
//! `~/.kube/config`, in-cluster), as every Kubernetes client does.

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

pub async fn config(server: Option<&str>, kubeconfig: Option<&Path>) -> anyhow::Result<kube::Config> {
    config_in_context(server, kubeconfig, None).await
}

/// As [`config`], with kubectl's `--context`: that context of the
/// kubeconfig (`--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`)
/// instead of its current one.
pub async fn config_in_context(
    server: Option<&str>,
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Config> {
    if let Some(server) = server {
        return Ok(kube::Config::new(server.parse()?));
    }
    let options = KubeConfigOptions { context: context.map(String::from), ..Default::default() };
    if let Some(path) = kubeconfig {
        let kc = Kubeconfig::read_from(path)?;
        return Ok(kube::Config::from_custom_kubeconfig(kc, &options).await?);
    }
    if context.is_some() {
        return Ok(kube::Config::from_kubeconfig(&options).await?);
    }
    Ok(kube::Config::infer().await?)
}
