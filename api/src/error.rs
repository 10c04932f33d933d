//! API errors and their one mapping to HTTP status and message.

use axum::http::header::WWW_AUTHENTICATE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

use luister_store::StoreError;

/// Why a request was not answered.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// A parameter is missing or malformed; the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// No valid token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The token is valid but may not read this site.
    #[error("this token may not read site {0:?}")]
    Forbidden(String),
    /// The site is not configured.
    #[error("site {0:?} is not known to this API")]
    UnknownSite(String),
    /// No such action (or it was deleted).
    #[error("action {0:?} does not exist")]
    UnknownAction(String),
    /// The request body did not arrive in time (`http.connections.body_read_timeout_ms`).
    #[error("the request body did not arrive in time; send it at once after the headers")]
    BodyTimeout,
    /// No such path, or not with this method; the message says what there is.
    #[error("{1}")]
    NoRoute(StatusCode, String),
    /// ClickHouse did not answer; retry later.
    #[error("the data store is unavailable; retry later")]
    Unavailable,
    /// Anything else; details are logged, not returned.
    #[error("internal error")]
    Internal,
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong, in a sentence.
    #[schema(example = "to (2026-11-01) is before from (2026-11-02)")]
    pub error: String,
}

/// The error answers of every endpoint with a site or an action in its path, for the
/// OpenAPI document.
#[derive(IntoResponses)]
pub enum AccessErrors {
    /// A parameter or field is missing, unknown or malformed; the message names it.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No token, or not a valid one.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The token may not read this site, or the action's site (another tenant's).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// The site or the action does not exist.
    #[response(status = 404)]
    NotFound(ErrorBody),
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

impl From<clickhouse::error::Error> for ApiError {
    fn from(e: clickhouse::error::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnknownSite(_) | ApiError::UnknownAction(_) => StatusCode::NOT_FOUND,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::NoRoute(status, _) => status,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = Json(ErrorBody {
            error: self.to_string(),
        });
        if status == StatusCode::UNAUTHORIZED {
            // Bearer for programs; Basic so that a browser asks for the token.
            return (
                status,
                [(
                    WWW_AUTHENTICATE,
                    r#"Bearer realm="luister", Basic realm="luister""#,
                )],
                body,
            )
                .into_response();
        }
        (status, body).into_response()
    }
}
