//! Errors of the training stage.

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Core(#[from] pipeline_core::CoreError),

    #[error(transparent)]
    Features(#[from] features::FeaturesError),

    #[error("{what}: {source}")]
    Polars {
        what: String,
        #[source]
        source: polars::error::PolarsError,
    },

    #[error("LightGBM {what}: {source}")]
    LightGbm {
        what: String,
        #[source]
        source: lightgbm3::Error,
    },

    #[error("the model text: {0}")]
    ModelText(#[from] lightgbm_text::ModelTextError),

    #[error("KMeans: {0}")]
    KMeans(String),

    #[error("invalid configuration: {0}")]
    Config(String),

    #[error("not enough data: {0}")]
    NotEnoughData(String),

    #[error(transparent)]
    Layout(#[from] pipeline_core::ranker_input::UnknownFeature),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

pub(crate) fn polars_err(
    what: impl Into<String>,
) -> impl FnOnce(polars::error::PolarsError) -> TrainError {
    let what = what.into();
    move |source| TrainError::Polars { what, source }
}

pub(crate) fn lgbm_err(what: impl Into<String>) -> impl FnOnce(lightgbm3::Error) -> TrainError {
    let what = what.into();
    move |source| TrainError::LightGbm { what, source }
}
