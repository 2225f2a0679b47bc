//! [`SqliteSink`]: closed windows in a SQLite table, upserted by (key, window start).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::{Type, Value};
use rusqlite::{params, Connection};

use crate::{ResultKey, Sink, SinkError, WindowResult};

/// How long a writer waits for another process holding the database lock (several instances
/// of an application may share one file).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Stores [`WindowResult`]s in one table of a SQLite database:
///
/// ```sql
/// CREATE TABLE <table> (<key_column> NOT NULL, window_start INTEGER NOT NULL,
///     window_end INTEGER NOT NULL, avg REAL NOT NULL, count INTEGER NOT NULL,
///     min REAL NOT NULL, max REAL NOT NULL, PRIMARY KEY (<key_column>, window_start))
/// ```
///
/// Each batch is one transaction of `INSERT … ON CONFLICT DO UPDATE`, so rows written again
/// replace the stored ones: a replay never duplicates a window. The key column has no declared
/// type, so integer keys stay integers and text keys text. Files are opened in WAL mode with a
/// busy timeout, so readers do not block the writer and several writers may share a file.
pub struct SqliteSink {
    conn: Connection,
    table: String,
    key_column: String,
    upsert: String,
}

impl std::fmt::Debug for SqliteSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteSink")
            .field("table", &self.table)
            .field("key_column", &self.key_column)
            .finish()
    }
}

impl SqliteSink {
    /// Opens (creating if needed) the database file `path` and the table `table` whose key
    /// column is named `key_column` (e.g. `sensor_id`).
    pub fn open(path: impl AsRef<Path>, table: &str, key_column: &str) -> Result<Self, SinkError> {
        let path = path.as_ref();
        let open_err = |source| SinkError::Open { path: path.to_path_buf(), source };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Switching to WAL can fail with SQLITE_BUSY without consulting the busy handler when
        // another connection opens the same new file at the same moment: retry it ourselves.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(open_err(e)),
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        Self::with_connection(conn, path, table, key_column)
    }

    /// Like [`Self::open`] on a private in-memory database (for tests and examples).
    pub fn open_in_memory(table: &str, key_column: &str) -> Result<Self, SinkError> {
        let path = Path::new(":memory:");
        let conn =
            Connection::open_in_memory().map_err(|source| SinkError::Open { path: path.into(), source })?;
        Self::with_connection(conn, path, table, key_column)
    }

    fn with_connection(
        conn: Connection,
        path: &Path,
        table: &str,
        key_column: &str,
    ) -> Result<Self, SinkError> {
        check_identifier(table)?;
        check_identifier(key_column)?;
        let open_err = |source| SinkError::Open { path: PathBuf::from(path), source };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS \"{table}\" (\
               \"{key_column}\" NOT NULL, window_start INTEGER NOT NULL, window_end INTEGER NOT NULL, \
               avg REAL NOT NULL, count INTEGER NOT NULL, min REAL NOT NULL, max REAL NOT NULL, \
               PRIMARY KEY (\"{key_column}\", window_start))"
        ))
        .map_err(open_err)?;
        let upsert = format!(
            "INSERT INTO \"{table}\" (\"{key_column}\", window_start, window_end, avg, count, min, max) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (\"{key_column}\", window_start) DO UPDATE SET window_end = excluded.window_end, \
             avg = excluded.avg, count = excluded.count, min = excluded.min, max = excluded.max"
        );
        Ok(Self { conn, table: table.to_string(), key_column: key_column.to_string(), upsert })
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Every stored row, ordered by key then window start.
    pub fn read_all(&self) -> Result<Vec<WindowResult>, SinkError> {
        let (table, key) = (&self.table, &self.key_column);
        let sql = format!(
            "SELECT \"{key}\", window_start, window_end, avg, count, min, max FROM \"{table}\" \
             ORDER BY \"{key}\", window_start"
        );
        let read_err = |source| SinkError::Read { table: table.clone(), source };
        let mut stmt = self.conn.prepare(&sql).map_err(read_err)?;
        let rows = stmt
            .query_map([], |row| {
                let key = match row.get::<_, Value>(0)? {
                    Value::Integer(v) => ResultKey::Int(v),
                    Value::Text(v) => ResultKey::Text(v),
                    other => {
                        return Err(rusqlite::Error::InvalidColumnType(0, key.clone(), other.data_type()))
                    }
                };
                let count: i64 = row.get(4)?;
                let count = u64::try_from(count)
                    .map_err(|_| rusqlite::Error::InvalidColumnType(4, "count".into(), Type::Integer))?;
                Ok(WindowResult {
                    key,
                    window_start: row.get(1)?,
                    window_end: row.get(2)?,
                    avg: row.get(3)?,
                    count,
                    min: row.get(5)?,
                    max: row.get(6)?,
                })
            })
            .map_err(read_err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(read_err)
    }
}

impl Sink<WindowResult> for SqliteSink {
    fn write_batch(&mut self, rows: &[WindowResult]) -> Result<(), SinkError> {
        let counts = rows
            .iter()
            .map(|r| {
                i64::try_from(r.count)
                    .map_err(|_| SinkError::OutOfRange { column: "count", value: r.count.to_string() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (table, n) = (self.table.clone(), rows.len());
        let write_err = |source| SinkError::Write { table: table.clone(), rows: n, source };
        let tx = self.conn.transaction().map_err(write_err)?;
        {
            let mut stmt = tx.prepare_cached(&self.upsert).map_err(write_err)?;
            for (r, count) in rows.iter().zip(counts) {
                let key = match &r.key {
                    ResultKey::Int(v) => Value::Integer(*v),
                    ResultKey::Text(v) => Value::Text(v.clone()),
                };
                stmt.execute(params![key, r.window_start, r.window_end, r.avg, count, r.min, r.max])
                    .map_err(write_err)?;
            }
        }
        tx.commit().map_err(write_err)
    }
}

/// Table and column names are interpolated into SQL, so only plain identifiers are accepted.
fn check_identifier(name: &str) -> Result<(), SinkError> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(SinkError::InvalidName { name: name.to_string() })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;

    fn row(key: impl Into<ResultKey>, start: i64, avg: f64, count: u64) -> WindowResult {
        WindowResult {
            key: key.into(),
            window_start: start,
            window_end: start + 60_000,
            avg,
            count,
            min: avg - 1.0,
            max: avg + 1.5,
        }
    }

    #[test]
    fn connections_opening_one_new_file_at_once_wait_for_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.sqlite");
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    SqliteSink::open(&path, "sensor_averages", "sensor_id").map(|_| ())
                })
            })
            .collect();
        for o in openers {
            o.join().unwrap().unwrap();
        }
    }

    #[test]
    fn rows_read_back_equal_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.sqlite");
        let rows = vec![
            row(1u32, 0, 20.25, 60),
            row(1u32, 60_000, 21.5, 59),
            row(2u32, 0, -3.125, 1),
            row("lab", 0, 7.0, 3),
        ];
        let mut sink = SqliteSink::open(&path, "sensor_averages", "sensor_id").unwrap();
        sink.write_batch(&rows).unwrap();
        sink.flush().unwrap();
        drop(sink);
        let sink = SqliteSink::open(&path, "sensor_averages", "sensor_id").unwrap();
        assert_eq!(sink.read_all().unwrap(), rows);
    }

    #[test]
    fn replaying_results_leaves_one_row_per_window_with_the_latest_values() {
        let mut sink = SqliteSink::open_in_memory("w", "sensor_id").unwrap();
        let first = vec![row(1u32, 0, 20.0, 10), row(1u32, 60_000, 21.0, 5), row(2u32, 0, 30.0, 10)];
        sink.write_batch(&first).unwrap();
        sink.write_batch(&first).unwrap();
        assert_eq!(sink.read_all().unwrap(), first);
        // A later emission of one window (e.g. recomputed after a restore) replaces it.
        let newer = row(1u32, 60_000, 22.0, 6);
        sink.write(&newer).unwrap();
        sink.write(&newer).unwrap();
        assert_eq!(sink.read_all().unwrap(), vec![first[0].clone(), newer, first[2].clone()]);
    }

    #[test]
    fn integer_keys_are_stored_as_integers() {
        let mut sink = SqliteSink::open_in_memory("w", "sensor_id").unwrap();
        sink.write(&row(7u32, 0, 1.0, 1)).unwrap();
        let n: i64 =
            sink.conn.query_row("SELECT count(*) FROM w WHERE sensor_id = 7", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn bad_names_and_values_are_rejected() {
        assert!(matches!(SqliteSink::open_in_memory("w; DROP", "k"), Err(SinkError::InvalidName { .. })));
        assert!(matches!(SqliteSink::open_in_memory("w", "1k"), Err(SinkError::InvalidName { .. })));
        let mut sink = SqliteSink::open_in_memory("w", "k").unwrap();
        let e = sink.write_batch(&[row(1u32, 0, 1.0, 1), row(1u32, 1, 1.0, u64::MAX)]).unwrap_err();
        assert!(matches!(e, SinkError::OutOfRange { column: "count", .. }), "{e}");
        assert!(sink.read_all().unwrap().is_empty(), "a failed batch stores nothing");
    }
}
