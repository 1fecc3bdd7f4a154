//! The ranker as an MLflow model: the files that make the run's `model`
//! artifact folder loadable by `mlflow.lightgbm.load_model` and
//! `mlflow.pyfunc.load_model` (for example `models:/offers-ranker/N`).
//!
//! The folder already holds `ranker.txt`, LightGBM's text model, which is
//! what the `lightgbm` flavour loads (its `data`). Beside it go:
//! - `MLmodel`: the `lightgbm` and `python_function` flavours and the
//!   signature, one `double` input per column of `feature_cols.json` and one
//!   `double` output (the redemption probability). Written as JSON, which
//!   is YAML, so no YAML writer is needed.
//! - `input_example.json`: the first test rows, in pandas' `split` orient
//!   (a missing value is `null`).
//! - `requirements.txt` and `python_env.yaml`, the environment MLflow
//!   restores: LightGBM 4, whose loader reads the `version=v4` text format.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};

/// The `MLmodel` file name.
pub const MLMODEL_FILE: &str = "MLmodel";
/// The input example's file name.
pub const INPUT_EXAMPLE_FILE: &str = "input_example.json";
/// Rows of the input example.
pub const EXAMPLE_ROWS: usize = 5;

/// The `MLmodel` document of a ranker over `feature_cols` whose text model
/// is the artifact `model_file`, logged by run `run_id`.
pub fn mlmodel(feature_cols: &[String], model_file: &str, run_id: &str) -> Value {
    let inputs: Vec<Value> = feature_cols
        .iter()
        .map(|c| json!({ "type": "double", "name": c, "required": true }))
        .collect();
    let outputs = json!([{ "type": "double", "required": true }]);
    json!({
        "artifact_path": "model",
        "run_id": run_id,
        "flavors": {
            "lightgbm": {
                "code": null,
                "data": model_file,
                "lgb_version": "4",
                "model_class": "lightgbm.basic.Booster",
            },
            "python_function": {
                "data": model_file,
                "env": { "virtualenv": "python_env.yaml" },
                "loader_module": "mlflow.lightgbm",
            },
        },
        "signature": {
            "inputs": Value::Array(inputs).to_string(),
            "outputs": outputs.to_string(),
            "params": null,
        },
        "saved_input_example_info": {
            "artifact_path": INPUT_EXAMPLE_FILE,
            "type": "dataframe",
            "pandas_orient": "split",
        },
    })
}

/// The input example of `rows` (row-major, `feature_cols.len()` wide).
pub fn input_example(feature_cols: &[String], rows: &[f64]) -> Value {
    let width = feature_cols.len().max(1);
    let data: Vec<Value> = rows
        .chunks(width)
        .take(EXAMPLE_ROWS)
        .map(|r| {
            Value::Array(
                r.iter()
                    .map(|&v| if v.is_finite() { json!(v) } else { Value::Null })
                    .collect(),
            )
        })
        .collect();
    json!({ "columns": feature_cols, "data": data })
}

/// Writes the MLflow model files into `dir` and returns their paths, to be
/// logged beside `model_file` in the run's `model` folder.
pub fn write(
    dir: &Path,
    feature_cols: &[String],
    example_rows: &[f64],
    model_file: &str,
    run_id: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    let files = [
        (
            MLMODEL_FILE,
            pretty(&mlmodel(feature_cols, model_file, run_id)),
        ),
        (
            INPUT_EXAMPLE_FILE,
            input_example(feature_cols, example_rows).to_string(),
        ),
        ("requirements.txt", "lightgbm>=4,<5\n".to_owned()),
        (
            "python_env.yaml",
            "build_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n".to_owned(),
        ),
    ];
    files
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .with_context(|| format!("writing the MLflow model file {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_names_every_feature_in_order_and_missing_values_are_null() {
        let cols: Vec<String> = ["recency_days", "offer_value"].map(str::to_owned).to_vec();
        let m = mlmodel(&cols, "ranker.txt", "abc");
        let inputs: Vec<Value> =
            serde_json::from_str(m["signature"]["inputs"].as_str().unwrap()).unwrap();
        let names: Vec<&str> = inputs.iter().map(|i| i["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["recency_days", "offer_value"]);
        assert_eq!(m["flavors"]["lightgbm"]["data"], "ranker.txt");
        let e = input_example(&cols, &[1.0, f64::NAN, 2.0, 3.5]);
        assert_eq!(e["data"], json!([[1.0, null], [2.0, 3.5]]));
    }
}
