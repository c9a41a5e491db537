//! The one place where errors become HTTP statuses with a JSON body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use yunying_archive::RetrieveError;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }
    pub fn not_acceptable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_ACCEPTABLE, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
        }
        let body = serde_json::json!({ "error": self.message, "status": self.status.as_u16() });
        let mut response = (self.status, body.to_string()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

impl From<RetrieveError> for ApiError {
    fn from(e: RetrieveError) -> ApiError {
        match &e {
            RetrieveError::NoSuchFrame { .. } | RetrieveError::NoPixelData | RetrieveError::NoSuchBulkData(_) => {
                ApiError::not_found(e.to_string())
            }
            RetrieveError::Transcode(
                yunying_transcode::TranscodeError::UnsupportedTransferSyntax(_) | yunying_transcode::TranscodeError::Unsupported(_),
            ) => ApiError::not_acceptable(e.to_string()),
            RetrieveError::Transcode(_) | RetrieveError::Corrupt(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
            RetrieveError::Store(_) => ApiError::internal(e.to_string()),
        }
    }
}

impl From<yunying_index::IndexError> for ApiError {
    fn from(e: yunying_index::IndexError) -> ApiError {
        if e.is_invalid_text() {
            return ApiError::bad_request(yunying_index::INVALID_TEXT);
        }
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("index unavailable: {e}"))
    }
}
