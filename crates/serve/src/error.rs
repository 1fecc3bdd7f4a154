//! Errors of the service: loading a model, and the HTTP errors a request
//! can end in (each with a JSON body saying what was wrong).

use std::path::PathBuf;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Why a set of model artifacts was refused.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Artifact(#[from] pipeline_core::CoreError),

    #[error(
        "{path}: checksum {found} differs from {expected} in manifest.json (partly written or replaced file?)"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },

    #[error("{path}: cannot compile the LightGBM model: {source}")]
    Forest {
        path: PathBuf,
        #[source]
        source: crate::scoring::forest::ForestError,
    },

    #[error("{path}: LightGBM refuses the model: {message}")]
    LightGbm { path: PathBuf, message: String },

    #[error("{path}: {message}")]
    Inconsistent { path: PathBuf, message: String },

    #[error("the model cannot be served from the store's generation {generation}: {source}")]
    Features {
        generation: u64,
        #[source]
        source: pipeline_core::ranker_input::UnknownFeature,
    },

    #[error(
        "the compiled evaluator disagrees with LightGBM by {difference:e} on a check row (refusing the model)"
    )]
    Disagreement { difference: f64 },
}

/// The ways a request fails, mapped to status codes and JSON bodies.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    UriTooLong(String),
    #[error("unknown customer or record id `{0}`")]
    UnknownCustomer(String),
    #[error("missing admin token (send `Authorization: Bearer <OFFERS_ADMIN_TOKEN>`)")]
    Unauthorized,
    #[error("wrong admin token")]
    Forbidden,
    #[error("too many failed admin authentications from this address; retry in {0} s")]
    TooManyAttempts(u64),
    #[error("customer store unavailable: {0}")]
    StoreUnavailable(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The body this error answers with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.kind().to_owned(),
            message: self.to_string(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::UriTooLong(_) => "uri_too_long",
            ApiError::UnknownCustomer(_) => "unknown_customer",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::TooManyAttempts(_) => "too_many_requests",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            ApiError::UnknownCustomer(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::StoreUnavailable(_) => {
                response.insert_header(("Retry-After", "1"));
            }
            ApiError::TooManyAttempts(seconds) => {
                response.insert_header(("Retry-After", seconds.to_string()));
            }
            _ => {}
        }
        response.json(self.body())
    }
}
