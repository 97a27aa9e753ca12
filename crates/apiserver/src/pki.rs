//! The cluster's certificates, as kubeadm lays them out: one CA
//! (`CN=kubernetes`) that signs the apiserver's serving certificate and
//! every client certificate, whose CN is the user and whose O are the
//! groups (upstream's x509 authenticator reads them so, `auth::x509`).
//!
//! When the apiserver is given no `--tls-cert-file`, [`ensure_cert_dir`]
//! makes the CA, the serving certificate and the apiserver's client
//! certificate for the kubelets (kubeadm's `apiserver-kubelet-client`,
//! `--kubelet-client-certificate`) on first start, into
//! `--cert-dir`, and reuses them afterwards; then it writes the admin
//! kubeconfig ([`kubeconfig`], kubeadm's `admin.conf`). [`Ca::client`]
//! mints the components' certificates (`apiserver kubeconfig ...`).

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The files of `--cert-dir`, kubeadm's names under `/etc/kubernetes/pki`.
pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const SERVING_CERT: &str = "apiserver.crt";
pub const SERVING_KEY: &str = "apiserver.key";
/// kubeadm's client certificate of the apiserver for the kubelets
/// (`--kubelet-client-certificate`), and its identity.
pub const KUBELET_CLIENT_CERT: &str = "apiserver-kubelet-client.crt";
pub const KUBELET_CLIENT_KEY: &str = "apiserver-kubelet-client.key";
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";
pub const KUBELET_CLIENT_GROUP: &str = "kubeadm:cluster-admins";
/// The admin kubeconfig written beside them unless `--admin-kubeconfig` says where.
pub const ADMIN_KUBECONFIG: &str = "admin.conf";

/// kubeadm's admin identity: `system:masters` is bound to `cluster-admin`.
pub const ADMIN_USER: &str = "kubernetes-admin";
pub const MASTERS_GROUP: &str = "system:masters";

/// kubeadm's lifetimes: the CA ten years, what it signs one.
const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const LEAF_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

pub type Error = rcgen::Error;

/// A certificate and its private key, PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The cluster CA: its certificate and the key that signs.
pub struct Ca {
    pub cert_pem: String,
    key: KeyPair,
}

/// Validity from an hour ago (clocks differ a little) for `lifetime`.
fn validity(params: &mut CertificateParams, lifetime: Duration) {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let at = |secs: i64| time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    params.not_before = at(now - 3600);
    params.not_after = at(now + lifetime.as_secs() as i64);
}

/// The CA's subject and usages. A CA read back from disk is rebuilt from
/// these (the issuer of what it signs is its subject and key, nothing else).
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "kubernetes");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign];
    params
}

impl Ca {
    /// A new CA (ECDSA P-256).
    pub fn generate() -> Result<Self, Error> {
        let key = KeyPair::generate()?;
        let mut params = ca_params();
        validity(&mut params, CA_LIFETIME);
        Ok(Self { cert_pem: params.self_signed(&key)?.pem(), key })
    }

    /// A CA this module made earlier (its `ca.crt` and `ca.key`).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, Error> {
        Ok(Self { cert_pem: cert_pem.to_string(), key: KeyPair::from_pem(key_pem)? })
    }

    /// Reads `ca.crt` and `ca.key` from `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
        };
        Ok(Self::from_pem(&read(CA_CERT)?, &read(CA_KEY)?)?)
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    fn sign(&self, mut params: CertificateParams) -> Result<Issued, Error> {
        let key = KeyPair::generate()?;
        validity(&mut params, LEAF_LIFETIME);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        let issuer = Issuer::new(ca_params(), &self.key);
        Ok(Issued { cert_pem: params.signed_by(&key, &issuer)?.pem(), key_pem: key.serialize_pem() })
    }

    /// The apiserver's serving certificate for `names` (DNS names and IPs).
    pub fn serving(&self, names: &[String]) -> Result<Issued, Error> {
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate for `user` in `groups` (CN and O). Two groups
    /// at most: rcgen keeps one value per attribute type, so the second O
    /// goes in as the same OID named as a custom type (kubeadm's identities
    /// have one group or none).
    pub fn client(&self, user: &str, groups: &[&str]) -> anyhow::Result<Issued> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        let types = [DnType::OrganizationName, DnType::CustomDnType(vec![2, 5, 4, 10])];
        anyhow::ensure!(groups.len() <= types.len(), "a client certificate here carries two groups at most");
        for (group, ty) in groups.iter().zip(types) {
            params.distinguished_name.push(ty, *group);
        }
        params.distinguished_name.push(DnType::CommonName, user);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        Ok(self.sign(params)?)
    }
}

/// The identity a component's certificate carries, as on a kubeadm
/// cluster: `controller-manager`, `scheduler`, `proxy`, `node:<name>`
/// (in `system:nodes`, which the Node authorizer and NodeRestriction know),
/// `admin`.
pub fn component_identity(component: &str) -> Option<(String, Vec<String>)> {
    let user = |name: &str, groups: &[&str]| Some((name.to_string(), groups.iter().map(|g| g.to_string()).collect()));
    match component {
        "admin" => user(ADMIN_USER, &[MASTERS_GROUP]),
        "controller-manager" => user("system:kube-controller-manager", &[]),
        "scheduler" => user("system:kube-scheduler", &[]),
        "proxy" => user("system:kube-proxy", &[]),
        _ => {
            let node = component.strip_prefix("node:").filter(|n| !n.is_empty())?;
            user(&format!("system:node:{node}"), &["system:nodes"])
        }
    }
}

/// A kubeconfig for `component` (see [`component_identity`]), its client
/// certificate minted now by `ca`.
pub fn component_kubeconfig(ca: &Ca, server: &str, component: &str) -> anyhow::Result<String> {
    let (user, groups) = component_identity(component).ok_or_else(|| {
        anyhow::anyhow!("unknown component {component:?} (admin, controller-manager, scheduler, proxy, node:<name>)")
    })?;
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    Ok(kubeconfig(server, &ca.cert_pem, &user, &ca.client(&user, &groups)?))
}

/// The serving certificate's names, upstream's list: the `kubernetes`
/// Service's DNS names, its ClusterIP, the advertise address, loopback.
pub fn serving_names(first_cluster_ip: IpAddr, advertise: IpAddr) -> Vec<String> {
    let mut names: Vec<String> =
        ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"]
            .map(String::from)
            .into();
    for ip in [first_cluster_ip, advertise, IpAddr::from([127, 0, 0, 1])] {
        if !names.contains(&ip.to_string()) {
            names.push(ip.to_string());
        }
    }
    names.push("localhost".into());
    names
}

/// A kubeconfig for `user` holding `issued` and the CA, kubeadm's shape
/// (the data inline, so the file works wherever it is copied).
pub fn kubeconfig(server: &str, ca_pem: &str, user: &str, issued: &Issued) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let context = format!("{user}@kubernetes");
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: {user}\n  name: {context}\ncurrent-context: {context}\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(ca_pem),
        b64(&issued.cert_pem),
        b64(&issued.key_pem),
    )
}

/// Writes `text` to `path`, readable by its owner only when it is secret.
pub fn write_file(path: &Path, text: &str, secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mode = if secret { 0o600 } else { 0o644 };
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// What [`ensure_cert_dir`] found or made.
pub struct CertDir {
    pub ca: Ca,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub ca_cert: PathBuf,
    /// Whether the CA was made now (first start).
    pub created: bool,
}

/// The CA and serving certificate in `dir`: made on first start, reused
/// afterwards (a serving certificate missing alone is made again).
pub fn ensure_cert_dir(dir: &Path, names: &[String]) -> anyhow::Result<CertDir> {
    let (ca_cert, ca_key) = (dir.join(CA_CERT), dir.join(CA_KEY));
    let created = !ca_cert.exists();
    let ca = if created {
        let ca = Ca::generate()?;
        write_file(&ca_key, &ca.key_pem(), true)?;
        write_file(&ca_cert, &ca.cert_pem, false)?;
        ca
    } else {
        Ca::load(dir)?
    };
    let (serving_cert, serving_key) = (dir.join(SERVING_CERT), dir.join(SERVING_KEY));
    if created || !serving_cert.exists() || !serving_key.exists() {
        let issued = ca.serving(names)?;
        write_file(&serving_key, &issued.key_pem, true)?;
        write_file(&serving_cert, &issued.cert_pem, false)?;
    }
    let (kubelet_cert, kubelet_key) = (dir.join(KUBELET_CLIENT_CERT), dir.join(KUBELET_CLIENT_KEY));
    if created || !kubelet_cert.exists() || !kubelet_key.exists() {
        let issued = ca.client(KUBELET_CLIENT_USER, &[KUBELET_CLIENT_GROUP])?;
        write_file(&kubelet_key, &issued.key_pem, true)?;
        write_file(&kubelet_cert, &issued.cert_pem, false)?;
    }
    Ok(CertDir { ca, serving_cert, serving_key, ca_cert, created })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_names_are_upstreams() {
        let names = serving_names([10, 96, 0, 1].into(), [172, 28, 0, 3].into());
        assert_eq!(
            names,
            [
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
                "10.96.0.1",
                "172.28.0.3",
                "127.0.0.1",
                "localhost"
            ]
        );
        // Advertised on loopback: listed once.
        assert_eq!(serving_names([10, 0, 0, 1].into(), [127, 0, 0, 1].into()).len(), 7);
    }

    #[test]
    fn a_cert_dir_is_made_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("pki-test-{}", uuid::Uuid::new_v4()));
        let names = serving_names([10, 96, 0, 1].into(), [127, 0, 0, 1].into());
        let first = ensure_cert_dir(&dir, &names).unwrap();
        assert!(first.created);
        let serving = std::fs::read_to_string(&first.serving_cert).unwrap();
        let again = ensure_cert_dir(&dir, &names).unwrap();
        assert!(!again.created);
        assert_eq!(again.ca.cert_pem, first.ca.cert_pem);
        assert_eq!(std::fs::read_to_string(&again.serving_cert).unwrap(), serving);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(CA_KEY)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the CA key is the owner's only");
        // kubeadm's apiserver-kubelet-client, for --kubelet-client-certificate.
        use tokio_rustls::rustls::pki_types::{pem::PemObject, CertificateDer};
        let pem = std::fs::read(dir.join(KUBELET_CLIENT_CERT)).unwrap();
        let user = api::x509::user(&CertificateDer::from_pem_slice(&pem).unwrap()).unwrap();
        assert_eq!(user.name, KUBELET_CLIENT_USER);
        assert!(user.in_group(KUBELET_CLIENT_GROUP), "{user:?}");
        assert!(dir.join(KUBELET_CLIENT_KEY).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn components_have_kubeadms_identities() {
        let id = |c: &str| component_identity(c).map(|(u, g)| format!("{u} {g:?}"));
        assert_eq!(id("controller-manager").unwrap(), r#"system:kube-controller-manager []"#);
        assert_eq!(id("proxy").unwrap(), r#"system:kube-proxy []"#);
        assert_eq!(id("node:node-1").unwrap(), r#"system:node:node-1 ["system:nodes"]"#);
        assert_eq!(id("admin").unwrap(), r#"kubernetes-admin ["system:masters"]"#);
        assert_eq!(id("node:"), None);
        assert_eq!(id("kubelet"), None);
        let ca = Ca::generate().unwrap();
        let text = component_kubeconfig(&ca, "https://10.0.0.1:6443", "node:n1").unwrap();
        assert!(text.contains("current-context: system:node:n1@kubernetes"), "{text}");
        assert!(component_kubeconfig(&ca, "https://x", "nope").is_err());
        assert!(ca.client("bob", &["a", "b", "c"]).is_err());
    }

    #[test]
    fn kubeconfigs_hold_the_data_inline() {
        let ca = Ca::generate().unwrap();
        let admin = ca.client(ADMIN_USER, &[MASTERS_GROUP]).unwrap();
        let text = kubeconfig("https://127.0.0.1:6443", &ca.cert_pem, ADMIN_USER, &admin);
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(doc["current-context"], "kubernetes-admin@kubernetes");
        assert_eq!(doc["clusters"][0]["cluster"]["server"], "https://127.0.0.1:6443");
        let data = doc["users"][0]["user"]["client-certificate-data"].as_str().unwrap();
        let pem = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
        assert_eq!(String::from_utf8(pem).unwrap(), admin.cert_pem);
    }
}
