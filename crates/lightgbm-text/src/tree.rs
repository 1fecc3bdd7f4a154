//! One tree block, with every array LightGBM reads checked for its length
//! and every index LightGBM follows when it predicts checked for its range.

use std::collections::HashMap;
use std::str::FromStr;

/// Bits of LightGBM's `decision_type`.
pub const CATEGORICAL_MASK: u8 = 1;
pub const DEFAULT_LEFT_MASK: u8 = 2;

/// A checked tree. Internal nodes are numbered `0..num_leaves - 1`; a
/// child `c < 0` is the leaf `!c` (LightGBM's convention).
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub num_leaves: usize,
    pub split_feature: Vec<usize>,
    /// Numerical nodes: the threshold; categorical nodes: the index of the
    /// node's category set in `cat_boundaries`.
    pub threshold: Vec<f64>,
    pub decision_type: Vec<u8>,
    pub left_child: Vec<i32>,
    pub right_child: Vec<i32>,
    pub leaf_value: Vec<f64>,
    /// `num_cat + 1` offsets into `cat_threshold` (empty without categories).
    pub cat_boundaries: Vec<usize>,
    /// Bitsets of the categories that go left, 32 categories a word.
    pub cat_threshold: Vec<u32>,
}

impl Tree {
    /// The words of category set `index` (checked in range at parse).
    pub fn category_set(&self, index: usize) -> &[u32] {
        match (
            self.cat_boundaries.get(index),
            self.cat_boundaries.get(index + 1),
        ) {
            (Some(&start), Some(&end)) => self.cat_threshold.get(start..end).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Checks one block's fields as `Tree::Tree(const char*)` reads them.
    pub(crate) fn parse(fields: &HashMap<&str, &str>, n_features: usize) -> Result<Self, String> {
        let num_leaves: usize = scalar(fields, "num_leaves")?;
        if num_leaves == 0 {
            return Err("`num_leaves` is 0".to_owned());
        }
        let num_cat: usize = scalar(fields, "num_cat")?;
        if fields.get("is_linear").is_some_and(|v| *v != "0") {
            return Err("linear trees (`is_linear=1`) are not supported".to_owned());
        }
        if let Some(shrinkage) = fields.get("shrinkage") {
            parse_one::<f64>("shrinkage", shrinkage)?;
        }
        let leaf_value: Vec<f64> = array(fields, "leaf_value", num_leaves)?;
        optional_array::<i64>(fields, "leaf_count", num_leaves)?;
        if num_leaves == 1 {
            // LightGBM reads nothing more of a single-leaf tree.
            return Ok(Self {
                num_leaves,
                split_feature: Vec::new(),
                threshold: Vec::new(),
                decision_type: Vec::new(),
                left_child: Vec::new(),
                right_child: Vec::new(),
                leaf_value,
                cat_boundaries: Vec::new(),
                cat_threshold: Vec::new(),
            });
        }
        let n_internal = num_leaves - 1;
        let tree = Self {
            num_leaves,
            split_feature: array(fields, "split_feature", n_internal)?,
            threshold: array(fields, "threshold", n_internal)?,
            decision_type: optional_array(fields, "decision_type", n_internal)?
                .unwrap_or_else(|| vec![0; n_internal]),
            left_child: array(fields, "left_child", n_internal)?,
            right_child: array(fields, "right_child", n_internal)?,
            leaf_value,
            cat_boundaries: if num_cat > 0 {
                array(fields, "cat_boundaries", num_cat + 1)?
            } else {
                Vec::new()
            },
            cat_threshold: Vec::new(),
        };
        for key in ["split_gain", "internal_value", "internal_weight"] {
            optional_array::<f64>(fields, key, n_internal)?;
        }
        optional_array::<i64>(fields, "internal_count", n_internal)?;
        optional_array::<f64>(fields, "leaf_weight", num_leaves)?;
        let tree = tree.with_categories(fields)?;
        tree.check_nodes(n_features)?;
        tree.check_shape()?;
        Ok(tree)
    }

    fn with_categories(mut self, fields: &HashMap<&str, &str>) -> Result<Self, String> {
        let Some(&last) = self.cat_boundaries.last() else {
            return Ok(self);
        };
        if self.cat_boundaries.first() != Some(&0)
            || self.cat_boundaries.windows(2).any(|w| w[0] > w[1])
        {
            return Err("`cat_boundaries` must rise from 0".to_owned());
        }
        self.cat_threshold = array(fields, "cat_threshold", last)?;
        Ok(self)
    }

    /// Split features within the row, known missing types, and category
    /// sets that exist: LightGBM indexes all three unchecked.
    fn check_nodes(&self, n_features: usize) -> Result<(), String> {
        let n_sets = self.cat_boundaries.len().saturating_sub(1);
        for (i, (&feature, (&dt, &threshold))) in self
            .split_feature
            .iter()
            .zip(self.decision_type.iter().zip(&self.threshold))
            .enumerate()
        {
            if feature >= n_features {
                return Err(format!(
                    "node {i} splits on feature {feature}, but the model has {n_features} features"
                ));
            }
            let missing_type = (dt >> 2) & 3;
            if missing_type == 3 {
                return Err(format!("node {i}: unknown missing type 3"));
            }
            if dt & CATEGORICAL_MASK != 0 {
                let in_range =
                    threshold >= 0.0 && threshold.fract() == 0.0 && (threshold as usize) < n_sets;
                if !in_range {
                    return Err(format!(
                        "node {i}: category set {threshold} is out of range ({n_sets} sets)"
                    ));
                }
            }
        }
        Ok(())
    }

    /// A proper binary tree: every node and leaf reached exactly once from
    /// the root, so every walk ends at a leaf.
    fn check_shape(&self) -> Result<(), String> {
        let n_internal = self.num_leaves - 1;
        let mut node_seen = vec![false; n_internal];
        let mut leaf_seen = vec![false; self.num_leaves];
        let mut stack = vec![0_i32];
        while let Some(n) = stack.pop() {
            if n >= 0 {
                let i = n as usize;
                if i >= n_internal || std::mem::replace(&mut node_seen[i], true) {
                    return Err(format!("node {i} is out of range or reached twice"));
                }
                stack.push(self.left_child[i]);
                stack.push(self.right_child[i]);
            } else {
                let leaf = (!n) as usize;
                if leaf >= self.num_leaves || std::mem::replace(&mut leaf_seen[leaf], true) {
                    return Err(format!("leaf {leaf} is out of range or reached twice"));
                }
            }
        }
        if node_seen.contains(&false) || leaf_seen.contains(&false) {
            return Err("some nodes or leaves are unreachable from the root".to_owned());
        }
        Ok(())
    }
}

fn parse_one<T: FromStr>(key: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("`{key}` has a bad value `{value}`"))
}

fn scalar<T: FromStr>(fields: &HashMap<&str, &str>, key: &str) -> Result<T, String> {
    let value = fields.get(key).ok_or_else(|| format!("missing `{key}`"))?;
    parse_one(key, value)
}

/// Exactly `n` space-separated numbers: LightGBM reads `n` whatever the
/// line holds.
fn array<T: FromStr>(fields: &HashMap<&str, &str>, key: &str, n: usize) -> Result<Vec<T>, String> {
    let value = fields.get(key).ok_or_else(|| format!("missing `{key}`"))?;
    parse_array(key, value, n)
}

fn optional_array<T: FromStr>(
    fields: &HashMap<&str, &str>,
    key: &str,
    n: usize,
) -> Result<Option<Vec<T>>, String> {
    fields
        .get(key)
        .map(|value| parse_array(key, value, n))
        .transpose()
}

fn parse_array<T: FromStr>(key: &str, value: &str, n: usize) -> Result<Vec<T>, String> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let values: Vec<T> = value
        .split(' ')
        .map(|v| parse_one(key, v))
        .collect::<Result<_, _>>()?;
    if values.len() != n {
        return Err(format!("`{key}` has {} values, expected {n}", values.len()));
    }
    Ok(values)
}
