//! HTTPS on the secure port: the rustls configuration the flags describe.
//!
//! - `--tls-cert-file` / `--tls-private-key-file`: the serving certificate.
//!   Without them, `pki::ensure_cert_dir` makes a CA and a serving
//!   certificate in `--cert-dir` on first start (upstream's names as SANs)
//!   and reuses them afterwards, and the admin kubeconfig is written.
//! - `--client-ca-file`: the CAs client certificates must chain to (the
//!   generated CA by default). A certificate is optional: without one the
//!   request's token, or anonymity, decides; one that does not verify
//!   (another CA, expired) fails the handshake.
//! - ALPN offers `h2` and `http/1.1`, as upstream does.
//! - `--insecure-plain-http` (tests only) serves plain HTTP instead.

use crate::config::Config;
use crate::pki;
use anyhow::Context;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

/// The one crypto provider (ring, as kube-rs's rustls uses it), named
/// explicitly so that no process-wide default has to be installed.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no certificate", path.display());
    Ok(certs)
}

/// The server's TLS configuration: serving certificate and key, and the
/// CAs that client certificates are verified against (optional ones).
pub fn server_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> anyhow::Result<Arc<ServerConfig>> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(path)? {
                roots.add(ca).with_context(|| format!("a CA in {}", path.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .allow_unauthenticated()
                .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).context("the serving certificate and key")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `https://ip:port`, brackets around an IPv6 address.
pub fn https_url(ip: IpAddr, port: u16) -> String {
    format!("https://{}", SocketAddr::new(ip, port))
}

/// What serving needs from the flags: the acceptor, or none for plain HTTP.
/// With a generated CA the admin kubeconfig is (re)written, its path logged.
pub fn setup(
    config: &Config,
    first_cluster_ip: IpAddr,
    port: u16,
) -> anyhow::Result<Option<tokio_rustls::TlsAcceptor>> {
    if config.insecure_plain_http {
        tracing::warn!("serving plain HTTP (--insecure-plain-http): no TLS, no client certificates");
        return Ok(None);
    }
    let server = match (&config.tls_cert_file, &config.tls_private_key_file) {
        (Some(cert), Some(key)) => server_config(cert, key, config.client_ca_file.as_deref())?,
        (None, None) => {
            let names = pki::serving_names(first_cluster_ip, config.advertised_ip());
            let dir = pki::ensure_cert_dir(&config.cert_dir, &names)?;
            if dir.created {
                tracing::info!("made a CA and a serving certificate in {}", config.cert_dir.display());
            }
            let client_ca = config.client_ca_file.clone().unwrap_or(dir.ca_cert.clone());
            let server = server_config(&dir.serving_cert, &dir.serving_key, Some(&client_ca))?;
            let path = admin_kubeconfig_path(config);
            let admin = dir.ca.client(pki::ADMIN_USER, &[pki::MASTERS_GROUP])?;
            let text =
                pki::kubeconfig(&https_url(config.advertised_ip(), port), &dir.ca.cert_pem, pki::ADMIN_USER, &admin);
            pki::write_file(&path, &text, true)?;
            tracing::info!("wrote the admin kubeconfig to {}", path.display());
            server
        }
        _ => anyhow::bail!("--tls-cert-file and --tls-private-key-file go together"),
    };
    Ok(Some(tokio_rustls::TlsAcceptor::from(server)))
}

fn admin_kubeconfig_path(config: &Config) -> PathBuf {
    config.admin_kubeconfig.clone().unwrap_or_else(|| config.cert_dir.join(pki::ADMIN_KUBECONFIG))
}
