//! Black-box tests of `serve`: the application on port 0 with the embedded
//! store or real `redis-server` processes started here, spoken to over HTTP;
//! and the compiled evaluator checked against LightGBM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod complete_journey;
mod forest;
mod helpers;
mod http;
mod model_file;
mod redis;
mod reload;
mod validity;
mod vocabulary;
