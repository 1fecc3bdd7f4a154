//! Errors of the feature store. [`StoreError::is_unavailable`] tells the
//! transient failures (`serve` answers 503) from the permanent ones.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer in time, refused the connection, or the
    /// connection broke. Transient: the store reconnects by itself.
    #[error("redis at {url} is unavailable ({what}): {source}")]
    Unavailable {
        url: String,
        what: &'static str,
        #[source]
        source: redis::RedisError,
    },

    /// The URL names a node of a Redis Cluster: it redirects the keys of
    /// other nodes (`MOVED`, `ASK`) or says the cluster is down, which a
    /// client of one standalone server cannot follow.
    #[error(
        "redis at {url} is a Redis Cluster node ({what}: {source}); the customer store needs a standalone Redis (a cluster is not supported yet)"
    )]
    ClusterNode {
        url: String,
        what: &'static str,
        #[source]
        source: redis::RedisError,
    },

    /// Redis did not answer within the store's hard deadline.
    #[error("redis at {url} did not answer {what} within {millis} ms")]
    Timeout {
        url: String,
        what: &'static str,
        millis: u128,
    },

    /// Redis answers but holds no generation yet (load-cache never ran, or
    /// the data was flushed).
    #[error("redis at {url} holds no customer generation (key `{key}` is missing): run load-cache")]
    NoGeneration { url: String, key: &'static str },

    /// Redis refused a command for a reason that retrying will not fix
    /// (wrong type, no permission, SWAPDB disabled, ...).
    #[error("redis at {url} refused {what}: {source}")]
    Command {
        url: String,
        what: &'static str,
        #[source]
        source: redis::RedisError,
    },

    /// The Redis URL cannot be used.
    #[error("invalid redis URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// A stored value does not decode as this crate wrote it.
    #[error("corrupt value under `{key}`: {reason}")]
    Corrupt { key: String, reason: String },

    /// An input table is missing, unreadable or breaks the contract.
    #[error(transparent)]
    Table(#[from] pipeline_core::CoreError),

    /// An input table has a column the store cannot take.
    #[error("{path}: column `{column}` has type {found}, expected {expected}")]
    BadColumn {
        path: PathBuf,
        column: String,
        found: String,
        expected: String,
    },

    /// An input table has a bad value (duplicate key, ...).
    #[error("{path}: {reason}")]
    BadData { path: PathBuf, reason: String },

    /// Another load holds the load lock.
    #[error(
        "another load-cache run holds the lock `{key}` on {url} (it expires by itself within {ttl_secs} s if that run died)"
    )]
    Locked {
        url: String,
        key: &'static str,
        ttl_secs: u64,
    },
}

impl StoreError {
    /// The failure without the Redis address or credentials, for answers
    /// to clients that did not authenticate (the log keeps the whole error).
    pub fn public_message(&self) -> String {
        match self {
            StoreError::Unavailable { what, .. } => format!("redis is unavailable ({what})"),
            StoreError::Timeout { what, millis, .. } => {
                format!("redis did not answer {what} within {millis} ms")
            }
            StoreError::NoGeneration { .. } => {
                "redis holds no customer generation: run load-cache".to_owned()
            }
            StoreError::Command { what, .. } => format!("redis refused {what}"),
            StoreError::ClusterNode { .. } => {
                "redis is a Redis Cluster node, which the customer store cannot use".to_owned()
            }
            StoreError::Locked { .. } => "another load holds the load lock".to_owned(),
            StoreError::Corrupt { key, .. } => format!("a stored value under `{key}` is corrupt"),
            StoreError::InvalidUrl { .. }
            | StoreError::Table(_)
            | StoreError::BadColumn { .. }
            | StoreError::BadData { .. } => "the customer store cannot be used".to_owned(),
        }
    }

    /// Whether the failure is transient and the caller should answer
    /// "service unavailable" rather than "internal error".
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. }
                | StoreError::Timeout { .. }
                | StoreError::NoGeneration { .. }
                | StoreError::ClusterNode { .. }
        )
    }
}
