//! LightGBM itself, one booster per thread: the reference the compiled
//! trees are checked against, and the source of `explain=true`
//! contributions.
//!
//! `lightgbm3::Booster` holds raw C handles and is neither `Send` nor
//! `Sync`. Rather than argue that a wrapper is safe, each worker thread
//! parses its own booster from the model text the first time it needs one
//! (a few milliseconds) and keeps it in a thread-local keyed by the model
//! id, so a reload is picked up on the thread's next call. The booster never
//! leaves the thread that created it.

use std::cell::RefCell;

use lightgbm_text::ModelText;
use lightgbm3::Booster;

/// Every prediction call passes `num_threads=1`: the workspace builds
/// LightGBM with OpenMP, and without this each call starts a thread pool
/// (about 0.9 ms against a few µs of work).
pub const PREDICT_PARAMS: &str = "num_threads=1";

thread_local! {
    static BOOSTER: RefCell<Option<(u64, Booster)>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's booster for model `model_id`, creating it
/// from the checked `model_text` when the thread has none or an older one.
pub fn with_booster<R>(
    model_id: u64,
    model_text: &ModelText,
    f: impl FnOnce(&mut Booster) -> lightgbm3::Result<R>,
) -> Result<R, String> {
    BOOSTER.with_borrow_mut(|slot| {
        if slot.as_ref().is_none_or(|(id, _)| *id != model_id) {
            *slot = None;
            let mut booster = model_text.booster().map_err(|e| e.to_string())?;
            let params = serde_json::json!({ "num_threads": 1 });
            booster
                .single_row_fast_init::<f64>(Some(&params))
                .map_err(|e| e.to_string())?;
            *slot = Some((model_id, booster));
        }
        match slot.as_mut() {
            Some((_, booster)) => f(booster).map_err(|e| e.to_string()),
            None => Err("no LightGBM booster".to_owned()),
        }
    })
}
