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
    failed_storage_full: AtomicU64,
    failed_not_authorized: AtomicU64,
    store_latency: Histogram,
    /// SM3 digests computed after ingest and recorded.
    pub digests_recorded_total: AtomicU64,
    /// Of those, computed from the local copy of an object uploaded to a
    /// remote store (not read back from it).
    pub digests_from_copy_total: AtomicU64,
    /// Objects read back for their SM3 whose SHA-256 was no longer the one
    /// recorded (damage: `yunying verify` names them).
    pub digest_mismatches_total: AtomicU64,
    /// Rendition jobs finished.
    pub renditions_completed_total: AtomicU64,
    /// Rendition jobs parked after repeated failures.
    pub renditions_parked_total: AtomicU64,
    /// Time from an instance's indexing to its renditions being recorded.
    pub rendition_latency: Histogram,
    rendition_failures: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// DIMSE operations answered, by operation and final status.
    dimse_operations: std::sync::Mutex<std::collections::BTreeMap<(&'static str, u16), u64>>,
    /// Time from an operation's command to its final response, by operation.
    dimse_latency: std::sync::Mutex<std::collections::BTreeMap<&'static str, Histogram>>,
    /// Data set bytes of DIMSE operations, by operation and direction
    /// (`received`, `sent`).
    dimse_bytes: std::sync::Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>,
}

/// A latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        self.render_series(out, name, "");
    }

    /// The series of one label set (`labels`: `a="x",` with its trailing
    /// comma, or empty), without the family's HELP and TYPE.
    fn render_series(&self, out: &mut String, name: &str, labels: &str) {
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {}", bucket.load(Relaxed));
        }
        let count = self.count.load(Relaxed);
        let plain = labels.trim_end_matches(',');
        let plain = if plain.is_empty() { String::new() } else { format!("{{{plain}}}") };
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{plain} {}", self.sum_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{plain} {count}");
    }
}

impl Metrics {
    /// Count a failed instance by reason (see `IngestError::reason`).
    pub fn failed(&self, reason: &str) {
        match reason {
            "cannot_understand" => &self.failed_cannot_understand,
            "sop_class_mismatch" => &self.failed_sop_class_mismatch,
            "storage_full" => &self.failed_storage_full,
            "not_authorized" => &self.failed_not_authorized,
            _ => &self.failed_out_of_resources,
        }
        .fetch_add(1, Relaxed);
    }

    /// Record how long one store took, from first byte to durable commit.
    pub fn observe_store(&self, d: Duration) {
        self.store_latency.observe(d);
    }

    /// Count a failed rendition attempt by reason.
    pub fn rendition_failed(&self, reason: &'static str) {
        let mut failures = self.rendition_failures.lock().unwrap_or_else(|p| p.into_inner());
        *failures.entry(reason).or_default() += 1;
    }

    /// Count one DIMSE operation (`C-STORE`, `C-FIND`, …) answered with
    /// its final `status`, `took` from its command to that response.
    pub fn observe_dimse(&self, operation: &'static str, status: u16, took: Duration) {
        *self.dimse_operations.lock().unwrap_or_else(|p| p.into_inner()).entry((operation, status)).or_default() += 1;
        self.dimse_latency.lock().unwrap_or_else(|p| p.into_inner()).entry(operation).or_default().observe(took);
    }

    /// Count data set bytes read from the peer for a DIMSE `operation`
    /// (a C-STORE's instance, a query or retrieve identifier, an N-ACTION
    /// request).
    pub fn dimse_received(&self, operation: &'static str, bytes: u64) {
        self.dimse_bytes(operation, "received", bytes);
    }

    /// Count data set bytes sent for a DIMSE `operation` (C-FIND matches,
    /// C-GET and C-MOVE sub-operations, responses' data sets, storage
    /// commitment reports).
    pub fn dimse_sent(&self, operation: &'static str, bytes: u64) {
        self.dimse_bytes(operation, "sent", bytes);
    }

    fn dimse_bytes(&self, operation: &'static str, direction: &'static str, bytes: u64) {
        *self.dimse_bytes.lock().unwrap_or_else(|p| p.into_inner()).entry((operation, direction)).or_default() += bytes;
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
        let _ = writeln!(
            out,
            "# HELP yunying_instances_failed_total Instances refused, by reason\n# TYPE yunying_instances_failed_total counter"
        );
        for (reason, value) in [
            ("cannot_understand", &self.failed_cannot_understand),
            ("sop_class_mismatch", &self.failed_sop_class_mismatch),
            ("out_of_resources", &self.failed_out_of_resources),
            ("storage_full", &self.failed_storage_full),
            ("not_authorized", &self.failed_not_authorized),
        ] {
            let _ = writeln!(out, "yunying_instances_failed_total{{reason=\"{reason}\"}} {}", value.load(Relaxed));
        }
        self.store_latency.render(&mut out, "yunying_store_duration_seconds", "Time from first byte to durable commit of an instance");
        for (name, help, value) in [
            ("yunying_renditions_completed_total", "Rendition jobs completed", &self.renditions_completed_total),
            ("yunying_renditions_parked_total", "Rendition jobs parked after repeated failures", &self.renditions_parked_total),
            ("yunying_sm3_recorded_total", "SM3 digests computed after ingest and recorded", &self.digests_recorded_total),
            (
                "yunying_sm3_from_local_copy_total",
                "SM3 digests computed from the local copy of an object uploaded to S3, not read back from it",
                &self.digests_from_copy_total,
            ),
            ("yunying_sm3_mismatches_total", "Objects whose SHA-256 differed when read back for SM3", &self.digest_mismatches_total),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP yunying_rendition_failures_total Failed rendition attempts, by reason\n# TYPE yunying_rendition_failures_total counter"
        );
        for (reason, n) in self.rendition_failures.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "yunying_rendition_failures_total{{reason=\"{reason}\"}} {n}");
        }
        self.rendition_latency.render(
            &mut out,
            "yunying_rendition_latency_seconds",
            "Time from indexing an instance to its renditions being recorded",
        );
        let _ = writeln!(
            out,
            "# HELP yunying_dimse_operations_total DIMSE operations answered, by operation and final status (hex)\n\
             # TYPE yunying_dimse_operations_total counter"
        );
        for ((operation, status), n) in self.dimse_operations.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "yunying_dimse_operations_total{{operation=\"{operation}\",status=\"{status:04X}\"}} {n}");
        }
        let name = "yunying_dimse_operation_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time from a DIMSE command to its final response\n# TYPE {name} histogram");
        for (operation, histogram) in self.dimse_latency.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            histogram.render_series(&mut out, name, &format!("operation=\"{operation}\","));
        }
        let _ = writeln!(
            out,
            "# HELP yunying_dimse_bytes_total DIMSE data set bytes, by operation and direction (received, sent)\n\
             # TYPE yunying_dimse_bytes_total counter"
        );
        for ((operation, direction), n) in self.dimse_bytes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "yunying_dimse_bytes_total{{operation=\"{operation}\",direction=\"{direction}\"}} {n}");
        }
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

    #[test]
    fn dimse_operations_by_status_and_latency_by_operation() {
        let m = Metrics::default();
        m.observe_dimse("C-STORE", 0x0000, Duration::from_millis(2));
        m.observe_dimse("C-STORE", 0xA700, Duration::from_millis(20));
        m.observe_dimse("C-FIND", 0x0000, Duration::from_millis(4));
        let text = m.render();
        assert!(text.contains("yunying_dimse_operations_total{operation=\"C-STORE\",status=\"A700\"} 1\n"), "{text}");
        assert!(text.contains("yunying_dimse_operation_duration_seconds_bucket{operation=\"C-STORE\",le=\"0.0025\"} 1\n"), "{text}");
        assert!(text.contains("yunying_dimse_operation_duration_seconds_count{operation=\"C-STORE\"} 2\n"), "{text}");
    }

    #[test]
    fn dimse_bytes_by_operation_and_direction() {
        let m = Metrics::default();
        assert!(m.render().contains("# TYPE yunying_dimse_bytes_total counter\n"), "the family is there before any operation");
        m.dimse_received("C-STORE", 16_384);
        m.dimse_received("C-STORE", 100);
        m.dimse_sent("C-GET", 5_000);
        m.dimse_sent("C-FIND", 120);
        let text = m.render();
        assert!(text.contains("yunying_dimse_bytes_total{operation=\"C-STORE\",direction=\"received\"} 16484\n"), "{text}");
        assert!(text.contains("yunying_dimse_bytes_total{operation=\"C-GET\",direction=\"sent\"} 5000\n"), "{text}");
        assert!(text.contains("yunying_dimse_bytes_total{operation=\"C-FIND\",direction=\"sent\"} 120\n"), "{text}");
        assert!(!text.contains("operation=\"C-STORE\",direction=\"sent\""), "{text}");
    }
}
