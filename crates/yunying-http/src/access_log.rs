//! The HTTP access log and request metrics.
//!
//! One line per request at INFO on the target `yunying::access`: who
//! (the principal's id, or `-`), from where (the client as the access
//! rules see it), the method, the route as declared (`/dicom-web/studies/
//! {study}/series`: never the path itself, whose UIDs and query would put
//! identifiers in the log), the status, and the time to the response's
//! head (a streamed body may take longer). Requests matching no route are
//! logged as `(unmatched)`.
//!
//! The same requests are counted for `/metrics`: by route, method and
//! status, with a latency histogram by route and method. Both label sets
//! are bounded by the router's routes.
//!
//! And each request is a span, `http.request` (target `yunying::trace`,
//! exported only when `[tracing]` is configured), with the same route,
//! method and status, whose parent is the W3C `traceparent` the request
//! carries, if any: the root of one trace through the archive and the
//! object store. With tracing off the span is disabled and nothing of it
//! is built.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

use crate::AppState;

/// Latency buckets (seconds), Prometheus' defaults.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The principal a request was served for, set by the authentication
/// middleware inside this one.
#[derive(Clone, Default)]
pub(crate) struct Who(Arc<OnceLock<String>>);

impl Who {
    pub(crate) fn set(&self, id: &str) {
        let _ = self.0.set(id.to_string());
    }
}

#[derive(Default)]
struct Latency {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Requests by route, method and status, and latency by route and method.
#[derive(Default)]
pub(crate) struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Latency>>,
}

impl HttpMetrics {
    fn observe(&self, route: &str, method: &str, status: u16, secs: f64) {
        *self.requests.lock().expect("metrics lock").entry((route.into(), method.into(), status)).or_default() += 1;
        let mut latency = self.latency.lock().expect("metrics lock");
        let l = latency.entry((route.into(), method.into())).or_default();
        l.count += 1;
        l.sum += secs;
        for (bucket, upper) in l.buckets.iter_mut().zip(BUCKETS) {
            if secs <= upper {
                *bucket += 1;
            }
        }
    }

    /// The Prometheus text of both families.
    pub(crate) fn render(&self) -> String {
        let mut out = String::from(
            "# HELP yunying_http_requests_total HTTP requests by route, method and status\n# TYPE yunying_http_requests_total counter\n",
        );
        for ((route, method, status), n) in self.requests.lock().expect("metrics lock").iter() {
            out.push_str(&format!(
                "yunying_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}\n",
                escape(route)
            ));
        }
        out.push_str(
            "# HELP yunying_http_request_duration_seconds Time to the response head, by route and method\n\
             # TYPE yunying_http_request_duration_seconds histogram\n",
        );
        for ((route, method), l) in self.latency.lock().expect("metrics lock").iter() {
            let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
            for (upper, n) in BUCKETS.iter().zip(l.buckets) {
                out.push_str(&format!("yunying_http_request_duration_seconds_bucket{{{labels},le=\"{upper}\"}} {n}\n"));
            }
            out.push_str(&format!("yunying_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}\n", l.count));
            out.push_str(&format!("yunying_http_request_duration_seconds_sum{{{labels}}} {}\n", l.sum));
            out.push_str(&format!("yunying_http_request_duration_seconds_count{{{labels}}} {}\n", l.count));
        }
        out
    }
}

/// A label value as Prometheus reads it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The middleware: log and count each request, in its span.
pub(crate) async fn log_request(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("(unmatched)".to_string(), |m| m.as_str().to_string());
    let method = request.method().as_str().to_string();
    let client = crate::auth::client_of(&state, &request);
    let who = Who::default();
    request.extensions_mut().insert(who.clone());
    let span = tracing::info_span!(
        target: "yunying::trace",
        "http.request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    if !span.is_disabled() {
        crate::trace_context::adopt_parent(&span, request.headers());
    }
    let response = next.run(request).instrument(span.clone()).await;
    let secs = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    state.http_metrics.observe(&route, &method, status, secs);
    let who = who.0.get().map_or("-", String::as_str);
    tracing::info!(target: "yunying::access", face = "http", who, client, method, route, status, ms = secs * 1000.0, "request");
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let m = HttpMetrics::default();
        m.observe("/dicom-web/studies", "GET", 200, 0.003);
        m.observe("/dicom-web/studies", "GET", 200, 0.2);
        m.observe("/dicom-web/studies", "GET", 404, 20.0);
        m.observe("/a\"b", "POST", 500, 0.001);
        let text = m.render();
        assert!(text.contains("yunying_http_requests_total{route=\"/dicom-web/studies\",method=\"GET\",status=\"200\"} 2\n"), "{text}");
        assert!(
            text.contains("yunying_http_request_duration_seconds_bucket{route=\"/dicom-web/studies\",method=\"GET\",le=\"0.005\"} 1\n")
        );
        assert!(text.contains("yunying_http_request_duration_seconds_bucket{route=\"/dicom-web/studies\",method=\"GET\",le=\"0.25\"} 2\n"));
        assert!(text.contains("yunying_http_request_duration_seconds_bucket{route=\"/dicom-web/studies\",method=\"GET\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("route=\"/a\\\"b\""), "{text}");
    }
}
