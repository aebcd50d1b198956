//! The one JSON error shape: `{"error":{"code","message"}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::domain::actor::Forbidden;
use crate::services::access::AccessError;
use crate::services::commands::{CommandError, CommandRefusal};
use crate::services::push::PushError;
use crate::services::webhooks::WebhookError;
use crate::storage::{DbError, InvalidValue};

/// An API error: HTTP status, stable machine code, human message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code (`bad_request`, `unauthorized`, `not_found`, `conflict`, `unavailable`, …).
    pub code: &'static str,
    /// Explanation.
    pub message: String,
    /// Seconds after which a retry may succeed (sent as `Retry-After`: 429, 503).
    pub retry_after: Option<u64>,
    /// More members of the `error` object (a bad import row: `line` or `feature`, `field`).
    pub detail: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            detail: None,
        }
    }
    /// The same error with a `Retry-After` of `secs` (at least 1).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
    /// 400 with code `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    /// 500 (the details go to the log, not to the client).
    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after {
            r.insert_header((actix_web::http::header::RETRY_AFTER, s.to_string()));
        }
        let mut error = serde_json::Map::new();
        error.insert("code".into(), self.code.into());
        error.insert("message".into(), self.message.clone().into());
        if let Some(d) = &self.detail {
            error.extend(d.clone());
        }
        r.json(json!({ "error": error }))
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if let DbError::Conflict(what) = e {
            return ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            );
        }
        // A value the database refused is bad input, not a 500.
        if let Some(invalid) = e.invalid_value() {
            tracing::debug!(error = %e, "value refused by the database");
            return ApiError::bad_request(
                "invalid_value",
                match invalid {
                    InvalidValue::Text => {
                        "text must not contain NUL or characters the database cannot store"
                    }
                    InvalidValue::TimeOutOfRange => "a date or time is out of range",
                    InvalidValue::Other => "a value is out of range or malformed",
                },
            );
        }
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "database unavailable, retry later",
            );
        }
        ApiError::internal(e)
    }
}

impl From<crate::services::auth::AuthError> for ApiError {
    fn from(e: crate::services::auth::AuthError) -> Self {
        match e {
            crate::services::auth::AuthError::Db(d) => d.into(),
            crate::services::auth::AuthError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many password checks at once, retry shortly",
            )
            .retry_after(1),
            other => ApiError::internal(other),
        }
    }
}

impl From<Forbidden> for ApiError {
    fn from(e: Forbidden) -> Self {
        ApiError::forbidden(e.to_string())
    }
}

/// Invisible objects answer 404 like missing ones; refusals 403; unknown credentials 401.
impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::NotFound(_) => ApiError::not_found(e.to_string()),
            AccessError::Forbidden(f) => f.into(),
            AccessError::Unauthorized(u) => ApiError::unauthorized(u.to_string()),
            AccessError::Storage(d) => d.into(),
        }
    }
}

/// The same status and code for a refusal as the API always gave (409 for a moving vehicle).
impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Refused(r) => {
                let status = match r {
                    CommandRefusal::Forbidden(_)
                    | CommandRefusal::RawForAdmins
                    | CommandRefusal::NotCommander => StatusCode::FORBIDDEN,
                    CommandRefusal::VehicleMoving { .. } => StatusCode::CONFLICT,
                    CommandRefusal::InvalidType
                    | CommandRefusal::InvalidExpiresIn
                    | CommandRefusal::ConfirmationRequired
                    | CommandRefusal::InvalidInterval(_)
                    | CommandRefusal::InvalidText => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, r.code(), r.to_string())
            }
            CommandError::Storage(d) => d.into(),
        }
    }
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::InvalidUrl => ApiError::bad_request("invalid_url", e.to_string()),
            WebhookError::InvalidSecret => ApiError::bad_request("invalid_secret", e.to_string()),
            WebhookError::NotFound(_) => ApiError::not_found(e.to_string()),
            WebhookError::Storage(d) => d.into(),
        }
    }
}

impl From<PushError> for ApiError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::Invalid { .. } => {
                ApiError::bad_request("invalid_subscription", e.to_string())
            }
            PushError::NotFound => ApiError::not_found(e.to_string()),
            PushError::BadKey(_) => ApiError::internal(e),
            PushError::Storage(d) => d.into(),
        }
    }
}

/// A bad row or field answers 400 naming it: `{"error": {"code": "invalid_row", "message",
/// "line" | "feature", "field"}}` (`invalid_field` for a create/update body, `invalid_file`
/// for a file that cannot be read at all).
impl From<crate::domain::linkage_import::ImportError> for ApiError {
    fn from(e: crate::domain::linkage_import::ImportError) -> Self {
        use crate::domain::linkage_import::Location;
        let code = match (e.at, &e.field) {
            (Some(_), _) => "invalid_row",
            (None, Some(_)) => "invalid_field",
            (None, None) => "invalid_file",
        };
        let mut detail = serde_json::Map::new();
        match e.at {
            Some(Location::Line(n)) => {
                detail.insert("line".into(), n.into());
            }
            Some(Location::Feature(n)) => {
                detail.insert("feature".into(), n.into());
            }
            None => {}
        }
        if let Some(f) = &e.field {
            detail.insert("field".into(), f.clone().into());
        }
        let mut err = ApiError::bad_request(code, e.to_string());
        err.detail = Some(detail);
        err
    }
}

impl From<crate::services::linkage::LinkageError> for ApiError {
    fn from(e: crate::services::linkage::LinkageError) -> Self {
        use crate::services::linkage::LinkageError as L;
        match e {
            L::Invalid(i) => i.into(),
            L::CameraNotFound(_) | L::CheckpointNotFound(_) => ApiError::not_found(e.to_string()),
            L::Resolved => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            L::Storage(d) => d.into(),
        }
    }
}
