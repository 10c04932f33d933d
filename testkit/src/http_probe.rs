//! Raw HTTP/1.1 over TCP, for tests of what a server does with requests no HTTP client
//! library sends: nothing at all, half a header, a body announced and never sent,
//! malformed lines.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A free port on loopback (bound and released; a server started next takes it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// What came back on a connection.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code, 0 when the server closed without an answer.
    pub status: u16,
    /// The head, as text.
    pub head: String,
    /// The body, as text.
    pub body: String,
    /// From the last byte sent until the answer was complete or the connection closed.
    pub took: Duration,
}

/// Opens a connection, sends `bytes`, and reads until the server closed the connection
/// or sent a whole answer (by its `content-length`); gives up after `timeout`.
pub async fn send(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    send_on(&mut stream, bytes, timeout).await
}

/// [`send`] on an open connection.
pub async fn send_on(stream: &mut TcpStream, bytes: &[u8], timeout: Duration) -> Answer {
    if !bytes.is_empty() {
        // The server may close before taking everything (a refusal): that is an answer.
        let _ = stream.write_all(bytes).await;
    }
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if complete(&got) {
            break;
        }
        let left = timeout.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "no answer and no close within {timeout:?}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
        took,
    }
}

/// The `error` message of a JSON error body; panics when the body is not one.
pub fn json_error(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("not a JSON error body ({e}): {body:?}"));
    v["error"].as_str().unwrap_or_default().to_owned()
}

/// How long a server may take to close a connection its timeouts should close (the
/// tests configure timeouts of about a second).
pub const SOON: Duration = Duration::from_millis(2500);

/// Sends `bytes` and checks that the server closes the connection without an answer
/// within [`SOON`].
pub async fn closed_soon(addr: SocketAddr, bytes: &[u8]) -> Answer {
    let a = send(addr, bytes, Duration::from_secs(10)).await;
    assert_eq!(a.status, 0, "answered instead of closed: {a:?}");
    assert!(a.took < SOON, "closed after {:?}", a.took);
    a
}

/// Sends `bytes` and checks the answer's status and that its JSON message contains
/// `says`, within [`SOON`].
pub async fn answered(
    addr: SocketAddr,
    what: &str,
    bytes: &[u8],
    status: u16,
    says: &str,
) -> Answer {
    let a = send(addr, bytes, Duration::from_secs(10)).await;
    assert_eq!(a.status, status, "{what}: {a:?}");
    assert!(json_error(&a.body).contains(says), "{what}: {a:?}");
    assert!(a.took < SOON, "{what}: answered after {:?}", a.took);
    a
}

/// Whether `got` holds a whole answer (a head and as much body as it announced).
fn complete(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    if head.starts_with("HTTP/1.1 100") {
        return true;
    }
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .is_some_and(|n| body.len() >= n)
}
