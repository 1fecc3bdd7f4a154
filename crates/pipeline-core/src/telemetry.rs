//! Logging, progress bars and the one-line summary that ends every stage.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber, writing to stderr. `RUST_LOG`
/// wins over `level` when set. Safe to call twice (the second is a no-op),
/// which tests rely on.
pub fn init_tracing(level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// A progress bar on stderr; invisible when stderr is not a terminal
/// (Airflow logs, CI), so batch logs stay clean.
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg:>18} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// Peak resident memory of this process in bytes (`VmHWM`), where the
/// platform tells it cheaply.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// Resident memory of this process now, in bytes (`VmRSS`): next to the
/// peak, it tells what a step holds from what it only passed through.
pub fn rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

fn proc_status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Times a stage and logs its closing summary line.
#[derive(Debug)]
pub struct StageTimer {
    stage: &'static str,
    started: Instant,
}

impl StageTimer {
    pub fn start(stage: &'static str) -> Self {
        tracing::info!(stage, "started");
        Self {
            stage,
            started: Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Logs `"{stage} done: {what} in {s} s, peak memory {m}"` and returns
    /// the summary for the caller to report.
    pub fn finish(self, rows_in: u64, rows_out: u64, what: impl Into<String>) -> StageSummary {
        let summary = StageSummary {
            stage: self.stage,
            rows_in,
            rows_out,
            seconds: self.started.elapsed().as_secs_f64(),
            peak_rss_bytes: peak_rss_bytes(),
            what: what.into(),
        };
        tracing::info!("{summary}");
        summary
    }
}

/// What a stage did, in one line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StageSummary {
    pub stage: &'static str,
    pub rows_in: u64,
    pub rows_out: u64,
    pub seconds: f64,
    pub peak_rss_bytes: Option<u64>,
    pub what: String,
}

impl std::fmt::Display for StageSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} done: {} rows in, {} rows out ({}) in {:.2} s",
            self.stage, self.rows_in, self.rows_out, self.what, self.seconds
        )?;
        if let Some(bytes) = self.peak_rss_bytes {
            write!(f, ", peak memory {:.2} GB", bytes as f64 / 1e9)?;
        }
        Ok(())
    }
}
