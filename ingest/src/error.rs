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
    /// A short, bounded label for the rejection metric.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::BadRequest(_) => "bad_request",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::UnknownSite(_) => "unknown_site",
            IngestError::ForeignHost { .. } => "foreign_host",
            IngestError::Unavailable { .. } => "unavailable",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
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
        if let IngestError::Unavailable { retry_after_s, .. } = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
        }
        resp
    }
}
