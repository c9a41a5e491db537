//! The viewer's hanging protocols over HTTP (`/api/viewer/hanging-protocols`):
//! `GET` for anyone who reads images (and the system administrator), `PUT`
//! (the whole list, JSON) and `DELETE` (back to the built-in list) for the
//! system administrator, same-origin JSON only. Every rule, bound and
//! ledger event is `yunying-hanging`'s; this file only maps.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use yunying_access::Denied;

use crate::AppState;
use crate::auth::{Signed, denied};
use crate::film::Client;

pub(crate) fn routes() -> Router<AppState> {
    let changes = Router::new()
        .route("/api/viewer/hanging-protocols", axum::routing::put(replace).delete(reset))
        .route_layer(axum::middleware::from_fn(crate::people::same_origin_json));
    Router::new().route("/api/viewer/hanging-protocols", get(protocols)).merge(changes)
}

fn answer<T: serde::Serialize>(result: Result<T, Denied>) -> Response {
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => denied(e),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

async fn protocols(State(s): State<AppState>, Signed(who): Signed) -> Response {
    answer(yunying_hanging::protocols_as(&s.access, &who).await)
}

async fn replace(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, body: axum::body::Bytes) -> Response {
    let Ok(body) = std::str::from_utf8(&body) else {
        return denied(Denied::Invalid("the list is not UTF-8 JSON".into()));
    };
    answer(yunying_hanging::replace_as(&s.access, &who, body, &client, now_ms()).await)
}

async fn reset(State(s): State<AppState>, Signed(who): Signed, Client(client): Client) -> Response {
    answer(yunying_hanging::reset_as(&s.access, &who, &client).await)
}
