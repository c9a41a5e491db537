//! Counters and a latency histogram, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the store latency histogram buckets.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Process-wide ingest metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    pub associations_total: AtomicU64,
    pub associations_active: AtomicU64,
    pub associations_rejected_total: AtomicU64,
    pub instances_stored_total: AtomicU64,
    pub instances_duplicate_total: AtomicU64,
    pub bytes_received_total: AtomicU64,
    failed_cannot_understand: AtomicU64,
    failed_sop_class_mismatch: AtomicU64,
    failed_out_of_resources: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Count a failed instance by reason (see `IngestError::reason`).
    pub fn failed(&self, reason: &str) {
        match reason {
            "cannot_understand" => &self.failed_cannot_understand,
            "sop_class_mismatch" => &self.failed_sop_class_mismatch,
            _ => &self.failed_out_of_resources,
        }
        .fetch_add(1, Relaxed);
    }

    /// Record how long one store took, from first byte to durable commit.
    pub fn observe_store(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    /// Render every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            ("yunying_associations_total", "DICOM associations accepted", &self.associations_total),
            ("yunying_associations_rejected_total", "DICOM associations rejected", &self.associations_rejected_total),
            ("yunying_instances_stored_total", "Instances durably stored", &self.instances_stored_total),
            ("yunying_instances_duplicate_total", "Instances received again (duplicate policy applied)", &self.instances_duplicate_total),
            ("yunying_bytes_received_total", "Dataset bytes received", &self.bytes_received_total),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP yunying_associations_active DICOM associations open now\n# TYPE yunying_associations_active gauge\nyunying_associations_active {}",
            self.associations_active.load(Relaxed)
        );
        let _ = writeln!(out, "# HELP yunying_instances_failed_total Instances refused, by reason\n# TYPE yunying_instances_failed_total counter");
        for (reason, value) in [
            ("cannot_understand", &self.failed_cannot_understand),
            ("sop_class_mismatch", &self.failed_sop_class_mismatch),
            ("out_of_resources", &self.failed_out_of_resources),
        ] {
            let _ = writeln!(out, "yunying_instances_failed_total{{reason=\"{reason}\"}} {}", value.load(Relaxed));
        }
        let name = "yunying_store_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time from first byte to durable commit of an instance\n# TYPE {name} histogram");
        for (bucket, bound) in self.latency_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", bucket.load(Relaxed));
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.latency_sum_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_store(Duration::from_millis(3));
        m.observe_store(Duration::from_millis(300));
        let text = m.render();
        assert!(text.contains("yunying_store_duration_seconds_bucket{le=\"0.001\"} 0"));
        assert!(text.contains("yunying_store_duration_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("yunying_store_duration_seconds_bucket{le=\"0.5\"} 2"));
        assert!(text.contains("yunying_store_duration_seconds_count 2"));
    }
}
