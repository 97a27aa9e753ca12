//! The server under hostile or unlucky clients, against a real etcd: slow
//! and silent connections, HTTP/2, floods, etcd frozen, down or back, a
//! deleted `kubernetes` Service and the odd data a start-up must survive
//! (issue #11). Each test sends the request that found the problem.

use e2e::{eventually, http, Apiserver, Etcd};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_apiserver");
const SVCS: &str = "/api/v1/namespaces/default/services";

fn start(extra: &[&str]) -> (Etcd, Apiserver) {
    let etcd = Etcd::start();
    let api = Apiserver::start(Path::new(BIN), &etcd, extra);
    (etcd, api)
}

fn call(api: &Apiserver, method: &str, path: &str, ct: Option<&str>, body: Value) -> (u16, Value) {
    let text = if body.is_null() { String::new() } else { body.to_string() };
    let (code, resp) = http(method, &api.url, path, ct, &text);
    (code, serde_json::from_str(&resp).unwrap_or(Value::String(resp)))
}

fn connect(api: &Apiserver) -> TcpStream {
    let s = TcpStream::connect(api.url.trim_start_matches("http://")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Reads until the server closes the connection: what it sent, and when.
fn until_closed(s: &mut TcpStream, since: Instant) -> (String, Duration) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                panic!("still open after 20 s; got {:?}", String::from_utf8_lossy(&out))
            }
            Err(_) => break, // reset: closed too
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), since.elapsed())
}

/// One request on a fresh connection; the raw response (headers included).
fn raw(api: &Apiserver, request: &str) -> String {
    let mut s = connect(api);
    s.write_all(request.as_bytes()).unwrap();
    until_closed(&mut s, Instant::now()).0
}

fn status_of(raw: &str) -> Value {
    serde_json::from_str(raw.split_once("\r\n\r\n").map_or("", |(_, b)| b)).unwrap_or(Value::Null)
}

/// SIGSTOP / SIGCONT: etcd that hangs instead of refusing.
fn signal(etcd: &Etcd, sig: &str) {
    let pid = etcd.pid().expect("etcd runs").to_string();
    assert!(std::process::Command::new("kill").args([sig, &pid]).status().unwrap().success());
}

fn assert_within(what: &str, took: Duration, min_ms: u64, max_ms: u64) {
    let ms = took.as_millis() as u64;
    assert!((min_ms..=max_ms).contains(&ms), "{what}: closed after {ms} ms, expected {min_ms}..{max_ms}");
}

#[test]
fn slow_silent_and_idle_connections_are_closed_and_h2_is_answered() {
    let (etcd, api) = start(&[
        "--read-header-timeout",
        "1s",
        "--read-body-timeout",
        "1s",
        "--idle-timeout",
        "2s",
        "--request-timeout",
        "3s",
    ]);
    // Headers that never end (issue #11: open for 70 s and more).
    let mut s = connect(&api);
    let t = Instant::now();
    s.write_all(b"GET /api/v1/services HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n").unwrap();
    let (_, took) = until_closed(&mut s, t);
    assert_within("partial headers", took, 800, 3500);

    // A body shorter than declared: 408 Timeout Status, then closed.
    let mut s = connect(&api);
    let t = Instant::now();
    s.write_all(
        format!("POST {SVCS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"metadata\":")
            .as_bytes(),
    )
    .unwrap();
    let (out, took) = until_closed(&mut s, t);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert_eq!(status_of(&out)["reason"], "Timeout", "{out}");
    assert_within("partial body", took, 800, 3500);

    // Connected, never a byte sent: closed as idle.
    let mut s = connect(&api);
    let (_, took) = until_closed(&mut s, Instant::now());
    assert_within("silent connection", took, 1500, 4500);

    // Keep-alive after a request: closed when idle (the header clock, 1 s, comes first).
    let mut s = connect(&api);
    s.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let t = Instant::now();
    let (out, took) = until_closed(&mut s, t);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_within("idle keep-alive", took, 800, 3500);

    // HTTP/2 with prior knowledge: the server's SETTINGS come at once; an
    // idle h2 connection is closed by the idle timeout too.
    let mut s = connect(&api);
    let t = Instant::now();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").unwrap();
    let mut frame = [0u8; 9];
    s.read_exact(&mut frame).expect("an h2 frame");
    assert_eq!(frame[3], 4, "the first frame is SETTINGS: {frame:?}");
    assert!(t.elapsed() < Duration::from_secs(1), "answered in {:?}", t.elapsed());
    let (_, took) = until_closed(&mut s, t);
    assert_within("idle h2", took, 1500, 4500);

    // etcd hangs: the request gets 504 after --request-timeout, and
    // readiness says why (watches are long-running and not cut).
    signal(&etcd, "-STOP");
    let t = Instant::now();
    let (code, status) = call(&api, "GET", SVCS, None, Value::Null);
    assert_eq!((code, status["reason"].as_str()), (504, Some("Timeout")), "{status}");
    assert_eq!(
        status["message"],
        "Timeout: request did not complete within requested timeout - context deadline exceeded"
    );
    assert_within("request timeout", t.elapsed(), 2800, 6000);
    let (code, body) = http("GET", &api.url, "/readyz?verbose", None, "");
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("[-]etcd failed: reason withheld\n") && body.ends_with("readyz check failed\n"), "{body}");
    signal(&etcd, "-CONT");
    eventually("ready again", || http("GET", &api.url, "/readyz", None, ""), |(c, b)| *c == 200 && b == "ok");
}

/// Opens a watch and reads its response head; the connection stays open.
fn open_watch(api: &Apiserver, path: &str) -> (TcpStream, String) {
    let mut s = connect(api);
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            break;
        }
        head.push(byte[0]);
    }
    (s, String::from_utf8_lossy(&head).into_owned())
}

#[test]
fn inflight_limits_answer_429_and_watches_do_not_count() {
    let (etcd, api) = start(&[
        "--max-requests-inflight",
        "1",
        "--max-mutating-requests-inflight",
        "1",
        "--max-watches",
        "20",
        "--request-timeout",
        "5s",
    ]);
    let watch = format!("{SVCS}?watch=true");
    let watches: Vec<_> = (0..20).map(|_| open_watch(&api, &watch)).collect();
    assert!(watches.iter().all(|(_, head)| head.starts_with("HTTP/1.1 200")), "{:?}", watches[0].1);
    // The 21st watch is refused; reads still pass: watches are not requests in flight.
    let (_, head) = open_watch(&api, &watch);
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
    assert_eq!(call(&api, "GET", SVCS, None, Value::Null).0, 200);

    // etcd hangs: one read waits on it, the next is turned away at once.
    signal(&etcd, "-STOP");
    let url = api.url.clone();
    let reader = std::thread::spawn(move || http("GET", &url, SVCS, None, "").0);
    let body = json!({"metadata":{"name":"w"},"spec":{"ports":[{"port":80}]}}).to_string();
    let url = api.url.clone();
    let post = body.clone();
    let writer = std::thread::spawn(move || http("POST", &url, SVCS, Some("application/json"), &post).0);
    std::thread::sleep(Duration::from_millis(700));
    let out = raw(&api, &format!("GET {SVCS} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    assert!(out.starts_with("HTTP/1.1 429"), "{out}");
    assert!(out.to_ascii_lowercase().contains("\r\nretry-after: 1\r\n"), "{out}");
    let status = status_of(&out);
    assert_eq!(
        (status["reason"].as_str(), status["message"].as_str(), status["details"]["retryAfterSeconds"].as_i64()),
        (Some("TooManyRequests"), Some("Too many requests, please try again later."), Some(1)),
        "{out}"
    );
    let out = raw(
        &api,
        &format!(
            "POST {SVCS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(out.starts_with("HTTP/1.1 429"), "writes have their own limit: {out}");
    signal(&etcd, "-CONT");
    assert!([200, 504].contains(&reader.join().unwrap()));
    assert!([201, 504].contains(&writer.join().unwrap()));
    assert_eq!(call(&api, "GET", SVCS, None, Value::Null).0, 200, "the places are free again");
    drop(watches);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_idle_watch_costs_little() {
    let (_etcd, api) = start(&[]);
    let (_, list) = call(&api, "GET", SVCS, None, Value::Null);
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    let path = format!("{SVCS}?watch=true&resourceVersion={rv}");
    let warm: Vec<_> = (0..50).map(|_| open_watch(&api, &path)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(api.pid().unwrap());
    const N: u64 = 1000;
    let watches: Vec<_> = (0..N).map(|_| open_watch(&api, &path)).collect();
    assert!(watches.iter().all(|(_, h)| h.starts_with("HTTP/1.1 200")));
    std::thread::sleep(Duration::from_millis(300));
    let after = rss_kib(api.pid().unwrap());
    let each = after.saturating_sub(before) as f64 / N as f64;
    eprintln!("idle watch: {each:.1} KiB each ({N} watches: {before} KiB -> {after} KiB)");
    assert!(each < 48.0, "an idle watch costs {each:.1} KiB");
    // Still serving, and a change reaches every watcher.
    let (code, _) = call(&api, "POST", SVCS, None, json!({"metadata":{"name":"ping"},"spec":{"ports":[{"port":80}]}}));
    assert_eq!(code, 201);
    drop((warm, watches));
}

#[test]
fn fixed_routes_other_methods_and_malformed_bodies() {
    let (_etcd, api) = start(&[]);
    for (method, path) in [("POST", "/version"), ("DELETE", "/openapi/v3"), ("PUT", "/api"), ("POST", "/apis")] {
        let (code, status) = call(&api, method, path, None, Value::Null);
        assert_eq!(
            (code, status["kind"].as_str(), status["reason"].as_str()),
            (405, Some("Status"), Some("MethodNotAllowed")),
            "{method} {path}: {status}"
        );
    }
    // Health endpoints answer any method, as upstream's.
    assert_eq!(http("POST", &api.url, "/healthz", None, ""), (200, "ok".into()));
    // A chunked body whose chunk size is not hex: the client's mistake, 400.
    let out = raw(
        &api,
        &format!("POST {SVCS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"),
    );
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(status_of(&out)["reason"], "BadRequest", "{out}");
    // An invalid ?timeout= is refused as upstream refuses it.
    let (code, status) = call(&api, "GET", &format!("{SVCS}?timeout=soon"), None, Value::Null);
    assert_eq!((code, status["message"].as_str()), (400, Some("invalid timeout specified in the request URL")));
    // --help says what listening beyond loopback means.
    let help = std::process::Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("[default: 127.0.0.1]") && help.contains("anyone who can reach the"), "{help}");
}

/// Runs `f` with an etcd client, on a runtime of its own.
fn with_etcd<T>(etcd: &Etcd, f: impl AsyncFnOnce(etcd_client::Client) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = etcd_client::Client::connect([etcd.url.as_str()], None).await.unwrap();
        f(client).await
    })
}

#[test]
fn the_kubernetes_service_is_kept_and_odd_data_never_stops_a_start() {
    let (etcd, mut api) = start(&["--endpoint-reconciler-interval", "1"]);
    let svc_key = api::resources::SERVICES.etcd_key(Some("default"), "kubernetes");
    let ip_key = apiserver::allocation::ip_key("10.96.0.1".parse().unwrap());
    let ns_key = api::resources::NAMESPACES.etcd_key(None, "kube-public");
    let kubernetes = format!("{SVCS}/kubernetes");
    // Gone, with its address (as a DELETE did before it was refused) and a namespace.
    with_etcd(&etcd, async |mut c| {
        for key in [&svc_key, &ip_key, &ns_key] {
            c.delete(key.as_str(), None).await.unwrap();
        }
    });
    let (_, svc) = eventually(
        "the kubernetes Service is back",
        || call(&api, "GET", &kubernetes, None, Value::Null),
        |(code, _)| *code == 200,
    );
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(svc["spec"]["ports"][0]["port"], 443);
    eventually(
        "kube-public is back",
        || call(&api, "GET", "/api/v1/namespaces/kube-public", None, Value::Null).0,
        |c| *c == 200,
    );
    // Its ports changed: reset (if the change is accepted at all).
    let (code, _) = call(
        &api,
        "PATCH",
        &kubernetes,
        Some("application/merge-patch+json"),
        json!({"spec":{"ports":[{"name":"https","port":8443,"protocol":"TCP","targetPort":6443}]}}),
    );
    if code == 200 {
        eventually(
            "its ports are reset",
            || call(&api, "GET", &kubernetes, None, Value::Null).1["spec"]["ports"][0]["port"].clone(),
            |p| *p == 443,
        );
    }

    // Data an older version let a user write: another Service on 10.96.0.1,
    // no kubernetes Service. Before the fix, the apiserver exited at start-up.
    api.stop();
    with_etcd(&etcd, async |mut c| {
        let stored = c.get(svc_key.as_str(), None).await.unwrap();
        let mut squatter: Value = serde_json::from_slice(stored.kvs()[0].value()).unwrap();
        squatter["metadata"]["name"] = json!("squatter");
        squatter["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000001");
        let squatter_key = api::resources::SERVICES.etcd_key(Some("default"), "squatter");
        c.put(squatter_key, serde_json::to_vec(&squatter).unwrap(), None).await.unwrap();
        let claim = apiserver::allocation::claim_record("IPAddress", "10.96.0.1", "default", "squatter");
        c.put(ip_key.as_str(), claim, None).await.unwrap();
        c.delete(svc_key.as_str(), None).await.unwrap();
    });
    api.restart(); // waits until it serves: it must not exit
    assert_eq!(http("GET", &api.url, "/readyz", None, ""), (200, "ok".into()));
    assert_eq!(call(&api, "GET", &kubernetes, None, Value::Null).0, 404, "10.96.0.1 is taken");
    assert_eq!(call(&api, "GET", SVCS, None, Value::Null).0, 200);
    // The address freed, the controller puts kubernetes back on it.
    assert_eq!(call(&api, "DELETE", &format!("{SVCS}/squatter"), None, Value::Null).0, 200);
    let (_, svc) = eventually(
        "the kubernetes Service is back on its address",
        || call(&api, "GET", &kubernetes, None, Value::Null),
        |(code, _)| *code == 200,
    );
    assert_eq!(svc["spec"]["clusterIP"], "10.96.0.1");
}

#[test]
fn etcd_down_at_start_and_while_serving() {
    let mut etcd = Etcd::start();
    etcd.stop();
    let api = Apiserver::start_unready(Path::new(BIN), &etcd, &[]);
    let (_, body) = eventually(
        "readyz answers while etcd is down",
        || http("GET", &api.url, "/readyz?verbose", None, ""),
        |(code, _)| *code == 500,
    );
    assert!(body.starts_with("[+]ping ok\n[-]etcd failed: reason withheld\n"), "{body}");
    assert!(body.ends_with("readyz check failed\n"), "{body}");
    let (code, body) = http("GET", &api.url, "/livez", None, "");
    assert!(code == 500 && body.contains("[-]etcd failed") && body.ends_with("livez check failed\n"), "{body}");
    let (code, status) = call(&api, "GET", SVCS, None, Value::Null);
    assert_eq!((code, status["reason"].as_str()), (503, Some("ServiceUnavailable")), "{status}");
    // It keeps waiting (it gave up after 30 s before), not ready meanwhile.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(http("GET", &api.url, "/readyz", None, "").0, 500);
    etcd.resume();
    // The apiserver's own retry is under test, not etcd's start-up time.
    eventually("etcd answers again", || etcd.answers(), |ok| *ok);
    eventually(
        "ready once etcd answers",
        || http("GET", &api.url, "/readyz", None, ""),
        |(c, b)| *c == 200 && b == "ok",
    );
    let (_, body) = http("GET", &api.url, "/readyz?verbose", None, "");
    assert_eq!(
        body,
        "[+]ping ok\n[+]etcd ok\n[+]poststarthook/bootstrap-controller ok\n[+]shutdown ok\nreadyz check passed\n"
    );
    assert_eq!(call(&api, "GET", &format!("{SVCS}/kubernetes"), None, Value::Null).0, 200);
    assert_eq!(http("GET", &api.url, "/readyz/etcd", None, ""), (200, "ok".into()));

    // Down while serving: not ready, then ready again by itself.
    etcd.stop();
    eventually("not ready without etcd", || http("GET", &api.url, "/readyz", None, "").0, |c| *c == 500);
    let (code, body) = http("GET", &api.url, "/readyz?exclude=etcd", None, "");
    assert_eq!((code, body.as_str()), (200, "ok"));
    etcd.resume();
    eventually("etcd answers again", || etcd.answers(), |ok| *ok);
    eventually("ready again", || http("GET", &api.url, "/readyz", None, "").0, |c| *c == 200);
    let (code, _) = eventually(
        "writes work again",
        || call(&api, "POST", SVCS, None, json!({"metadata":{"name":"after"},"spec":{"ports":[{"port":80}]}})),
        |(code, _)| *code == 201,
    );
    assert_eq!(code, 201);
}
