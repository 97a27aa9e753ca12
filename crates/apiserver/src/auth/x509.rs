//! Client certificates in the apiserver: the user a verified certificate
//! names (`api::x509`, pure) rides on each request of its connection.
//! The chain was verified against `--client-ca-file` during the TLS
//! handshake (`tls.rs`).

use api::user::UserInfo;
pub use api::x509::user;

/// The user a verified client certificate names, attached to each request
/// of its connection by the server.
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub UserInfo);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::Ca;

    fn der(pem: &str) -> Vec<u8> {
        use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
    }

    #[test]
    fn cn_is_the_user_and_o_the_groups() {
        let ca = Ca::generate().unwrap();
        for (cn, orgs, want) in [
            ("alice", &["devs"][..], Some(("alice", vec!["devs", "system:authenticated"]))),
            (
                "kubernetes-admin",
                &["system:masters"],
                Some(("kubernetes-admin", vec!["system:masters", "system:authenticated"])),
            ),
            (
                "system:node:n1",
                &["system:nodes"],
                Some(("system:node:n1", vec!["system:nodes", "system:authenticated"])),
            ),
            ("system:kube-proxy", &[], Some(("system:kube-proxy", vec!["system:authenticated"]))),
            ("bob", &["a", "b"], Some(("bob", vec!["a", "b", "system:authenticated"]))),
            ("", &["devs"], None),
        ] {
            let issued = ca.client(cn, orgs).unwrap();
            let got = user(&der(&issued.cert_pem));
            let got = got.as_ref().map(|u| (u.name.as_str(), u.groups.iter().map(String::as_str).collect::<Vec<_>>()));
            assert_eq!(got, want, "{cn} {orgs:?}");
        }
    }

    #[test]
    fn garbage_names_no_one_and_never_panics() {
        let ca = Ca::generate().unwrap();
        let good = der(&ca.client("alice", &["devs"]).unwrap().cert_pem);
        assert!(user(&[]).is_none());
        assert!(user(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(user(&[0x30, 0x80]).is_none());
        for cut in 0..good.len() {
            let _ = user(&good[..cut]);
        }
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let mut bytes = good.clone();
            for _ in 0..rng.usize(1..8) {
                let i = rng.usize(..bytes.len());
                bytes[i] = rng.u8(..);
            }
            let _ = user(&bytes);
        }
    }
}
