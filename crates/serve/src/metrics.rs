//! A small lock-free metrics registry rendered in Prometheus text format.
//!
//! The routes and status codes are known in advance, so every counter and
//! histogram bucket is a preallocated atomic: recording a request is a few
//! relaxed `fetch_add`s, with no lock and no allocation.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The routes we count (by path pattern and method).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    RecommendOne,
    RecommendBatch,
    Metrics,
    OpenApi,
    AdminReload,
    Other,
}

const ROUTES: [Route; 7] = [
    Route::Health,
    Route::RecommendOne,
    Route::RecommendBatch,
    Route::Metrics,
    Route::OpenApi,
    Route::AdminReload,
    Route::Other,
];

impl Route {
    /// Classifies a request without touching the router (no allocation).
    pub fn classify(method: &str, path: &str) -> Route {
        match (method, path) {
            ("GET", "/") => Route::Health,
            ("POST", "/recommend") => Route::RecommendBatch,
            ("GET", p) if p.starts_with("/recommend/") && p.len() > "/recommend/".len() => {
                Route::RecommendOne
            }
            ("GET", "/metrics") => Route::Metrics,
            ("GET", "/openapi.json") => Route::OpenApi,
            ("POST", "/admin/reload") => Route::AdminReload,
            _ => Route::Other,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Route::Health => "GET /",
            Route::RecommendOne => "GET /recommend/{id}",
            Route::RecommendBatch => "POST /recommend",
            Route::Metrics => "GET /metrics",
            Route::OpenApi => "GET /openapi.json",
            Route::AdminReload => "POST /admin/reload",
            Route::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Status codes with their own series; the rest count as `other`.
const STATUSES: [u16; 14] = [
    200, 400, 401, 403, 404, 405, 413, 414, 415, 422, 429, 500, 503, 0,
];

fn status_index(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(STATUSES.len() - 1)
}

/// Upper bounds of the latency buckets, in seconds (`+Inf` is implicit).
const BUCKETS: [f64; 14] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];

#[derive(Debug, Default)]
struct Series {
    count: AtomicU64,
    sum_nanos: AtomicU64,
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
}

/// Store failures we count by kind.
#[derive(Debug, Clone, Copy)]
pub enum StoreErrorKind {
    Unavailable,
    Timeout,
    Other,
}

/// The registry.
#[derive(Debug)]
pub struct Metrics {
    series: Vec<Series>,
    store_errors: [AtomicU64; 3],
    reloads_ok: AtomicU64,
    reloads_refused: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            series: (0..ROUTES.len() * STATUSES.len())
                .map(|_| Series::default())
                .collect(),
            store_errors: Default::default(),
            reloads_ok: AtomicU64::new(0),
            reloads_refused: AtomicU64::new(0),
        }
    }

    /// Records one answered request.
    pub fn observe(&self, route: Route, status: u16, elapsed: Duration) {
        let series = &self.series[route.index() * STATUSES.len() + status_index(status)];
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(BUCKETS.len());
        series.count.fetch_add(1, Ordering::Relaxed);
        series.sum_nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        series.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub fn store_error(&self, kind: StoreErrorKind) {
        self.store_errors[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn reload(&self, accepted: bool) {
        if accepted {
            self.reloads_ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.reloads_refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Requests counted so far for `route` and `status` (tests, health).
    pub fn count(&self, route: Route, status: u16) -> u64 {
        self.series[route.index() * STATUSES.len() + status_index(status)]
            .count
            .load(Ordering::Relaxed)
    }

    /// Renders every series in Prometheus text exposition format 0.0.4.
    /// `model_version`, `unseen` and `store_generation` describe what is
    /// serving.
    pub fn render(
        &self,
        model_version: &str,
        unseen: crate::scoring::UnseenValues,
        store_kind: &str,
        store_generation: Option<u64>,
    ) -> String {
        let mut out = String::with_capacity(16 * 1024);
        header(
            &mut out,
            "offers_http_requests_total",
            "counter",
            "HTTP requests answered, by route and status.",
        );
        for (route, status, series) in self.nonempty() {
            let _ = writeln!(
                out,
                "offers_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {}",
                series.count.load(Ordering::Relaxed)
            );
        }
        header(
            &mut out,
            "offers_http_request_duration_seconds",
            "histogram",
            "Time from request to response, by route and status.",
        );
        for (route, status, series) in self.nonempty() {
            let mut cumulative = 0;
            for (i, bound) in BUCKETS
                .iter()
                .map(|b| b.to_string())
                .chain(["+Inf".to_owned()])
                .enumerate()
            {
                cumulative += series.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "offers_http_request_duration_seconds_bucket{{route=\"{route}\",status=\"{status}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "offers_http_request_duration_seconds_sum{{route=\"{route}\",status=\"{status}\"}} {}",
                series.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "offers_http_request_duration_seconds_count{{route=\"{route}\",status=\"{status}\"}} {}",
                series.count.load(Ordering::Relaxed)
            );
        }
        header(
            &mut out,
            "offers_store_errors_total",
            "counter",
            "Failed customer store round trips, by kind.",
        );
        for (kind, counter) in ["unavailable", "timeout", "other"]
            .iter()
            .zip(&self.store_errors)
        {
            let _ = writeln!(
                out,
                "offers_store_errors_total{{kind=\"{kind}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        header(
            &mut out,
            "offers_model_reloads_total",
            "counter",
            "Reload requests, by outcome.",
        );
        let _ = writeln!(
            out,
            "offers_model_reloads_total{{result=\"accepted\"}} {}",
            self.reloads_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "offers_model_reloads_total{{result=\"refused\"}} {}",
            self.reloads_refused.load(Ordering::Relaxed)
        );
        header(
            &mut out,
            "offers_model_info",
            "gauge",
            "The model version serving now (value always 1).",
        );
        let _ = writeln!(
            out,
            "offers_model_info{{model_version=\"{}\"}} 1",
            escape_label(model_version)
        );
        header(
            &mut out,
            "offers_catalogue_unseen_values",
            "gauge",
            "Offers whose type or category the model's vocabulary has never seen.",
        );
        for (field, count) in [
            ("offer_type", unseen.offer_types),
            ("category", unseen.categories),
        ] {
            let _ = writeln!(
                out,
                "offers_catalogue_unseen_values{{field=\"{field}\"}} {count}"
            );
        }
        header(
            &mut out,
            "offers_store_generation",
            "gauge",
            "The customer store generation last seen.",
        );
        if let Some(generation) = store_generation {
            let _ = writeln!(
                out,
                "offers_store_generation{{store=\"{store_kind}\"}} {generation}"
            );
        }
        out
    }

    fn nonempty(&self) -> impl Iterator<Item = (&'static str, String, &Series)> {
        ROUTES.iter().flat_map(move |route| {
            STATUSES.iter().enumerate().filter_map(move |(i, status)| {
                let series = &self.series[route.index() * STATUSES.len() + i];
                (series.count.load(Ordering::Relaxed) > 0).then(|| {
                    let status = if *status == 0 {
                        "other".to_owned()
                    } else {
                        status.to_string()
                    };
                    (route.label(), status, series)
                })
            })
        })
    }
}

/// The `# HELP` and `# TYPE` lines that open a metric family.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let metrics = Metrics::new();
        metrics.observe(Route::RecommendOne, 200, Duration::from_micros(80));
        metrics.observe(Route::RecommendOne, 200, Duration::from_millis(3));
        metrics.observe(Route::RecommendOne, 404, Duration::from_micros(30));
        let text = metrics.render(
            "v1",
            crate::scoring::UnseenValues {
                offer_types: 2,
                categories: 0,
            },
            "redis",
            Some(2),
        );
        assert!(text.contains(
            "offers_http_requests_total{route=\"GET /recommend/{id}\",status=\"200\"} 2"
        ));
        assert!(text.contains("route=\"GET /recommend/{id}\",status=\"200\",le=\"0.0001\"} 1"));
        assert!(text.contains("route=\"GET /recommend/{id}\",status=\"200\",le=\"+Inf\"} 2"));
        assert!(text.contains("offers_model_info{model_version=\"v1\"} 1"));
        assert!(text.contains("offers_catalogue_unseen_values{field=\"offer_type\"} 2"));
        assert_eq!(metrics.count(Route::RecommendOne, 404), 1);
    }
}
