//! What the check refuses and what it lets through. Every text it accepts
//! is loaded by LightGBM itself and predicts; what it refuses would have
//! reached LightGBM's unchecked reads (a cut file, a lying header).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lightgbm_text::{END_OF_TREES, ModelText, ModelTextError};

/// Two features; a numerical tree, a categorical tree and a single leaf,
/// as LightGBM 4 writes them (the `tree_sizes` are set by [`model`]).
const BODY: &str = "Tree=0
num_leaves=3
num_cat=0
split_feature=0 1
split_gain=1 1
threshold=1.5 0.5
decision_type=10 2
left_child=1 -1
right_child=-3 -2
leaf_value=0.25 -0.5 0.125
leaf_weight=1 1 1
leaf_count=1 1 1
internal_value=0 0
internal_weight=0 0
internal_count=3 2
is_linear=0
shrinkage=1


Tree=1
num_leaves=2
num_cat=1
split_feature=1
split_gain=1
threshold=0
decision_type=1
left_child=-1
right_child=-2
leaf_value=1 2
leaf_weight=1 1
leaf_count=1 1
internal_value=0
internal_weight=0
internal_count=2
cat_boundaries=0 1
cat_threshold=10
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

feature_importances:
a=1
b=2

parameters:
[boosting: gbdt]
end of parameters

pandas_categorical:null
";

fn header(tree_sizes: &str) -> String {
    format!(
        "tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=1
objective=binary sigmoid:1
feature_names=a b
feature_infos=[0:3] 1:3
tree_sizes={tree_sizes}

"
    )
}

/// The byte size of each `Tree=` block, as LightGBM's writer counts them.
fn block_sizes() -> Vec<usize> {
    let end = BODY.find(END_OF_TREES).unwrap();
    let starts: Vec<usize> = BODY[..end]
        .match_indices("Tree=")
        .map(|(i, _)| i)
        .chain([end])
        .collect();
    starts.windows(2).map(|w| w[1] - w[0]).collect()
}

fn with_sizes(sizes: &[usize]) -> String {
    let list: Vec<String> = sizes.iter().map(usize::to_string).collect();
    header(&list.join(" ")) + BODY
}

fn model() -> String {
    with_sizes(&block_sizes())
}

/// LightGBM loads an accepted text and predicts on rows with NaN.
fn lightgbm_predicts(checked: &ModelText) -> Vec<f64> {
    let booster = checked.booster().expect("LightGBM loads a checked model");
    let rows = [0.0, 1.0, 2.0, 3.0, f64::NAN, f64::NAN, 1.0, 0.0];
    booster
        .predict_with_params(&rows, 2, true, "num_threads=1")
        .unwrap()
}

#[test]
fn a_model_as_lightgbm_writes_it_is_accepted_and_loads() {
    let checked = ModelText::parse(model()).unwrap();
    assert_eq!(checked.trees().len(), 3);
    assert_eq!(checked.header().feature_names, ["a", "b"]);
    let scores = lightgbm_predicts(&checked);
    assert_eq!(scores.len(), 4);
    // Row (0, 1): tree 0 goes left, then right to leaf 1 (-0.5); category 1 is
    // in the set {1, 3} of tree 1, left (1); the leaf adds 0.125.
    let raw: f64 = -0.5 + 1.0 + 0.125;
    assert!((scores[0] - 1.0 / (1.0 + (-raw).exp())).abs() < 1e-12);
}

#[test]
fn lightgbms_own_files_carry_the_sizes_the_check_expects() {
    // The writer's sizes are "Tree=i\n" + the tree + "\n": the span from a
    // block's first line to the next block's. Without a tree_sizes header
    // the same text is read tree by tree.
    let no_sizes = model().replace(&format!("tree_sizes={}\n", sizes_line()), "");
    let checked = ModelText::parse(no_sizes).unwrap();
    assert_eq!(
        lightgbm_predicts(&checked),
        lightgbm_predicts(&ModelText::parse(model()).unwrap())
    );
}

fn sizes_line() -> String {
    let list: Vec<String> = block_sizes().iter().map(usize::to_string).collect();
    list.join(" ")
}

#[test]
fn every_cut_of_the_file_is_refused_until_the_trees_are_whole() {
    let text = model();
    let whole = text.find(END_OF_TREES).unwrap() + END_OF_TREES.len();
    let expected = lightgbm_predicts(&ModelText::parse(text.clone()).unwrap());
    let mut accepted = 0;
    for cut in 0..text.len() {
        match ModelText::parse(&text[..cut]) {
            Err(_) => assert!(cut < whole, "a cut at byte {cut} after the trees is whole"),
            Ok(checked) => {
                assert!(
                    cut >= whole,
                    "a cut at byte {cut} inside the trees was accepted"
                );
                // What follows the trees is optional for LightGBM too.
                assert_eq!(lightgbm_predicts(&checked), expected, "cut at {cut}");
                accepted += 1;
            }
        }
    }
    assert_eq!(accepted, text.len() - whole);
}

#[test]
fn the_cuts_of_the_reported_crash_are_refused() {
    // The crash report: ranker.txt cut at 33% and 50% of its length.
    let text = model();
    for share in [0.33, 0.5] {
        let cut = (text.len() as f64 * share) as usize;
        let err = ModelText::parse(&text[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                ModelTextError::Tree { .. } | ModelTextError::NoEndOfTrees { .. }
            ),
            "{err}"
        );
    }
}

#[test]
fn a_lying_tree_sizes_header_is_refused() {
    let sizes = block_sizes();
    let total: usize = sizes.iter().sum();
    let mut longer = sizes.clone();
    longer.push(sizes[0]);
    let mut shorter = sizes.clone();
    shorter.pop();
    let mut past_the_end = sizes.clone();
    past_the_end[2] = total * 100;
    let mut shifted = sizes.clone();
    shifted[0] += 7;
    shifted[1] -= 7;
    let mut zero = sizes.clone();
    zero[1] = 0;
    for (what, lie) in [
        ("one entry too many", longer),
        ("one entry too few", shorter),
        ("larger than the file", past_the_end),
        ("same total, wrong boundary", shifted),
        ("a zero size", zero),
    ] {
        let err = ModelText::parse(with_sizes(&lie)).unwrap_err();
        assert!(matches!(err, ModelTextError::TreeSizes(_)), "{what}: {err}");
    }
    let err = ModelText::parse(header("3 x 4") + BODY).unwrap_err();
    assert!(err.to_string().contains("not a list of integers"), "{err}");
}

#[test]
fn a_tree_that_lies_about_itself_is_refused_naming_the_tree() {
    let cases: [(&str, &str, &str); 8] = [
        ("num_leaves=3\n", "num_leaves=4\n", "expected 4"),
        ("left_child=1 -1\n", "left_child=1 5\n", "reached twice"),
        ("left_child=1 -1\n", "left_child=1 -9\n", "out of range"),
        (
            "split_feature=0 1\n",
            "split_feature=0 2\n",
            "the model has 2 features",
        ),
        (
            "cat_boundaries=0 1\n",
            "cat_boundaries=0 9\n",
            "cat_threshold",
        ),
        ("decision_type=1\n", "decision_type=13\n", "missing type 3"),
        ("threshold=0\n", "threshold=4\n", "category set 4"),
        ("leaf_value=1 2\n", "leaf_value=1 x\n", "bad value"),
    ];
    for (from, to, says) in cases {
        let text = model().replacen(from, to, 1);
        let err = ModelText::parse(text).unwrap_err();
        assert!(
            matches!(err, ModelTextError::Tree { .. }) && err.to_string().contains(says),
            "{from:?} -> {to:?}: {err}"
        );
    }
}

#[test]
fn a_block_that_is_not_whole_is_refused() {
    // A line without `=` inside a tree: LightGBM would scan past the end
    // of the buffer for one.
    let text = model().replacen(
        "is_linear=0\nshrinkage=1\n\n\nTree=1",
        "is_linear=0\nshrinkage\n\n\nTree=1",
        1,
    );
    let err = ModelText::parse(text).unwrap_err();
    assert!(err.to_string().contains("not a `key=value` line"), "{err}");
    // More lines than LightGBM reads.
    let extra: String = (0..30).map(|i| format!("x{i}=0\n")).collect();
    let text = model().replacen("shrinkage=1\n", &format!("shrinkage=1\n{extra}"), 1);
    let err = ModelText::parse(text).unwrap_err();
    assert!(err.to_string().contains("not whole"), "{err}");
}

#[test]
fn bytes_lightgbm_cannot_read_safely_are_refused() {
    let err = ModelText::parse(model().replacen("a b", "a\0b", 1)).unwrap_err();
    assert!(matches!(err, ModelTextError::Nul { .. }), "{err}");
    let err = ModelText::parse(model().replace('\n', "\r\n")).unwrap_err();
    assert!(
        matches!(err, ModelTextError::CarriageReturn { line: 1 }),
        "{err}"
    );
    let err = ModelText::parse(model().replacen("objective=binary sigmoid:1", "objective=", 1))
        .unwrap_err();
    assert!(err.to_string().contains("objective"), "{err}");
    let err =
        ModelText::parse(model().replacen("feature_names=a b", "feature_names=a", 1)).unwrap_err();
    assert!(err.to_string().contains("feature_names"), "{err}");
    let err = ModelText::parse(model().replacen(
        "num_tree_per_iteration=1",
        "num_tree_per_iteration=0",
        1,
    ))
    .unwrap_err();
    assert!(err.to_string().contains("num_tree_per_iteration"), "{err}");
    let err = ModelText::parse(model().replacen("Tree=1\n", "Tree=7\n", 1)).unwrap_err();
    assert!(err.to_string().contains("`Tree=1` was expected"), "{err}");
}
