//! The HTTP contract: request and response bodies.

use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;
use crate::scoring::FeatureContribution;

/// One recommended offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub offer_id: String,
    pub offer_name: String,
    pub score: f64,
    /// With `explain=true`: the features that moved this score most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Vec<FeatureContribution>>,
}

/// `GET /recommend/{id}`, and each answered item of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendationResponse {
    /// The resolved customer id, also when the request named a record id.
    pub customer_id: String,
    pub cluster: u32,
    /// The request date (`as_of`, default today): offers outside their
    /// validity on it are left out before scoring.
    pub as_of: String,
    pub candidates_scored: usize,
    /// The segment's candidates left out as not valid on `as_of`.
    pub candidates_not_valid: usize,
    pub recommendations: Vec<Recommendation>,
    /// Why the list is empty, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST /recommend`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Customer ids or record ids, at most the configured batch size.
    pub ids: Vec<String>,
    #[serde(default)]
    pub top_k: Option<usize>,
    #[serde(default)]
    pub explain: bool,
    /// `YYYY-MM-DD`, default today: as `as_of` of `GET /recommend/{id}`.
    #[serde(default)]
    pub as_of: Option<String>,
}

/// One id of a batch: its recommendations or why there are none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    /// The id as the request named it.
    pub id: String,
    /// HTTP status this id would have had on its own (200, 404, 503...).
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RecommendationResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// `POST /recommend` answer, in the order of the request's ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    pub results: Vec<BatchItem>,
}
