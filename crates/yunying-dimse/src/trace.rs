//! The span of each DIMSE operation (`[tracing]`): `dimse.operation` on
//! the target `yunying::trace`, named after the operation (`C-STORE`,
//! `C-FIND`, `C-MOVE`, `C-GET`, …), with the calling AE title, the
//! affected SOP class and the final status, as the access log shows them;
//! never an instance, study or patient identifier. The archive's and the
//! object store's spans of the operation are its children.
//!
//! With tracing off the span is disabled at its call site and none of its
//! fields is built.

use tracing::field::Empty;

use crate::command::{C_ECHO_RQ, C_FIND_RQ, C_GET_RQ, C_MOVE_RQ, C_STORE_RQ, Command, N_ACTION_RQ};

/// The name of an operation by its request's command field, as the access
/// log, the metrics and the traces show it.
pub(crate) fn operation_name(field: u16) -> &'static str {
    match field {
        C_ECHO_RQ => "C-ECHO",
        C_STORE_RQ => "C-STORE",
        C_FIND_RQ => "C-FIND",
        C_MOVE_RQ => "C-MOVE",
        C_GET_RQ => "C-GET",
        N_ACTION_RQ => "N-ACTION",
        _ => "other",
    }
}

/// The span of the operation `command` starts.
pub(crate) fn operation_span(field: u16, calling_ae: &str, command: &Command) -> tracing::Span {
    tracing::info_span!(
        target: "yunying::trace",
        "dimse.operation",
        otel.name = operation_name(field),
        otel.kind = "server",
        dimse.operation = operation_name(field),
        dimse.calling_ae = calling_ae,
        dimse.sop_class = %command.affected_sop_class_uid(),
        dimse.status = Empty,
        otel.status_code = Empty,
    )
}

/// The operation was answered with its final `status`.
pub(crate) fn record_status(span: &tracing::Span, status: u16) {
    if span.is_disabled() {
        return;
    }
    span.record("dimse.status", format_args!("{status:04X}").to_string());
    // Failures (Axxx, Cxxx, 0xxx refusals other than success); warnings
    // (Bxxx) and cancel (FE00) are not errors.
    if status != 0 && !(0xB000..0xC000).contains(&status) && status != 0xFE00 {
        span.record("otel.status_code", "ERROR");
    }
}
