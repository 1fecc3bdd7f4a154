//! LightGBM's text model format (`ranker.txt`), checked whole before any
//! byte of it reaches LightGBM.
//!
//! LightGBM's own loader (`GBDT::LoadModelFromString`, `Tree::Tree(const
//! char*)` in LightGBM 4.x) trusts its input: it jumps to the offsets that
//! the `tree_sizes=` header announces without comparing them with the
//! length of the text, scans a tree line for `=` past the end of the
//! buffer, reads as many numbers as `num_leaves` says whatever the line
//! holds, and at prediction time follows child and category indices
//! unchecked. A model file cut short, or one whose header lies, crashes the
//! process instead of failing.
//!
//! [`ModelText::parse`] reads the text the way LightGBM does and refuses
//! anything LightGBM could read out of bounds: a NUL or carriage return,
//! a header without the keys LightGBM requires or with counts that disagree,
//! `tree_sizes` entries that are not exactly the byte sizes of the tree
//! blocks, a tree block that is not whole (every line `key=value`, at most
//! LightGBM's 22 lines, ended by a blank line), arrays of the wrong length,
//! children that do not form one binary tree, split features or category
//! sets out of range, and a missing `end of trees` marker.
//!
//! Architecture invariant: the only way to a LightGBM booster from text is
//! [`ModelText::booster`], so nothing unchecked reaches the C API.

mod error;
mod objective;
pub mod tree;

use std::collections::HashMap;

pub use error::ModelTextError;
pub use objective::OutputTransform;
pub use tree::Tree;

/// LightGBM's `Tree::Tree` reads at most this many `key=value` lines.
const MAX_TREE_LINES: usize = 22;

/// The end of the tree section (LightGBM writes it; a cut file lacks it).
pub const END_OF_TREES: &str = "end of trees";

/// The model-wide facts of the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub num_class: usize,
    pub num_tree_per_iteration: usize,
    /// `max_feature_idx + 1`: the row width.
    pub n_features: usize,
    pub feature_names: Vec<String>,
    /// The objective line as written (`binary sigmoid:1`).
    pub objective: String,
    pub transform: OutputTransform,
    pub average_output: bool,
}

/// A model text that LightGBM can load and evaluate on any row of
/// [`Header::n_features`] values without reading out of bounds.
#[derive(Debug, Clone)]
pub struct ModelText {
    text: String,
    header: Header,
    trees: Vec<Tree>,
}

/// One line of the text with the byte offset where it starts.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    number: usize,
    offset: usize,
    text: &'a str,
}

impl ModelText {
    /// Checks `text` completely; see the module documentation.
    pub fn parse(text: impl Into<String>) -> Result<Self, ModelTextError> {
        let text = text.into();
        if let Some(at) = text.find('\0') {
            return Err(ModelTextError::Nul { offset: at });
        }
        let lines = split_lines(&text)?;
        let first_tree = lines
            .iter()
            .position(|l| l.text.starts_with("Tree="))
            .ok_or(ModelTextError::NoTrees)?;
        let fields = header_fields(&lines[..first_tree])?;
        let header = parse_header(&fields)?;
        let (trees, offsets, end_offset) = parse_trees(&lines[first_tree..], &header)?;
        if trees.len() % header.num_tree_per_iteration != 0 {
            return Err(ModelTextError::header(
                "num_tree_per_iteration",
                header.num_tree_per_iteration.to_string(),
                format!("a divisor of the number of trees ({})", trees.len()),
            ));
        }
        if let Some(sizes) = fields.get("tree_sizes") {
            check_tree_sizes(sizes, &offsets, end_offset)?;
        }
        Ok(Self {
            text,
            header,
            trees,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// The checked text, as LightGBM will read it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }

    /// A LightGBM booster of this model: the one road from text to the
    /// C API, taken only by checked text.
    pub fn booster(&self) -> lightgbm3::Result<lightgbm3::Booster> {
        lightgbm3::Booster::from_string(&self.text)
    }
}

/// Splits on `\n`, refusing `\r`: LightGBM's `tree_sizes` count the bytes
/// of `\n`-ended lines, so a file whose line endings were converted no
/// longer matches its own header.
fn split_lines(text: &str) -> Result<Vec<Line<'_>>, ModelTextError> {
    let mut lines = Vec::new();
    let mut offset = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        if line.contains('\r') {
            return Err(ModelTextError::CarriageReturn { line: i + 1 });
        }
        lines.push(Line {
            number: i + 1,
            offset,
            text: line,
        });
        offset += raw.len();
    }
    Ok(lines)
}

/// The header's `key=value` lines, split as LightGBM splits them: on `=`,
/// with two `=` or more allowed only in the two keys whose values may hold
/// one, and nothing trimmed.
fn header_fields<'a>(lines: &[Line<'a>]) -> Result<HashMap<&'a str, &'a str>, ModelTextError> {
    let mut fields = HashMap::new();
    for line in lines.iter().filter(|l| !l.text.is_empty()) {
        let (key, value) = line.text.split_once('=').unwrap_or((line.text, ""));
        if value.contains('=') && !matches!(key, "feature_names" | "monotone_constraints") {
            return Err(ModelTextError::Line {
                line: line.number,
                message: format!("`{key}` holds more than one `=`"),
            });
        }
        fields.insert(key, value);
    }
    Ok(fields)
}

fn parse_header(fields: &HashMap<&str, &str>) -> Result<Header, ModelTextError> {
    let get = |key: &'static str| {
        fields
            .get(key)
            .copied()
            .ok_or(ModelTextError::MissingHeader(key))
    };
    let count = |key: &'static str, min: usize| -> Result<usize, ModelTextError> {
        let value = get(key)?;
        value
            .parse::<usize>()
            .ok()
            .filter(|&n| n >= min)
            .ok_or_else(|| {
                ModelTextError::header(key, value, format!("an integer of at least {min}"))
            })
    };
    let num_class = count("num_class", 1)?;
    let num_tree_per_iteration = match fields.get("num_tree_per_iteration") {
        Some(_) => count("num_tree_per_iteration", 1)?,
        None => num_class,
    };
    count("label_index", 0)?;
    let n_features = count("max_feature_idx", 0)?
        .checked_add(1)
        .ok_or_else(|| ModelTextError::header("max_feature_idx", "", "a smaller number"))?;
    let feature_names = feature_list(fields, "feature_names", n_features)?
        .ok_or(ModelTextError::MissingHeader("feature_names"))?
        .into_iter()
        .map(str::to_owned)
        .collect();
    feature_list(fields, "feature_infos", n_features)?
        .ok_or(ModelTextError::MissingHeader("feature_infos"))?;
    if let Some(constraints) = feature_list(fields, "monotone_constraints", n_features)?
        && let Some(bad) = constraints.iter().find(|c| c.parse::<i8>().is_err())
    {
        return Err(ModelTextError::header(
            "monotone_constraints",
            *bad,
            "integers -1, 0 or 1",
        ));
    }
    let objective = get("objective")?;
    Ok(Header {
        num_class,
        num_tree_per_iteration,
        n_features,
        feature_names,
        objective: objective.to_owned(),
        transform: objective::parse(objective)?,
        average_output: fields.contains_key("average_output"),
    })
}

/// A header list with one item per feature (LightGBM checks the count
/// and splits on single spaces).
fn feature_list<'a>(
    fields: &HashMap<&str, &'a str>,
    key: &'static str,
    n_features: usize,
) -> Result<Option<Vec<&'a str>>, ModelTextError> {
    let Some(&value) = fields.get(key) else {
        return Ok(None);
    };
    let items: Vec<&'a str> = value.split(' ').collect();
    if items.len() != n_features || items.iter().any(|s| s.is_empty()) {
        return Err(ModelTextError::header(
            key,
            format!("{} space-separated items", items.len()),
            format!("max_feature_idx + 1 = {n_features} non-empty items"),
        ));
    }
    Ok(Some(items))
}

/// Reads the tree blocks from the first `Tree=` line on; returns the trees,
/// the byte offset of each block and that of the `end of trees` line.
fn parse_trees(
    lines: &[Line<'_>],
    header: &Header,
) -> Result<(Vec<Tree>, Vec<usize>, usize), ModelTextError> {
    let mut trees = Vec::new();
    let mut offsets = Vec::new();
    let mut at = 0;
    loop {
        // LightGBM skips blank lines between blocks and stops at the first
        // line that does not open a tree.
        while lines.get(at).is_some_and(|l| l.text.is_empty()) {
            at += 1;
        }
        let Some(line) = lines.get(at) else {
            return Err(ModelTextError::NoEndOfTrees { trees: trees.len() });
        };
        if line.text == END_OF_TREES {
            if trees.is_empty() {
                return Err(ModelTextError::NoTrees);
            }
            return Ok((trees, offsets, line.offset));
        }
        let index = trees.len();
        if line.text != format!("Tree={index}") {
            return Err(if line.text.starts_with("Tree=") {
                ModelTextError::Line {
                    line: line.number,
                    message: format!("`{}` where `Tree={index}` was expected", line.text),
                }
            } else {
                ModelTextError::NoEndOfTrees { trees: index }
            });
        }
        offsets.push(line.offset);
        let body_start = at + 1;
        let body_len = lines[body_start..]
            .iter()
            .take(MAX_TREE_LINES + 1)
            .position(|l| l.text.is_empty())
            .filter(|&n| n <= MAX_TREE_LINES)
            .ok_or_else(|| ModelTextError::Tree {
                tree: index,
                line: line.number,
                message: format!(
                    "the block is not whole: no blank line ends it within {MAX_TREE_LINES} lines"
                ),
            })?;
        let body = &lines[body_start..body_start + body_len];
        let mut fields = HashMap::new();
        for l in body {
            let (key, value) = l.text.split_once('=').ok_or_else(|| ModelTextError::Tree {
                tree: index,
                line: l.number,
                message: format!("`{}` is not a `key=value` line", l.text),
            })?;
            fields.insert(key, value);
        }
        let tree =
            Tree::parse(&fields, header.n_features).map_err(|message| ModelTextError::Tree {
                tree: index,
                line: line.number,
                message,
            })?;
        trees.push(tree);
        at = body_start + body_len;
    }
}

/// `tree_sizes` must be exactly the byte size of each block (from its
/// `Tree=` line to the next block), one entry per tree: LightGBM jumps to
/// the offsets they add up to without looking at the text's length.
fn check_tree_sizes(value: &str, offsets: &[usize], end: usize) -> Result<(), ModelTextError> {
    let sizes: Vec<usize> = value
        .split(' ')
        .map(|s| s.parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| ModelTextError::TreeSizes(format!("`{value}` is not a list of integers")))?;
    if sizes.len() != offsets.len() {
        return Err(ModelTextError::TreeSizes(format!(
            "{} entries for {} tree blocks",
            sizes.len(),
            offsets.len()
        )));
    }
    let ends = offsets.iter().skip(1).copied().chain([end]);
    for (i, ((&size, &start), stop)) in sizes.iter().zip(offsets).zip(ends).enumerate() {
        if size != stop - start {
            return Err(ModelTextError::TreeSizes(format!(
                "Tree={i} is {} bytes long, the header says {size}",
                stop - start
            )));
        }
    }
    Ok(())
}
