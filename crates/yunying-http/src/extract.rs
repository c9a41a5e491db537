//! axum's `Json`, `Path` and `Query` extractors with their refusals as
//! this crate's JSON errors ([`ApiError`]): a body that is not JSON, lacks a
//! field or has one of the wrong type, a path segment or query value that
//! does not parse, is answered `{"error": …, "status": …}` with the status
//! axum chose (400, 413, 415, 422), never axum's plain text. `Json` is also
//! the response type, so a handler names one `Json` for both.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body (or answer); a refused body is a JSON error.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters; one that does not parse is a JSON error.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

/// Query parameters; a missing or unparsable one is a JSON error.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError::new(rejection.status(), rejection.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::{get, post};
    use serde::Deserialize;
    use tower::ServiceExt;

    use super::*;

    #[derive(Deserialize)]
    struct Body1 {
        #[allow(dead_code)]
        n: u64,
    }

    #[derive(Deserialize)]
    struct Page {
        #[allow(dead_code)]
        after: i64,
    }

    fn app() -> Router {
        Router::new()
            .route("/json", post(|Json(_): Json<Body1>| async { "ok" }))
            .route("/path/{n}", get(|Path(_): Path<i64>| async { "ok" }))
            .route("/query", get(|Query(_): Query<Page>| async { "ok" }))
    }

    async fn answer(request: Request<Body>) -> (StatusCode, String, serde_json::Value) {
        let response = app().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, content_type, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    fn post_json(body: &str, content_type: Option<&str>) -> Request<Body> {
        let mut r = Request::post("/json");
        if let Some(ct) = content_type {
            r = r.header(header::CONTENT_TYPE, ct);
        }
        r.body(Body::from(body.to_string())).unwrap()
    }

    #[tokio::test]
    async fn refused_bodies_paths_and_queries_are_json_errors_with_axums_statuses() {
        let cases = [
            (post_json("{\"n\": 1.5}", Some("application/json")), StatusCode::UNPROCESSABLE_ENTITY),
            (post_json("{}", Some("application/json")), StatusCode::UNPROCESSABLE_ENTITY),
            (post_json("{not json", Some("application/json")), StatusCode::BAD_REQUEST),
            (post_json("{\"n\": 1}", None), StatusCode::UNSUPPORTED_MEDIA_TYPE),
            (Request::get("/path/abc").body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
            (Request::get("/query?after=x").body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
            (Request::get("/query").body(Body::empty()).unwrap(), StatusCode::BAD_REQUEST),
        ];
        for (request, expected) in cases {
            let what = format!("{} {}", request.method(), request.uri());
            let (status, content_type, body) = answer(request).await;
            assert_eq!(status, expected, "{what}: {body}");
            assert_eq!(content_type, "application/json", "{what}");
            assert_eq!(body["status"], expected.as_u16(), "{what}: {body}");
            assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {body}");
        }
        let (status, _, _) = answer(post_json("{\"n\": 1}", Some("application/json"))).await;
        assert_eq!(status, StatusCode::OK);
    }
}
