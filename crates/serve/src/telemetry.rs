//! Structured logs. Per-request spans (`#[tracing::instrument]` on the
//! handlers) are at debug level, so at the default `info` they cost one
//! disabled-callsite check; request counts and latencies go to the metrics
//! registry instead of log lines.

/// Installs the stderr subscriber (`RUST_LOG` wins over `level`).
pub fn init(level: &str) {
    pipeline_core::telemetry::init_tracing(level);
}
