//! API errors and their one mapping to HTTP status and message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use luister_store::StoreError;

/// Why a request was not answered.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter is missing or malformed; the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// The site is not configured.
    #[error("site {0:?} is not known to this API")]
    UnknownSite(String),
    /// ClickHouse did not answer; retry later.
    #[error("the data store is unavailable; retry later")]
    Unavailable,
    /// Anything else; details are logged, not returned.
    #[error("internal error")]
    Internal,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_retryable() {
            tracing::warn!(error = %e, "ClickHouse unavailable");
            ApiError::Unavailable
        } else {
            tracing::error!(error = %e, "query failed");
            ApiError::Internal
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UnknownSite(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}
