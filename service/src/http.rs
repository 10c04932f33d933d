//! Serving HTTP/1.1: the one server loop the three services share, with the limits an
//! endpoint on the internet needs.
//!
//! [`serve`] accepts at most `max_connections` connections at a time (the others wait
//! in the listen backlog until one closes) and closes a connection that
//! - has not sent a whole request head within `header_read_timeout_ms` of opening or of
//!   the end of its previous answer (idle keep-alive connections, half a header);
//! - sends or reads nothing for `idle_timeout_ms` (a client that stops reading its
//!   answer, a stalled body);
//!
//! and [`timed_bodies`] answers 408 to a request whose body has not arrived whole within
//! `body_read_timeout_ms` of its head. Every answer has a body that says what is wrong:
//! the routes' own, the services' fallbacks for unknown paths and methods, and, for the
//! requests the HTTP parser refuses before any route sees them (malformed requests,
//! too long URLs or headers), a JSON message put in by [`Guarded`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// The `[http.connections]` section of the collector and the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// Most connections open at once; more wait in the listen backlog. Default 4096
    /// (the process needs as many file descriptors: `ulimit -n`).
    pub max_connections: usize,
    /// Time to send a whole request head, from the connection's start or the end of
    /// its previous answer (idle keep-alive connections are closed after it). Default
    /// 10000 ms.
    pub header_read_timeout_ms: u64,
    /// Time to send a request's whole body after its head; later, the answer is 408.
    /// Default 10000 ms.
    pub body_read_timeout_ms: u64,
    /// A connection on which nothing is sent or read for this long is closed (a client
    /// that stops reading its answer). Longer than any request takes. Default 60000 ms.
    pub idle_timeout_ms: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
        }
    }
}

impl ConnectionLimits {
    /// Checks the settings before any traffic arrives.
    pub fn validate(&self) -> Result<(), crate::config::InvalidSetting> {
        if self.max_connections == 0 {
            return Err("http.connections.max_connections must be at least 1".into());
        }
        for (name, ms) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
        ] {
            if !(100..=3_600_000).contains(&ms) {
                return Err(format!(
                    "http.connections.{name} is {ms}; use 100 to 3600000 (one hour)"
                )
                .into());
            }
        }
        Ok(())
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the open
/// requests finish. Handlers find the peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = timed_bodies(router, Duration::from_millis(limits.body_read_timeout_ms));
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .keep_alive(true);
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = {
            let router = router.clone();
            tower::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req.map(Body::new))
            })
        };
        let conn = http1.serve_connection(
            TokioIo::new(Guarded::new(stream, idle)),
            TowerToHyperService::new(service),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("connections still open 10 s after shutdown began; closing them");
        }
    }
    Ok(())
}

/// Why a request body could not be read in time (the error of its body stream).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(pub Duration);

/// Whether `e` (an error reading a request body) is a [`BodyTimeout`].
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if err.is::<BodyTimeout>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// Every request body of `router` must arrive whole within `timeout` of its head;
/// reading it fails with [`BodyTimeout`] after that.
pub fn timed_bodies(router: Router, timeout: Duration) -> Router {
    router.layer(axum::middleware::map_request(
        move |req: Request| async move { req.map(|b| Body::new(TimedBody::new(b, timeout))) },
    ))
}

struct TimedBody {
    inner: Body,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl TimedBody {
    fn new(inner: Body, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let timeout = self.timeout;
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimeout(timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A JSON error answer: `{"error": message}` with `status`.
pub fn error_answer(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

/// A connection with an idle deadline, and the bodies the HTTP parser's own error
/// answers lack. The parser answers a request it cannot read (malformed, URL or
/// headers too long) with a bare `400`, `414` or `431` and `content-length: 0` before
/// closing the connection; every answer of the services has a body, so such a head can
/// only be the parser's, and it is sent with a message instead.
pub struct Guarded {
    stream: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Bytes of a rewritten answer not yet written.
    pending: Vec<u8>,
}

impl Guarded {
    /// Wraps `stream`, closing it after `idle` without traffic.
    pub fn new(stream: TcpStream, idle: Duration) -> Self {
        Self {
            stream,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            pending: Vec::new(),
        }
    }

    fn active(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    /// Fails when the idle deadline has passed (and registers the waker otherwise).
    fn check_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no traffic within http.connections.idle_timeout_ms",
            ));
        }
        Ok(())
    }

    /// Writes what is pending of a rewritten answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            match Pin::new(&mut self.stream).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.pending.drain(..n);
                    self.active();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.check_idle(cx)?;
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The body the HTTP parser's bare error answer `head` should have had, if it is one.
fn explained(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let message = match text.get(..13)? {
        "HTTP/1.1 400 " | "HTTP/1.0 400 " => {
            "the request is not valid HTTP/1.1: check the request line and the header syntax"
        }
        "HTTP/1.1 414 " | "HTTP/1.0 414 " => "the URL is longer than this server accepts",
        "HTTP/1.1 431 " | "HTTP/1.0 431 " => {
            "the request's headers are larger than this server accepts"
        }
        _ => return None,
    };
    let lower = text.to_ascii_lowercase();
    if !lower.ends_with("\r\n\r\n") || !lower.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let body = serde_json::json!({ "error": message }).to_string();
    let at = lower.find("\r\ncontent-length: 0\r\n")?;
    let mut out = Vec::with_capacity(head.len() + body.len() + 64);
    out.extend_from_slice(&head[..at]);
    out.extend_from_slice(
        format!(
            "\r\ncontent-type: application/json\r\ncontent-length: {}",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&head[at + "\r\ncontent-length: 0".len()..]);
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.active();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.check_idle(cx)?;
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        if let Some(rewritten) = explained(buf) {
            self.pending = rewritten;
            // The caller's bytes are taken; the rewrite goes out in their place.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.active();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.check_idle(cx)?;
                Poll::Pending
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    // One buffer per write, so an answer's head is seen whole (see `explained`).
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// `router` with answers for unknown paths and methods that say what it serves, for a
/// service without fallbacks of its own (the processor's `/metrics` listener).
pub fn with_fallbacks(router: Router, serves: &'static str) -> Router {
    router
        .fallback(move |uri: axum::http::Uri| async move {
            error_answer(
                StatusCode::NOT_FOUND,
                format!(
                    "{} is not a path of this service; it serves {serves}",
                    uri.path()
                ),
            )
        })
        .method_not_allowed_fallback(move |uri: axum::http::Uri| async move {
            error_answer(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} takes GET only; this service serves {serves}",
                    uri.path()
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parsers_bare_error_heads_get_a_message_and_no_other_answer_is_touched() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 22:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(explained(bare).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "), "{out}");
        assert!(head.contains("content-type: application/json"), "{out}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{out}"
        );
        assert!(head.contains("\r\ndate: "), "{out}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(
            json["error"].as_str().unwrap().contains("headers"),
            "{body}"
        );
        for status in ["400 Bad Request", "414 URI Too Long"] {
            let bare = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            assert!(explained(bare.as_bytes()).is_some(), "{status}");
        }
        for untouched in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n"[..],
            b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"{\"error\":\"HTTP/1.1 400 \"}",
            b"",
        ] {
            assert_eq!(explained(untouched), None, "{}", String::from_utf8_lossy(untouched));
        }
    }

    #[test]
    fn limits_out_of_range_are_refused_with_their_name() {
        assert!(ConnectionLimits::default().validate().is_ok());
        let e = ConnectionLimits {
            header_read_timeout_ms: 0,
            ..ConnectionLimits::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.0.contains("header_read_timeout_ms"), "{e}");
        let e = ConnectionLimits {
            max_connections: 0,
            ..ConnectionLimits::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.0.contains("max_connections"), "{e}");
    }
}
