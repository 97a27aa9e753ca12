//! A TLS front for a plain-HTTP apiserver, for the tests that need kubectl
//! to send credentials: client-go sends a token or `Impersonate-*` headers
//! only over https. Each TLS connection is forwarded, bytes as they are, to
//! the apiserver. The certificate is a throwaway self-signed one (kubectl
//! is told to skip verification: TLS serving itself is not under test).

use e2e::ScratchDir;
use std::process::Command;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub struct TlsFront {
    pub url: String,
    _dir: ScratchDir,
}

impl TlsFront {
    /// Listens on a free port and forwards to `backend` (`host:port`).
    pub fn start(backend: &str) -> Self {
        let dir = ScratchDir::new("tls-front");
        let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(made.status.success(), "openssl: {}", String::from_utf8_lossy(&made.stderr));
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(&cert).expect("cert").map(|c| c.expect("cert")).collect();
        let key = PrivateKeyDer::from_pem_file(&key).expect("key");
        let config = tokio_rustls::rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("https://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let backend = backend.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((tcp, _)) = listener.accept().await {
                    let (acceptor, backend) = (acceptor.clone(), backend.clone());
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                        let Ok(mut plain) = tokio::net::TcpStream::connect(&backend).await else { return };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    });
                }
            });
        });
        Self { url, _dir: dir }
    }
}
