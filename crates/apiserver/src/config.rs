//! The apiserver's flags, named as upstream's kube-apiserver names them.

use crate::allocation::range::PortRange;
use crate::auth::Mode;
use api::addresses::ExternalIps;
use clap::Parser;
use ipnet::Ipv4Net;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A Kubernetes-compatible apiserver for the Service lifecycle, on etcd.
#[derive(Debug, Clone, Parser)]
#[command(name = "apiserver", version)]
pub struct Config {
    /// etcd endpoints, comma-separated.
    #[arg(long, env = "ETCD_SERVERS", default_value = "http://127.0.0.1:2379", value_delimiter = ',')]
    pub etcd_servers: Vec<String>,

    /// The address to listen on (HTTPS). Loopback by default: unless
    /// started with `--authorization-mode=RBAC`, anyone who can reach the
    /// port can read and change everything, the `kubernetes` Service
    /// included. Listen
    /// wider (`0.0.0.0`, as the lab does inside its own network) only where
    /// every host that can reach the port is trusted.
    #[arg(long, env = "APISERVER_BIND_ADDRESS", default_value = "127.0.0.1")]
    pub bind_address: IpAddr,

    /// The port to listen on; 0 picks a free one (printed on start).
    #[arg(long, visible_alias = "secure-port", env = "APISERVER_PORT", default_value_t = 6443)]
    pub port: u16,

    /// The address other components reach this apiserver at: the endpoint of
    /// the `kubernetes` Service. Defaults to the bind address, or 127.0.0.1.
    #[arg(long, env = "APISERVER_ADVERTISE_ADDRESS")]
    pub advertise_address: Option<IpAddr>,

    /// The range ClusterIPs are allocated from.
    #[arg(long, env = "SERVICE_CLUSTER_IP_RANGE", default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: Ipv4Net,

    /// The range NodePorts are allocated from, inclusive.
    #[arg(long, env = "SERVICE_NODE_PORT_RANGE", default_value = "30000-32767")]
    pub service_node_port_range: PortRange,

    /// Events kept per resource for watches that resume from a resourceVersion;
    /// older resumes get 410 Expired and relist.
    #[arg(long, default_value_t = 1000)]
    pub watch_cache_size: usize,

    /// Seconds between refreshes of this apiserver's lease and of the
    /// `kubernetes` Endpoints (the lease lives 1.5 times as long).
    #[arg(long, default_value_t = 10)]
    pub endpoint_reconciler_interval: u64,

    /// Seconds between BOOKMARK events on watches that allow them.
    #[arg(long, default_value_t = 60)]
    pub watch_bookmark_interval: u64,

    /// How long a request other than a watch may take before it is answered
    /// 504 Timeout (upstream's default; a `?timeout=` may ask for less).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Requests other than writes and watches served at once; more get 429
    /// with `Retry-After: 1`. 0: no limit.
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: usize,

    /// Writes (POST, PUT, PATCH, DELETE) served at once; more get 429. 0: no limit.
    #[arg(long, default_value_t = 200)]
    pub max_mutating_requests_inflight: usize,

    /// Watches open at once; more get 429. 0: no limit. (Upstream counts
    /// watches in no limit; here each costs a task and a buffer, so a cap
    /// keeps a misbehaving client from growing the server without end.)
    #[arg(long, default_value_t = 10_000)]
    pub max_watches: usize,

    /// How long a client may take to send a request's headers (upstream
    /// serves with Go's ReadHeaderTimeout of 32 s). Hyper starts this clock
    /// as soon as it waits for the next request, so it also bounds how long
    /// an idle keep-alive connection stays open.
    #[arg(long, default_value = "32s", value_parser = parse_duration)]
    pub read_header_timeout: Duration,

    /// How long a client may take to send a request's body once its
    /// headers arrived; then 408 and the connection is closed.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub read_body_timeout: Duration,

    /// Bearer tokens, upstream's CSV: `token,user,uid[,"group1,group2"]`.
    #[arg(long, env = "APISERVER_TOKEN_AUTH_FILE")]
    pub token_auth_file: Option<PathBuf>,

    /// Requests without credentials are served as `system:anonymous` (group
    /// `system:unauthenticated`), for the authorizer to judge; `false`: 401.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub anonymous_auth: bool,

    /// `AlwaysAllow` (here the default, so a server without tokens serves
    /// everyone) or `RBAC` (the bootstrap policy is created, the Roles and
    /// bindings decide). Upstream's comma-separated list is accepted.
    #[arg(long, env = "APISERVER_AUTHORIZATION_MODE", default_value = "AlwaysAllow", value_parser = Mode::parse)]
    pub authorization_mode: Mode,

    /// The ranges a Service's new `externalIPs` must be in (comma-separated;
    /// `""`: none allowed, upstream's DenyServiceExternalIPs). Unset: any.
    #[arg(long, env = "SERVICE_EXTERNAL_IP_CIDRS", value_parser = parse_external_ips)]
    pub service_external_ip_cidrs: Option<ExternalIps>,

    /// How long a connection with no request in flight stays open
    /// (upstream: 90 s, as Go's http.DefaultTransport keeps connections).
    #[arg(long, default_value = "90s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// The `iss` of the ServiceAccount tokens this apiserver signs (kubeadm's value).
    #[arg(long, default_value = "https://kubernetes.default.svc.cluster.local")]
    pub service_account_issuer: String,

    /// The P-256 private key (PKCS#8 PEM) that signs ServiceAccount tokens.
    /// Unset: a key made in memory at start (tokens die with the process).
    #[arg(long)]
    pub service_account_signing_key_file: Option<std::path::PathBuf>,

    /// More public keys (SPKI PEM) that verify ServiceAccount tokens: the
    /// other apiservers', or an old key during a rotation. Repeatable.
    #[arg(long)]
    pub service_account_key_file: Vec<std::path::PathBuf>,

    /// The serving certificate (PEM, intermediates after it), with
    /// `--tls-private-key-file`. Unset: a CA and a serving certificate are
    /// made in `--cert-dir` on first start and reused afterwards.
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,

    /// The serving certificate's private key (PEM).
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,

    /// The CAs (PEM bundle) client certificates must chain to; their CN is
    /// the user, their O the groups. Unset: the CA made in `--cert-dir`
    /// (none with `--tls-cert-file`: no client certificates).
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,

    /// Where the generated CA (`ca.crt`, `ca.key`), serving certificate
    /// (`apiserver.crt`, `apiserver.key`) and admin kubeconfig live.
    #[arg(long, default_value = "/var/run/kubernetes")]
    pub cert_dir: PathBuf,

    /// Where to write the admin kubeconfig (`kubernetes-admin` in
    /// `system:masters`) when the CA is the generated one. Default:
    /// `<cert-dir>/admin.conf`.
    #[arg(long)]
    pub admin_kubeconfig: Option<PathBuf>,

    /// The client certificate (PEM) presented to the kubelets for logs,
    /// exec, attach and port-forward, with `--kubelet-client-key`: HTTPS
    /// to them (their `--client-ca-file` requires it). Unset: plain HTTP.
    #[arg(long, requires = "kubelet_client_key")]
    pub kubelet_client_certificate: Option<PathBuf>,

    /// The key of `--kubelet-client-certificate`.
    #[arg(long, requires = "kubelet_client_certificate")]
    pub kubelet_client_key: Option<PathBuf>,

    /// The CA the kubelets' serving certificates must chain to. Unset:
    /// they are not checked (upstream's default; kubelets sign their own).
    #[arg(long)]
    pub kubelet_certificate_authority: Option<PathBuf>,

    /// Serve plain HTTP, without TLS or client certificates: for tests
    /// only (client-go sends no token over it). Never the default.
    #[arg(long)]
    pub insecure_plain_http: bool,

    /// The audiences a token must name to be accepted (default: the issuer).
    #[arg(long, value_delimiter = ',')]
    pub api_audiences: Vec<String>,

    /// Admission plugins to run besides the default ones (upstream's
    /// names, comma-separated; kubeadm passes `NodeRestriction`). Those
    /// this apiserver has (NamespaceLifecycle, ServiceAccount,
    /// NodeRestriction with RBAC) run by default.
    #[arg(long, value_delimiter = ',')]
    pub enable_admission_plugins: Vec<String>,

    /// Admission plugins not to run: `ServiceAccount` leaves pods without a
    /// default account or token volume (as upstream's integration tests
    /// run, with no controller to create the accounts).
    #[arg(long, value_delimiter = ',')]
    pub disable_admission_plugins: Vec<String>,
}

/// A duration as Go (and so every Kubernetes flag) writes it: `60s`, `1m30s`,
/// `500ms`, `1.5h`. A bare number is seconds, for the flags that took seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?} (examples: 60s, 1m30s, 500ms)");
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let value: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

fn parse_external_ips(text: &str) -> Result<ExternalIps, String> {
    let ranges = text.split(',').map(str::trim).filter(|s| !s.is_empty());
    Ok(ExternalIps::Only(ranges.map(|r| r.parse().map_err(|e| format!("{r:?}: {e}"))).collect::<Result<_, _>>()?))
}

impl Config {
    /// Whether the ServiceAccount admission plugin runs.
    pub fn service_account_admission(&self) -> bool {
        !self.disable_admission_plugins.iter().any(|p| p == "ServiceAccount")
    }

    /// Whether the NodeRestriction admission plugin runs (with RBAC).
    pub fn node_restriction_admission(&self) -> bool {
        !self.disable_admission_plugins.iter().any(|p| p == "NodeRestriction")
    }

    pub fn advertised_ip(&self) -> IpAddr {
        self.advertise_address.unwrap_or(if self.bind_address.is_unspecified() {
            IpAddr::from([127, 0, 0, 1])
        } else {
            self.bind_address
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_writes_them() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("60s", Some(ms(60_000))),
            ("1m0s", Some(ms(60_000))),
            ("1m30s", Some(ms(90_000))),
            ("500ms", Some(ms(500))),
            ("1.5h", Some(ms(5_400_000))),
            ("32", Some(ms(32_000))),
            ("0s", Some(ms(0))),
            ("", None),
            ("s", None),
            ("10", Some(ms(10_000))),
            ("10x", None),
            ("-1s", None),
            ("1e400s", None),
        ] {
            assert_eq!(parse_duration(text).ok(), want, "{text:?}");
        }
    }

    #[test]
    fn listens_on_loopback_unless_told() {
        let config = Config::parse_from(["apiserver"]);
        assert!(config.bind_address.is_loopback());
        assert!(!config.insecure_plain_http, "HTTPS unless asked otherwise");
        assert_eq!(config.request_timeout, Duration::from_secs(60));
        assert_eq!((config.max_requests_inflight, config.max_mutating_requests_inflight), (400, 200));
        assert_eq!((config.authorization_mode, config.anonymous_auth), (Mode::AlwaysAllow, true));
        let rbac = Config::parse_from(["apiserver", "--authorization-mode=Node,RBAC", "--anonymous-auth=false"]);
        assert_eq!((rbac.authorization_mode, rbac.anonymous_auth), (Mode::Rbac, false));
        assert_eq!(config.service_external_ip_cidrs, None);
        let none = Config::parse_from(["apiserver", "--service-external-ip-cidrs="]);
        assert_eq!(none.service_external_ip_cidrs, Some(ExternalIps::Only(vec![])));
        let lab = Config::parse_from(["apiserver", "--service-external-ip-cidrs=192.0.2.0/24, 10.0.0.0/8"]);
        assert!(matches!(lab.service_external_ip_cidrs, Some(ExternalIps::Only(r)) if r.len() == 2));
        assert!(Config::try_parse_from(["apiserver", "--service-external-ip-cidrs=nope"]).is_err());
        assert!(config.service_account_admission());
        let off = Config::parse_from(["apiserver", "--disable-admission-plugins=TaintNodesByCondition,ServiceAccount"]);
        assert!(!off.service_account_admission());
        assert!(off.node_restriction_admission());
        assert!(!Config::parse_from(["apiserver", "--disable-admission-plugins=NodeRestriction"])
            .node_restriction_admission());
    }
}
