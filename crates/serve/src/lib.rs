//! `serve`: offer recommendations over HTTP.
//!
//! - [`configuration`]: flags and environment into [`configuration::Settings`];
//! - [`startup`]: [`startup::Application::build`] then `run_until_stopped`;
//! - [`routes`]: the handlers; [`api`]: their JSON bodies;
//! - [`scoring`]: the loaded model and in-process scoring, with the trees
//!   compiled into a flat evaluator ([`scoring::forest`]) and LightGBM as the
//!   reference ([`scoring::reference`]);
//! - [`state`], [`metrics`], [`telemetry`]: shared state, the Prometheus
//!   registry, logs;
//! - [`fixture`]: a small synthetic data + model directory for tests and
//!   benchmarks.
//!
//! API boundary: only this crate knows HTTP. Customers come from the
//! `feature-store` crate (Redis or embedded), artifacts from `train`'s model
//! directory through `pipeline-core`'s types.

pub mod api;
pub mod configuration;
pub mod error;
pub mod fixture;
pub mod metrics;
pub mod routes;
pub mod scoring;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use configuration::{Args, Settings, StoreSettings};
pub use startup::Application;

/// Builds the application and serves until a signal stops it.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let bind = settings.bind;
    let application = Application::build(settings).await?;
    tracing::info!(%bind, port = application.port(), "listening");
    application.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
