//! Statements and rows independent of the driver that runs them: the same SQL text and the
//! same row mapping serve PostgreSQL (through sqlx) and SQLite (through rusqlite, see
//! [`crate::lite`]).

use sqlx::Row as _;
use sqlx::any::{AnyArguments, AnyRow};
use tessera_core::store::{StoreError, StoreResult};

use crate::error::map_err;

/// A bound value. Owned, so that a statement can be handed to SQLite's writer thread.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(Option<String>),
    Int(Option<i64>),
}

/// One SQL statement (`$1`, `$2`, … placeholders) with its values, in placeholder order.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub(crate) sql: &'static str,
    pub(crate) params: Vec<Param>,
}

impl Query {
    pub(crate) fn new(sql: &'static str) -> Query {
        Query {
            sql,
            params: Vec::new(),
        }
    }

    /// Binds the next placeholder to a text.
    pub(crate) fn text(mut self, value: impl Into<String>) -> Query {
        self.params.push(Param::Text(Some(value.into())));
        self
    }

    /// Binds the next placeholder to a text or NULL.
    pub(crate) fn opt_text(mut self, value: Option<&str>) -> Query {
        self.params.push(Param::Text(value.map(str::to_string)));
        self
    }

    /// Binds the next placeholder to an integer.
    pub(crate) fn int(mut self, value: i64) -> Query {
        self.params.push(Param::Int(Some(value)));
        self
    }

    /// Binds the next placeholder to an integer or NULL.
    pub(crate) fn opt_int(mut self, value: Option<i64>) -> Query {
        self.params.push(Param::Int(value));
        self
    }

    /// The statement for sqlx.
    pub(crate) fn to_sqlx(&self) -> sqlx::query::Query<'static, sqlx::Any, AnyArguments> {
        let mut q = sqlx::query(self.sql);
        for p in &self.params {
            q = match p {
                Param::Text(v) => q.bind(v.clone()),
                Param::Int(v) => q.bind(*v),
            };
        }
        q
    }
}

/// The columns of one result row, by name.
pub(crate) trait Fields {
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>>;
    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>>;

    fn text(&self, column: &str) -> StoreResult<String> {
        self.opt_text(column)?
            .ok_or_else(|| StoreError::Internal(format!("column {column} is NULL")))
    }

    fn int(&self, column: &str) -> StoreResult<i64> {
        self.opt_int(column)?
            .ok_or_else(|| StoreError::Internal(format!("column {column} is NULL")))
    }
}

/// How a row becomes a value.
pub(crate) type RowMap<T> = fn(&dyn Fields) -> StoreResult<T>;

impl Fields for AnyRow {
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        self.try_get(column).map_err(map_err)
    }

    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        self.try_get(column).map_err(map_err)
    }
}

impl Fields for rusqlite::Row<'_> {
    fn opt_text(&self, column: &str) -> StoreResult<Option<String>> {
        self.get(column).map_err(crate::lite::map_err)
    }

    fn opt_int(&self, column: &str) -> StoreResult<Option<i64>> {
        self.get(column).map_err(crate::lite::map_err)
    }
}
