//! The API's one error type: every refusal is a status code and a JSON body
//! `{"error": "<stable code>", "message": "<what was wrong>"}`; internals are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

/// An API error.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed; the message names the problem.
    BadRequest(&'static str, String),
    /// 403: the signer may not vote on this instruction.
    Forbidden(&'static str, String),
    /// 404: nothing under this id (or route).
    NotFound(&'static str, String),
    /// 405: the route exists with another method.
    MethodNotAllowed,
    /// 409: the id is known with different contents.
    Conflict(String),
    /// 413: the body exceeds the bound.
    TooLarge(usize),
    /// 429: the client exceeded its rate.
    RateLimited,
    /// 503: the proxy cannot take this now (no TEE yet, full queue, database down).
    Unavailable(&'static str, String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::BadRequest(c, m) => (StatusCode::BAD_REQUEST, c, m.clone()),
            ApiError::Forbidden(c, m) => (StatusCode::FORBIDDEN, c, m.clone()),
            ApiError::NotFound(c, m) => (StatusCode::NOT_FOUND, c, m.clone()),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route".into())
            }
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            ApiError::TooLarge(max) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body exceeds {max} bytes"))
            }
            ApiError::RateLimited => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests from this client".into())
            }
            ApiError::Unavailable(c, m) => (StatusCode::SERVICE_UNAVAILABLE, c, m.clone()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!("{e}");
        ApiError::Unavailable("storage_unavailable", "the database is unavailable; retry".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        (status, Json(json!({ "error": code, "message": message }))).into_response()
    }
}
