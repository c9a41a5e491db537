//! The W3C trace context of an incoming request (`traceparent`,
//! `tracestate`), so a trace begun in nginx or a client goes on here.
//!
//! Read with the process's text map propagator: the W3C one when
//! `[tracing]` is configured, otherwise a no-op (and the request span is
//! disabled, so this is not even called).

use axum::http::HeaderMap;
use opentelemetry::propagation::Extractor;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Longest `traceparent` or `tracestate` value read (the W3C limits are 55
/// and 512 characters); a longer one is ignored.
const MAX_HEADER: usize = 1024;

/// Make `span` the child of the trace context in `headers`, if they carry
/// a valid one; otherwise it stays a new trace's root.
pub(crate) fn adopt_parent(span: &tracing::Span, headers: &HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    // Only a span already started elsewhere could refuse; ours is new.
    let _ = span.set_parent(parent);
}

/// The request's headers as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok()).filter(|v| v.len() <= MAX_HEADER)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_values_are_not_read() {
        let mut headers = HeaderMap::new();
        headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
        headers.insert("tracestate", "x".repeat(MAX_HEADER + 1).parse().unwrap());
        let h = Headers(&headers);
        assert_eq!(h.get("traceparent"), Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        assert_eq!(h.get("tracestate"), None);
        assert_eq!(h.get("missing"), None);
    }
}
