//! The collector's HTTP routes, one module per way in, and what they share: reading
//! the request's visitor facts ([`visit_of`]) and delivering finished events to the
//! broker ([`deliver`]).
//!
//! - `POST /v1/events`: [`native`]
//! - `GET|POST /matomo.php`, `/piwik.php`: [`matomo`]
//! - `POST /api/event`: [`plausible`]
//! - `GET /t.js`: [`tracker`]
//! - `GET /matomo.js`, `/piwik.js`, `/js/script….js`, `/js/pa-….js`: [`scripts`]
//!
//! Matomo's paths are also served under any folder (`/stats/matomo.php`,
//! `/stats/matomo.js`), as hosting parties install Matomo there and snippets keep it.

pub mod matomo;
pub mod native;
pub mod plausible;
pub mod scripts;
pub mod tracker;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};

use luister_schema::Event;

use crate::collect::{Ignored, RawEvent, Visit};
use crate::error::IngestError;
use crate::sink::SinkError;
use crate::App;

/// The routes of the collector (without the operational ones).
fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/events", post(native::post_events))
        .route(
            "/matomo.php",
            get(matomo::get_track).post(matomo::post_track),
        )
        .route(
            "/piwik.php",
            get(matomo::get_track).post(matomo::post_track),
        )
        .route("/api/event", post(plausible::post_event))
        .route("/t.js", get(tracker::get_tracker))
        .route("/matomo.js", get(scripts::matomo))
        .route("/piwik.js", get(scripts::matomo))
        .route("/js/{file}", get(scripts::plausible))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
        .with_state(app)
}

/// What the collector serves, for the answers to requests it does not.
const ROUTES: &str = "POST /v1/events, GET|POST /matomo.php (or /piwik.php), POST /api/event, GET /t.js, /matomo.js, /piwik.js, /js/script.js (and its variants), /js/pa-….js, GET /healthz, /readyz, /metrics";

/// Matomo under a folder, else a 404 that lists what is served.
async fn unknown_path(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    request: Request<Body>,
) -> axum::response::Response {
    let path = request.uri().path();
    if path.ends_with("/matomo.php") || path.ends_with("/piwik.php") {
        match *request.method() {
            Method::GET => return matomo::get_track(axum::extract::State(app), request).await,
            Method::POST => return matomo::post_track(axum::extract::State(app), request).await,
            _ => return wrong_method(request).await,
        }
    }
    if scripts::is_matomo_script(path) && request.method() == Method::GET {
        return scripts::matomo().await;
    }
    luister_service::http::error_answer(
        axum::http::StatusCode::NOT_FOUND,
        format!(
            "{} is not a path of this collector; it serves {ROUTES}",
            crate::collect::truncate(request.uri().path(), 200)
        ),
    )
}

async fn wrong_method(request: Request<Body>) -> axum::response::Response {
    luister_service::http::error_answer(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not take {}; this collector serves {ROUTES}",
            crate::collect::truncate(request.uri().path(), 200),
            request.method()
        ),
    )
}

/// The collector's routes as served: [`router`] with [`cors`] on every route, its
/// method fallback included, so that a preflight `OPTIONS` is answered before it
/// could get a 405.
pub fn service(app: Arc<App>) -> Router {
    router(app.clone()).layer(cors(app))
}

/// Cross-origin access for browsers, only from pages on a registered site's
/// hostnames (see [`service`]). Credentialed requests are allowed too: Matomo's tracker
/// sends its XMLHttpRequest POSTs `withCredentials`, and a browser that is not told
/// `Access-Control-Allow-Credentials: true` reports a CORS error after the event was
/// stored, upon which the tracker sends it again as a GET image. The origin is always
/// echoed, never `*` (tower-http refuses that combination), and the collector sets no
/// cookie and reads none.
fn cors(app: Arc<App>) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin
                .to_str()
                .ok()
                .and_then(origin_host)
                .is_some_and(|h| app.collector.is_known_host(&h))
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(86_400))
}

/// The origins each worker thread remembers the host of; emptied when full.
const REMEMBERED_ORIGINS: usize = 256;
/// Longer `Origin` values are parsed every time, not remembered.
const REMEMBERED_ORIGIN_BYTES: usize = 253;

/// The host of an `Origin` header, lowercase, or `None` for `null` and for what is not
/// an origin. Browsers send the same few origins (the sites' pages) again and again, and
/// both the CORS check and [`visit_of`] need the host, so each worker thread remembers
/// the hosts of the origins it saw last instead of parsing them with `url` per request
/// (what that saved is in `docs/benchmarks.md`).
pub(crate) fn origin_host(origin: &str) -> Option<String> {
    thread_local! {
        static SEEN: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
    }
    if origin.len() > REMEMBERED_ORIGIN_BYTES {
        return parse_origin_host(origin);
    }
    SEEN.with(|seen| {
        if let Some(host) = seen.borrow().get(origin) {
            return host.clone();
        }
        let host = parse_origin_host(origin);
        let mut seen = seen.borrow_mut();
        if seen.len() >= REMEMBERED_ORIGINS {
            seen.clear();
        }
        seen.insert(origin.to_owned(), host.clone());
        host
    })
}

fn parse_origin_host(origin: &str) -> Option<String> {
    if origin == "null" {
        return None;
    }
    url::Url::parse(origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
}

/// The request's headers and body, read within the size limit.
pub(crate) struct Incoming {
    pub headers: HeaderMap,
    pub query: String,
    pub body: axum::body::Bytes,
    pub peer: Option<IpAddr>,
}

/// Reads the request: a body announced larger than the limit is refused before it is
/// read (no `100 Continue` is sent for it), one that turns out larger on the way too.
pub(crate) async fn read(app: &App, request: Request<Body>) -> Result<Incoming, IngestError> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let (parts, body) = request.into_parts();
    let limit = app.config.http.max_body_bytes;
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(IngestError::TooLarge { limit });
    }
    let body = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if luister_service::http::is_body_timeout(&e) {
            IngestError::BodyTimeout {
                limit_ms: app.config.http.connections.body_read_timeout_ms,
            }
        } else {
            IngestError::TooLarge { limit }
        }
    })?;
    Ok(Incoming {
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
        peer,
    })
}

/// The facts about the visitor the request carries (used, then dropped).
pub(crate) fn visit_of<'a>(app: &App, req: &'a Incoming) -> Visit<'a> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let prefetch = ["purpose", "sec-purpose", "x-purpose", "x-moz"]
        .iter()
        .filter_map(|h| header(h))
        .any(|v| v.contains("prefetch") || v.contains("prerender") || v.contains("preview"));
    Visit {
        ip: client_ip(&req.headers, &app.config.http.client_ip_header, req.peer),
        user_agent: header(header::USER_AGENT.as_str()).unwrap_or_default(),
        do_not_track: header("dnt") == Some("1") || header("sec-gpc") == Some("1"),
        prefetch,
        origin_host: header(header::ORIGIN.as_str()).and_then(origin_host),
        now_ms: crate::now_ms(),
    }
}

/// How many events of a request were stored and how many ignored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub accepted: usize,
    pub ignored: usize,
}

/// Finishes every raw event (all must be valid), then [`send`]s them.
pub(crate) async fn deliver(
    app: &App,
    raws: Vec<RawEvent>,
    visit: &Visit<'_>,
) -> Result<Delivered, IngestError> {
    let mut events: Vec<Event> = Vec::with_capacity(raws.len());
    let mut ignored = 0;
    let many = raws.len() > 1;
    let mut keys = app.collector.request_keys(visit);
    for (i, raw) in raws.into_iter().enumerate() {
        match app.collector.finish(raw, visit, &mut keys) {
            Ok(Ok(e)) => events.push(e),
            Ok(Err(why)) => {
                ignored += 1;
                count_ignored(app, why);
            }
            Err(e) if many => return Err(e.at_index(i)),
            Err(e) => return Err(e),
        }
    }
    send(app, &events).await?;
    Ok(Delivered {
        accepted: events.len(),
        ignored,
    })
}

/// Checks the per-visitor rate, sends every event, and waits until the broker
/// acknowledged each one. Any failure fails the whole request with 503.
pub(crate) async fn send(app: &App, events: &[Event]) -> Result<(), IngestError> {
    if let Some(limiter) = &app.limiter {
        for e in events {
            limiter.check(e.visitor.as_u64())?;
        }
    }
    let messages = events
        .iter()
        .map(|e| (e.visitor.to_string(), e.to_json()))
        .collect();
    if let Err(SinkError::Unavailable(reason)) = app.sink.send_all(messages).await {
        return Err(IngestError::Unavailable {
            reason,
            retry_after_s: app.config.producer.retry_after_s,
        });
    }
    // Counted per type once per request, not per event (the label lookup hashes).
    let mut by_type: Vec<(&'static str, u64)> = Vec::new();
    for e in events {
        let name = e.data.type_name();
        match by_type.iter_mut().find(|(t, _)| *t == name) {
            Some((_, n)) => *n += 1,
            None => by_type.push((name, 1)),
        }
    }
    for (name, n) in by_type {
        app.metrics.accepted.with_label_values(&[name]).inc_by(n);
    }
    Ok(())
}

pub(crate) fn count_ignored(app: &App, why: Ignored) {
    app.metrics.ignored.with_label_values(&[why.as_str()]).inc();
}

/// Counts a rejection, notes it in the refusal log (all but the broker's own
/// unavailability, which is no fault of the request) and hands the error back. `req`
/// is the request as far as it was read, to tell whose it was.
pub(crate) fn rejected(app: &App, req: Option<&Incoming>, e: IngestError) -> IngestError {
    let site = req.and_then(|r| {
        let origin = r
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .and_then(origin_host);
        crate::refusals::site_hint(&app.collector, &r.query, &r.body, origin.as_deref())
    });
    rejected_for(app, site, e)
}

/// [`rejected`] for a refusal already known to be `site`'s (or nobody's).
pub(crate) fn rejected_for(
    app: &App,
    site: Option<luister_schema::SiteId>,
    e: IngestError,
) -> IngestError {
    app.metrics.rejected.with_label_values(&[e.reason()]).inc();
    if !matches!(e, IngestError::Unavailable { .. }) {
        let site = site.map(|s| s.to_string()).unwrap_or_default();
        let now_ms = crate::now_ms();
        if let Some(record) = app.refusals.note(&site, e.reason(), &e.to_string(), now_ms) {
            let payload = serde_json::to_vec(&record).unwrap_or_default();
            app.sink.send_refusal((site, payload));
        }
    }
    e
}

/// The client address: the last entry of the configured proxy header, else the peer.
fn client_ip(headers: &HeaderMap, header_name: &str, peer: Option<IpAddr>) -> IpAddr {
    let from_header = (!header_name.is_empty())
        .then(|| headers.get(header_name))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<IpAddr>().ok());
    from_header
        .or(peer)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A collector app over an in-memory sink, and a request helper.

    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use luister_schema::SiteId;

    use super::*;
    use crate::config::{IngestConfig, SiteConfig};
    use crate::sink::memory::MemorySink;

    pub const FIREFOX: &str =
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

    pub fn app() -> (Arc<App>, Arc<MemorySink>) {
        app_with(|_| {})
    }

    /// A browser's POST of `body` to `uri`, without a content type.
    pub fn browser_post(uri: impl AsRef<str>, body: impl Into<Body>) -> Request<Body> {
        Request::post(uri.as_ref())
            .header("user-agent", FIREFOX)
            .body(body.into())
            .unwrap()
    }

    /// A browser's GET of `uri`, without a body.
    pub fn browser_get(uri: impl AsRef<str>) -> Request<Body> {
        Request::get(uri.as_ref())
            .header("user-agent", FIREFOX)
            .body(Body::empty())
            .unwrap()
    }

    /// [`app`] with `adjust` applied to its configuration.
    pub fn app_with(adjust: impl FnOnce(&mut IngestConfig)) -> (Arc<App>, Arc<MemorySink>) {
        let mut site = SiteConfig::new(SiteId::parse("demo").unwrap(), &["localhost"]);
        site.matomo_idsite = Some("1".into());
        site.plausible_domain = Some("localhost".into());
        let mut config = IngestConfig {
            sites: vec![site],
            ..IngestConfig::default()
        };
        config.privacy.shared_salt = false;
        config.http.max_body_bytes = 4096;
        config.http.client_ip_header = "x-forwarded-for".into();
        config.limits.max_events_per_request = 5;
        config.limits.visitor_events_per_minute = 10;
        adjust(&mut config);
        let sink = Arc::new(MemorySink::default());
        let metrics = crate::metrics::IngestMetrics::new(&prometheus::Registry::new()).unwrap();
        (App::new(config, sink.clone(), metrics), sink)
    }

    pub struct Answer {
        pub status: StatusCode,
        pub headers: HeaderMap,
        pub body: Vec<u8>,
    }

    impl Answer {
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&self.body).into_owned()
        }
    }

    pub async fn call(app: &Arc<App>, req: Request<Body>) -> Answer {
        let resp = service(app.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origins_host_is_what_url_parses_lowercase_and_stays_so_when_remembered() {
        let cases = [
            ("https://www.Utrecht.nl", Some("www.utrecht.nl")),
            ("http://localhost:8080", Some("localhost")),
            ("http://[::1]:3000", Some("[::1]")),
            ("http://127.1", Some("127.0.0.1")),
            (
                "https://xn--bcher-kva.example",
                Some("xn--bcher-kva.example"),
            ),
            ("null", None),
            ("not an origin", None),
            ("", None),
        ];
        // Twice: the second round answers from what the thread remembered.
        for _ in 0..2 {
            for (origin, host) in cases {
                assert_eq!(origin_host(origin).as_deref(), host, "{origin:?}");
            }
        }
        // More origins than are remembered: the memory is emptied and refilled, and
        // every answer is still the parsed one.
        for i in 0..(2 * REMEMBERED_ORIGINS + 3) {
            let origin = format!("https://site{i}.example");
            assert_eq!(
                origin_host(&origin),
                Some(format!("site{i}.example")),
                "{origin}"
            );
        }
        let long = format!("https://{}.example", "a".repeat(REMEMBERED_ORIGIN_BYTES));
        assert_eq!(
            origin_host(&long),
            Some(long["https://".len()..].to_owned())
        );
        assert_eq!(
            origin_host("https://www.utrecht.nl").as_deref(),
            Some("www.utrecht.nl")
        );
    }
}
