//! Client certificates, as upstream's x509 authenticator reads them: the
//! subject's CN is the user name, each O a group. Only the subject of a
//! leaf already verified (by rustls, against a CA) is read here: pure DER,
//! shared by the apiserver's authenticator and the kubelet API's.
//!
//! A certificate with an empty CN names no one: upstream's authenticator
//! then passes, and the request's token or anonymity decides.

use crate::user::UserInfo;

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
