//! The API's one error type: every refusal is a status code and a JSON body
//! `{"error": "<stable code>", "message": "<what was wrong>"}`. The domain's errors (votes,
//! storage) are mapped here and nowhere else; an internal failure's cause travels in the
//! response's extensions to the middleware that logs it, and never reaches the client.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::aggregate::VoteError;
use crate::store::StoreError;

/// The cause of an internal failure, for the logging middleware (not sent).
#[derive(Debug, Clone)]
pub struct Cause(pub Arc<str>);

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
    /// 409: the id is known (decided, or announced on chain) with different contents.
    Conflict(&'static str, String),
    /// 410: the instruction is closed for good.
    Gone(&'static str, String),
    /// 425: too early to take this; the same request may succeed later.
    TooEarly(&'static str, String),
    /// 422: the TEE refused the request (its signed reason in the message).
    Unprocessable(&'static str, String),
    /// 408: the request took longer than `request-timeout-ms` (its body was sent too slowly).
    RequestTimeout,
    /// 413: the body exceeds the bound.
    TooLarge(usize),
    /// 429: the client exceeded its rate.
    RateLimited,
    /// 503: the proxy cannot take this now (no TEE yet, full queue, shutting down).
    Unavailable(&'static str, String),
    /// 503: an internal failure (the database); the client gets `message`, the log `cause`.
    Internal {
        /// The stable code.
        code: &'static str,
        /// What the client is told.
        message: &'static str,
        /// What went wrong (logged only).
        cause: Arc<str>,
    },
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
            ApiError::Conflict(c, m) => (StatusCode::CONFLICT, c, m.clone()),
            ApiError::Gone(c, m) => (StatusCode::GONE, c, m.clone()),
            ApiError::TooEarly(c, m) => (StatusCode::TOO_EARLY, c, m.clone()),
            ApiError::Unprocessable(c, m) => (StatusCode::UNPROCESSABLE_ENTITY, c, m.clone()),
            ApiError::RequestTimeout => {
                (StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request took too long; send it faster".into())
            }
            ApiError::TooLarge(max) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body exceeds {max} bytes"))
            }
            ApiError::RateLimited => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests from this client".into())
            }
            ApiError::Unavailable(c, m) => (StatusCode::SERVICE_UNAVAILABLE, c, m.clone()),
            ApiError::Internal { code, message, .. } => (StatusCode::SERVICE_UNAVAILABLE, code, (*message).into()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal {
            code: "storage_unavailable",
            message: "the database is unavailable; retry",
            cause: e.to_string().into(),
        }
    }
}

impl From<Arc<StoreError>> for ApiError {
    fn from(e: Arc<StoreError>) -> Self {
        ApiError::Internal {
            code: "storage_unavailable",
            message: "the database is unavailable; retry",
            cause: e.to_string().into(),
        }
    }
}

impl From<VoteError> for ApiError {
    fn from(e: VoteError) -> Self {
        let message = e.to_string();
        match e {
            VoteError::InvalidInstruction(_) => ApiError::BadRequest("invalid_instruction", message),
            VoteError::Inadmissible(_) => ApiError::BadRequest("inadmissible_instruction", message),
            VoteError::VariableMessageTooLong { .. } => ApiError::BadRequest("invalid_instruction", message),
            VoteError::BadSignature(_) => ApiError::BadRequest("invalid_signature", message),
            VoteError::NoTee => ApiError::Unavailable("no_tee", message),
            VoteError::WrongTee(_) => ApiError::BadRequest("wrong_tee", message),
            VoteError::UnknownEpoch(_) => ApiError::BadRequest("unknown_epoch", message),
            VoteError::StaleEpoch { .. } => ApiError::Gone("stale_epoch", message),
            VoteError::Expired => ApiError::Gone("expired", message),
            VoteError::UnknownSigner { .. } => ApiError::Forbidden("unknown_signer", message),
            VoteError::Conflict => ApiError::Conflict("conflict", message),
            VoteError::NotAsAnnounced { .. } => ApiError::Conflict("not_as_announced", message),
            VoteError::NoVoterYet => ApiError::TooEarly("no_voter_yet", message),
            VoteError::QueueFull { .. } => ApiError::Unavailable("queue_full", message),
            VoteError::SignerFull { .. } => ApiError::Unavailable("signer_full", message),
            VoteError::ShuttingDown => ApiError::Unavailable("shutting_down", message),
            VoteError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let mut response = (status, Json(json!({ "error": code, "message": message }))).into_response();
        if let ApiError::Internal { cause, .. } = self {
            response.extensions_mut().insert(Cause(cause));
        }
        response
    }
}
