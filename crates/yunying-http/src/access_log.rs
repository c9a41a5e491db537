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
//! status, with a latency histogram by route and method; the bytes of
//! request and response bodies by route and method, counted frame by
//! frame as the handler reads the request and as the server takes the
//! response (a streamed body too; one cut short counts what went out);
//! and error responses (4xx, 5xx) by route and a reason named after the
//! status. Every label set is bounded by the router's routes (methods
//! outside the standard ones are `other`).
//!
//! And each request is a span, `http.request` (target `yunying::trace`,
//! exported only when `[tracing]` is configured), with the same route,
//! method and status, whose parent is the W3C `traceparent` the request
//! carries, if any: the root of one trace through the archive and the
//! object store. With tracing off the span is disabled and nothing of it
//! is built.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
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

/// Body bytes of one route and method: read from requests, sent in
/// responses. Shared with the bodies being counted.
#[derive(Default, Clone)]
struct Sizes {
    request: Arc<AtomicU64>,
    response: Arc<AtomicU64>,
}

/// Requests by route, method and status, latency and body bytes by route
/// and method, error responses by route and reason.
#[derive(Default)]
pub(crate) struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<(String, &'static str), Latency>>,
    sizes: Mutex<BTreeMap<(String, &'static str), Sizes>>,
    errors: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl HttpMetrics {
    /// The byte counters of `route` and `method`, for the bodies of one request.
    fn sizes(&self, route: &str, method: &'static str) -> Sizes {
        self.sizes.lock().expect("metrics lock").entry((route.into(), method)).or_default().clone()
    }

    fn observe(&self, route: &str, method: &'static str, status: u16, secs: f64) {
        *self.requests.lock().expect("metrics lock").entry((route.into(), method, status)).or_default() += 1;
        if let Some(reason) = error_reason(status) {
            *self.errors.lock().expect("metrics lock").entry((route.into(), reason)).or_default() += 1;
        }
        let mut latency = self.latency.lock().expect("metrics lock");
        let l = latency.entry((route.into(), method)).or_default();
        l.count += 1;
        l.sum += secs;
        for (bucket, upper) in l.buckets.iter_mut().zip(BUCKETS) {
            if secs <= upper {
                *bucket += 1;
            }
        }
    }

    /// The Prometheus text of the HTTP families.
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
        let sizes = self.sizes.lock().expect("metrics lock");
        for (name, help, pick) in [
            (
                "yunying_http_request_bytes_total",
                "Request body bytes read, by route and method",
                (|s: &Sizes| s.request.load(Relaxed)) as fn(&Sizes) -> u64,
            ),
            ("yunying_http_response_bytes_total", "Response body bytes sent (before compression), by route and method", |s: &Sizes| {
                s.response.load(Relaxed)
            }),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
            for ((route, method), s) in sizes.iter() {
                out.push_str(&format!("{name}{{route=\"{}\",method=\"{method}\"}} {}\n", escape(route), pick(s)));
            }
        }
        drop(sizes);
        out.push_str(
            "# HELP yunying_http_errors_total Error responses (4xx, 5xx), by route and reason\n# TYPE yunying_http_errors_total counter\n",
        );
        for ((route, reason), n) in self.errors.lock().expect("metrics lock").iter() {
            out.push_str(&format!("yunying_http_errors_total{{route=\"{}\",reason=\"{reason}\"}} {n}\n", escape(route)));
        }
        out
    }
}

/// The reason label of an error response, from its status (`None` below
/// 400): a fixed set, whatever the handler's message said.
fn error_reason(status: u16) -> Option<&'static str> {
    if status < 400 {
        return None;
    }
    Some(match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        408 | 504 => "timeout",
        409 => "conflict",
        410 => "gone",
        413 => "too_large",
        415 => "unsupported_media_type",
        416 => "range_not_satisfiable",
        422 => "unprocessable",
        423 => "locked",
        429 => "too_many_requests",
        _ if status < 500 => "other_client_error",
        500 => "internal",
        502 => "bad_gateway",
        503 => "unavailable",
        507 => "storage_full",
        _ => "other_server_error",
    })
}

/// A method as a label: the standard ones, else `other` (a client may
/// send any token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// A body that adds the length of each data frame it yields to `bytes`:
/// as the handler reads a request, as the server takes a response to
/// send. Its size hint is the inner body's, so a `Content-Length` is kept.
struct Counted {
    inner: Body,
    bytes: Arc<AtomicU64>,
}

impl Counted {
    fn wrap(inner: Body, bytes: Arc<AtomicU64>) -> Body {
        Body::new(Counted { inner, bytes })
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.bytes.fetch_add(data.len() as u64, Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A label value as Prometheus reads it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The middleware: log and count each request, in its span.
pub(crate) async fn log_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().map_or("(unmatched)".to_string(), |m| m.as_str().to_string());
    let method = request.method().as_str().to_string();
    let label = method_label(request.method());
    let sizes = state.http_metrics.sizes(&route, label);
    let mut request = request.map(|body| Counted::wrap(body, sizes.request.clone()));
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
    let response = next.run(request).instrument(span.clone()).await.map(|body| Counted::wrap(body, sizes.response));
    let secs = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    state.http_metrics.observe(&route, label, status, secs);
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
        assert!(text.contains("yunying_http_errors_total{route=\"/dicom-web/studies\",reason=\"not_found\"} 1\n"), "{text}");
        assert!(text.contains("yunying_http_errors_total{route=\"/a\\\"b\",reason=\"internal\"} 1\n"), "{text}");
        assert!(!text.contains("reason=\"ok\"") && text.matches("yunying_http_errors_total{").count() == 2, "{text}");
    }

    #[test]
    fn error_reasons_are_a_fixed_set() {
        assert_eq!(error_reason(200), None);
        assert_eq!(error_reason(304), None);
        assert_eq!(error_reason(413), Some("too_large"));
        assert_eq!(error_reason(418), Some("other_client_error"));
        assert_eq!(error_reason(503), Some("unavailable"));
        assert_eq!(error_reason(599), Some("other_server_error"));
        assert_eq!(method_label(&Method::from_bytes(b"SECRETPID").unwrap()), "other");
        assert_eq!(method_label(&Method::POST), "POST");
    }

    #[tokio::test]
    async fn a_streamed_body_is_counted_frame_by_frame_and_when_dropped_early() {
        use http_body_util::BodyExt;
        let m = HttpMetrics::default();
        let sizes = m.sizes("/dicom-web/studies/{study}", "GET");
        let chunks = [Bytes::from_static(b"0123456789"), Bytes::from_static(b"abc"), Bytes::from_static(b"never sent")];
        let stream = futures_util::stream::iter(chunks.map(Ok::<_, std::io::Error>));
        let mut body = Counted::wrap(Body::from_stream(stream), sizes.response.clone());
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), 10);
        assert_eq!(sizes.response.load(Relaxed), 10, "counted as the frame is taken");
        body.frame().await.unwrap().unwrap();
        drop(body); // the client went away: the third frame is never sent
        let text = m.render();
        assert!(text.contains("yunying_http_response_bytes_total{route=\"/dicom-web/studies/{study}\",method=\"GET\"} 13\n"), "{text}");
        assert!(text.contains("yunying_http_request_bytes_total{route=\"/dicom-web/studies/{study}\",method=\"GET\"} 0\n"), "{text}");
        assert!(text.contains("# TYPE yunying_http_response_bytes_total counter\n"), "{text}");

        // A whole body read to its end; its exact size survives the wrapping
        // (hyper sends it with a Content-Length).
        let body = Counted::wrap(Body::from("x".repeat(1000)), sizes.request.clone());
        assert_eq!(body.size_hint().exact(), Some(1000));
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 1000);
        assert!(m.render().contains("yunying_http_request_bytes_total{route=\"/dicom-web/studies/{study}\",method=\"GET\"} 1000\n"));
    }
}
