//! Building the server (`Application::build`) and running it
//! (`run_until_stopped`), zero2prod style: tests build on port 0 and speak
//! HTTP to the port the OS picked.

use std::net::TcpListener;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use arc_swap::ArcSwap;
use feature_store::{EmbeddedStore, RedisStore, RedisTimeouts, Store};

use crate::configuration::{Settings, StoreSettings};
use crate::metrics::{Metrics, Route};
use crate::routes;
use crate::scoring::LoadedModel;
use crate::state::{AppState, NO_GENERATION, WorkerStore};

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Opens the store, loads and checks the model, binds the listener.
    /// Must run inside an actix (Tokio) runtime.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let timeouts = RedisTimeouts {
            connect: settings.store_timeout,
            response: settings.store_timeout,
        };
        let store = match &settings.store {
            StoreSettings::Redis { url } => Store::Redis(RedisStore::new(url, timeouts)?),
            StoreSettings::Embedded { data_dir } => {
                Store::Embedded(EmbeddedStore::from_files(data_dir).with_context(|| {
                    format!("reading the customer tables of {}", data_dir.display())
                })?)
            }
        };
        let model = LoadedModel::load(&settings.model_dir, &settings.data_dir)
            .with_context(|| format!("loading the model of {}", settings.model_dir.display()))?;
        let shared_store = WorkerStore {
            store: store.clone(),
            timeout: settings.store_timeout,
        };
        let metrics = Metrics::new();
        // Refuse at start a model the store cannot feed; when the store is
        // down, requests answer 503 until it returns and the check runs
        // then (the layout is compiled per generation).
        match shared_store.generation(&metrics).await {
            Ok(generation) => {
                model
                    .layout_for(&generation)
                    .context("checking the model against the customer store")?;
            }
            Err(err) => {
                tracing::warn!(error = %err, "customer store not reachable at start; serving 503 until it is")
            }
        }
        tracing::info!(
            model_version = %model.info().model_version,
            trees = model.info().trees,
            offers = model.info().offers,
            store = store.kind(),
            "model loaded"
        );

        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        let json_limit = settings.json_limit_bytes;
        let workers = settings.workers;
        let store_settings = settings.store.clone();
        let store_timeout = settings.store_timeout;
        let state = web::Data::new(AppState {
            model: ArcSwap::from_pointee(model),
            metrics,
            settings,
            reload_lock: tokio::sync::Mutex::new(()),
            auth_throttle: Default::default(),
            last_generation: AtomicU64::new(NO_GENERATION),
        });

        let server = HttpServer::new(move || {
            // Each worker runs its own single-threaded runtime: give it its
            // own Redis connection, driven there, instead of waking another
            // thread for every reply.
            let worker_store = match &store_settings {
                StoreSettings::Redis { url } => {
                    RedisStore::new(url, timeouts).map_or_else(|_| store.clone(), Store::Redis)
                }
                StoreSettings::Embedded { .. } => store.clone(),
            };
            let metrics_state = state.clone();
            App::new()
                .wrap_fn(move |request, service| {
                    let route = Route::classify(request.method().as_str(), request.path());
                    let started = Instant::now();
                    let state = metrics_state.clone();
                    let response = service.call(request);
                    async move {
                        let response = response.await;
                        let status = match &response {
                            Ok(r) => r.status().as_u16(),
                            Err(e) => e.as_response_error().status_code().as_u16(),
                        };
                        state.metrics.observe(route, status, started.elapsed());
                        response
                    }
                })
                .app_data(state.clone())
                .app_data(web::Data::new(WorkerStore {
                    store: worker_store,
                    timeout: store_timeout,
                }))
                .configure(|cfg| routes::configure(cfg, json_limit))
        })
        .workers(workers)
        .shutdown_timeout(10)
        .listen(listener)
        .context("starting the HTTP server")?
        .run();
        Ok(Self { port, server })
    }

    /// The port the server listens on (the OS's pick for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere (tests); SIGINT and SIGTERM also
    /// stop it gracefully: no new connections, in-flight requests finish.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
