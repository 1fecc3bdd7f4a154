//! Which comparisons and blocking rules a run uses.
//!
//! A settings file describes the columns a table may have; a real table
//! often lacks some (a customer table with an id and an e-mail only). A
//! field whose column is absent, or holds no usable value, is dropped, and
//! so is every blocking rule that needs it; the rest run. With no field or
//! no rule left, or with resolution switched off, nothing is compared and
//! every record is its own customer ([`Mode::Identity`]). With fewer than
//! [`MIN_MODEL_FIELDS`] fields no match model can be estimated, and pairs
//! are linked when they agree exactly ([`Mode::ExactAgreement`]). The plan
//! says all of this in the log, the summary line and `er_report.json`.

use std::fmt;

use serde::Serialize;

use crate::settings::Settings;

/// Why a comparison was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The table has no such column.
    ColumnAbsent,
    /// The column is there but every value is null, empty or unparsable.
    NoValues,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::ColumnAbsent => "column absent",
            DropReason::NoValues => "no values",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DroppedComparison {
    pub field: String,
    pub column: String,
    pub reason: DropReason,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DroppedRule {
    pub rule: String,
    /// The dropped fields the rule's keys need.
    pub lacking_fields: Vec<String>,
}

/// Why no pair of records was compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityReason {
    /// `--no-entity-resolution`.
    Flag,
    /// `resolve = false` in the settings.
    Settings,
    /// No field of the settings has a column with values.
    NoComparableColumns,
    /// Fields remain, but every blocking rule needs a dropped one.
    NoBlockingRule,
}

impl fmt::Display for IdentityReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdentityReason::Flag => "--no-entity-resolution was given",
            IdentityReason::Settings => "the settings say `resolve = false`",
            IdentityReason::NoComparableColumns => {
                "no column of the settings' fields is present with values"
            }
            IdentityReason::NoBlockingRule => {
                "every blocking rule needs a column that is absent or empty"
            }
        })
    }
}

/// The fewest compared fields a match model is trained on. The model is a
/// latent-class mixture fitted without labels, and such a model is not
/// identifiable from fewer than three indicators: with one or two fields EM
/// has nothing to tell matches from look-alikes, and on generated
/// customers with the e-mail alone it took every candidate pair for a
/// match (prior 0.999999, pairwise precision 0.60).
pub const MIN_MODEL_FIELDS: usize = 3;

/// What the exact-agreement fallback does, in the log and the summary.
const EXACT_AGREEMENT: &str =
    "linking the candidate pairs whose fields agree exactly wherever both records have a value";

/// How records are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Blocking, comparisons and a Fellegi-Sunter model.
    Probabilistic,
    /// Blocking and comparisons, no model (fewer than
    /// [`MIN_MODEL_FIELDS`] fields): a candidate pair is linked when every
    /// field both records have agrees exactly.
    ExactAgreement,
    /// Every record is its own customer; nothing compared, no model.
    Identity,
}

/// The comparisons and rules of a run, and those left out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComparisonPlan {
    pub mode: Mode,
    pub identity_reason: Option<IdentityReason>,
    pub comparisons_used: Vec<String>,
    pub comparisons_dropped: Vec<DroppedComparison>,
    pub blocking_rules_used: Vec<String>,
    pub blocking_rules_dropped: Vec<DroppedRule>,
}

impl ComparisonPlan {
    /// Resolution switched off before any column was looked at.
    pub fn disabled(reason: IdentityReason) -> Self {
        Self {
            mode: Mode::Identity,
            identity_reason: Some(reason),
            comparisons_used: Vec::new(),
            comparisons_dropped: Vec::new(),
            blocking_rules_used: Vec::new(),
            blocking_rules_dropped: Vec::new(),
        }
    }

    /// The plan for `settings` given, per field in order, `None` when its
    /// column is usable or why it is not; returns the settings restricted
    /// to what is used (no field at all when nothing can be compared).
    pub fn new(settings: &Settings, unusable: &[Option<DropReason>]) -> (Settings, Self) {
        let mut kept = Vec::new();
        let mut comparisons_dropped = Vec::new();
        for (field, reason) in settings.fields.iter().zip(unusable) {
            match reason {
                None => kept.push(field.name.as_str()),
                Some(reason) => comparisons_dropped.push(DroppedComparison {
                    field: field.name.clone(),
                    column: field.column().to_owned(),
                    reason: *reason,
                }),
            }
        }
        let (mut restricted, dropped_rules) = settings.restricted_to(&kept);
        let identity_reason = if restricted.fields.is_empty() {
            Some(IdentityReason::NoComparableColumns)
        } else if restricted.blocking.is_empty() {
            Some(IdentityReason::NoBlockingRule)
        } else {
            None
        };
        if identity_reason.is_some() {
            // Nothing is compared: no field is "used" either.
            restricted = restricted.restricted_to(&[]).0;
        }
        let mode = if identity_reason.is_some() {
            Mode::Identity
        } else if restricted.fields.len() < MIN_MODEL_FIELDS {
            Mode::ExactAgreement
        } else {
            Mode::Probabilistic
        };
        let plan = Self {
            mode,
            identity_reason,
            comparisons_used: restricted.fields.iter().map(|f| f.name.clone()).collect(),
            comparisons_dropped,
            blocking_rules_used: restricted.blocking.iter().map(|r| r.name.clone()).collect(),
            blocking_rules_dropped: dropped_rules
                .into_iter()
                .map(|(rule, lacking_fields)| DroppedRule {
                    rule,
                    lacking_fields,
                })
                .collect(),
        };
        (restricted, plan)
    }

    /// Logs what is used and what was dropped, one line each.
    pub fn log(&self) {
        for d in &self.comparisons_dropped {
            tracing::warn!(
                field = %d.field,
                column = %d.column,
                reason = %d.reason,
                "comparison dropped"
            );
        }
        for d in &self.blocking_rules_dropped {
            tracing::warn!(
                rule = %d.rule,
                lacking = %d.lacking_fields.join(", "),
                "blocking rule dropped"
            );
        }
        match self.identity_reason {
            Some(reason) => {
                tracing::warn!("no entity resolution ({reason}): every record is its own customer")
            }
            None => tracing::info!(
                comparisons = %self.comparisons_used.join(", "),
                blocking_rules = %self.blocking_rules_used.join(", "),
                "comparing"
            ),
        }
        if self.mode == Mode::ExactAgreement {
            tracing::warn!(
                "no match model (fewer than {MIN_MODEL_FIELDS} comparable fields, too few to \
                 estimate one): {EXACT_AGREEMENT}"
            );
        }
    }

    /// Why there is no match model, for `explain`; `None` when there is.
    pub fn without_model(&self) -> Option<String> {
        match (self.mode, self.identity_reason) {
            (Mode::Probabilistic, _) => None,
            (Mode::Identity, Some(reason)) => Some(format!(
                "entity resolution is off ({reason}): every record is its own customer"
            )),
            _ => Some(format!(
                "fewer than {MIN_MODEL_FIELDS} comparable fields ({}): pairs are linked by \
                 exact agreement",
                self.comparisons_used.join(", ")
            )),
        }
    }
}

/// One line for the stage summary: what was compared and what dropped.
impl fmt::Display for ComparisonPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(reason) = self.identity_reason {
            write!(
                f,
                "no entity resolution ({reason}): every record is its own customer"
            )?;
        } else if self.comparisons_dropped.is_empty() && self.blocking_rules_dropped.is_empty() {
            return write!(
                f,
                "{} comparisons, {} blocking rules",
                self.comparisons_used.len(),
                self.blocking_rules_used.len()
            );
        } else {
            write!(
                f,
                "comparisons {}; blocking rules {}",
                self.comparisons_used.join(", "),
                self.blocking_rules_used.join(", ")
            )?;
        }
        if !self.comparisons_dropped.is_empty() {
            let dropped: Vec<String> = self
                .comparisons_dropped
                .iter()
                .map(|d| format!("{} ({})", d.field, d.reason))
                .collect();
            write!(f, "; dropped comparisons {}", dropped.join(", "))?;
        }
        if !self.blocking_rules_dropped.is_empty() {
            let dropped: Vec<&str> = self
                .blocking_rules_dropped
                .iter()
                .map(|d| d.rule.as_str())
                .collect();
            write!(f, "; dropped blocking rules {}", dropped.join(", "))?;
        }
        if self.mode == Mode::ExactAgreement {
            write!(
                f,
                "; no match model (fewer than {MIN_MODEL_FIELDS} comparable fields): {EXACT_AGREEMENT}"
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_drop_their_rules_and_the_rest_run() {
        let Ok(settings) = Settings::customers() else {
            panic!("built-in settings parse");
        };
        // first_name, last_name, email, phone, date_of_birth, city,
        // province, postal_code: only email and phone are usable.
        let absent = Some(DropReason::ColumnAbsent);
        let unusable = [
            absent,
            absent,
            None,
            None,
            Some(DropReason::NoValues),
            absent,
            absent,
            absent,
        ];
        let (restricted, plan) = ComparisonPlan::new(&settings, &unusable);
        assert_eq!(plan.mode, Mode::ExactAgreement, "two fields: no model");
        assert_eq!(plan.comparisons_used, ["email", "phone"]);
        assert_eq!(restricted.fields.len(), 2);
        assert_eq!(plan.blocking_rules_used, ["phone", "email_local_part"]);
        assert_eq!(plan.comparisons_dropped.len(), 6);
        assert_eq!(plan.comparisons_dropped[2].field, "date_of_birth");
        assert_eq!(plan.comparisons_dropped[2].reason, DropReason::NoValues);
        let line = plan.to_string();
        assert!(
            line.contains("comparisons email, phone")
                && line.contains("date_of_birth (no values)")
                && line.contains("dropped blocking rules dob_surname")
                && line.contains("no match model (fewer than 3 comparable fields)"),
            "{line}"
        );
        // With a name too, a model is trained.
        let mut unusable = unusable;
        unusable[0] = None;
        let (_, plan) = ComparisonPlan::new(&settings, &unusable);
        assert_eq!(plan.mode, Mode::Probabilistic);
    }

    #[test]
    fn no_usable_field_or_rule_means_identity() {
        let Ok(settings) = Settings::customers() else {
            panic!("built-in settings parse");
        };
        let (_, plan) = ComparisonPlan::new(&settings, &[Some(DropReason::ColumnAbsent); 8]);
        assert_eq!(plan.mode, Mode::Identity);
        assert_eq!(
            plan.identity_reason,
            Some(IdentityReason::NoComparableColumns)
        );
        // City alone: a comparison, but no rule blocks on it.
        let mut unusable = [Some(DropReason::ColumnAbsent); 8];
        unusable[5] = None;
        let (restricted, plan) = ComparisonPlan::new(&settings, &unusable);
        assert_eq!(plan.identity_reason, Some(IdentityReason::NoBlockingRule));
        assert!(restricted.fields.is_empty() && plan.comparisons_used.is_empty());
        assert_eq!(plan.blocking_rules_dropped.len(), 6);
        assert!(
            plan.to_string()
                .contains("every record is its own customer")
        );
    }
}
