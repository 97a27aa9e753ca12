//! How the apiserver reaches the kubelets (`pod_streams`): plain HTTP, or,
//! with `--kubelet-client-certificate` and `--kubelet-client-key`, HTTPS
//! presenting that certificate (kubeadm's `apiserver-kubelet-client`, which
//! the kubelet's `--client-ca-file` requires). The kubelet's serving
//! certificate is checked against `--kubelet-certificate-authority` when
//! given, else not at all: upstream's default, as kubelets serve
//! certificates they signed themselves.

use crate::tls::{certificates, provider};
use anyhow::Context;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Set once at start when the flags ask for HTTPS to the kubelets.
pub static TLS: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// The client configuration the flags describe.
pub fn client_config(cert: &Path, key: &Path, kubelet_ca: Option<&Path>) -> anyhow::Result<Arc<ClientConfig>> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("reading {}", key.display()))?;
    let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match kubelet_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(path)? {
                roots.add(ca).with_context(|| format!("a CA in {}", path.display()))?;
            }
            builder.with_root_certificates(roots)
        }
        None => builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyKubelet(provider()))),
    };
    let mut config = builder.with_client_auth_cert(chain, key).context("--kubelet-client-certificate and key")?;
    // Streams upgrade an HTTP/1.1 connection.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any kubelet serving certificate (no `--kubelet-certificate-authority`),
/// still checking that the handshake is signed by its key.
#[derive(Debug)]
struct AnyKubelet(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyKubelet {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
