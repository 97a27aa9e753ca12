//! Who may use the kubelet API: with `--client-ca-file` (the kubelet's
//! flag) it serves HTTPS and takes only clients whose certificate that CA
//! signed (the TLS handshake refuses the others), and of those only the
//! apiserver's identity: kubeadm's `apiserver-kubelet-client`
//! (`kube-apiserver-kubelet-client` in `kubeadm:cluster-admins`), or anyone
//! in `system:masters`. Upstream asks the apiserver (a SubjectAccessReview
//! for `nodes/proxy`); these are the groups its default policy lets through,
//! and any other certificate gets the kubelet's 403:
//!
//! ```text
//! Forbidden (user=system:node:node2, verb=get, resource=nodes, subresource(s)=[proxy])
//! ```
//!
//! The serving certificate is `--tls-cert-file`/`--tls-private-key-file`,
//! else one made at start for the node's address, self-signed, as the
//! kubelet does (the apiserver does not check it unless given
//! `--kubelet-certificate-authority`). Without `--client-ca-file`: plain
//! HTTP, as the test clusters on `--insecure-plain-http` run.

use anyhow::Context;
use api::user::UserInfo;
use axum::http::StatusCode;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

/// The groups whose members may use the kubelet API.
pub const ALLOWED_GROUPS: [&str; 2] = ["kubeadm:cluster-admins", "system:masters"];

/// Whether a client certificate's user may use the kubelet API; the
/// kubelet's answer if not. `verb` is the request's (`get`, `create`).
pub fn authorize(user: Option<&UserInfo>, verb: &str) -> Result<(), (StatusCode, String)> {
    match user {
        Some(u) if ALLOWED_GROUPS.iter().any(|g| u.in_group(g)) => Ok(()),
        Some(u) => Err((
            StatusCode::FORBIDDEN,
            format!("Forbidden (user={}, verb={verb}, resource=nodes, subresource(s)=[proxy])", u.name),
        )),
        None => Err((StatusCode::UNAUTHORIZED, "Unauthorized".into())),
    }
}

/// The kubelet's verb for an HTTP method, as its authorizer names it.
pub fn verb(method: &str) -> &'static str {
    match method {
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "get",
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
    Ok(certs)
}

/// The TLS configuration: a client certificate from `client_ca` required.
pub fn server_config(
    client_ca: &Path,
    serving: Option<(&Path, &Path)>,
    names: &[String],
) -> anyhow::Result<Arc<ServerConfig>> {
    let mut roots = RootCertStore::empty();
    for ca in certificates(client_ca)? {
        roots.add(ca).with_context(|| format!("a CA in {}", client_ca.display()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build()?;
    let (chain, key) = match serving {
        Some((cert, key)) => (
            certificates(cert)?,
            PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?,
        ),
        None => {
            let made = rcgen::generate_simple_self_signed(names.to_vec())?;
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
            (vec![made.cert.der().clone()], key)
        }
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("the serving certificate and key")?;
    // Streams upgrade an HTTP/1.1 connection.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apiservers_groups_pass() {
        let who = |name: &str, groups: &[&str]| UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..UserInfo::default()
        };
        let apiserver = who("kube-apiserver-kubelet-client", &["kubeadm:cluster-admins", "system:authenticated"]);
        assert_eq!(authorize(Some(&apiserver), "get"), Ok(()));
        assert_eq!(authorize(Some(&who("admin", &["system:masters"])), "create"), Ok(()));
        let node = who("system:node:node2", &["system:nodes", "system:authenticated"]);
        let refused = authorize(Some(&node), verb("POST")).unwrap_err();
        assert_eq!(
            refused,
            (
                StatusCode::FORBIDDEN,
                "Forbidden (user=system:node:node2, verb=create, resource=nodes, subresource(s)=[proxy])".into()
            )
        );
        assert_eq!(authorize(None, "get").unwrap_err().0, StatusCode::UNAUTHORIZED);
        assert_eq!(verb("GET"), "get");
    }
}
