//! End-to-end harness: real etcd, real binaries, real clients.
//!
//! # Layout
//! - [`Etcd`]: an etcd server on free loopback ports with a scratch data dir.
//! - [`Apiserver`]: the `apiserver` binary against it, on a free port:
//!   plain HTTP (`start`, `--insecure-plain-http`), or HTTPS with its
//!   generated CA and admin kubeconfig (`start_tls`).
//! - [`Kubeconfig`] and [`kubectl`]: what a user would type, for real.
//! - [`netns`]: test nodes and pods as network namespaces.
//! - [`eventually`], [`http`], [`spawn`]: polling, one plain HTTP request,
//!   a process killed on drop; [`dry_run_proxy`]: a proxy that computes
//!   and serves its table without touching a kernel.
//! - [`Proc`]: every binary's stderr passes through the harness, and a
//!   `panicked at` in it fails the test that started the binary (a panic is
//!   a bug even when the server answered 500 and the test passed).
//! - `src/bin/bench-apiserver.rs`, `src/bin/bench-controller.rs`,
//!   `src/bin/bench-list.rs`: benchmarks, sharing [`bench`] (the proxy's is
//!   `crates/proxy/src/bin/bench-proxy.rs`).
//! - `tests/lab.rs`: the tutorial in the docker compose lab.
//!
//! The other tests live beside the code they test (the apiserver's in
//! `crates/apiserver/tests/`, ...), so `cargo test` builds the binaries
//! they start.

pub mod address_monitor;
pub mod bench;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A scratch directory, removed on drop.
pub struct ScratchDir(pub PathBuf);

impl ScratchDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mini-k8s-{tag}-{}-{}", std::process::id(), fastrand_suffix()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fastrand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

pub mod netns;

/// `N` distinct free ports, all held until all are picked, none handed out
/// before in this process.
///
/// The kernel picks a port at random among the free ones, so two tests of one
/// binary (they run in parallel) can be told the same port a moment apart:
/// here about once in a thousand picks. The second server then fails to
/// bind while the first answers on its port, and two tests could share one
/// etcd without knowing. Remembering every port given out makes that
/// impossible within a test binary; test binaries run one at a time.
pub fn free_ports<const N: usize>() -> [u16; N] {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut held: Vec<TcpListener> = Vec::new();
    let mut picked = Vec::with_capacity(N);
    while picked.len() < N {
        let listener = TcpListener::bind("127.0.0.1:0").expect("free port");
        let port = listener.local_addr().expect("local addr").port();
        // Held (also when refused) until the end: the kernel cannot offer it again meanwhile.
        if !handed_out.contains(&port) {
            handed_out.push(port);
            picked.push(port);
        }
        held.push(listener);
    }
    std::array::from_fn(|i| picked[i])
}

/// A free TCP port on loopback (the OS picks; we release it at once), never
/// one handed out before in this process (see [`free_ports`]).
pub fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

fn wait_for_port(port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A child process killed on drop. When its stderr is watched ([`Proc::watched`]),
/// dropping it fails the test if the child panicked.
pub struct Proc(pub Child, Option<StderrWatch>);

/// Copies a child's stderr to ours, remembering the first panic in it.
struct StderrWatch {
    name: String,
    panic: Arc<Mutex<Option<String>>>,
    ended: mpsc::Receiver<()>,
}

impl Proc {
    /// A child whose stderr the harness does not read (the caller keeps it).
    pub fn unwatched(child: Child) -> Self {
        Self(child, None)
    }

    /// Spawns `cmd` with its stderr piped through the harness.
    pub fn watched(cmd: Command) -> std::io::Result<Self> {
        Self::watch(cmd, true)
    }

    /// `watched`, echoing the child's stderr to ours only when `echo`: the
    /// harness's own test of panic detection keeps its fake panic out of the
    /// log, where a real one would be a failure to look for.
    fn watch(mut cmd: Command, echo: bool) -> std::io::Result<Self> {
        let name = Path::new(cmd.get_program()).file_name().unwrap_or_default().to_string_lossy().into_owned();
        let mut child = cmd.stderr(Stdio::piped()).spawn()?;
        let stderr = child.stderr.take().expect("piped stderr");
        let (panic, (tx, ended)) = (Arc::new(Mutex::new(None)), mpsc::channel());
        let seen = panic.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                // Straight to our stderr, as when the child inherited it.
                if echo {
                    let _ = std::io::stderr().write_all(&line);
                }
                let text = String::from_utf8_lossy(&line);
                if text.contains("panicked at") {
                    seen.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| text.trim().to_string());
                }
                line.clear();
            }
            let _ = tx.send(());
        });
        Ok(Self(child, Some(StderrWatch { name, panic, ended })))
    }

    /// The first `panicked at` line the child wrote so far, if any.
    pub fn panic_seen(&self) -> Option<String> {
        self.1.as_ref().and_then(|w| w.panic.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let Some(watch) = &self.1 else { return };
        // The reader ends at EOF; a grandchild holding the pipe must not hang us.
        let _ = watch.ended.recv_timeout(Duration::from_secs(2));
        if let Some(line) = self.panic_seen() {
            if std::thread::panicking() {
                eprintln!("{} panicked too: {line}", watch.name);
            } else {
                panic!("{} panicked during this test (see its log above): {line}", watch.name);
            }
        }
    }
}

/// A real etcd (Debian's `etcd-server`) on free loopback ports. It can be
/// stopped and started again on the same ports and data ([`Etcd::stop`],
/// [`Etcd::resume`]), as an outage.
pub struct Etcd {
    pub url: String,
    proc: Option<Proc>,
    dir: ScratchDir,
    ports: [u16; 2],
}

impl Etcd {
    pub fn start() -> Self {
        // Ports picked here can be taken by someone else before etcd binds
        // them: a few tries with fresh ones.
        for _ in 0..3 {
            let dir = ScratchDir::new("etcd");
            let ports = free_ports();
            if let Some(proc) = Self::launch(&dir, ports) {
                return Self { url: format!("http://127.0.0.1:{}", ports[0]), proc: Some(proc), dir, ports };
            }
        }
        panic!("etcd did not start (three tries)");
    }

    fn launch(dir: &ScratchDir, [client, peer]: [u16; 2]) -> Option<Proc> {
        let url = format!("http://127.0.0.1:{client}");
        let name = member_name(peer);
        let child = Command::new("etcd")
            .args(["--name", &name])
            .args(["--data-dir", &dir.0.join("data").to_string_lossy()])
            .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args(["--initial-cluster", &format!("{name}=http://127.0.0.1:{peer}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd is not installed: run scripts/install-deps");
        let mut proc = Proc(child, None);
        if !wait_for_port(client, Duration::from_secs(20)) || proc.0.try_wait().ok().flatten().is_some() {
            return None;
        }
        // Listening is not serving: an etcd killed before its first election
        // is done can take long to come back, so it must answer before a
        // test may stop it. And it must be this etcd answering: one that
        // could not bind its port would find another's there (see `free_ports`).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match etcd_answering(&url, &name) {
                Answer::Ours => return Some(proc),
                Answer::Another => return None,
                Answer::NotYet if Instant::now() > deadline => return None,
                Answer::NotYet => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The process id, while running (to freeze it: `kill -STOP`).
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.0.id())
    }

    /// Kills etcd (as a crash would); its data stays.
    pub fn stop(&mut self) {
        self.proc = None;
    }

    /// Starts etcd again on the same ports, with the same data.
    pub fn resume(&mut self) {
        self.stop();
        self.proc = Some(Self::launch(&self.dir, self.ports).expect("etcd did not start again"));
    }

    /// Whether this etcd answers a read (it listens before it has elected
    /// itself leader, and on a loaded machine a restart can take seconds more).
    pub fn answers(&self) -> bool {
        etcd_answering(&self.url, &member_name(self.ports[1])) == Answer::Ours
    }
}

/// Who answers at an etcd's client URL.
#[derive(Debug, PartialEq)]
enum Answer {
    NotYet,
    Ours,
    /// An etcd that is not the member we started.
    Another,
}

/// The member name of the etcd with this peer port: unique among the etcds
/// running at once, so an answer tells whose etcd gave it.
fn member_name(peer: u16) -> String {
    format!("e2e-{}-{peer}", std::process::id())
}

/// Whether the etcd at `url` serves a read, and whether it is the member `name`.
fn etcd_answering(url: &str, name: &str) -> Answer {
    let etcdctl = |args: &[&str]| {
        Command::new("etcdctl")
            .args(["--endpoints", url, "--command-timeout=2s"])
            .args(args)
            .env("ETCDCTL_API", "3")
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    if etcdctl(&["get", "--limit=1", "--keys-only", "/"]).is_none() {
        return Answer::NotYet;
    }
    match etcdctl(&["member", "list"]) {
        // `<id>, started, <name>, <peer URLs>, <client URLs>, <is learner>`
        Some(o) if String::from_utf8_lossy(&o.stdout).split(", ").any(|field| field == name) => Answer::Ours,
        Some(_) => Answer::Another,
        None => Answer::NotYet,
    }
}

/// The `apiserver` binary, running against an [`Etcd`].
pub struct Apiserver {
    pub url: String,
    pub port: u16,
    proc: Option<Proc>,
    binary: PathBuf,
    args: Vec<String>,
    host: String,
    /// With TLS: the `--cert-dir` (its CA and the admin kubeconfig, kept across restarts).
    cert_dir: Option<ScratchDir>,
}

impl Apiserver {
    /// Starts `binary` on a free port with extra flags, serving plain HTTP
    /// (`--insecure-plain-http`); waits until it serves.
    /// (Pass `--bind-address` in `extra` to listen elsewhere than 127.0.0.1.)
    /// The ServiceAccount admission plugin is off unless `extra` names
    /// `--disable-admission-plugins` itself (`--disable-admission-plugins=`
    /// runs it): most tests run no controller to create the `default`
    /// accounts pods need, as upstream's integration tests do.
    pub fn start(binary: &Path, etcd: &Etcd, extra: &[&str]) -> Self {
        let mut server = Self::prepare(binary, etcd, extra, false);
        server.restart();
        server
    }

    /// Starts `binary` serving HTTPS, as it does by default: its CA and
    /// serving certificate made in a scratch `--cert-dir`, the admin
    /// kubeconfig beside them ([`Apiserver::admin_kubeconfig`]).
    pub fn start_tls(binary: &Path, etcd: &Etcd, extra: &[&str]) -> Self {
        let mut server = Self::prepare(binary, etcd, extra, true);
        server.restart();
        server
    }

    /// Starts `binary` without waiting until it serves the API (its
    /// `/readyz` says when): for an apiserver started while etcd is down.
    pub fn start_unready(binary: &Path, etcd: &Etcd, extra: &[&str]) -> Self {
        let mut server = Self::prepare(binary, etcd, extra, false);
        server.launch(false);
        server
    }

    /// The kubeconfig the apiserver wrote (`kubernetes-admin` in
    /// `system:masters`, the CA's data inline), copied to a scratch dir.
    pub fn admin_kubeconfig(&self) -> Kubeconfig {
        let dir = self.cert_dir.as_ref().expect("admin_kubeconfig: start the apiserver with start_tls");
        let text = std::fs::read_to_string(dir.0.join("admin.conf")).expect("the apiserver wrote admin.conf");
        Kubeconfig::from_text(&text)
    }

    /// A kubeconfig for `user` in `groups`, its client certificate signed
    /// now by the apiserver's CA (`apiserver kubeconfig --user ...`).
    pub fn kubeconfig_for(&self, user: &str, groups: &[&str]) -> Kubeconfig {
        let dir = self.cert_dir.as_ref().expect("kubeconfig_for: start the apiserver with start_tls");
        let mut cmd = Command::new(&self.binary);
        cmd.arg("kubeconfig").arg("--cert-dir").arg(&dir.0).args(["--server", &self.url, "--user", user]);
        for g in groups {
            cmd.args(["--group", g]);
        }
        let out = cmd.output().expect("apiserver kubeconfig");
        assert!(out.status.success(), "apiserver kubeconfig: {}", String::from_utf8_lossy(&out.stderr));
        Kubeconfig::from_text(&String::from_utf8_lossy(&out.stdout))
    }

    /// The `--cert-dir` of an apiserver started with [`Apiserver::start_tls`].
    pub fn cert_dir(&self) -> Option<&Path> {
        self.cert_dir.as_ref().map(|d| d.0.as_path())
    }

    fn prepare(binary: &Path, etcd: &Etcd, extra: &[&str], tls: bool) -> Self {
        let mut args = vec!["--etcd-servers".to_string(), etcd.url.clone()];
        let cert_dir = tls.then(|| ScratchDir::new("cert-dir"));
        match &cert_dir {
            Some(dir) => args.extend(["--cert-dir".to_string(), dir.0.display().to_string()]),
            None => args.push("--insecure-plain-http".to_string()),
        }
        let bind = extra
            .iter()
            .position(|a| *a == "--bind-address")
            .and_then(|i| extra.get(i + 1))
            .copied()
            .unwrap_or("127.0.0.1");
        if !extra.contains(&"--bind-address") {
            args.extend(["--bind-address".to_string(), bind.to_string()]);
        }
        if !extra.iter().any(|a| a.starts_with("--disable-admission-plugins")) {
            args.push("--disable-admission-plugins=ServiceAccount".to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let port = free_port();
        let mut server = Self {
            url: String::new(),
            port,
            proc: None,
            binary: binary.to_path_buf(),
            args,
            host: bind.to_string(),
            cert_dir,
        };
        server.url = server.current_url();
        server
    }

    fn current_url(&self) -> String {
        let scheme = if self.cert_dir.is_some() { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    pub fn stop(&mut self) {
        self.proc = None;
    }

    /// The process id, while running (for reading its memory use).
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.0.id())
    }

    /// Starts (again) on the same port; waits until it serves.
    pub fn restart(&mut self) {
        self.launch(true);
    }

    fn launch(&mut self, wait: bool) {
        self.stop();
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args).args(["--port", &self.port.to_string()]).env("RUST_LOG", "warn").stdout(Stdio::piped());
        let mut proc = Proc::watched(cmd).expect("start apiserver");
        let mut stdout = BufReader::new(proc.0.stdout.take().expect("stdout"));
        self.url = self.current_url();
        if wait {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("apiserver output");
            assert!(line.contains("listening on"), "apiserver did not start: {line:?}");
            // Listening: it printed so once it serves the whole API.
        } else {
            // Someone must read the line it prints when ready, or the write fails.
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        }
        self.proc = Some(proc);
    }
}

/// A kubeconfig file pointing at one apiserver, as kubectl and kube-rs read it.
pub struct Kubeconfig {
    pub path: PathBuf,
    _dir: ScratchDir,
}

impl Kubeconfig {
    pub fn new(server_url: &str) -> Self {
        Self::from_text(&format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster: {{server: \"{server_url}\"}}\nusers:\n- name: admin\n  user: {{}}\ncontexts:\n- name: lab\n  context: {{cluster: lab, user: admin, namespace: default}}\ncurrent-context: lab\n"
        ))
    }

    /// A kubeconfig with this text, in its own scratch dir.
    pub fn from_text(text: &str) -> Self {
        let dir = ScratchDir::new("kubeconfig");
        let path = dir.0.join("config");
        std::fs::write(&path, text).expect("write kubeconfig");
        Self { path, _dir: dir }
    }

    /// The kube crate's client for this kubeconfig (its CA, client
    /// certificate or token), over rustls.
    pub async fn client(&self) -> kube::Client {
        let file = kube::config::Kubeconfig::read_from(&self.path).expect("read kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
            .await
            .expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }
}

/// The installed `kubectl` with this kubeconfig (and a private cache dir,
/// so discovery is fetched from this server and not a stale cache), to
/// spawn (a stream to read while it runs, a process to kill).
pub fn kubectl_command(config: &Kubeconfig, args: &[&str]) -> Command {
    let mut cmd = Command::new("kubectl");
    cmd.env("KUBECONFIG", &config.path).arg("--cache-dir").arg(config.path.with_file_name("cache")).args(args);
    cmd
}

/// Runs the installed `kubectl` (as [`kubectl_command`]) to its end.
pub fn kubectl(config: &Kubeconfig, args: &[&str]) -> Output {
    kubectl_command(config, args).output().expect("kubectl is not installed")
}

/// Deletes every pod of the default namespace when dropped (waiting up to
/// 10 s), so that a failed test's pods go while its node agent still runs.
pub struct DeletePodsOnDrop<'a>(pub &'a Kubeconfig);

impl Drop for DeletePodsOnDrop<'_> {
    fn drop(&mut self) {
        let _ = kubectl(self.0, &["delete", "pod", "--all", "--wait=false", "--grace-period=0"]);
        for _ in 0..100 {
            if kubectl(self.0, &["get", "pods", "-o", "name"]).stdout.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs kubectl and returns stdout, panicking with stderr on failure.
pub fn kubectl_ok(config: &Kubeconfig, args: &[&str]) -> String {
    let out = kubectl(config, args);
    assert!(out.status.success(), "kubectl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Splits a kubectl table into rows of whitespace-separated cells.
pub fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.split_whitespace().map(String::from).collect()).collect()
}

/// A binary of this workspace, built by `cargo test --workspace` (which
/// builds every package's binaries before running any test).
pub fn workspace_binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build -p {name}` (scripts/test builds everything)",
        path.display()
    );
    path
}

/// Starts a program whose output does not matter; killed on drop. Its log
/// level is `warn`, or `E2E_LOG` (e.g. `E2E_LOG=kubelet_lite=info`) to debug.
pub fn spawn(binary: &Path, args: &[&str]) -> Proc {
    let mut cmd = Command::new(binary);
    cmd.args(args).env("RUST_LOG", std::env::var("E2E_LOG").unwrap_or_else(|_| "warn".into())).stdout(Stdio::null());
    Proc::watched(cmd).expect("spawn")
}

/// A proxy in `--dry-run` for node `node`: it touches no kernel and serves
/// the table it computes on `{healthz}/rules`, its metrics on `{metrics}/metrics`.
pub struct DryRunProxy {
    pub proc: Proc,
    pub healthz_port: u16,
    pub healthz: String,
    pub metrics: String,
}

pub fn dry_run_proxy(binary: &Path, api_url: &str, node: &str, extra: &[&str]) -> DryRunProxy {
    let [healthz_port, metrics_port] = free_ports::<2>();
    let (healthz_bind, metrics_bind) = (format!("127.0.0.1:{healthz_port}"), format!("127.0.0.1:{metrics_port}"));
    let mut args = vec![
        "--server",
        api_url,
        "--dry-run",
        "--hostname-override",
        node,
        "--healthz-bind-address",
        &healthz_bind,
        "--metrics-bind-address",
        &metrics_bind,
    ];
    args.extend_from_slice(extra);
    DryRunProxy {
        proc: spawn(binary, &args),
        healthz_port,
        healthz: format!("http://{healthz_bind}"),
        metrics: format!("http://{metrics_bind}"),
    }
}

/// The workspace's target directory (where `cargo build` puts binaries).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// One plain HTTP/1.1 request, for tests that want to be "another client"
/// or to see the exact status code. Returns (status, body); status 0 when
/// nothing listens.
pub fn http(method: &str, base_url: &str, path: &str, content_type: Option<&str>, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let host = base_url.trim_start_matches("http://");
    // Nothing listening (yet) is an answer too: status 0.
    let Ok(mut stream) = std::net::TcpStream::connect(host) else { return (0, String::new()) };
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Polls `probe` until `check` holds (every 100 ms, 30 s at most), or
/// fails naming `what` and the last value seen.
pub fn eventually<T: std::fmt::Debug>(what: &str, mut probe: impl FnMut() -> T, check: impl Fn(&T) -> bool) -> T {
    let mut last = None;
    for _ in 0..300 {
        let v = probe();
        if check(&v) {
            return v;
        }
        last = Some(v);
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: last seen {last:?}");
}

/// [`eventually`] for async probes.
pub async fn eventually_async<T: std::fmt::Debug>(
    what: &str,
    mut probe: impl AsyncFnMut() -> T,
    check: impl Fn(&T) -> bool,
) -> T {
    let mut last = None;
    for _ in 0..300 {
        let v = probe().await;
        if check(&v) {
            return v;
        }
        last = Some(v);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: last seen {last:?}");
}

/// Writes `status` as `name`'s whole status through its `/status`
/// subresource, the way a kubelet's status manager does: read the object,
/// replace its status, and on a 409 (a controller wrote it in between: a
/// finalizer, a condition) read again and retry.
pub async fn replace_status<K>(api: &kube::Api<K>, name: &str, status: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    for _ in 0..50 {
        let mut object = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
        object["status"] = status.clone();
        let object: K = serde_json::from_value(object).unwrap();
        match api.replace_status(name, &kube::api::PostParams::default(), &object).await {
            Ok(written) => return written,
            Err(kube::Error::Api(e)) if e.code == 409 => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("{name}: status write failed: {e}"),
        }
    }
    panic!("{name}: status write kept conflicting");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_port_is_handed_out_twice() {
        // About one pick in a thousand repeats one of the twenty before it
        // when the kernel alone chooses: thousands of picks would repeat.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3000 {
            assert!(seen.insert(free_port()), "a port handed out twice");
        }
        let [a, b] = free_ports();
        assert!(a != b && !seen.contains(&a) && !seen.contains(&b));
    }

    #[test]
    fn an_etcd_that_finds_another_on_its_port_is_not_taken_for_started() {
        let running = Etcd::start();
        let dir = ScratchDir::new("etcd-twin");
        // Its client port is the running etcd's: it cannot bind, the other answers there.
        let twin = Etcd::launch(&dir, [running.ports[0], free_port()]);
        assert!(twin.is_none(), "an etcd that could not bind was taken for started");
        assert!(running.answers());
    }

    #[test]
    fn a_panic_in_a_childs_stderr_fails_the_test() {
        let mut quiet = Command::new("sh");
        quiet.args(["-c", "echo 'WARN something odd' >&2"]);
        let proc = Proc::watched(quiet).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        drop(proc); // no panic seen: nothing happens
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo \"thread 'main' panicked at src/main.rs:1:1:\" >&2; sleep 30"]);
        let proc = Proc::watch(cmd, false).unwrap();
        eventually("the panic is seen", || proc.panic_seen(), Option::is_some);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(proc)));
        let message = dropped.unwrap_err();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(message.starts_with("sh panicked during this test"), "{message}");
    }
}
