//! The objective line: which objectives this project serves, and how each
//! turns a raw score into the model's output (LightGBM's `ConvertOutput`).
//!
//! LightGBM builds an objective function from this line when it loads a
//! model and indexes its words unchecked (an empty line crashes it), so the
//! line is checked here too.

use crate::error::ModelTextError;

/// How raw scores become the model's output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OutputTransform {
    Identity,
    /// `binary`: `1 / (1 + exp(-sigmoid * raw))`.
    Sigmoid(f64),
    /// `poisson`, `gamma`, `tweedie`: `exp(raw)`.
    Exp,
}

pub(crate) fn parse(value: &str) -> Result<OutputTransform, ModelTextError> {
    let bad = |expected: &str| ModelTextError::header("objective", value, expected);
    let mut words = value.split(' ');
    let name = words.next().filter(|w| !w.is_empty());
    let options: Vec<&str> = words.collect();
    if options.iter().any(|o| o.is_empty()) {
        return Err(bad("words separated by single spaces"));
    }
    for option in &options {
        if let Some((_, number)) = option.split_once(':')
            && number.parse::<f64>().is_err()
        {
            return Err(bad("options of the form `name:number`"));
        }
    }
    match name {
        Some("binary") => {
            let sigmoid = options
                .iter()
                .find_map(|o| o.strip_prefix("sigmoid:"))
                .and_then(|s| s.parse::<f64>().ok())
                .filter(|&s| s > 0.0)
                .ok_or_else(|| bad("`binary sigmoid:<positive number>`"))?;
            Ok(OutputTransform::Sigmoid(sigmoid))
        }
        Some("cross_entropy" | "xentropy") => Ok(OutputTransform::Sigmoid(1.0)),
        Some("regression" | "regression_l1" | "huber" | "fair" | "quantile" | "mape")
            if !options.contains(&"sqrt") =>
        {
            Ok(OutputTransform::Identity)
        }
        Some("lambdarank" | "rank_xendcg") => Ok(OutputTransform::Identity),
        Some("poisson" | "gamma" | "tweedie") => Ok(OutputTransform::Exp),
        _ => Err(bad(
            "binary, cross_entropy, a regression objective without sqrt, lambdarank, rank_xendcg, poisson, gamma or tweedie",
        )),
    }
}
