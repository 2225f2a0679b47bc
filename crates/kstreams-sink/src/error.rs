//! [`SinkError`]: what failed while storing results.

use std::path::PathBuf;

/// An operation of a sink that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The database could not be opened or its table created.
    #[error("opening the result database {path}: {source}")]
    Open {
        /// The database file (`:memory:` for an in-memory database).
        path: PathBuf,
        /// The database's error.
        source: rusqlite::Error,
    },
    /// A batch could not be written; none of its rows were stored.
    #[error("writing {rows} result rows to table {table}: {source}")]
    Write {
        /// The table.
        table: String,
        /// Rows in the failed batch.
        rows: usize,
        /// The database's error.
        source: rusqlite::Error,
    },
    /// The stored rows could not be read back.
    #[error("reading table {table}: {source}")]
    Read {
        /// The table.
        table: String,
        /// The database's error.
        source: rusqlite::Error,
    },
    /// A table or column name that is not a plain SQL identifier.
    #[error("`{name}` is not a valid table or column name (ASCII letters, digits and '_', not starting with a digit)")]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// A value that does not fit the database (a count above `i64::MAX`).
    #[error("value out of range for column {column}: {value}")]
    OutOfRange {
        /// The column.
        column: &'static str,
        /// The value as text.
        value: String,
    },
}
