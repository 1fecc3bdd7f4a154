//! Why a model text is refused. Every message names the line, the tree or
//! the header key.

/// A model text LightGBM must not be given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelTextError {
    #[error("the model text holds a NUL byte at byte {offset}")]
    Nul { offset: usize },
    #[error(
        "line {line} ends in a carriage return: LightGBM's tree sizes count `\\n`-ended lines (convert the line endings back)"
    )]
    CarriageReturn { line: usize },
    #[error("missing `{0}` in the model header")]
    MissingHeader(&'static str),
    #[error("`{key}` = `{value}` in the model header: expected {expected}")]
    BadHeader {
        key: &'static str,
        value: String,
        expected: String,
    },
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("Tree={tree} (line {line}): {message}")]
    Tree {
        tree: usize,
        line: usize,
        message: String,
    },
    #[error("`tree_sizes` in the model header: {0}")]
    TreeSizes(String),
    #[error("no `end of trees` line after {trees} trees: the file is cut short or damaged")]
    NoEndOfTrees { trees: usize },
    #[error("the model has no trees")]
    NoTrees,
}

impl ModelTextError {
    pub(crate) fn header(
        key: &'static str,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Self::BadHeader {
            key,
            value: value.into(),
            expected: expected.into(),
        }
    }
}
