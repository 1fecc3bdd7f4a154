//! A LightGBM model compiled into flat arrays and evaluated in Rust.
//!
//! LightGBM's C API spends most of its 40-48 µs for five rows of a 300-tree
//! model on per-call set-up (parameter parsing, row conversion, locks), not
//! on the trees. Like `lleaves` and `treelite`, this module reads the text
//! model (`ranker.txt`) once and walks the trees itself: every node of every
//! tree sits in one contiguous array of 16-byte nodes, the two children of a
//! node are adjacent (the next node is `children + go_right`, no branch and
//! no second load), and the common numerical decision is a single comparison
//! whose NaN direction was decided at load time. The rows of a request walk
//! each tree together, so their independent walks overlap (about 2x faster
//! than one row at a time, which mispredicts about every other node).
//!
//! Architecture invariant: LightGBM stays the reference. The decisions below
//! copy `Tree::NumericalDecision` and `Tree::CategoricalDecision` of
//! LightGBM 4.x (`include/LightGBM/tree.h`), the row preparation copies the
//! C API's dense-row conversion (values with `|v| <= kZeroThreshold` become
//! 0), and the per-row sum runs over the trees in LightGBM's order, so the
//! scores agree with `LGBM_BoosterPredictForMat` to the last bits (the
//! integration tests check 1e-9 on random rows with NaN and zeros).

pub use lightgbm_text::OutputTransform;
use lightgbm_text::tree::{CATEGORICAL_MASK, DEFAULT_LEFT_MASK};
use lightgbm_text::{ModelText, ModelTextError, Tree};

/// LightGBM's `kZeroThreshold` (`1e-35f` widened to double).
const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// The `feature` word of a node packs the feature index with three flags
/// and the node's LightGBM `decision_type`, so a node is 16 bytes.
const NAN_GOES_LEFT: u32 = 1 << 31;
/// Zero-as-missing and categorical nodes leave the one-comparison path.
const SLOW_PATH: u32 = 1 << 30;
/// A leaf: its value is in `CompiledForest::leaf_values`, its threshold is
/// +inf and NaN goes left, and its left child is itself, so a walk may take
/// extra steps at a leaf without leaving it.
const LEAF: u32 = 1 << 29;
/// Bits 21-28: LightGBM's `decision_type` (slow path only).
const DECISION_SHIFT: u32 = 21;
const FEATURE_MASK: u32 = (1 << DECISION_SHIFT) - 1;
/// Rows walked in lock-step through one tree, at most: more would spill the
/// walk's state out of registers. A call's rows are split into blocks of
/// equal size (8 rows walk as 4 + 4, not 6 + 2).
const LOCKSTEP_ROWS: usize = 6;

/// Why a model cannot be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForestError {
    /// The text is not a model LightGBM could load safely.
    #[error(transparent)]
    Text(#[from] ModelTextError),
    #[error("`{key}` = `{value}` in the model header: {expected}")]
    Unsupported {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("Tree={tree}: the model is too large to compile")]
    TooLarge { tree: usize },
}

#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Node {
    /// The split threshold; categorical nodes: the index of their category
    /// set in `category_sets`; leaves: +inf.
    threshold: f64,
    /// Feature index with [`NAN_GOES_LEFT`], [`SLOW_PATH`] and [`LEAF`]
    /// flags and the decision type.
    feature: u32,
    /// The left child's index in `nodes`; the right child follows it, so
    /// the next node is `children + go_right` (no second load).
    children: u32,
}

/// How rows walk the trees; both give identical scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Each row descends until it reaches a leaf (one data-dependent exit
    /// branch per row and tree).
    EarlyExit,
    /// Up to six rows step together, branch-free, until all of them have
    /// reached a leaf (leaves loop on themselves): one exit branch per step
    /// of the block, and the rows' independent walks overlap.
    Lockstep,
}

/// A compiled LightGBM model with one output per row.
#[derive(Debug, Clone)]
pub struct CompiledForest {
    nodes: Vec<Node>,
    /// Parallel to `nodes`: a leaf's value (0 for internal nodes).
    leaf_values: Vec<f64>,
    /// Categorical nodes: the bitset of categories going left.
    category_sets: Vec<Vec<u32>>,
    /// Per tree: the root node.
    roots: Vec<u32>,
    walk: Walk,
    n_features: usize,
    feature_names: Vec<String>,
    average_output: bool,
    transform: OutputTransform,
}

impl CompiledForest {
    /// Checks a model in LightGBM's text format and compiles it.
    pub fn parse(model_text: &str) -> Result<Self, ForestError> {
        Self::compile(&ModelText::parse(model_text)?)
    }

    /// Compiles a checked model: one output per row.
    pub fn compile(model: &ModelText) -> Result<Self, ForestError> {
        let header = model.header();
        for (key, value) in [
            ("num_class", header.num_class),
            ("num_tree_per_iteration", header.num_tree_per_iteration),
        ] {
            if value != 1 {
                return Err(ForestError::Unsupported {
                    key,
                    value: value.to_string(),
                    expected: "1 (one score per row; multiclass models are not served)",
                });
            }
        }
        if header.n_features > FEATURE_MASK as usize + 1 {
            return Err(ForestError::TooLarge { tree: 0 });
        }
        let mut forest = Self {
            nodes: Vec::new(),
            leaf_values: Vec::new(),
            category_sets: Vec::new(),
            roots: Vec::new(),
            // Lock-step measured 0.6x the time of early exit on the bench's
            // 300 x 31-leaf model (5 rows): the rows' branch-free walks
            // overlap, where early exit mispredicts about every other node.
            walk: Walk::Lockstep,
            n_features: header.n_features,
            feature_names: header.feature_names.clone(),
            average_output: header.average_output,
            transform: header.transform,
        };
        for (i, tree) in model.trees().iter().enumerate() {
            forest
                .push_tree(tree)
                .ok_or(ForestError::TooLarge { tree: i })?;
        }
        Ok(forest)
    }

    /// Lays out one checked tree (`None`: node indexes overflow `u32`).
    fn push_tree(&mut self, tree: &Tree) -> Option<()> {
        let node_base = self.nodes.len();
        let to_u32 = |i: usize| u32::try_from(i).ok();
        if tree.num_leaves == 1 {
            let leaf = to_u32(node_base)?;
            self.nodes.push(leaf_node(leaf));
            self.leaf_values.push(tree.leaf_value[0]);
            self.roots.push(leaf);
            return Some(());
        }

        // The internal nodes' comparisons, in LightGBM's numbering. The
        // model text guarantees in-range features, category sets and
        // missing types, and children that form one binary tree.
        let n_internal = tree.num_leaves - 1;
        let mut internal = Vec::with_capacity(n_internal);
        for i in 0..n_internal {
            let dt = tree.decision_type[i];
            let missing_type = (dt >> 2) & 3;
            let mut word = to_u32(tree.split_feature[i])?;
            let mut node_threshold = tree.threshold[i];
            if dt & CATEGORICAL_MASK != 0 || missing_type == 1 {
                if dt & CATEGORICAL_MASK != 0 {
                    let bits = tree.category_set(tree.threshold[i] as usize).to_vec();
                    node_threshold = self.category_sets.len() as f64;
                    self.category_sets.push(bits);
                }
                word |= SLOW_PATH | (u32::from(dt) << DECISION_SHIFT);
            } else {
                // Missing type None turns NaN into 0.0 before comparing;
                // type NaN sends it to the default side.
                let nan_goes_left = if missing_type == 0 {
                    0.0 <= tree.threshold[i]
                } else {
                    dt & DEFAULT_LEFT_MASK != 0
                };
                if nan_goes_left {
                    word |= NAN_GOES_LEFT;
                }
            }
            internal.push((node_threshold, word));
        }

        // Breadth-first placement: the root at node_base, and the two
        // children of every node in consecutive slots.
        let n_slots = n_internal + tree.num_leaves;
        self.nodes.resize(node_base + n_slots, leaf_node(0));
        self.leaf_values.resize(node_base + n_slots, 0.0);
        let mut queue = std::collections::VecDeque::from([(0_i32, node_base)]);
        let mut next_free = node_base + 1;
        while let Some((child, slot)) = queue.pop_front() {
            if child >= 0 {
                let i = child as usize;
                let (node_threshold, word) = internal[i];
                queue.push_back((tree.left_child[i], next_free));
                queue.push_back((tree.right_child[i], next_free + 1));
                self.nodes[slot] = Node {
                    threshold: node_threshold,
                    feature: word,
                    children: to_u32(next_free)?,
                };
                next_free += 2;
            } else {
                self.nodes[slot] = leaf_node(to_u32(slot)?);
                self.leaf_values[slot] = tree.leaf_value[(!child) as usize];
            }
        }
        self.roots.push(to_u32(node_base)?);
        Some(())
    }
    /// Number of input features (the row width).
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The feature names stored in the model, in row order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    pub fn transform(&self) -> OutputTransform {
        self.transform
    }

    /// Scores `rows` (row-major, [`n_features`](Self::n_features) values
    /// each) into `out` (one value per row), as LightGBM's `predict` would.
    /// The rows are prepared in place (values within LightGBM's zero
    /// threshold become exactly 0).
    ///
    /// # Panics
    /// Never for well-sized input; `rows.len()` must be
    /// `out.len() * n_features` (checked with a debug assertion, extra
    /// values are ignored).
    pub fn predict(&self, rows: &mut [f64], out: &mut [f64]) {
        self.predict_raw(rows, out);
        for value in out.iter_mut() {
            *value = self.convert(*value);
        }
    }

    /// Raw scores (before the objective's transform).
    pub fn predict_raw(&self, rows: &mut [f64], out: &mut [f64]) {
        debug_assert_eq!(rows.len(), out.len() * self.n_features);
        for value in rows.iter_mut() {
            if value.abs() <= ZERO_THRESHOLD {
                *value = 0.0;
            }
        }
        out.fill(0.0);
        let width = self.n_features;
        // Tree-major: a tree's nodes stay in L1 while every row walks it;
        // each row's sum still runs over the trees in LightGBM's order.
        match self.walk {
            Walk::EarlyExit => {
                for &root in &self.roots {
                    for (row, sum) in rows.chunks_exact(width).zip(out.iter_mut()) {
                        *sum += self.walk_to_leaf(root, row);
                    }
                }
            }
            Walk::Lockstep => {
                let blocks = out.len().div_ceil(LOCKSTEP_ROWS).max(1);
                let block = out.len().div_ceil(blocks).max(1);
                for (row_block, out_block) in rows.chunks(width * block).zip(out.chunks_mut(block))
                {
                    match out_block.len() {
                        1 => self.walk_block::<1>(row_block, width, out_block),
                        2 => self.walk_block::<2>(row_block, width, out_block),
                        3 => self.walk_block::<3>(row_block, width, out_block),
                        4 => self.walk_block::<4>(row_block, width, out_block),
                        5 => self.walk_block::<5>(row_block, width, out_block),
                        _ => self.walk_block::<LOCKSTEP_ROWS>(row_block, width, out_block),
                    }
                }
            }
        }
        if self.average_output {
            let n = self.roots.len() as f64;
            for sum in out.iter_mut() {
                *sum /= n;
            }
        }
    }

    /// Chooses how rows walk the trees (benchmarks; scores are identical).
    pub fn set_walk(&mut self, walk: Walk) {
        self.walk = walk;
    }

    pub fn walk(&self) -> Walk {
        self.walk
    }

    #[inline(always)]
    fn step(&self, node: &Node, row: &[f64]) -> u32 {
        let go_left = if node.feature & SLOW_PATH == 0 {
            let value = row[(node.feature & FEATURE_MASK) as usize];
            (value <= node.threshold) | (value.is_nan() & (node.feature & NAN_GOES_LEFT != 0))
        } else {
            self.slow_decision(node, row)
        };
        // Arithmetic rather than a branch: the direction is data.
        node.children + u32::from(!go_left)
    }

    /// Descends one tree to its leaf; returns the leaf's value.
    #[inline(always)]
    fn walk_to_leaf(&self, root: u32, row: &[f64]) -> f64 {
        let mut index = root;
        let mut node = &self.nodes[index as usize];
        while node.feature & LEAF == 0 {
            index = self.step(node, row);
            node = &self.nodes[index as usize];
        }
        self.leaf_values[index as usize]
    }

    /// Walks `N` rows through one tree together until every row has
    /// reached a leaf (leaves loop on themselves), and adds the leaf values
    /// to `out`. Each step is branch-free, so the rows' walks overlap.
    #[inline(always)]
    fn walk_lockstep<const N: usize>(&self, root: u32, rows: &[&[f64]; N], out: &mut [f64]) {
        let mut at = [root; N];
        let mut nodes = [&self.nodes[root as usize]; N];
        while !nodes.iter().all(|node| node.feature & LEAF != 0) {
            for ((node_index, node), row) in at.iter_mut().zip(nodes.iter_mut()).zip(rows) {
                *node_index = self.step(node, row);
                *node = &self.nodes[*node_index as usize];
            }
        }
        for (sum, &node_index) in out.iter_mut().zip(&at) {
            *sum += self.leaf_values[node_index as usize];
        }
    }

    /// All trees for a block of `N` rows, trees in LightGBM's order.
    fn walk_block<const N: usize>(&self, rows: &[f64], width: usize, out: &mut [f64]) {
        let rows: [&[f64]; N] = std::array::from_fn(|r| &rows[r * width..(r + 1) * width]);
        for &root in &self.roots {
            self.walk_lockstep::<N>(root, &rows, out);
        }
    }

    /// The objective's output transform.
    pub fn convert(&self, raw: f64) -> f64 {
        match self.transform {
            OutputTransform::Identity => raw,
            OutputTransform::Sigmoid(s) => 1.0 / (1.0 + (-s * raw).exp()),
            OutputTransform::Exp => raw.exp(),
        }
    }

    /// Zero-as-missing and categorical nodes, exactly as LightGBM decides.
    #[cold]
    fn slow_decision(&self, node: &Node, row: &[f64]) -> bool {
        let value = row[(node.feature & FEATURE_MASK) as usize];
        let decision_type = (node.feature >> DECISION_SHIFT) as u8;
        if decision_type & CATEGORICAL_MASK != 0 {
            if value.is_nan() {
                return false;
            }
            let category = value as i32;
            if category < 0 {
                return false;
            }
            let word = (category / 32) as usize;
            return self
                .category_sets
                .get(node.threshold as usize)
                .and_then(|bits| bits.get(word))
                .is_some_and(|bits| (bits >> (category % 32)) & 1 == 1);
        }
        // Missing type Zero: NaN counts as 0, and 0 goes to the default side.
        let value = if value.is_nan() { 0.0 } else { value };
        if (-ZERO_THRESHOLD..=ZERO_THRESHOLD).contains(&value) {
            return decision_type & DEFAULT_LEFT_MASK != 0;
        }
        value <= node.threshold
    }
}

/// A leaf at `index`: every value, NaN included, goes left, to itself.
fn leaf_node(index: u32) -> Node {
    Node {
        threshold: f64::INFINITY,
        feature: LEAF | NAN_GOES_LEFT,
        children: index,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two features; tree 0 splits feature 0 at 1.5 (NaN left, missing type
    /// NaN), tree 1 splits feature 1 at 0.5 with zero-as-missing, default
    /// right, and tree 2 is a single leaf.
    const MODEL: &str = "tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=binary sigmoid:1
feature_names=a b
feature_infos=[0:3] [0:1]

Tree=0
num_leaves=2
num_cat=0
split_feature=0
split_gain=1
threshold=1.5
decision_type=10
left_child=-1
right_child=-2
leaf_value=0.25 -0.5
leaf_weight=1 1
leaf_count=1 1
internal_value=0
internal_weight=0
internal_count=2
is_linear=0
shrinkage=1


Tree=1
num_leaves=2
num_cat=0
split_feature=1
split_gain=1
threshold=0.5
decision_type=4
left_child=-1
right_child=-2
leaf_value=1 2
leaf_weight=1 1
leaf_count=1 1
internal_value=0
internal_weight=0
internal_count=2
is_linear=0
shrinkage=1


Tree=2
num_leaves=1
num_cat=0
split_feature=
split_gain=
threshold=
decision_type=
left_child=
right_child=
leaf_value=0.125
leaf_weight=1
leaf_count=1
internal_value=
internal_weight=
internal_count=
is_linear=0
shrinkage=1


end of trees
";

    fn raw(forest: &CompiledForest, a: f64, b: f64) -> f64 {
        let mut lockstep = [0.0];
        forest.predict_raw(&mut [a, b], &mut lockstep);
        let mut early = forest.clone();
        early.set_walk(Walk::EarlyExit);
        let mut out = [0.0];
        early.predict_raw(&mut [a, b], &mut out);
        assert_eq!(out[0].to_bits(), lockstep[0].to_bits());
        out[0]
    }

    #[test]
    fn follows_lightgbm_missing_value_rules() {
        let forest = CompiledForest::parse(MODEL).unwrap();
        assert_eq!(forest.n_trees(), 3);
        assert_eq!(raw(&forest, 1.0, 0.2), 0.25 + 1.0 + 0.125);
        assert_eq!(raw(&forest, 2.0, 0.7), -0.5 + 2.0 + 0.125);
        // NaN goes left (default left) in tree 0; in tree 1 NaN counts as
        // zero, which is missing there and goes right by default.
        assert_eq!(raw(&forest, f64::NAN, f64::NAN), 0.25 + 2.0 + 0.125);
        assert_eq!(raw(&forest, 2.0, 0.0), -0.5 + 2.0 + 0.125);
        assert_eq!(raw(&forest, 2.0, 1e-36), -0.5 + 2.0 + 0.125);
        let mut out = [0.0];
        forest.predict(&mut [1.0, 0.2], &mut out);
        assert!((out[0] - 1.0 / (1.0 + (-1.375_f64).exp())).abs() < 1e-15);
    }

    #[test]
    fn refuses_broken_models() {
        let cyclic = MODEL.replace(
            "left_child=-1\nright_child=-2\nleaf_value=0.25",
            "left_child=0\nright_child=-2\nleaf_value=0.25",
        );
        assert!(matches!(
            CompiledForest::parse(&cyclic),
            Err(ForestError::Text(ModelTextError::Tree { tree: 0, .. }))
        ));
        // Three trees, one per class of one iteration: a valid model, but
        // not one score per row.
        let multiclass = MODEL
            .replace("num_class=1", "num_class=3")
            .replace("num_tree_per_iteration=1", "num_tree_per_iteration=3");
        assert!(matches!(
            CompiledForest::parse(&multiclass),
            Err(ForestError::Unsupported {
                key: "num_class",
                ..
            })
        ));
        let uneven = MODEL.replace("num_tree_per_iteration=1", "num_tree_per_iteration=2");
        assert!(matches!(
            CompiledForest::parse(&uneven),
            Err(ForestError::Text(ModelTextError::BadHeader {
                key: "num_tree_per_iteration",
                ..
            }))
        ));
        assert!(matches!(
            CompiledForest::parse("garbage"),
            Err(ForestError::Text(ModelTextError::NoTrees))
        ));
    }
}
