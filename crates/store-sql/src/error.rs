//! sqlx errors as store errors, and database URLs that are safe to print.

use tessera_core::store::StoreError;

/// Maps a database error: unreachable or overloaded databases are `Unavailable` (the caller
/// answers 503 and retries are safe), unique violations are `Conflict`, the rest `Internal`.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.message().to_string());
            }
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            // SQLite BUSY (5) / LOCKED (6) after busy_timeout; PostgreSQL class 08 (connection
            // exception), 53 (insufficient resources), 57P01-03 (shutting down).
            let transient = matches!(code.as_str(), "5" | "6" | "517" | "262")
                || code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P0");
            if transient {
                StoreError::Unavailable(e.to_string())
            } else {
                StoreError::Internal(e.to_string())
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}

/// The URL with its password (in the user information or a `password=` query parameter)
/// replaced by `***`, for logs and messages.
pub fn redact_database_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "[unparsable database URL]".into();
    };
    if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
        return "[unprintable database URL]".into();
    }
    if parsed
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"))
    {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    "***".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_database_url("postgres://tessera:s3cret@db.example:5432/tessera"),
            "postgres://tessera:***@db.example:5432/tessera"
        );
        assert_eq!(
            redact_database_url("sqlite://tessera.db"),
            "sqlite://tessera.db"
        );
        assert!(!redact_database_url("postgres://u:pw@[bad").contains("pw"));
        let q =
            redact_database_url("postgres://db.example/t?user=u&password=s3cret&sslmode=require");
        assert!(!q.contains("s3cret"), "{q}");
        assert!(q.contains("sslmode=require"), "{q}");
    }
}
