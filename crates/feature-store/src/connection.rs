//! URL handling and error mapping shared by the reader and the loader.

use std::future::Future;
use std::time::Duration;

use crate::error::StoreError;

/// `url` with the password of its user-info replaced by `***`, so that it
/// can go into logs and error messages.
pub fn mask_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

/// Parses `url` into a client. Also returns the masked URL and the database
/// number the URL names.
pub fn open_client(url: &str) -> Result<(redis::Client, String, i64), StoreError> {
    let masked = mask_password(url);
    if !(url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("unix://")
        || url.starts_with("redis+unix://"))
    {
        return Err(StoreError::InvalidUrl {
            url: masked,
            reason: "expected redis://[user:password@]host[:port][/db] or rediss:// for TLS"
                .to_owned(),
        });
    }
    let client = redis::Client::open(url).map_err(|e| StoreError::InvalidUrl {
        url: masked.clone(),
        reason: e.to_string(),
    })?;
    let db = client.get_connection_info().redis_settings().db();
    Ok((client, masked, db))
}

/// Maps a Redis error: a cluster's redirection or cluster-down answer is
/// [`StoreError::ClusterNode`]; connection and timeout failures are
/// transient ([`StoreError::Unavailable`]); anything else is a refusal.
pub fn map_redis_error(url: &str, what: &'static str, source: redis::RedisError) -> StoreError {
    let transient = source.is_io_error()
        || source.is_timeout()
        || source.is_connection_dropped()
        || source.is_connection_refusal()
        || source.is_unrecoverable_error();
    let cluster = source.is_cluster_error()
        || source.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::CrossSlot);
    if cluster {
        StoreError::ClusterNode {
            url: url.to_owned(),
            what,
            source,
        }
    } else if transient {
        StoreError::Unavailable {
            url: url.to_owned(),
            what,
            source,
        }
    } else {
        StoreError::Command {
            url: url.to_owned(),
            what,
            source,
        }
    }
}

/// Runs one Redis call under a hard deadline, mapping both kinds of failure.
pub async fn bounded<T>(
    url: &str,
    what: &'static str,
    deadline: Duration,
    call: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(deadline, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(map_redis_error(url, what, e)),
        Err(_) => Err(StoreError::Timeout {
            url: url.to_owned(),
            what,
            millis: deadline.as_millis(),
        }),
    }
}
