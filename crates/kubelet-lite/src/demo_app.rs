//! The tutorial's demo image, built in: every container port of a pod runs
//! this tiny HTTP server, which answers like `myapp:v2` does.
//!
//! ```text
//! GET /               Hello MyApp | Version: v2 | <a href="hostname.html">Pod Name</a>
//! GET /hostname.html  myapp-deploy-77b578b6d-8jc6t
//! GET /clientip       172.28.0.1:53422
//! ```
//!
//! `/clientip` is agnhost netexec's: the address the connection came from,
//! which shows whether the path to the pod rewrote it (Kubernetes' "Using
//! Source IP" tutorial: kept under `externalTrafficPolicy: Local`, a
//! node's under `Cluster`).

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The version the image tag names: `hub.xiaosha.com/library/myapp:v2` → `v2`.
pub fn version_of(image: &str) -> &str {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map_or("latest", |(_, tag)| tag)
}

/// The status and body for a request path from `client`.
pub fn respond(path: &str, pod: &str, version: &str, client: SocketAddr) -> (u16, String) {
    match path.split('?').next().unwrap_or("/") {
        "/" | "/index.html" => {
            (200, format!("Hello MyApp | Version: {version} | <a href=\"hostname.html\">Pod Name</a>\n"))
        }
        "/hostname.html" => (200, format!("{pod}\n")),
        "/healthz" => (200, "ok\n".into()),
        "/clientip" => (200, format!("{client}\n")),
        _ => (404, "404 page not found\n".into()),
    }
}

/// Serves until the process is killed (the kubelet stops a pod that way).
pub async fn serve(listener: TcpListener, pod: String, version: String) -> std::io::Result<()> {
    loop {
        let (mut conn, client) = listener.accept().await?;
        let (pod, version) = (pod.clone(), version.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let n = conn.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let (code, body) = respond(path, &pod, &version, client);
            let reason = if code == 200 { "OK" } else { "Not Found" };
            let reply = format!("HTTP/1.1 {code} {reason}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = conn.write_all(reply.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_like_the_tutorials_image() {
        let client: SocketAddr = "172.28.0.1:53422".parse().unwrap();
        let respond = |path: &str, pod: &str, version: &str| respond(path, pod, version, client);
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
}
