//! What the real `luister-api` binary does with connections that hold it open or send
//! what no client library sends: it closes them within its timeouts, answers a body
//! that never arrives with 408, and answers every error with a message.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test here

use std::net::SocketAddr;
use std::time::Duration;

use luister_testkit::http_probe::{answered, closed_soon, free_port, send};
use luister_testkit::{clickhouse_url, Scratch};

const TOKEN: &str = "lst_connections_test_token";
const LONG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn held_open_connections_are_closed_and_every_error_says_why() {
    let scratch = Scratch::new("api_conns");
    let port = free_port();
    let config = std::env::temp_dir().join(format!("{}-api.toml", scratch.database));
    std::fs::write(
        &config,
        format!(
            r#"[http]
listen = "127.0.0.1:{port}"
[http.connections]
header_read_timeout_ms = 1000
body_read_timeout_ms = 1000
[clickhouse]
url = "{}"
database = "{}"
[auth]
admin_token_sha256 = ["{}"]
[[sites]]
id = "demo"
[log]
level = "warn"
"#,
            clickhouse_url(),
            scratch.database,
            luister_api::auth::token_hash(TOKEN)
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_luister-api"))
        .arg("--config")
        .arg(&config)
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = luister_testkit::wait_for(Duration::from_secs(60), || async {
        let a = send(
            addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            LONG,
        );
        match tokio::net::TcpStream::connect(addr).await {
            Ok(_) => (a.await.status == 200).then_some(()),
            Err(_) => None,
        }
    })
    .await;
    assert!(up.is_some(), "the API did not come up");

    closed_soon(addr, b"").await;
    closed_soon(
        addr,
        b"GET /v1/sites/demo/reach HTTP/1.1\r\nHost: x\r\nAuthoriz",
    )
    .await;
    answered(
        addr,
        "unsent body",
        format!(
            "POST /v1/sites/demo/actions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"themes\":"
        )
        .as_bytes(),
        408,
        "did not arrive",
    )
    .await;

    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    for (what, request, status, says) in [
        (
            "malformed",
            "GARBAGE\r\n\r\n".to_owned(),
            400,
            "not valid HTTP",
        ),
        ("long URL", long_uri, 414, "URL"),
        (
            "unknown path",
            "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
            404,
            "openapi.json",
        ),
        (
            "wrong method",
            "DELETE /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
            405,
            "does not take DELETE",
        ),
        (
            "no token",
            "GET /v1/sites/demo/reach HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
            401,
            "token",
        ),
    ] {
        answered(addr, what, request.as_bytes(), status, says).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&config);
    scratch.cleanup().await;
}
