//! How a component finds its apiserver: `--kubeconfig FILE` (its
//! credentials; `--server URL` beside it replaces only the server, as
//! client-go's `BuildConfigFromFlags` does), or `--server URL` alone, or,
//! inside a pod, the `kubernetes` Service the kubelet names in the
//! environment (`KUBERNETES_SERVICE_HOST`/`_PORT`, client-go's
//! `InClusterConfig`: HTTPS, the mounted ServiceAccount token and CA), or
//! kube-rs's usual inference (`KUBECONFIG`, `~/.kube/config`).

use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

/// The variables every pod gets for the `kubernetes` Service (and that
/// client-go's `InClusterConfig` reads).
pub const SERVICE_HOST_ENV: &str = "KUBERNETES_SERVICE_HOST";
pub const SERVICE_PORT_ENV: &str = "KUBERNETES_SERVICE_PORT";

/// Where the kubelet mounts a pod's ServiceAccount token (and `ca.crt`,
/// `namespace` beside it), as client-go reads them.
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// The apiserver's plain-HTTP URL from the in-cluster environment, or None
/// outside a pod (either variable unset or empty). An IPv6 host is
/// bracketed, as client-go's `net.JoinHostPort` does.
///
/// Used only for a pod with no ServiceAccount token mounted, which here
/// means a test cluster served over `--insecure-plain-http` (its
/// ServiceAccount admission off); with a token, [`config`] takes client-go's
/// way, `https` with the token and CA.
pub fn in_cluster_url(host: Option<&str>, port: Option<&str>) -> Option<String> {
    let (host, port) = (host?.trim(), port?.trim());
    if host.is_empty() || port.is_empty() {
        return None;
    }
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
    Some(format!("http://{host}:{port}"))
}

/// A component's client config. The in-cluster environment comes before
/// `~/.kube/config`, as for a controller in a pod (client-go's
/// `BuildConfigFromFlags("", "")`), so a DNS pod reaches the API through
/// the `kubernetes` Service whatever files the node has.
pub async fn config(server: Option<&str>, kubeconfig: Option<&Path>) -> anyhow::Result<kube::Config> {
    if server.is_none() && kubeconfig.is_none() {
        let var = |name| std::env::var(name).ok();
        if let Some(url) = in_cluster_url(var(SERVICE_HOST_ENV).as_deref(), var(SERVICE_PORT_ENV).as_deref()) {
            if Path::new(SERVICE_ACCOUNT_TOKEN).exists() {
                // kube-rs rereads the token file, so the kubelet's rotations reach us.
                let config = kube::Config::incluster()?;
                tracing::info!(
                    "in-cluster: the apiserver at {} with the pod's ServiceAccount token",
                    config.cluster_url
                );
                return Ok(config);
            }
            tracing::info!("in-cluster: the apiserver at {url}, plain HTTP (no ServiceAccount token is mounted)");
            return Ok(kube::Config::new(url.parse()?));
        }
    }
    config_in_context(server, kubeconfig, None).await
}

/// As kubectl finds its cluster: the kubeconfig `--kubeconfig` names, in
/// that context (`--context`) instead of its current one, with its server
/// replaced by `--server` if given (its credentials and CA kept, as
/// client-go's `BuildConfigFromFlags(master, kubeconfig)`); else `--server`
/// alone; else the kubeconfig of `KUBECONFIG` or `~/.kube/config`, else
/// kube-rs's inference.
pub async fn config_in_context(
    server: Option<&str>,
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> anyhow::Result<kube::Config> {
    let options = KubeConfigOptions { context: context.map(String::from), ..Default::default() };
    if let Some(path) = kubeconfig {
        let kc = Kubeconfig::read_from(path)?;
        let mut config = kube::Config::from_custom_kubeconfig(kc, &options).await?;
        if let Some(server) = server {
            config.cluster_url = server.parse()?;
        }
        return Ok(config);
    }
    if let Some(server) = server {
        return Ok(kube::Config::new(server.parse()?));
    }
    if context.is_some() {
        return Ok(kube::Config::from_kubeconfig(&options).await?);
    }
    Ok(kube::Config::infer().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_cluster_environment() {
        for (host, port, want) in [
            (Some("10.96.0.1"), Some("443"), Some("http://10.96.0.1:443")),
            (Some("fd00:10:96::1"), Some("443"), Some("http://[fd00:10:96::1]:443")),
            (Some(" 10.96.0.1 "), Some("6443\n"), Some("http://10.96.0.1:6443")),
            (Some("10.96.0.1"), None, None),
            (None, Some("443"), None),
            (Some(""), Some("443"), None),
            (Some("10.96.0.1"), Some(""), None),
        ] {
            assert_eq!(in_cluster_url(host, port).as_deref(), want, "{host:?} {port:?}");
        }
    }
}
