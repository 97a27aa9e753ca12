//! The built-in HTTP servers that stand for the images Service tutorials
//! use (no registry here): one small server, `kubelet-lite demo-app`, with
//! a mode per image (the image table, `images`, picks it). Each request is
//! one line on stdout, which the kubelet keeps as the container's log.
//!
//! ```text
//! myapp           GET /               Hello MyApp | Version: v2 | <a href="hostname.html">Pod Name</a>
//!                 GET /hostname.html  myapp-deploy-77b578b6d-8jc6t
//!                 GET /clientip       172.28.0.1:53422
//! nginx           GET /               Welcome to nginx! (and an access log line in nginx's combined format)
//! serve-hostname  GET /<anything>     hostnames-5cd9f8c6d-2ntgd
//! netexec         GET /hostname  /clientip  /echo?msg=hi  /healthz
//! echoserver      GET /<anything>     the request as seen: client_address=..., method, path, headers
//! ```
//!
//! `/clientip` (agnhost netexec's) and echoserver's `client_address` show
//! whether the path to the pod rewrote the source address (the "Using
//! Source IP" tutorial: kept under `externalTrafficPolicy: Local`, a
//! node's under `Cluster`).

use std::io::Write;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Which image the server answers like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The tutorial's `myapp:v2`.
    Myapp,
    /// `nginx`: the welcome page.
    Nginx,
    /// `registry.k8s.io/serve_hostname`, agnhost `serve-hostname`: the pod's name.
    ServeHostname,
    /// agnhost `netexec`.
    Netexec,
    /// `registry.k8s.io/echoserver`: the request echoed back.
    Echoserver,
}

/// The version the image tag names: `hub.xiaosha.com/library/myapp:v2` → `v2`.
pub fn version_of(image: &str) -> &str {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map_or("latest", |(_, tag)| tag)
}

/// What the server needs of a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    pub method: String,
    /// The request target as sent: `/echo?msg=hi`.
    pub target: String,
    pub version: String,
    /// Header names lower-cased, in the order sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The request line and headers of an HTTP/1 request (what one read got).
    pub fn parse(head: &str) -> Request {
        let mut lines = head.split("\r\n").flat_map(|l| l.split('\n'));
        let mut first = lines.next().unwrap_or_default().split_whitespace();
        let (method, target, version) = (first.next(), first.next(), first.next());
        let headers = lines
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Request {
            method: method.unwrap_or("GET").into(),
            target: target.unwrap_or("/").into(),
            version: version.unwrap_or("HTTP/1.0").into(),
            headers,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }

    fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }

    /// A query parameter, `%XX` and `+` decoded.
    fn param(&self, name: &str) -> Option<String> {
        let raw = self.query().split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?;
        let bytes = raw.as_bytes();
        let (mut out, mut i) = (Vec::new(), 0);
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

fn ok(content_type: &'static str, body: String) -> Response {
    Response { status: 200, content_type, body }
}

fn not_found(body: &str) -> Response {
    Response { status: 404, content_type: "text/plain; charset=utf-8", body: body.into() }
}

/// nginx's default `index.html`.
pub const NGINX_WELCOME: &str = "<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href=\"http://nginx.org/\">nginx.org</a>.<br/>
Commercial support is available at
<a href=\"http://nginx.com/\">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
";

const NGINX_404: &str = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// echoserver's page: the request as the server saw it.
fn echo(req: &Request, pod: &str, client: SocketAddr) -> String {
    let host = req.header("host").unwrap_or_default();
    let mut page = format!(
        "\n\nHostname: {pod}\n\nPod Information:\n\t-no pod information available-\n\n\
         Server values:\n\tserver_version=nginx: 1.13.3 - lua: 10008\n\n\
         Request Information:\n\tclient_address={}\n\tmethod={}\n\treal path={}\n\tquery={}\n\
         \trequest_version={}\n\trequest_scheme=http\n\trequest_uri=http://{host}{}\n\nRequest Headers:\n",
        client.ip(),
        req.method,
        req.path(),
        req.query(),
        req.version.trim_start_matches("HTTP/"),
        req.target,
    );
    let mut headers = req.headers.clone();
    headers.sort();
    for (k, v) in headers {
        page.push_str(&format!("\t{k}={v}\n"));
    }
    page.push_str("\nRequest Body:\n\t-no body in request-\n\n");
    page
}

/// The answer to a request from `client`, in a mode.
pub fn respond(mode: Mode, req: &Request, pod: &str, version: &str, client: SocketAddr) -> Response {
    let text = "text/plain; charset=utf-8";
    match (mode, req.path()) {
        (Mode::Myapp, "/" | "/index.html") => {
            ok("text/html", format!("Hello MyApp | Version: {version} | <a href=\"hostname.html\">Pod Name</a>\n"))
        }
        (Mode::Myapp, "/hostname.html") => ok("text/html", format!("{pod}\n")),
        (Mode::Myapp, "/healthz") => ok(text, "ok\n".into()),
        (Mode::Myapp, "/clientip") => ok(text, format!("{client}\n")),
        (Mode::Myapp, _) => not_found("404 page not found\n"),
        (Mode::Nginx, "/" | "/index.html") => ok("text/html", NGINX_WELCOME.into()),
        (Mode::Nginx, _) => Response { status: 404, content_type: "text/html", body: NGINX_404.into() },
        // serve_hostname answers every path with the hostname, no newline.
        (Mode::ServeHostname, _) => ok(text, pod.into()),
        (Mode::Netexec, "/hostname") => ok(text, pod.into()),
        (Mode::Netexec, "/clientip") => ok(text, client.to_string()),
        (Mode::Netexec, "/echo") => ok(text, req.param("msg").unwrap_or_default()),
        (Mode::Netexec, "/healthz") => ok(text, String::new()),
        (Mode::Netexec, "/") => ok(text, format!("NOW: {}", jiff::Timestamp::now())),
        (Mode::Netexec, _) => not_found("404 page not found\n"),
        (Mode::Echoserver, _) => ok(text, echo(req, pod, client)),
    }
}

/// The log line of one request: nginx's `combined` format for nginx
/// (`10.244.1.1 - - [02/Dec/2026:09:14:21 +0000] "GET / HTTP/1.1" 200 615 "-" "curl/8.5.0"`),
/// else the client's address, the method and the path.
pub fn access_log(mode: Mode, req: &Request, res: &Response, client: SocketAddr, now: jiff::Timestamp) -> String {
    match mode {
        Mode::Nginx => format!(
            "{} - - [{}] \"{} {} {}\" {} {} \"{}\" \"{}\"",
            client.ip(),
            now.to_zoned(jiff::tz::TimeZone::UTC).strftime("%d/%b/%Y:%H:%M:%S %z"),
            req.method,
            req.target,
            req.version,
            res.status,
            res.body.len(),
            req.header("referer").unwrap_or("-"),
            req.header("user-agent").unwrap_or("-"),
        ),
        _ => format!("{client} {} {}", req.method, req.target),
    }
}

fn reason(status: u16) -> &'static str {
    if status == 200 {
        "OK"
    } else {
        "Not Found"
    }
}

/// Serves until the process is killed (the kubelet stops a pod that way).
pub async fn serve(listener: TcpListener, mode: Mode, pod: String, version: String) -> std::io::Result<()> {
    loop {
        let (mut conn, client) = listener.accept().await?;
        let (pod, version) = (pod.clone(), version.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let n = conn.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return; // a probe's connect, no request
            }
            let req = Request::parse(&String::from_utf8_lossy(&buf[..n]));
            let res = respond(mode, &req, &pod, &version, client);
            let server = if mode == Mode::Nginx { "Server: nginx\r\n" } else { "" };
            let reply = format!(
                "HTTP/1.1 {} {}\r\n{server}Content-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                res.status,
                reason(res.status),
                res.content_type,
                res.body.len(),
                res.body
            );
            let _ = conn.write_all(reply.as_bytes()).await;
            // The log may be gone (a pipe nobody reads): never fail a request for it.
            let line = access_log(mode, &req, &res, client, jiff::Timestamp::now());
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> Request {
        Request::parse(&format!("GET {target} HTTP/1.1\r\nHost: 10.96.0.5:8080\r\nUser-Agent: curl/8.5.0\r\n\r\n"))
    }

    #[test]
    fn answers_like_the_tutorials_image() {
        let client: SocketAddr = "172.28.0.1:53422".parse().unwrap();
        let respond = |path: &str, pod: &str, version: &str| {
            let r = respond(Mode::Myapp, &get(path), pod, version, client);
            (r.status, r.body)
        };
        assert_eq!(version_of("hub.xiaosha.com/library/myapp:v2"), "v2");
        assert_eq!(version_of("localhost:5000/myapp"), "latest");
        assert_eq!(
            respond("/", "p", "v2"),
            (200, "Hello MyApp | Version: v2 | <a href=\"hostname.html\">Pod Name</a>\n".into())
        );
        assert_eq!(respond("/hostname.html", "myapp-deploy-77b578b6d-8jc6t", "v2").1, "myapp-deploy-77b578b6d-8jc6t\n");
        assert_eq!(respond("/nope", "p", "v2").0, 404);
        assert_eq!(respond("/clientip", "p", "v2"), (200, "172.28.0.1:53422\n".into()));
    }

    #[test]
    fn every_mode() {
        let client: SocketAddr = "10.244.1.1:40000".parse().unwrap();
        let r = |mode, target: &str| {
            let r = respond(mode, &get(target), "pod-1", "v1", client);
            (r.status, r.body)
        };
        assert_eq!(r(Mode::Nginx, "/"), (200, NGINX_WELCOME.to_string()));
        assert_eq!(NGINX_WELCOME.len(), 615, "the size nginx logs for its welcome page");
        assert_eq!(r(Mode::Nginx, "/x").0, 404);
        assert_eq!(r(Mode::ServeHostname, "/"), (200, "pod-1".into()));
        assert_eq!(r(Mode::ServeHostname, "/any/path"), (200, "pod-1".into()));
        assert_eq!(r(Mode::Netexec, "/hostname"), (200, "pod-1".into()));
        assert_eq!(r(Mode::Netexec, "/clientip"), (200, "10.244.1.1:40000".into()));
        assert_eq!(r(Mode::Netexec, "/echo?msg=hello+there%21"), (200, "hello there!".into()));
        assert_eq!(r(Mode::Netexec, "/echo?x=1&msg=a%2"), (200, "a%2".into()));
        assert_eq!(r(Mode::Netexec, "/echo"), (200, String::new()));
        assert_eq!(r(Mode::Netexec, "/nope").0, 404);
        assert!(r(Mode::Netexec, "/").1.starts_with("NOW: "));
        let page = r(Mode::Echoserver, "/a?b=c").1;
        for want in [
            "Hostname: pod-1\n",
            "\tclient_address=10.244.1.1\n",
            "\tmethod=GET\n",
            "\treal path=/a\n",
            "\tquery=b=c\n",
            "\trequest_uri=http://10.96.0.5:8080/a?b=c\n",
            "\thost=10.96.0.5:8080\n\tuser-agent=curl/8.5.0\n",
        ] {
            assert!(page.contains(want), "{want:?} in {page}");
        }
    }

    #[test]
    fn one_log_line_per_request() {
        let client: SocketAddr = "10.244.1.1:40000".parse().unwrap();
        let now: jiff::Timestamp = "2026-12-02T09:14:21Z".parse().unwrap();
        let req = get("/");
        let res = respond(Mode::Nginx, &req, "p", "v", client);
        assert_eq!(
            access_log(Mode::Nginx, &req, &res, client, now),
            r#"10.244.1.1 - - [02/Dec/2026:09:14:21 +0000] "GET / HTTP/1.1" 200 615 "-" "curl/8.5.0""#
        );
        let req = get("/hostname.html");
        let res = respond(Mode::Myapp, &req, "p", "v", client);
        assert_eq!(access_log(Mode::Myapp, &req, &res, client, now), "10.244.1.1:40000 GET /hostname.html");
    }

    #[test]
    fn parses_requests() {
        let r = Request::parse("POST /x?y=1 HTTP/1.0\nReferer: http://a/\nX: 1\n\nbody");
        assert_eq!((r.method.as_str(), r.target.as_str(), r.version.as_str()), ("POST", "/x?y=1", "HTTP/1.0"));
        assert_eq!(r.header("referer"), Some("http://a/"));
        assert_eq!(r.headers.len(), 2);
        let garbage = Request::parse("\u{0}\u{1}");
        assert_eq!(garbage.target, "\u{0}\u{1}".split_whitespace().nth(1).unwrap_or("/"));
    }
}
