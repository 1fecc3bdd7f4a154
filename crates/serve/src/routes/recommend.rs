//! `GET /recommend/{id}` and `POST /recommend`.

use actix_web::{HttpRequest, HttpResponse, web};

use pipeline_core::calendar::{EpochDays, format_epoch_days, parse_date, to_epoch_days};

use crate::api::{BatchItem, BatchRequest, BatchResponse, Recommendation, RecommendationResponse};
use crate::error::ApiError;
use crate::scoring::LoadedModel;
use crate::state::{AppState, WorkerStore};

/// `top_k` when the request names none.
pub const DEFAULT_TOP_K: usize = 3;
/// The longest customer or record id looked up, in characters (what the
/// OpenAPI document's `maxLength` counts); a longer one is refused before it
/// reaches the store (414 on the path, 400 for the whole batch).
pub const MAX_ID_CHARS: usize = 256;
/// Features listed per offer with `explain=true`.
const EXPLAIN_FEATURES: usize = 5;

/// What the query string asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Options {
    top_k: usize,
    explain: bool,
    /// The request date: only offers valid on it are recommended.
    as_of: EpochDays,
}

/// Today (UTC) as epoch days: the default request date.
fn today() -> EpochDays {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    EpochDays::try_from(seconds / 86_400).unwrap_or(EpochDays::MAX)
}

fn parse_as_of(value: &str) -> Result<EpochDays, ApiError> {
    parse_date("as_of", value).map(to_epoch_days).map_err(|_| {
        ApiError::BadRequest(format!("as_of must be a date YYYY-MM-DD, got `{value}`"))
    })
}

/// Parses `top_k` and `explain` by hand, so that each mistake gets its own
/// message (a generic deserializer error would not say what was expected).
fn parse_query(query: &str, catalogue_size: usize) -> Result<Options, ApiError> {
    let mut options = Options {
        top_k: DEFAULT_TOP_K.min(catalogue_size.max(1)),
        explain: false,
        as_of: today(),
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "top_k" => options.top_k = parse_top_k(value, catalogue_size)?,
            "as_of" => options.as_of = parse_as_of(value)?,
            "explain" => {
                options.explain = match value {
                    "true" | "1" | "" => true,
                    "false" | "0" => false,
                    other => {
                        return Err(ApiError::BadRequest(format!(
                            "explain must be true or false, got `{other}`"
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(options)
}

fn parse_top_k(value: &str, catalogue_size: usize) -> Result<usize, ApiError> {
    let expected =
        || format!("top_k must be a whole number from 1 to {catalogue_size} (the catalogue size)");
    let top_k: i64 = value
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{}, got `{value}`", expected())))?;
    check_top_k(top_k, catalogue_size)
        .map_err(|_| ApiError::BadRequest(format!("{}, got {top_k}", expected())))
}

fn check_top_k(top_k: i64, catalogue_size: usize) -> Result<usize, ()> {
    match usize::try_from(top_k) {
        Ok(k) if (1..=catalogue_size).contains(&k) => Ok(k),
        _ => Err(()),
    }
}

/// Every id of a batch is 1 to [`MAX_ID_CHARS`] characters, as on the path:
/// a batch with another one is malformed as a whole (400), so that every id
/// an answer echoes is one `GET /recommend/{id}` takes.
fn check_batch_ids(ids: &[String]) -> Result<(), ApiError> {
    for (index, id) in ids.iter().enumerate() {
        let chars = id.chars().count();
        if chars == 0 || chars > MAX_ID_CHARS {
            return Err(ApiError::BadRequest(format!(
                "ids[{index}] must be 1 to {MAX_ID_CHARS} characters, got {chars}"
            )));
        }
    }
    Ok(())
}

/// Looks up one id and scores it with `model`.
async fn recommend_one(
    id: &str,
    options: Options,
    model: &LoadedModel,
    store: &WorkerStore,
    state: &AppState,
) -> Result<RecommendationResponse, ApiError> {
    let record = store
        .lookup(id, &state.metrics)
        .await?
        .ok_or_else(|| ApiError::UnknownCustomer(id.to_owned()))?;
    state.saw_generation(record.generation.generation);
    let layout = model.layout_for(&record.generation)?;
    let ranking = model.recommend(
        &layout,
        &record.features,
        record.cluster,
        options.top_k,
        options.as_of,
    );
    let offers = model.offers();
    let mut recommendations = Vec::with_capacity(ranking.top.len());
    for scored in &ranking.top {
        let offer = &offers[scored.offer];
        let explanation = if options.explain {
            Some(
                model
                    .explain(&layout, &record.features, scored.offer, EXPLAIN_FEATURES)
                    .map_err(ApiError::Internal)?,
            )
        } else {
            None
        };
        recommendations.push(Recommendation {
            offer_id: offer.attributes.offer_id.clone(),
            offer_name: offer.name.clone(),
            score: scored.score,
            explanation,
        });
    }
    let as_of = format_epoch_days(options.as_of);
    let note = (ranking.candidates_scored == 0).then(|| {
        format!(
            "none of the segment's {} candidate offers is valid on {as_of} (valid_from / valid_to of offers.parquet)",
            ranking.candidates_not_valid
        )
    });
    Ok(RecommendationResponse {
        customer_id: record.customer_id,
        cluster: record.cluster,
        as_of,
        candidates_scored: ranking.candidates_scored,
        candidates_not_valid: ranking.candidates_not_valid,
        recommendations,
        note,
    })
}

/// `GET /recommend/{id}?top_k=K&explain=true`.
#[tracing::instrument(level = "debug", name = "recommend", skip_all, fields(id = %id))]
pub async fn get_recommendation(
    request: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
    store: web::Data<WorkerStore>,
) -> Result<HttpResponse, ApiError> {
    let chars = id.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(ApiError::UriTooLong(format!(
            "the id in /recommend/{{id}} is at most {MAX_ID_CHARS} characters, got {chars}"
        )));
    }
    let model = state.model.load_full();
    let options = parse_query(request.query_string(), model.catalogue_size())?;
    let response = recommend_one(&id, options, &model, &store, &state).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `POST /recommend` with `{"ids": [...], "top_k": K, "explain": bool}`.
#[tracing::instrument(level = "debug", name = "recommend_batch", skip_all, fields(ids = body.ids.len()))]
pub async fn post_recommendations(
    body: web::Json<BatchRequest>,
    state: web::Data<AppState>,
    store: web::Data<WorkerStore>,
) -> Result<HttpResponse, ApiError> {
    let model = state.model.load_full();
    let request = body.into_inner();
    let max_batch = state.settings.max_batch;
    if request.ids.is_empty() || request.ids.len() > max_batch {
        return Err(ApiError::BadRequest(format!(
            "ids must list 1 to {max_batch} customer or record ids, got {}",
            request.ids.len()
        )));
    }
    check_batch_ids(&request.ids)?;
    let catalogue_size = model.catalogue_size();
    let top_k = match request.top_k {
        None => DEFAULT_TOP_K.min(catalogue_size.max(1)),
        Some(k) => check_top_k(i64::try_from(k).unwrap_or(i64::MAX), catalogue_size).map_err(|_| {
            ApiError::BadRequest(format!(
                "top_k must be a whole number from 1 to {catalogue_size} (the catalogue size), got {k}"
            ))
        })?,
    };
    let options = Options {
        top_k,
        explain: request.explain,
        as_of: match &request.as_of {
            Some(value) => parse_as_of(value)?,
            None => today(),
        },
    };
    let mut results = Vec::with_capacity(request.ids.len());
    for id in request.ids {
        let item = match recommend_one(&id, options, &model, &store, &state).await {
            Ok(result) => BatchItem {
                id,
                status: 200,
                result: Some(result),
                error: None,
            },
            // The whole batch fails when the store is down: every item would.
            Err(err @ ApiError::StoreUnavailable(_)) => return Err(err),
            Err(err) => BatchItem {
                id,
                status: actix_web::ResponseError::status_code(&err).as_u16(),
                result: None,
                error: Some(err.body()),
            },
        };
        results.push(item);
    }
    Ok(HttpResponse::Ok().json(BatchResponse { results }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_the_query() {
        assert_eq!(
            parse_query("", 8).unwrap(),
            Options {
                top_k: 3,
                explain: false,
                as_of: today(),
            }
        );
        assert_eq!(
            parse_query("top_k=8&explain=true&as_of=2020-01-31", 8).unwrap(),
            Options {
                top_k: 8,
                explain: true,
                as_of: to_epoch_days(parse_date("test", "2020-01-31").unwrap()),
            }
        );
        for bad in [
            "top_k=0",
            "top_k=9",
            "top_k=-1",
            "top_k=abc",
            "top_k=",
            "top_k=2.5",
            "explain=maybe",
            "as_of=2020-13-01",
            "as_of=yesterday",
            "as_of=",
        ] {
            let err = parse_query(bad, 8).unwrap_err();
            assert!(matches!(err, ApiError::BadRequest(_)), "{bad}");
        }
        let message = parse_query("top_k=abc", 8).unwrap_err().to_string();
        assert!(
            message.contains("from 1 to 8") && message.contains("`abc`"),
            "{message}"
        );
    }
}
