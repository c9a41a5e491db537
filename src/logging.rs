//! Logs: text for a terminal, JSON lines for a collector (`[log] format`).
//!
//! `YUNYING_LOG` adds to the configured level rather than replacing it, so
//! a value that names only a module (`yunying_dimse=debug`) or a typo
//! (`verbose`, read by the filter as a module name) never silences the
//! rest; a value that sets a level for everything (`warn`, `off`) does.
//! One that does not parse is reported and ignored.

use serde::{Deserialize, Serialize};

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

/// Install the process's subscriber (stderr).
pub fn init(config: &LogConfig) {
    use std::io::IsTerminal;
    let env = std::env::var("YUNYING_LOG").ok();
    let (directives, problem) = directives(&config.level, env.as_deref());
    let filter = tracing_subscriber::EnvFilter::new(directives);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
    if let Some(problem) = problem {
        tracing::warn!("YUNYING_LOG ignored: {problem}");
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
}
