//! What the real `luister-ingest` binary does with connections that hold it open or
//! send what no tracker sends: it closes them within its timeouts, bounds how many it
//! serves at once, refuses an oversized body before it is sent, and answers every
//! error with a message.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test here

use std::net::SocketAddr;
use std::time::Duration;

use luister_testkit::http_probe::{
    answered, closed_soon, free_port, json_error, send, send_on, SOON,
};
use luister_testkit::Scratch;

/// The collector binary with one-second timeouts and at most four connections.
struct Collector {
    child: std::process::Child,
    addr: SocketAddr,
    config: std::path::PathBuf,
}

impl Collector {
    async fn start(scratch: &Scratch) -> Self {
        let port = free_port();
        let k = scratch.kafka();
        let config = std::env::temp_dir().join(format!("{}-ingest.toml", scratch.database));
        std::fs::write(
            &config,
            format!(
                r#"[http]
listen = "127.0.0.1:{port}"
max_body_bytes = 4096
[http.connections]
max_connections = 4
header_read_timeout_ms = 1000
body_read_timeout_ms = 1000
idle_timeout_ms = 3000
[kafka]
brokers = "{}"
topic = "{}"
salt_topic = "{}"
{}[privacy]
shared_salt = false
[[sites]]
id = "demo"
hostnames = ["localhost"]
[log]
level = "warn"
"#,
                k.brokers,
                k.topic,
                k.salt_topic,
                luister_testkit::kafka_toml(&k)
            ),
        )
        .unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_luister-ingest"))
            .arg("--config")
            .arg(&config)
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let up = luister_testkit::wait_for(Duration::from_secs(30), || async {
            tokio::net::TcpStream::connect(addr).await.ok().map(|_| ())
        })
        .await;
        assert!(up.is_some(), "the collector did not listen");
        Self {
            child,
            addr,
            config,
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config);
    }
}

const LONG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn held_open_connections_are_closed_and_bounded_and_every_error_says_why() {
    let scratch = Scratch::new("ingest_conns");
    let c = Collector::start(&scratch).await;

    // Nothing sent, half a header, a body announced and never sent.
    let silent = closed_soon(c.addr, b"").await;
    let half = closed_soon(
        c.addr,
        b"POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Ty",
    )
    .await;
    let unsent = answered(
        c.addr,
        "unsent body",
        b"POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{\"site\":",
        408,
        "did not arrive",
    )
    .await;

    // A gigabyte announced with Expect: 100-continue: refused at once, never invited.
    let huge = send(
        c.addr,
        b"POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n",
        LONG,
    )
    .await;
    assert_eq!(huge.status, 413, "{huge:?}");
    assert!(json_error(&huge.body).contains("4096"), "{huge:?}");
    assert!(huge.took < Duration::from_millis(500), "{huge:?}");

    // Keep-alive: after an answer, an idle connection is closed too.
    let mut kept = tokio::net::TcpStream::connect(c.addr).await.unwrap();
    let first = send_on(
        &mut kept,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
        LONG,
    )
    .await;
    assert_eq!(first.status, 200, "{first:?}");
    let idle = send_on(&mut kept, b"", LONG).await;
    assert_eq!(idle.status, 0, "{idle:?}");
    assert!(idle.took < SOON, "closed after {:?}", idle.took);

    // Errors the routes never see, and those they do, all with a message.
    let long_uri = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(70_000)
    );
    let many_headers = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
        (0..200)
            .map(|i| format!("x-h{i}: v\r\n"))
            .collect::<String>()
    );
    for (what, request, status, says) in [
        (
            "malformed",
            "GARBAGE\r\n\r\n".to_owned(),
            400,
            "not valid HTTP",
        ),
        (
            "bad header",
            "GET / HTTP/1.1\r\nHo st: x\r\n\r\n".to_owned(),
            400,
            "not valid HTTP",
        ),
        ("long URL", long_uri, 414, "URL"),
        ("many headers", many_headers, 431, "headers"),
        (
            "unknown path",
            "GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
            404,
            "POST /v1/events",
        ),
        (
            "wrong method",
            "DELETE /v1/events HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
            405,
            "does not take DELETE",
        ),
        (
            "bad event",
            "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}".to_owned(),
            400,
            "not a valid event",
        ),
    ] {
        answered(c.addr, what, request.as_bytes(), status, says).await;
    }

    // Four connections held open: a fifth is served only once one of them is closed.
    let baseline = send(
        c.addr,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        LONG,
    )
    .await;
    assert_eq!(baseline.status, 200);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(c.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fifth = send(
        c.addr,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        LONG,
    )
    .await;
    assert_eq!(fifth.status, 200, "{fifth:?}");
    assert!(
        fifth.took > Duration::from_millis(600),
        "the fifth connection was served after {:?}, before any of the four held ones was closed (alone: {:?})",
        fifth.took,
        baseline.took
    );
    println!(
        "silent connection closed after {:?}, half a header after {:?}, an unsent body answered 408 after {:?}, \
         a 1 GiB body refused in {:?}; with four connections held the fifth waited {:?} (alone {:?})",
        silent.took, half.took, unsent.took, huge.took, fifth.took, baseline.took
    );
    drop(held);
    drop(c);
    scratch.cleanup().await;
}
