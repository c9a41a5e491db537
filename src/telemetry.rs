//! OpenTelemetry traces (`[tracing]`, off when the section is absent): one
//! trace per HTTP request and per DIMSE operation, through the archive,
//! the index and the object store, exported over OTLP/HTTP (JSON) by a
//! batch exporter on the tokio runtime and flushed when `serve` stops.
//!
//! The spans are made on the target [`TARGET`] in the library crates; only
//! the layer made here listens to it (the log's layer never shows them), so
//! with tracing off they are disabled where they are made. Their
//! attributes are routes, methods, statuses, sizes, counts, SOP classes and
//! AE titles, never patient data or UIDs; the log's events are not
//! exported.

use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, Sampler, SdkTracerProvider, span_processor_with_async_runtime::BatchSpanProcessor};
use serde::{Deserialize, Serialize};
use tracing_subscriber::Layer;

/// The target of every span that is exported.
pub const TARGET: &str = "yunying::trace";

/// Where and how traces are exported (`[tracing]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingConfig {
    /// The OTLP/HTTP collector, `http://host:4318`; spans are POSTed to
    /// `/v1/traces` under it. Plain HTTP only (a collector on the node or
    /// beside it).
    pub otlp_endpoint: String,
    /// `service.name` of the traces.
    pub service_name: String,
    /// Fraction of traces kept, 0 to 1, decided where a trace starts: an
    /// incoming `traceparent`'s sampled flag is followed.
    pub sample_ratio: f64,
    /// How long one export may take before it is given up.
    pub export_timeout_secs: u64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig { otlp_endpoint: String::new(), service_name: "yunying".into(), sample_ratio: 1.0, export_timeout_secs: 10 }
    }
}

impl TracingConfig {
    /// Refuse what would not export.
    pub fn validate(&self) -> Result<(), String> {
        let endpoint = &self.otlp_endpoint;
        if endpoint.is_empty() {
            return Err("tracing.otlp_endpoint is required in [tracing] (e.g. \"http://127.0.0.1:4318\")".into());
        }
        let Some(rest) = endpoint.strip_prefix("http://") else {
            return Err(format!(
                "tracing.otlp_endpoint = {endpoint:?}: only http:// is supported (send to a collector on the node or beside it)"
            ));
        };
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || endpoint.len() > 2048 || endpoint.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("tracing.otlp_endpoint = {endpoint:?} is not a URL such as \"http://127.0.0.1:4318\""));
        }
        if self.service_name.trim().is_empty() || self.service_name.len() > 256 {
            return Err("tracing.service_name must be 1 to 256 characters".into());
        }
        if !(self.sample_ratio.is_finite() && (0.0..=1.0).contains(&self.sample_ratio)) {
            return Err(format!("tracing.sample_ratio = {} must be between 0 and 1", self.sample_ratio));
        }
        if !(1..=300).contains(&self.export_timeout_secs) {
            return Err("tracing.export_timeout_secs must be between 1 and 300".into());
        }
        Ok(())
    }

    /// The URL spans are POSTed to.
    fn traces_url(&self) -> String {
        let base = self.otlp_endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") { base.to_string() } else { format!("{base}/v1/traces") }
    }
}

/// The provider whose batch exporter [`shutdown`] flushes.
static PROVIDER: Mutex<Option<SdkTracerProvider>> = Mutex::new(None);

/// The layer that exports spans of [`TARGET`] as `config` says; the W3C
/// trace context becomes the process's propagator. Must be called inside
/// the tokio runtime (the exporter's task is spawned on it).
pub fn layer<S>(config: &TracingConfig) -> anyhow::Result<Box<dyn Layer<S> + Send + Sync>>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span> + Send + Sync + 'static,
{
    config.validate().map_err(anyhow::Error::msg)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(config.traces_url())
        .with_timeout(Duration::from_secs(config.export_timeout_secs))
        .build()
        .context("[tracing]: building the OTLP exporter")?;
    let batch = BatchConfigBuilder::default().with_max_export_timeout(Duration::from_secs(config.export_timeout_secs)).build();
    let processor = BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).with_batch_config(batch).build();
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(config.service_name.clone()).build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio))))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("yunying");
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    *PROVIDER.lock().expect("provider lock") = Some(provider);
    // The spans are made at INFO; the hint keeps more verbose call sites
    // off where the log's level has them off.
    let only_ours = crate::logging::Fresh(
        tracing_subscriber::filter::filter_fn(|meta| meta.is_span() && meta.target() == TARGET)
            .with_max_level_hint(tracing_subscriber::filter::LevelFilter::INFO),
    );
    Ok(tracing_opentelemetry::layer().with_tracer(tracer).with_filter(only_ours).boxed())
}

/// Export what is still queued and stop the exporter, within its timeout
/// (nothing to do when tracing is off). Called when `serve` stops.
pub async fn shutdown() {
    let Some(provider) = PROVIDER.lock().expect("provider lock").take() else { return };
    // The SDK waits for its exporter task synchronously: not on a runtime
    // thread.
    match tokio::task::spawn_blocking(move || provider.shutdown()).await {
        Ok(Ok(())) => tracing::debug!("traces flushed"),
        Ok(Err(e)) => tracing::warn!(error = %e, "traces not all exported at shutdown"),
        Err(e) => tracing::warn!(error = %e, "traces not all exported at shutdown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sound_sections_are_taken() {
        let ok = TracingConfig { otlp_endpoint: "http://otel-collector:4318".into(), ..Default::default() };
        ok.validate().unwrap();
        assert_eq!(ok.traces_url(), "http://otel-collector:4318/v1/traces");
        let with_path = TracingConfig { otlp_endpoint: "http://127.0.0.1:4318/v1/traces/".into(), ..Default::default() };
        assert_eq!(with_path.traces_url(), "http://127.0.0.1:4318/v1/traces");
        for bad in [
            TracingConfig::default(),
            TracingConfig { otlp_endpoint: "https://collector:4318".into(), ..ok.clone() },
            TracingConfig { otlp_endpoint: "http:///v1/traces".into(), ..ok.clone() },
            TracingConfig { otlp_endpoint: "http://a b".into(), ..ok.clone() },
            TracingConfig { sample_ratio: 1.5, ..ok.clone() },
            TracingConfig { sample_ratio: -0.1, ..ok.clone() },
            TracingConfig { sample_ratio: f64::NAN, ..ok.clone() },
            TracingConfig { export_timeout_secs: 0, ..ok.clone() },
            TracingConfig { service_name: " ".into(), ..ok.clone() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<TracingConfig>("otlp_endpoint = \"http://c:4318\"\nsampling = 0.5\n").is_err());
        let c: TracingConfig = toml::from_str("otlp_endpoint = \"http://c:4318\"\n").unwrap();
        assert_eq!((c.service_name.as_str(), c.sample_ratio, c.export_timeout_secs), ("yunying", 1.0, 10));
    }
}
