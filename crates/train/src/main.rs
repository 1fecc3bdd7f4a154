//! `train`: fits the segments and the ranker, evaluates them honestly and
//! writes the model directory.

use std::process::ExitCode;

use clap::Parser;
use pipeline_core::cli::{CommonArgs, QualityArgs, exit_with};

/// polars frees large buffers between steps; glibc's allocator kept them
/// (RSS 10 GB after reading the 5M inputs, whose peak was 12.6 GB), so the
/// process grew with every step. mimalloc returns freed memory to the OS:
/// 5M people 310 s / 17.7 GB -> 266 s / 14.8 GB, the same figures.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(about = "Two-stage offer model: KMeans segments + LightGBM ranker")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    #[command(flatten)]
    quality: QualityArgs,

    /// Every record is its own customer (no entity_map.parquet needed).
    #[arg(long)]
    identity_map: bool,
    /// Days of each snapshot's label window.
    #[arg(long, default_value_t = 30)]
    window_days: u32,
    /// KMeans segments.
    #[arg(long, default_value_t = 10)]
    clusters: usize,
    /// Candidate offers kept per segment.
    #[arg(long, default_value_t = 20)]
    candidates: usize,
    /// Pseudo-count of the smoothed segment redemption rate (default:
    /// estimated from the sends, empirical Bayes).
    #[arg(long)]
    smoothing: Option<f64>,
    /// KMeans fits on a seeded sample of at most this many customers.
    #[arg(long, default_value_t = 200_000)]
    kmeans_sample: usize,
    /// Customers whose whole-catalogue ranking is scored against the truth.
    #[arg(long, default_value_t = 10_000)]
    eval_customers: usize,
    /// Cut-offs k of precision@k, hit@k and recall@k of redemptions on the
    /// test window, per customer (comma-separated).
    #[arg(long = "eval-k", value_delimiter = ',', default_values_t = train::evaluation::DEFAULT_KS)]
    eval_ks: Vec<usize>,
    /// Rows of each random-split comparison. They only show what the old
    /// leaky split would claim (AUC about 0.98 against 0.72): 100k rows
    /// tell that as well as 300k, in a third of the time.
    #[arg(long, default_value_t = 100_000)]
    random_split_rows: usize,
    /// The ranker is fitted on a seeded sample of at most this many
    /// training rows (0: all of them).
    #[arg(long, default_value_t = 1_000_000)]
    max_train_rows: usize,
    /// Shrinkage. 0.1 stops in about half the rounds of 0.05 for a test
    /// AUC within 0.001 (1M people).
    #[arg(long, default_value_t = 0.1)]
    learning_rate: f64,
    /// Up to this many training rows (and none sampled away by
    /// --max-train-rows), the ranker is fitted again on the training and
    /// validation rows with the trees early stopping chose, so the most
    /// recent window is learnt from too (0: never).
    #[arg(long, default_value_t = 100_000)]
    refit_max_rows: usize,
    #[arg(long, default_value_t = 31)]
    num_leaves: u32,
    #[arg(long, default_value_t = 100)]
    min_data_in_leaf: u32,
    #[arg(long, default_value_t = 1000)]
    max_rounds: u32,
    /// Rounds without a better validation log loss before training stops
    /// (the best iteration is kept, so patience only costs time).
    #[arg(long, default_value_t = 20)]
    early_stopping_rounds: u32,
    /// LightGBM threads (default: the machine's cores). OpenMP threads spin
    /// while they wait unless OMP_WAIT_POLICY=passive (set by the scripts
    /// and the DAG): beside other heavy work, set it too.
    #[arg(long, env = "OFFERS_TRAIN_THREADS")]
    threads: Option<usize>,
    /// Experiment of the tracked run (MLflow at MLFLOW_TRACKING_URI, else a
    /// local record under the model directory).
    #[arg(long, env = "MLFLOW_EXPERIMENT_NAME", default_value = "offers-recsys")]
    experiment: String,
    /// MLflow tracking server; unset: the run is recorded locally under the
    /// model directory (no server needed).
    #[arg(long, env = "MLFLOW_TRACKING_URI")]
    tracking_uri: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    pipeline_core::telemetry::init_tracing(&args.common.log_level);
    exit_with(run(args))
}

fn run(args: Args) -> anyhow::Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let config = train::Config {
        data_dir: args.common.data_dir,
        model_dir: args.common.model_dir,
        csv: args.common.csv,
        seed: args.common.seed,
        identity_map: args.identity_map,
        window_days: args.window_days,
        clusters: args.clusters,
        candidates: args.candidates,
        smoothing: args.smoothing,
        kmeans_sample: args.kmeans_sample,
        eval_customers: args.eval_customers,
        eval_ks: args.eval_ks,
        random_split_rows: args.random_split_rows,
        max_train_rows: args.max_train_rows,
        refit_max_rows: args.refit_max_rows,
        experiment: args.experiment,
        tracking_uri: args.tracking_uri,
        screen: args.quality.screen()?,
        ranker: train::ranker::RankerParams {
            learning_rate: args.learning_rate,
            num_leaves: args.num_leaves,
            min_data_in_leaf: args.min_data_in_leaf,
            feature_fraction: 0.9,
            lambda_l2: 1.0,
            max_rounds: args.max_rounds,
            early_stopping_rounds: args.early_stopping_rounds,
            num_threads: threads,
            seed: args.common.seed,
        },
    };
    train::run(&config)?;
    Ok(())
}
