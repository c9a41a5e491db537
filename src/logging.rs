//! Logs: text for a terminal, JSON lines for a collector (`[log] format`).
//!
//! `YUNYING_LOG` adds to the configured level rather than replacing it, so
//! a value that names only a module (`yunying_dimse=debug`) or a typo
//! (`verbose`, read by the filter as a module name) never silences the
//! rest; a value that sets a level for everything (`warn`, `off`) does.
//! One that does not parse is reported and ignored.

use serde::{Deserialize, Serialize};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

/// How and how much the process logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (human readable, coloured on a terminal) or `json` (one JSON
    /// object per line: `timestamp`, `level`, `target`, `fields`).
    pub format: LogFormat,
    /// Filter directives for everything (tracing's `EnvFilter` syntax);
    /// `YUNYING_LOG` adds to them.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { format: LogFormat::Text, level: "info,jpeg2k=warn".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Install the process's subscriber: the log on stderr and, when `traces`
/// is given (`[tracing]` for `serve`), the OpenTelemetry exporter's layer
/// (inside the tokio runtime). The log never shows the traces' spans, and
/// its level does not filter them.
pub fn init(config: &LogConfig, traces: Option<&crate::telemetry::TracingConfig>) -> anyhow::Result<()> {
    use tracing_subscriber::prelude::*;
    let env = std::env::var("YUNYING_LOG").ok();
    let (directives, problem) = directives(&config.level, env.as_deref());
    let mut layers = vec![log_layer(config.format, &directives, std::io::stderr)];
    if let Some(traces) = traces {
        layers.push(crate::telemetry::layer(traces)?);
    }
    tracing_subscriber::registry().with(layers).init();
    if let Some(problem) = problem {
        tracing::warn!("YUNYING_LOG ignored: {problem}");
    }
    if let Some(traces) = traces {
        tracing::info!(endpoint = %traces.otlp_endpoint, sample_ratio = traces.sample_ratio, "exporting traces over OTLP/HTTP");
    }
    Ok(())
}

/// The log's layer: `format` lines written to `writer`, filtered by
/// `directives` (never the traces' spans).
fn log_layer<S, W>(format: LogFormat, directives: &str, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync + 'static,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use std::io::IsTerminal;
    use tracing_subscriber::filter::{FilterExt, filter_fn};
    let filter = Fresh(tracing_subscriber::EnvFilter::new(directives).and(filter_fn(|meta| meta.target() != crate::telemetry::TARGET)));
    let log = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Text => log.with_ansi(std::io::stderr().is_terminal()).with_filter(filter).boxed(),
        LogFormat::Json => log.json().with_current_span(false).with_filter(filter).boxed(),
    }
}

/// A per-layer filter whose decisions are never cached per call site.
///
/// tracing-subscriber hands a per-layer filter's decision from `enabled`
/// to the layer's `on_event` through a thread-local. A library's
/// `enabled!` check that this filter refuses leaves that decision behind
/// (sqlx's query logger makes one after every query, on the runtime's
/// threads when the index is PostgreSQL), and a call site whose interest is
/// cached as "always" skips `enabled` and reads it: the next event on that
/// thread is silently dropped from the log (tokio-rs/tracing#2519). With
/// "sometimes" at most, `enabled` runs before every event and span, so the
/// decision read is always this event's own.
pub(crate) struct Fresh<F>(pub(crate) F);

impl<S, F: Filter<S>> Filter<S> for Fresh<F> {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        self.0.enabled(meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        let interest = self.0.callsite_enabled(meta);
        if interest.is_always() { Interest::sometimes() } else { interest }
    }

    fn event_enabled(&self, event: &Event<'_>, cx: &Context<'_, S>) -> bool {
        self.0.event_enabled(event, cx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.0.max_level_hint()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, cx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, cx)
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, cx: Context<'_, S>) {
        self.0.on_record(id, values, cx)
    }

    fn on_enter(&self, id: &Id, cx: Context<'_, S>) {
        self.0.on_enter(id, cx)
    }

    fn on_exit(&self, id: &Id, cx: Context<'_, S>) {
        self.0.on_exit(id, cx)
    }

    fn on_close(&self, id: Id, cx: Context<'_, S>) {
        self.0.on_close(id, cx)
    }
}

/// The filter from the configured `base` and `YUNYING_LOG`: the variable's
/// directives after the base (later directives win for the same target),
/// or alone when one of them is a bare level; the base alone when the
/// variable is unset, empty or does not parse (with why).
fn directives(base: &str, env: Option<&str>) -> (String, Option<String>) {
    let Some(env) = env.map(str::trim).filter(|e| !e.is_empty()) else { return (base.to_string(), None) };
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(env) {
        return (base.to_string(), Some(format!("{env:?} does not parse: {e}")));
    }
    let sets_global_level =
        env.split(',').map(str::trim).any(|d| !d.contains('=') && d.parse::<tracing_subscriber::filter::LevelFilter>().is_ok());
    if sets_global_level { (env.to_string(), None) } else { (format!("{base},{env}"), None) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_adds_to_the_level_unless_it_sets_one() {
        let base = "info,jpeg2k=warn";
        assert_eq!(directives(base, None).0, base);
        assert_eq!(directives(base, Some("  ")).0, base);
        assert_eq!(directives(base, Some("yunying_dimse=debug")).0, "info,jpeg2k=warn,yunying_dimse=debug");
        assert_eq!(directives(base, Some("verbose")).0, "info,jpeg2k=warn,verbose", "a typo does not silence the rest");
        assert_eq!(directives(base, Some("warn")).0, "warn");
        assert_eq!(directives(base, Some("off")).0, "off", "silence, when asked for");
        let (kept, problem) = directives(base, Some("info,[=bad"));
        assert_eq!(kept, base);
        assert!(problem.unwrap().contains("does not parse"));
    }

    /// Lines written by the log layer, for the test below.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Seen in the compose topology: on PostgreSQL most access log lines
    /// (and "Yunying is serving") never reached the log, because sqlx asks
    /// `log::log_enabled!` for its DEBUG query lines after every query, on
    /// the same thread, and the `log` bridge `init` installs passes the
    /// question to the layers' filters. Each line here follows such a
    /// question and must be written.
    #[test]
    fn a_library_asking_whether_its_debug_lines_are_on_never_costs_the_next_line() {
        use tracing_subscriber::prelude::*;
        // What `init` installs (tracing-subscriber's `init` does it there).
        let _ = tracing_log::LogTracer::init();
        for format in [LogFormat::Json, LogFormat::Text] {
            let lines = Lines::default();
            let writer = lines.clone();
            let subscriber = tracing_subscriber::registry().with(vec![log_layer(format, "info", move || writer.clone())]);
            tracing::subscriber::with_default(subscriber, || {
                for n in 0..5 {
                    let _ = log::log_enabled!(target: "sqlx::query", log::Level::Debug);
                    tracing::info!(target: "yunying::access", n, "request");
                }
            });
            let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
            assert_eq!(text.lines().filter(|l| l.contains("request")).count(), 5, "{format:?}:\n{text}");
        }
    }
}
