//! Client certificates, as upstream's x509 authenticator reads them: the
//! subject's CN is the user name, each O a group. The chain was verified
//! against `--client-ca-file` during the TLS handshake (`tls.rs`); here
//! only the subject of the verified leaf is read (pure).
//!
//! A certificate with an empty CN names no one: upstream's authenticator
//! then passes, and the request's token or anonymity decides.

use api::user::UserInfo;

/// The user a verified client certificate names, attached to each request
/// of its connection by the server.
#[derive(Debug, Clone)]
pub struct ClientCertificate(pub UserInfo);

/// OIDs 2.5.4.3 (commonName) and 2.5.4.10 (organizationName), DER-encoded.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// One DER element: its tag, its content, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The next element, which must have `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, content, rest) = element(input)?;
    (t == tag).then_some((content, rest))
}

/// The subject `Name` of a DER certificate: Certificate → tbsCertificate →
/// [version], serial, signature, issuer, validity, subject.
fn subject(der: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after; // [0] version
    }
    for _ in 0..4 {
        rest = element(rest)?.2; // serial, signature, issuer, validity
    }
    Some(expect(rest, SEQUENCE)?.0)
}

/// The `(type OID, value)` attributes of a Name, in order.
fn attributes(mut name: &[u8]) -> Option<Vec<(&[u8], String)>> {
    let mut out = Vec::new();
    while !name.is_empty() {
        let (set, rest) = expect(name, SET)?;
        name = rest;
        let mut set = set;
        while !set.is_empty() {
            let (pair, rest) = expect(set, SEQUENCE)?;
            set = rest;
            let (oid, value) = expect(pair, OID)?;
            let (tag, text, _) = element(value)?;
            // UTF8String, PrintableString, IA5String, TeletexString: text as bytes.
            if matches!(tag, 0x0c | 0x13 | 0x16 | 0x14) {
                out.push((oid, String::from_utf8_lossy(text).into_owned()));
            }
        }
    }
    Some(out)
}

/// The user a verified certificate names: CN, and O as groups (plus
/// `system:authenticated`); `None` without a CN or if it cannot be read.
pub fn user(der: &[u8]) -> Option<UserInfo> {
    let attrs = attributes(subject(der)?)?;
    let name = attrs.iter().find(|(oid, _)| *oid == COMMON_NAME).map(|(_, v)| v.clone())?;
    if name.is_empty() {
        return None;
    }
    let groups = attrs.iter().filter(|(oid, _)| *oid == ORGANIZATION).map(|(_, v)| v.clone()).collect();
    Some(UserInfo { name, groups, ..UserInfo::default() }.authenticated())
}

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
