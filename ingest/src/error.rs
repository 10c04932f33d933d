//! Everything a request to the collector can fail with, and the one place that maps
//! it to an HTTP status and a message a site builder can act on.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Why the collector did not accept a request.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not a valid event; the message says what is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than `http.max_body_bytes`.
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The body did not arrive within `http.connections.body_read_timeout_ms`.
    #[error(
        "the request body did not arrive within {limit_ms} ms; send it at once after the headers"
    )]
    BodyTimeout {
        /// The configured limit.
        limit_ms: u64,
    },
    /// More events in one request than `limits.max_events_per_request`.
    #[error("{count} events in one request; the limit is {limit}")]
    TooManyEvents {
        /// Events sent.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
    /// One event of several was bad; the message names which.
    #[error("event {index}: {source}")]
    AtIndex {
        /// Position in the request, from 0.
        index: usize,
        /// What was wrong with it.
        source: Box<IngestError>,
    },
    /// The event names a site that is not in the registry.
    #[error("site {0:?} is not registered with this collector")]
    UnknownSite(String),
    /// The page URL's host does not belong to the site.
    #[error("host {host:?} does not belong to site {site}; add it to the site's hostnames")]
    ForeignHost {
        /// The site named in the event.
        site: String,
        /// The host of the page URL.
        host: String,
    },
    /// A browser request from a page whose origin is not one of the site's hostnames.
    #[error("origin {origin:?} is not one of the hostnames of site {site}")]
    ForeignOrigin {
        /// The site named in the event.
        site: String,
        /// The `Origin` header's host.
        origin: String,
    },
    /// The visitor sent more events than `limits.visitor_events_per_minute`.
    #[error("too many events from this visitor; retry after {retry_after_s} s")]
    RateLimited {
        /// Seconds for the `Retry-After` header.
        retry_after_s: u64,
    },
    /// The broker did not take the event; the client should retry later.
    #[error("events cannot be stored right now ({reason}); retry after {retry_after_s} s")]
    Unavailable {
        /// What went wrong, without internal detail.
        reason: String,
        /// Seconds for the `Retry-After` header.
        retry_after_s: u64,
    },
}

impl IngestError {
    /// Marks the error as belonging to event `index` of a request.
    pub fn at_index(self, index: usize) -> Self {
        match self {
            e @ (IngestError::Unavailable { .. } | IngestError::RateLimited { .. }) => e,
            e => IngestError::AtIndex {
                index,
                source: Box::new(e),
            },
        }
    }

    /// Whether the same request may succeed later (the broker or today's salt is not
    /// available, the visitor's rate is exceeded): the client must be told to retry,
    /// never that its request was handled.
    pub fn is_temporary(&self) -> bool {
        match self {
            IngestError::AtIndex { source, .. } => source.is_temporary(),
            IngestError::Unavailable { .. } | IngestError::RateLimited { .. } => true,
            _ => false,
        }
    }

    /// A short, bounded label for the rejection metric.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::AtIndex { source, .. } => source.reason(),
            IngestError::TooManyEvents { .. } => "too_many_events",
            IngestError::ForeignOrigin { .. } => "foreign_origin",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::BadRequest(_) => "bad_request",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::BodyTimeout { .. } => "body_timeout",
            IngestError::UnknownSite(_) => "unknown_site",
            IngestError::ForeignHost { .. } => "foreign_host",
            IngestError::Unavailable { .. } => "unavailable",
        }
    }

    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::AtIndex { source, .. } => source.status(),
            IngestError::TooManyEvents { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::ForeignOrigin { .. } => StatusCode::FORBIDDEN,
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            IngestError::UnknownSite(_) => StatusCode::NOT_FOUND,
            IngestError::ForeignHost { .. } => StatusCode::FORBIDDEN,
            IngestError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut resp = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if let IngestError::Unavailable { retry_after_s, .. }
        | IngestError::RateLimited { retry_after_s } = self
        {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
        }
        resp
    }
}
