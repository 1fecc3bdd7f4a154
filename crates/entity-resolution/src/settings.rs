//! The settings file: which columns are compared and how, the blocking
//! rules, the threshold and the guards. TOML or JSON; the built-in default
//! (`settings/customers.toml`) describes `customers_raw`.
//!
//! Settings are checked into a [`Settings`] value before any data is read:
//! an unknown key, an unknown kind, or a blocking rule naming a field that
//! is not defined is an error that names the file and the offending entry.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ErError, Result};

/// The built-in settings: our customer schema.
pub const DEFAULT_SETTINGS_TOML: &str = include_str!("../settings/customers.toml");

/// At most this many fields: a comparison vector packs 3 bits per field
/// into a `u32`.
pub const MAX_FIELDS: usize = 10;

/// How a field is cleaned and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// A person's name: exact, Jaro-Winkler strong, weak, else; term
    /// frequency adjusted by default.
    Name,
    /// Free text (street, city): exact, Jaro-Winkler strong, weak, else.
    String,
    /// Exact or not (state, an id number).
    Exact,
    /// A date: exact, one typo or day/month swapped, else.
    Date,
    /// Digits only: exact, one typo, else.
    Phone,
    /// Exact address, same local part, similar local part, else.
    Email,
    /// Exact, same first three characters, else.
    Postcode,
}

impl FieldKind {
    /// Names of the comparison levels, lowest (disagreement) first.
    pub fn level_labels(self) -> &'static [&'static str] {
        match self {
            FieldKind::Name | FieldKind::String => {
                &["else", "jaro_winkler_weak", "jaro_winkler_strong", "exact"]
            }
            FieldKind::Exact => &["else", "exact"],
            FieldKind::Date => &["else", "one_typo_or_swap", "exact"],
            FieldKind::Phone => &["else", "one_typo", "exact"],
            FieldKind::Email => &["else", "local_part_similar", "local_part_exact", "exact"],
            FieldKind::Postcode => &["else", "same_prefix", "exact"],
        }
    }

    pub fn levels(self) -> usize {
        self.level_labels().len()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldSettings {
    /// The name used in rules, reports and `match_pairs` columns.
    pub name: String,
    /// The input column; defaults to `name`.
    #[serde(default)]
    pub column: Option<String>,
    pub kind: FieldKind,
    /// Jaro-Winkler thresholds `[strong, weak]` for name, string and
    /// email kinds.
    #[serde(default)]
    pub thresholds: Option<[f64; 2]>,
    /// Term-frequency adjustment of exact agreement; default: on for names.
    #[serde(default)]
    pub term_frequency: Option<bool>,
}

impl FieldSettings {
    pub fn column(&self) -> &str {
        self.column.as_deref().unwrap_or(&self.name)
    }

    pub fn thresholds(&self) -> [f64; 2] {
        self.thresholds.unwrap_or([0.92, 0.80])
    }

    pub fn term_frequency(&self) -> bool {
        self.term_frequency.unwrap_or(self.kind == FieldKind::Name)
    }
}

/// One blocking rule: records whose keys are all equal are compared.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BlockingRule {
    pub name: String,
    /// `field` or `field:transform`, transform one of `exact`, `soundex`,
    /// `prefixN`, `suffixN`, `local` (email local part), `year`.
    pub keys: Vec<String>,
}

/// The key transform of one part of a blocking rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyTransform {
    Exact,
    Soundex,
    Prefix(usize),
    Suffix(usize),
    EmailLocal,
    Year,
}

impl KeyTransform {
    fn parse(text: &str) -> Option<Self> {
        let number = |rest: &str| rest.parse::<usize>().ok().filter(|n| *n > 0);
        match text {
            "" | "exact" => Some(Self::Exact),
            "soundex" => Some(Self::Soundex),
            "local" => Some(Self::EmailLocal),
            "year" => Some(Self::Year),
            t if t.starts_with("prefix") => number(&t[6..]).map(Self::Prefix),
            t if t.starts_with("suffix") => number(&t[6..]).map(Self::Suffix),
            _ => None,
        }
    }
}

/// Naming of resolved customer ids from the cluster's representative (its
/// smallest record id).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CustomerIdSettings {
    /// Prepended to the representative's id (or to its digits).
    pub prefix: String,
    /// Keep only the digits of the representative id (`REC0000001` ->
    /// `CUS0000001`); otherwise keep it whole (`C-rec-1-org`).
    #[serde(default)]
    pub digits_only: bool,
}

impl Default for CustomerIdSettings {
    fn default() -> Self {
        Self {
            prefix: "C-".to_owned(),
            digits_only: false,
        }
    }
}

/// The guard against chains: a bridge of the match graph (an edge whose
/// removal splits its cluster) weaker than `max_weight`, with at least
/// `min_side` records on each side, is cut.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChainGuardSettings {
    pub enabled: bool,
    pub max_weight: f64,
    pub min_side: usize,
}

impl Default for ChainGuardSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_weight: 8.0,
            min_side: 2,
        }
    }
}

/// Where the ground truth of an evaluation comes from (never training).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TruthSettings {
    /// The person of a record is its id up to the first of these markers
    /// (FEBRL: `rec-12-org`, `rec-12-dup-0` -> `rec-12`).
    #[serde(default)]
    pub id_markers: Vec<String>,
    /// Or: a column of the input holding the true entity id.
    #[serde(default)]
    pub column: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The unique record id column.
    pub id_column: String,
    #[serde(default)]
    pub customer_id: CustomerIdSettings,
    /// `false`: no matching at all, every record is its own customer (as
    /// `--no-entity-resolution`); `fields` and `blocking` may then be empty.
    #[serde(default = "default_resolve")]
    pub resolve: bool,
    #[serde(default)]
    pub fields: Vec<FieldSettings>,
    #[serde(default)]
    pub blocking: Vec<BlockingRule>,
    /// Pairs at or above this match probability are linked.
    #[serde(default = "default_threshold")]
    pub match_threshold: f64,
    /// Blocks larger than this are not compared all-to-all: their records
    /// are sorted and each is compared with its `window` neighbours.
    #[serde(default = "default_max_block")]
    pub max_block_size: usize,
    #[serde(default = "default_window")]
    pub window: usize,
    /// Random record pairs drawn to estimate u-probabilities.
    #[serde(default = "default_u_pairs")]
    pub u_sample_pairs: usize,
    #[serde(default = "default_em_iterations")]
    pub em_max_iterations: usize,
    #[serde(default)]
    pub chain_guard: ChainGuardSettings,
    /// Field separator of CSV input; fields and headers are trimmed.
    #[serde(default = "default_separator")]
    pub csv_separator: char,
    #[serde(default)]
    pub truth: Option<TruthSettings>,
}

fn default_resolve() -> bool {
    true
}
fn default_threshold() -> f64 {
    0.9
}
fn default_max_block() -> usize {
    1000
}
fn default_window() -> usize {
    20
}
fn default_u_pairs() -> usize {
    200_000
}
fn default_em_iterations() -> usize {
    200
}
fn default_separator() -> char {
    ','
}

/// A blocking key part resolved to a field index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPart {
    pub field: usize,
    pub transform: KeyTransform,
}

impl Settings {
    /// The built-in customer settings.
    pub fn customers() -> Result<Self> {
        Self::parse(DEFAULT_SETTINGS_TOML, "built-in customers.toml", false)
    }

    /// Reads a TOML or JSON settings file (by extension; TOML otherwise).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ErError::SettingsIo {
            path: path.to_path_buf(),
            source,
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self::parse(&text, &path.display().to_string(), json).map_err(|e| match e {
            ErError::InvalidSettings { message, .. } => ErError::SettingsParse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates settings text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str, json: bool) -> Result<Self> {
        let invalid = |message: String| ErError::InvalidSettings {
            origin: origin.to_owned(),
            message,
        };
        let settings: Settings = if json {
            serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| invalid(e.to_string()))?
        };
        settings.validate().map_err(invalid)?;
        Ok(settings)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.fields.is_empty() && self.resolve {
            return Err("`fields` is empty: at least one field must be compared".into());
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(format!(
                "{} fields given, at most {MAX_FIELDS} are supported",
                self.fields.len()
            ));
        }
        for (i, f) in self.fields.iter().enumerate() {
            if self.fields[..i].iter().any(|g| g.name == f.name) {
                return Err(format!("field `{}` is defined twice", f.name));
            }
            let [strong, weak] = f.thresholds();
            if !(0.0..=1.0).contains(&weak) || !(weak..=1.0).contains(&strong) {
                return Err(format!(
                    "field `{}`: thresholds must be [strong, weak] with 0 <= weak <= strong <= 1, got [{strong}, {weak}]",
                    f.name
                ));
            }
        }
        if self.blocking.is_empty() && self.resolve {
            return Err("`blocking` is empty: at least one blocking rule is needed".into());
        }
        for rule in &self.blocking {
            if rule.keys.is_empty() {
                return Err(format!("blocking rule `{}` has no keys", rule.name));
            }
        }
        self.resolved_blocking()?;
        if !(0.0 < self.match_threshold && self.match_threshold < 1.0) {
            return Err(format!(
                "match_threshold must be a probability strictly between 0 and 1, got {}",
                self.match_threshold
            ));
        }
        if self.max_block_size < 2 || self.window < 1 {
            return Err("max_block_size must be at least 2 and window at least 1".into());
        }
        if self.u_sample_pairs < 1000 {
            return Err("u_sample_pairs must be at least 1000".into());
        }
        if !self.csv_separator.is_ascii() {
            return Err("csv_separator must be an ASCII character".into());
        }
        Ok(())
    }

    /// The blocking rules with field names resolved to indices.
    pub fn resolved_blocking(&self) -> std::result::Result<Vec<Vec<KeyPart>>, String> {
        let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
        self.blocking
            .iter()
            .map(|rule| {
                rule.keys
                    .iter()
                    .map(|key| {
                        let (field, transform) = key.split_once(':').unwrap_or((key.as_str(), ""));
                        let index = names.iter().position(|n| *n == field).ok_or_else(|| {
                            format!(
                                "blocking rule `{}` names unknown field `{field}` (fields: {})",
                                rule.name,
                                names.join(", ")
                            )
                        })?;
                        let transform = KeyTransform::parse(transform).ok_or_else(|| {
                            format!(
                                "blocking rule `{}`: unknown key transform `{transform}` (expected exact, soundex, prefixN, suffixN, local or year)",
                                rule.name
                            )
                        })?;
                        Ok(KeyPart { field: index, transform })
                    })
                    .collect()
            })
            .collect()
    }

    /// These settings with only the fields named in `kept` (in their
    /// order) and the blocking rules whose keys use only those fields; the
    /// rules left out come back with the fields they lack.
    pub fn restricted_to(&self, kept: &[&str]) -> (Settings, Vec<(String, Vec<String>)>) {
        let mut restricted = self.clone();
        restricted
            .fields
            .retain(|f| kept.contains(&f.name.as_str()));
        let mut dropped = Vec::new();
        restricted.blocking.retain(|rule| {
            let mut lacking: Vec<String> = Vec::new();
            for key in &rule.keys {
                let field = key.split_once(':').map_or(key.as_str(), |(f, _)| f);
                if !kept.contains(&field) && !lacking.iter().any(|l| l == field) {
                    lacking.push(field.to_owned());
                }
            }
            if lacking.is_empty() {
                return true;
            }
            dropped.push((rule.name.clone(), lacking));
            false
        });
        (restricted, dropped)
    }

    /// A fingerprint of everything a trained model depends on, so that a
    /// saved model is reused only with the settings it was trained for.
    pub fn model_fingerprint(&self) -> String {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|f| {
                let [s, w] = f.thresholds();
                format!("{}:{}:{:?}:{s}:{w}", f.name, f.column(), f.kind)
            })
            .collect();
        let rules: Vec<String> = self.blocking.iter().map(|r| r.keys.join("+")).collect();
        format!("fields={};blocking={}", fields.join(","), rules.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_settings_parse() {
        let s = Settings::customers();
        assert!(s.is_ok(), "{s:?}");
    }

    #[test]
    fn restricting_fields_drops_the_rules_that_need_them() {
        let Ok(s) = Settings::customers() else {
            panic!("built-in settings parse");
        };
        let (r, dropped) = s.restricted_to(&["email", "phone", "last_name"]);
        let fields: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            fields,
            ["last_name", "email", "phone"],
            "settings order kept"
        );
        let rules: Vec<&str> = r.blocking.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(rules, ["phone", "email_local_part"]);
        let dob_surname = dropped.iter().find(|(name, _)| name == "dob_surname");
        assert_eq!(
            dob_surname.map(|(_, lacking)| lacking.clone()),
            Some(vec!["date_of_birth".to_owned()])
        );
        assert_eq!(dropped.len(), 4);
        assert!(r.resolved_blocking().is_ok());
        assert_ne!(r.model_fingerprint(), s.model_fingerprint());
    }

    #[test]
    fn resolve_false_needs_no_fields() {
        let s = Settings::parse("id_column = \"id\"\nresolve = false\n", "x.toml", false);
        assert!(s.as_ref().is_ok_and(|s| !s.resolve), "{s:?}");
        let s = Settings::parse("id_column = \"id\"\n", "x.toml", false);
        assert!(
            s.as_ref()
                .is_err_and(|e| e.to_string().contains("`fields` is empty")),
            "{s:?}"
        );
    }

    #[test]
    fn unknown_blocking_field_is_named() {
        let text = DEFAULT_SETTINGS_TOML.replace("\"phone\"]", "\"telephone\"]");
        let err = Settings::parse(&text, "x.toml", false)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("unknown field `telephone`")),
            "{err:?}"
        );
    }
}
