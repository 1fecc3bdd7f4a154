//! Optional identity columns: comparisons and blocking rules come from the
//! columns present; with none left, or resolution switched off, every
//! record is its own customer and the outputs are written as usual.

use std::path::Path;

use polars::prelude::*;
use serde_json::Value;

use crate::{
    entity_map, febrl, febrl_config, febrl_settings, read_parquet, run_bin, small_customers,
    write_parquet,
};

fn report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("er_report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

/// (field, reason) of every dropped comparison in the report.
fn dropped_comparisons(r: &Value) -> Vec<(String, String)> {
    r["resolution"]["comparisons_dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap().to_owned(),
                d["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Every record its own customer, named from its id; an empty
/// match_pairs with its contract columns; no model.
fn assert_identity(dir: &Path, ids: &[&str]) {
    let map = entity_map(dir);
    let expected: Vec<(String, String)> = ids
        .iter()
        .map(|id| ((*id).to_owned(), id.replace("REC", "CUS")))
        .collect();
    assert_eq!(map, expected);
    let sizes = read_parquet(&dir.join("entity_map.parquet"));
    let sizes = sizes.column("cluster_size").unwrap().u32().unwrap();
    assert!(sizes.iter().all(|s| s == Some(1)));
    let pairs = read_parquet(&dir.join("match_pairs.parquet"));
    assert_eq!(pairs.height(), 0);
    let names: Vec<String> = pairs
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "record_id_l",
            "record_id_r",
            "match_weight",
            "match_probability"
        ]
    );
    let r = report(dir);
    assert_eq!(r["resolution"]["mode"], "identity");
    assert!(r["model"].is_null(), "{}", r["model"]);
    assert_eq!(r["clusters"], ids.len());
    assert!(!dir.join("models/er_model.json").exists());
}

const IDS: [&str; 3] = ["REC0000001", "REC0000002", "REC0000003"];

#[test]
fn a_table_of_record_ids_only_maps_each_record_to_itself_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut df = df!["record_id" => IDS].unwrap();
    write_parquet(dir.path(), "customers_raw.parquet", &mut df);
    let (ok, stderr) = run_bin(&[], dir.path());
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(
            "no entity resolution (no column of the settings' fields is present with values): \
             every record is its own customer"
        ),
        "{stderr}"
    );
    assert_identity(dir.path(), &IDS);
    let r = report(dir.path());
    assert_eq!(r["resolution"]["identity_reason"], "no_comparable_columns");
    assert_eq!(
        dropped_comparisons(&r).len(),
        8,
        "every field of the settings"
    );
    assert_eq!(
        r["resolution"]["blocking_rules_dropped"]
            .as_array()
            .unwrap()
            .len(),
        6
    );

    // explain: there is no model to explain with.
    let (ok, stderr) = run_bin(&["explain", IDS[0], IDS[1]], dir.path());
    assert!(!ok);
    assert!(stderr.contains("no match model exists"), "{stderr}");
}

#[test]
fn no_entity_resolution_flag_or_setting_maps_each_record_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    // Hélène Gagné's two records would be linked (see
    // small_table_resolves_accented_duplicate).
    write_parquet(dir.path(), "customers_raw.parquet", &mut small_customers());
    let (ok, stderr) = run_bin(&["--no-entity-resolution"], dir.path());
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("no entity resolution (--no-entity-resolution was given)"),
        "{stderr}"
    );
    assert_identity(dir.path(), &IDS);
    assert_eq!(report(dir.path())["resolution"]["identity_reason"], "flag");

    let settings = dir.path().join("off.toml");
    std::fs::write(
        &settings,
        "id_column = \"record_id\"\nresolve = false\n\
         [customer_id]\nprefix = \"CUS\"\ndigits_only = true\n",
    )
    .unwrap();
    let (ok, stderr) = run_bin(&["--settings", settings.to_str().unwrap()], dir.path());
    assert!(ok, "{stderr}");
    assert!(stderr.contains("`resolve = false`"), "{stderr}");
    assert_identity(dir.path(), &IDS);
    assert_eq!(
        report(dir.path())["resolution"]["identity_reason"],
        "settings"
    );
}

#[test]
fn absent_columns_drop_their_comparisons_and_rules_and_the_rest_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut df = small_customers()
        .select(["record_id", "first_name", "last_name", "phone", "city"])
        .unwrap();
    write_parquet(dir.path(), "customers_raw.parquet", &mut df);
    let (ok, stderr) = run_bin(&[], dir.path());
    assert!(ok, "{stderr}");
    // Names, phone and city still link Hélène Gagné's two records.
    let map = entity_map(dir.path());
    assert_eq!(map[1].1, "CUS0000001", "{map:?}");
    assert_eq!(map[2].1, "CUS0000003");

    let r = report(dir.path());
    assert_eq!(r["resolution"]["mode"], "probabilistic");
    assert_eq!(
        strings(&r["resolution"]["comparisons_used"]),
        ["first_name", "last_name", "phone", "city"]
    );
    assert_eq!(
        strings(&r["fields"]),
        ["first_name", "last_name", "phone", "city"]
    );
    // customers_raw reads an absent optional column as all-null.
    let dropped = dropped_comparisons(&r);
    let names: Vec<&str> = dropped.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(names, ["email", "date_of_birth", "province", "postal_code"]);
    assert!(dropped.iter().all(|(_, reason)| reason == "no_values"));
    assert_eq!(strings(&r["resolution"]["blocking_rules_used"]), ["phone"]);
    let rules_dropped: Vec<String> = r["resolution"]["blocking_rules_dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        rules_dropped,
        [
            "email_local_part",
            "dob_surname",
            "dob_given_name",
            "names_birth_year",
            "postcode_initial"
        ]
    );
    assert!(
        stderr.contains("comparisons first_name, last_name, phone, city; blocking rules phone")
            && stderr.contains("dropped comparisons email (no values)"),
        "{stderr}"
    );
    // match_pairs has a level column for the comparisons made only.
    let pairs = read_parquet(&dir.path().join("match_pairs.parquet"));
    assert!(pairs.column("gamma_phone").is_ok());
    assert!(pairs.column("gamma_email").is_err());
}

#[test]
fn an_entirely_null_column_is_treated_as_absent() {
    let dir = tempfile::tempdir().unwrap();
    let mut df = small_customers();
    for name in ["email", "phone"] {
        df.with_column(Column::new(name.into(), [None::<&str>; 3]))
            .unwrap();
    }
    write_parquet(dir.path(), "customers_raw.parquet", &mut df);
    let (ok, stderr) = run_bin(&[], dir.path());
    assert!(ok, "{stderr}");
    let r = report(dir.path());
    assert_eq!(
        dropped_comparisons(&r),
        [
            ("email".to_owned(), "no_values".to_owned()),
            ("phone".to_owned(), "no_values".to_owned())
        ]
    );
    let rules = strings(&r["resolution"]["blocking_rules_used"]);
    assert!(
        !rules
            .iter()
            .any(|r| r == "phone" || r == "email_local_part")
    );
    // Date of birth and the names still block Hélène Gagné's records.
    assert_eq!(entity_map(dir.path())[1].1, "CUS0000001");
}

#[test]
fn a_settings_column_the_input_lacks_is_dropped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(febrl_settings()).unwrap();
    let settings = dir.path().join("town.toml");
    std::fs::write(
        &settings,
        text.replace("name = \"suburb\"", "name = \"suburb\"\ncolumn = \"town\""),
    )
    .unwrap();
    let out = dir.path().join("out");
    let config = entity_resolution::Config {
        settings: Some(settings),
        ..febrl_config(febrl("dataset1.csv"), &out)
    };
    let report = entity_resolution::run(&config).unwrap();
    let plan = &report.resolution;
    assert_eq!(plan.comparisons_dropped.len(), 1);
    let dropped = &plan.comparisons_dropped[0];
    assert_eq!(
        (dropped.field.as_str(), dropped.column.as_str()),
        ("suburb", "town")
    );
    assert_eq!(
        dropped.reason,
        entity_resolution::plan::DropReason::ColumnAbsent
    );
    assert_eq!(plan.blocking_rules_dropped.len(), 1);
    assert_eq!(plan.blocking_rules_dropped[0].rule, "surname_suburb");
    assert_eq!(plan.blocking_rules_dropped[0].lacking_fields, ["suburb"]);
    assert_eq!(plan.comparisons_used.len(), 9);
    // The nine other fields still resolve FEBRL 1.
    let f1 = report.quality.map(|q| q.pairwise_f1).unwrap_or_default();
    assert!(f1 >= 0.99, "F1 {f1}");
    let saved = std::fs::read_to_string(out.join("er_report.json")).unwrap();
    assert!(saved.contains("\"column_absent\""), "{saved}");
}
