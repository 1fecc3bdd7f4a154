//! JSON lines (one object per line) into a frame. The workspace's polars is
//! built without its JSON reader (it would rebuild polars for every stage),
//! and a source is small next to what the stages read, so the lines are
//! parsed here: each key becomes a column, typed by what its values hold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde_json::Value;

use crate::error::IngestError;

/// A column's values as read, in row order (`Null` where a line lacks it).
struct RawColumn {
    name: String,
    values: Vec<Value>,
}

/// Reads the parts in order as one table.
pub fn read(parts: &[PathBuf]) -> Result<DataFrame, IngestError> {
    let mut columns: Vec<RawColumn> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut rows = 0usize;
    for part in parts {
        let text = std::fs::read_to_string(part).map_err(|e| IngestError::io(part, e))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let object = parse_line(part, n + 1, line)?;
            for (key, value) in object {
                let i = *index.entry(key.clone()).or_insert_with(|| {
                    columns.push(RawColumn {
                        name: key,
                        values: Vec::new(),
                    });
                    columns.len() - 1
                });
                let values = &mut columns[i].values;
                values.resize(rows, Value::Null);
                values.push(value);
            }
            rows += 1;
        }
    }
    let series: Vec<Column> = columns
        .into_iter()
        .map(|mut c| {
            c.values.resize(rows, Value::Null);
            typed(&c.name, &c.values).into()
        })
        .collect();
    DataFrame::new(rows, series).map_err(|source| IngestError::Unreadable {
        path: parts.first().cloned().unwrap_or_default(),
        format: "JSON lines",
        source,
    })
}

fn parse_line(
    path: &Path,
    line: usize,
    text: &str,
) -> Result<serde_json::Map<String, Value>, IngestError> {
    let bad = |message: String| IngestError::BadJsonLine {
        path: path.to_path_buf(),
        line,
        message,
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad("expected a JSON object".to_owned())),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// The narrowest type that holds every value: bool, i64, f64, else string
/// (a nested value keeps its JSON text).
fn typed(name: &str, values: &[Value]) -> Series {
    let present = || values.iter().filter(|v| !v.is_null());
    let name = PlSmallStr::from(name);
    if present().all(Value::is_boolean) {
        let v: Vec<Option<bool>> = values.iter().map(Value::as_bool).collect();
        Series::new(name, v)
    } else if present().all(Value::is_i64) {
        let v: Vec<Option<i64>> = values.iter().map(Value::as_i64).collect();
        Series::new(name, v)
    } else if present().all(Value::is_number) {
        let v: Vec<Option<f64>> = values.iter().map(Value::as_f64).collect();
        Series::new(name, v)
    } else {
        let v: Vec<Option<String>> = values
            .iter()
            .map(|v| match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            })
            .collect();
        Series::new(name, v)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn keys_become_typed_columns_and_missing_keys_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(
            &path,
            "{\"id\": 1, \"x\": 1.5, \"ok\": true}\n\n{\"id\": 2, \"s\": \"b\", \"x\": 2}\n{\"id\": 3, \"s\": [1]}\n",
        )
        .unwrap();
        let df = read(&[path]).unwrap();
        assert_eq!(df.shape(), (3, 4));
        assert_eq!(df.column("id").unwrap().dtype(), &DataType::Int64);
        assert_eq!(df.column("x").unwrap().dtype(), &DataType::Float64);
        assert_eq!(df.column("ok").unwrap().dtype(), &DataType::Boolean);
        let s: Vec<Option<&str>> = df.column("s").unwrap().str().unwrap().iter().collect();
        assert_eq!(s, [None, Some("b"), Some("[1]")]);
        assert_eq!(df.column("ok").unwrap().null_count(), 2);
    }

    #[test]
    fn a_line_that_is_not_an_object_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(&path, "{\"id\": 1}\n[1, 2]\n").unwrap();
        let msg = read(&[path]).unwrap_err().to_string();
        assert!(
            msg.contains("a.jsonl: line 2: expected a JSON object"),
            "{msg}"
        );
    }
}
