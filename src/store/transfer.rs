//! Moving a whole deployment between databases (`frontdesk export` / `frontdesk import`),
//! typically from embedded SQLite to PostgreSQL when one process is no longer enough.
//!
//! The export is JSON lines, read from one snapshot of the source:
//!
//! ```text
//! {"frontdesk_export":1,"schema_version":6,"dialect":"sqlite"}
//! {"table":"customers","columns":["id","platform",…]}
//! [1,"telegram",…]                      one JSON array per row
//! …
//! {"end":{"tables":14,"rows":52011}}   a cut-off file has no end line and is refused
//! ```
//!
//! Tables come in foreign-key order, so the import inserts them as they come. The import
//! goes into a migrated database of the same schema version that holds no customers and no
//! tickets, in one transaction: either the whole deployment arrives (row counts checked)
//! or nothing does. Ids, ticket numbers and the ticket counter keep their values; identity
//! sequences continue after the largest imported id. Tables are found in the database's
//! own catalog, so a table added by a later migration is carried without changes here.
//!
//! Owns the file format and the copying only; never interprets tickets.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::StoreError;

/// Version of the file format written by [`Transfer::export`].
pub const FORMAT: u32 = 1;

/// Rows inserted per statement on import.
const IMPORT_BATCH: usize = 500;

/// Tables not carried: the migration tool's own (each database keeps its own) and the
/// live replicas of a running deployment (each replica records itself).
fn not_carried(table: &str) -> bool {
    table.starts_with("_sqlx") || table.starts_with("sqlite_") || table == "replicas"
}

/// Rows copied per table, in the order they were copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub schema_version: i64,
    pub tables: Vec<(String, u64)>,
}

impl Summary {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Whole-database copy out of and into a store.
#[async_trait]
pub trait Transfer: Send + Sync {
    /// Writes every table to `out` from one consistent snapshot.
    async fn export(&self, out: &mut (dyn Write + Send)) -> Result<Summary, StoreError>;
    /// Loads an export into this database (migrated, same schema version, no customers or
    /// tickets yet) in one transaction.
    async fn import(&self, input: &mut (dyn BufRead + Send)) -> Result<Summary, StoreError>;
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    frontdesk_export: u32,
    schema_version: i64,
    dialect: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct TableLine {
    table: String,
    columns: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EndLine {
    end: EndCounts,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct EndCounts {
    tables: u64,
    rows: u64,
}

fn corrupt(line: usize, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("export file, line {line}: {what}"))
}

fn write_err(e: std::io::Error) -> StoreError {
    StoreError::Other(format!("writing the export: {e}"))
}

/// Tables in an order where every table comes after the tables it references (ties by
/// name, so exports are reproducible). `references` are (table, referenced table) pairs;
/// self-references are ignored. A cycle is an error.
pub fn dependency_order(
    tables: &[String],
    references: &[(String, String)],
) -> Result<Vec<String>, StoreError> {
    let known: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    let mut needs: BTreeMap<&str, BTreeSet<&str>> =
        known.iter().map(|t| (*t, BTreeSet::new())).collect();
    for (table, parent) in references {
        if table != parent && known.contains(parent.as_str()) {
            if let Some(set) = needs.get_mut(table.as_str()) {
                set.insert(parent.as_str());
            }
        }
    }
    let mut order: Vec<String> = Vec::with_capacity(tables.len());
    while !needs.is_empty() {
        let ready: Vec<&str> = needs
            .iter()
            .filter(|(_, parents)| parents.is_empty())
            .map(|(t, _)| *t)
            .collect();
        if ready.is_empty() {
            let rest: Vec<&str> = needs.keys().copied().collect();
            return Err(StoreError::Other(format!(
                "tables reference each other in a cycle: {}",
                rest.join(", ")
            )));
        }
        for t in &ready {
            needs.remove(t);
        }
        for parents in needs.values_mut() {
            for t in &ready {
                parents.remove(t);
            }
        }
        order.extend(ready.into_iter().map(str::to_string));
    }
    Ok(order)
}

/// Writes the export's lines; the dialects hand it rows already encoded as JSON arrays.
struct Writer<'a> {
    out: &'a mut (dyn Write + Send),
    summary: Summary,
}

impl<'a> Writer<'a> {
    fn start(
        out: &'a mut (dyn Write + Send),
        schema_version: i64,
        dialect: &str,
    ) -> Result<Self, StoreError> {
        let header = Header {
            frontdesk_export: FORMAT,
            schema_version,
            dialect: dialect.to_string(),
        };
        let mut writer = Writer {
            out,
            summary: Summary {
                schema_version,
                tables: Vec::new(),
            },
        };
        writer.line(&header)?;
        Ok(writer)
    }

    fn line(&mut self, value: &impl Serialize) -> Result<(), StoreError> {
        serde_json::to_writer(&mut *self.out, value)
            .map_err(|e| StoreError::Other(format!("writing the export: {e}")))?;
        self.out.write_all(b"\n").map_err(write_err)
    }

    fn table(&mut self, table: &str, columns: &[String]) -> Result<(), StoreError> {
        self.line(&TableLine {
            table: table.to_string(),
            columns: columns.to_vec(),
        })?;
        self.summary.tables.push((table.to_string(), 0));
        Ok(())
    }

    fn row(&mut self, json_array: &str) -> Result<(), StoreError> {
        self.out
            .write_all(json_array.as_bytes())
            .map_err(write_err)?;
        self.out.write_all(b"\n").map_err(write_err)?;
        if let Some((_, n)) = self.summary.tables.last_mut() {
            *n += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Summary, StoreError> {
        let end = EndLine {
            end: EndCounts {
                tables: self.summary.tables.len() as u64,
                rows: self.summary.rows(),
            },
        };
        self.line(&end)?;
        self.out.flush().map_err(write_err)?;
        Ok(self.summary)
    }
}

/// What the import reads next.
enum Item {
    Table(TableLine),
    Rows(Vec<Vec<Value>>),
    End,
}

/// Reads an export in batches of rows, checking its structure as it goes.
struct Reader<'a> {
    input: &'a mut (dyn BufRead + Send),
    line_no: usize,
    buf: String,
    columns: usize,
    pending: Option<Item>,
    summary: Summary,
    ended: bool,
}

impl<'a> Reader<'a> {
    fn open(input: &'a mut (dyn BufRead + Send)) -> Result<(Self, Header), StoreError> {
        let mut reader = Reader {
            input,
            line_no: 0,
            buf: String::new(),
            columns: 0,
            pending: None,
            summary: Summary::default(),
            ended: false,
        };
        let first = reader
            .next_line()?
            .ok_or_else(|| corrupt(1, "empty file"))?;
        let header: Header = serde_json::from_str(&first).map_err(|_| {
            corrupt(
                1,
                "not a frontdesk export (no {\"frontdesk_export\": …} header)",
            )
        })?;
        if header.frontdesk_export != FORMAT {
            return Err(corrupt(
                1,
                format!(
                    "export format {} (this frontdesk reads format {FORMAT})",
                    header.frontdesk_export
                ),
            ));
        }
        reader.summary.schema_version = header.schema_version;
        Ok((reader, header))
    }

    fn next_line(&mut self) -> Result<Option<String>, StoreError> {
        self.buf.clear();
        self.line_no += 1;
        let n = self
            .input
            .read_line(&mut self.buf)
            .map_err(|e| corrupt(self.line_no, format!("cannot be read: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        Ok(Some(self.buf.trim_end_matches(['\n', '\r']).to_string()))
    }

    /// The next table line, batch of rows (at most `IMPORT_BATCH`) or the end.
    fn next(&mut self) -> Result<Item, StoreError> {
        if let Some(item) = self.pending.take() {
            return Ok(item);
        }
        if self.ended {
            return Err(corrupt(self.line_no, "data after the end line"));
        }
        let mut rows: Vec<Vec<Value>> = Vec::new();
        loop {
            let Some(line) = self.next_line()? else {
                return Err(corrupt(
                    self.line_no,
                    "the file ends without its end line (cut off?); nothing was imported",
                ));
            };
            if line.starts_with('[') {
                let row: Vec<Value> = serde_json::from_str(&line)
                    .map_err(|e| corrupt(self.line_no, format!("bad row: {e}")))?;
                if self.summary.tables.is_empty() {
                    return Err(corrupt(self.line_no, "a row before any table line"));
                }
                if row.len() != self.columns {
                    return Err(corrupt(
                        self.line_no,
                        format!("{} values for {} columns", row.len(), self.columns),
                    ));
                }
                if let Some((_, n)) = self.summary.tables.last_mut() {
                    *n += 1;
                }
                rows.push(row);
                if rows.len() >= IMPORT_BATCH {
                    return Ok(Item::Rows(rows));
                }
                continue;
            }
            let item = if let Ok(table) = serde_json::from_str::<TableLine>(&line) {
                self.columns = table.columns.len();
                self.summary.tables.push((table.table.clone(), 0));
                Item::Table(table)
            } else if let Ok(end) = serde_json::from_str::<EndLine>(&line) {
                let read = EndCounts {
                    tables: self.summary.tables.len() as u64,
                    rows: self.summary.rows(),
                };
                if end.end != read {
                    return Err(corrupt(
                        self.line_no,
                        format!(
                            "the end line counts {} tables / {} rows, the file holds {} / {}",
                            end.end.tables, end.end.rows, read.tables, read.rows
                        ),
                    ));
                }
                self.ended = true;
                Item::End
            } else {
                return Err(corrupt(self.line_no, "neither a row, a table nor the end"));
            };
            if rows.is_empty() {
                return Ok(item);
            }
            self.pending = Some(item);
            return Ok(Item::Rows(rows));
        }
    }
}

/// Checks a table line of the file against the target's catalog.
fn check_table(
    target: &BTreeMap<String, Vec<String>>,
    table: &TableLine,
    line: usize,
) -> Result<(), StoreError> {
    let Some(columns) = target.get(&table.table) else {
        return Err(corrupt(
            line,
            format!("table `{}` does not exist in this database", table.table),
        ));
    };
    let mine: BTreeSet<&String> = columns.iter().collect();
    let theirs: BTreeSet<&String> = table.columns.iter().collect();
    if mine != theirs {
        return Err(corrupt(
            line,
            format!(
                "table `{}` has columns {:?} here but {:?} in the file",
                table.table, columns, table.columns
            ),
        ));
    }
    Ok(())
}

fn check_version(header: &Header, mine: Option<i64>) -> Result<(), StoreError> {
    let mine = mine.unwrap_or(0);
    if header.schema_version != mine {
        return Err(StoreError::Migration(format!(
            "the export has schema version {} and this database {mine}: run the same \
             frontdesk version on both sides (`frontdesk migrate` brings a database up to date)",
            header.schema_version
        )));
    }
    Ok(())
}

/// PostgreSQL keeps the last ticket number in a counter row (its gap-free allocation);
/// SQLite derives it from `MAX(number)`. An export from PostgreSQL into SQLite leaves the
/// counter behind; an import into PostgreSQL sets it from the imported tickets.
const TICKET_COUNTER: &str = "ticket_counter";

fn not_empty(customers: i64, tickets: i64) -> StoreError {
    StoreError::Other(format!(
        "this database already holds {customers} customers and {tickets} tickets; \
         import only into a new, empty database"
    ))
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// One database inside a transaction, as the export and the import see it: the few
/// statements whose SQL differs between the dialects. Everything else — the file, the
/// order, the checks — is shared by [`export_from`] and [`import_into`].
#[async_trait]
trait Side: Send {
    /// The first column of the first row of `sql` (an integer).
    async fn number(&mut self, sql: &str) -> Result<Option<i64>, StoreError>;
    async fn execute(&mut self, sql: &str) -> Result<(), StoreError>;
    /// User tables in dependency order, with their columns in table order.
    async fn catalog(&mut self) -> Result<Vec<(String, Vec<String>)>, StoreError>;
    /// Every row of `table` as one JSON array of `columns`, written to `writer`.
    async fn rows_to(
        &mut self,
        table: &str,
        columns: &[String],
        writer: &mut Writer<'_>,
    ) -> Result<(), StoreError>;
    /// Makes the (empty) tables this side's alone for the rest of the transaction.
    async fn lock(&mut self, tables: &[String]) -> Result<(), StoreError>;
    async fn insert(&mut self, table: &TableLine, rows: Vec<Vec<Value>>) -> Result<(), StoreError>;
    /// After the rows: counters and sequences continue after the imported values.
    async fn settle(&mut self) -> Result<(), StoreError>;
}

const SCHEMA_VERSION_SQL: &str = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";

async fn export_from(
    side: &mut dyn Side,
    dialect: &str,
    out: &mut (dyn Write + Send),
) -> Result<Summary, StoreError> {
    let version = side.number(SCHEMA_VERSION_SQL).await?;
    let catalog = side.catalog().await?;
    let mut writer = Writer::start(out, version.unwrap_or(0), dialect)?;
    for (table, columns) in &catalog {
        writer.table(table, columns)?;
        side.rows_to(table, columns, &mut writer).await?;
    }
    writer.finish()
}

async fn import_into(
    side: &mut dyn Side,
    mut reader: Reader<'_>,
    header: &Header,
) -> Result<Summary, StoreError> {
    check_version(header, side.number(SCHEMA_VERSION_SQL).await?)?;
    let customers = side.number("SELECT COUNT(*) FROM customers").await?;
    let tickets = side.number("SELECT COUNT(*) FROM tickets").await?;
    let (customers, tickets) = (customers.unwrap_or(0), tickets.unwrap_or(0));
    if customers > 0 || tickets > 0 {
        return Err(not_empty(customers, tickets));
    }
    let catalog = side.catalog().await?;
    let tables: Vec<String> = catalog.iter().map(|(t, _)| t.clone()).collect();
    side.lock(&tables).await?;
    // Rows the migrations put in (the ticket counter) give way to the imported ones.
    for table in tables.iter().rev() {
        side.execute(&format!("DELETE FROM {}", quote(table)))
            .await?;
    }
    let target: BTreeMap<String, Vec<String>> = catalog.into_iter().collect();
    // `None` while the rows of a table this side does not keep are passed over.
    let mut current: Option<TableLine> = None;
    loop {
        match reader.next()? {
            Item::Table(table) => {
                if table.table == TICKET_COUNTER && !target.contains_key(TICKET_COUNTER) {
                    current = None;
                    continue;
                }
                check_table(&target, &table, reader.line_no)?;
                current = Some(table);
            }
            Item::Rows(rows) => {
                if let Some(table) = &current {
                    side.insert(table, rows).await?;
                }
            }
            Item::End => break,
        }
    }
    reader
        .summary
        .tables
        .retain(|(table, _)| target.contains_key(table));
    for (table, expected) in &reader.summary.tables {
        let n = side
            .number(&format!("SELECT COUNT(*) FROM {}", quote(table)))
            .await?
            .unwrap_or(0);
        if n as u64 != *expected {
            return Err(StoreError::Other(format!(
                "table `{table}`: {n} rows after the import, {expected} in the file"
            )));
        }
    }
    side.settle().await?;
    Ok(reader.summary)
}

/// Ends an import's transaction: committed when it worked, rolled back here otherwise —
/// not on drop, whose rollback waits for the connection's next use and would keep the
/// locks until then.
async fn finish_import<DB: sqlx::Database>(
    tx: sqlx::Transaction<'_, DB>,
    result: Result<Summary, StoreError>,
    error: impl Fn(sqlx::Error) -> StoreError,
) -> Result<Summary, StoreError> {
    match result {
        Ok(summary) => {
            tx.commit().await.map_err(error)?;
            Ok(summary)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

// ---------------------------------------------------------------------------------------
// SQLite

struct SqliteSide<'a> {
    store: &'a SqliteStore,
    conn: &'a mut sqlx::SqliteConnection,
}

#[async_trait]
impl Side for SqliteSide<'_> {
    async fn number(&mut self, sql: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(sql)
            .fetch_one(&mut *self.conn)
            .await
            .map_err(|e| self.store.error(e))
    }

    async fn execute(&mut self, sql: &str) -> Result<(), StoreError> {
        sqlx::query(sql)
            .execute(&mut *self.conn)
            .await
            .map(|_| ())
            .map_err(|e| self.store.error(e))
    }

    async fn catalog(&mut self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let err = |e| self.store.error(e);
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut *self.conn)
                .await
                .map_err(err)?;
        let tables: Vec<String> = tables.into_iter().filter(|t| !not_carried(t)).collect();
        let references: Vec<(String, String)> = sqlx::query_as(
            "SELECT m.name, f.\"table\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table'",
        )
        .fetch_all(&mut *self.conn)
        .await
        .map_err(err)?;
        let mut out = Vec::new();
        for table in dependency_order(&tables, &references)? {
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                    .bind(&table)
                    .fetch_all(&mut *self.conn)
                    .await
                    .map_err(err)?;
            out.push((table, columns));
        }
        Ok(out)
    }

    async fn rows_to(
        &mut self,
        table: &str,
        columns: &[String],
        writer: &mut Writer<'_>,
    ) -> Result<(), StoreError> {
        let list: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        // Ordered by the first column (the key in every table here), as on PostgreSQL.
        let key = columns.first().map(|c| quote(c)).unwrap_or_default();
        let sql = format!(
            "SELECT json_array({}) FROM {} ORDER BY {key}",
            list.join(", "),
            quote(table)
        );
        let mut rows = sqlx::query_scalar::<_, String>(&sql).fetch(&mut *self.conn);
        while let Some(row) = rows.try_next().await.map_err(|e| self.store.error(e))? {
            writer.row(&row)?;
        }
        Ok(())
    }

    async fn lock(&mut self, _tables: &[String]) -> Result<(), StoreError> {
        // BEGIN IMMEDIATE already holds SQLite's one write lock.
        Ok(())
    }

    async fn insert(&mut self, table: &TableLine, rows: Vec<Vec<Value>>) -> Result<(), StoreError> {
        // json_extract turns JSON true/false into 1/0, as SQLite stores booleans.
        let values: Vec<String> = (0..table.columns.len())
            .map(|i| format!("json_extract(value, '$[{i}]')"))
            .collect();
        let names: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
        let sql = format!(
            "INSERT INTO {} ({}) SELECT {} FROM json_each(?)",
            quote(&table.table),
            names.join(", "),
            values.join(", ")
        );
        let json = serde_json::to_string(&rows).map_err(|e| StoreError::Other(e.to_string()))?;
        sqlx::query(&sql)
            .bind(json)
            .execute(&mut *self.conn)
            .await
            .map(|_| ())
            .map_err(|e| self.store.error(e))
    }

    async fn settle(&mut self) -> Result<(), StoreError> {
        // Ticket numbers come from MAX(number); explicit ids move AUTOINCREMENT along.
        Ok(())
    }
}

#[async_trait]
impl Transfer for SqliteStore {
    async fn export(&self, out: &mut (dyn Write + Send)) -> Result<Summary, StoreError> {
        // One read transaction: every table from the same WAL snapshot.
        let mut tx = self.pool().begin().await.map_err(|e| self.error(e))?;
        let mut side = SqliteSide {
            store: self,
            conn: &mut tx,
        };
        let summary = export_from(&mut side, "sqlite", out).await;
        let _ = tx.rollback().await;
        summary
    }

    async fn import(&self, input: &mut (dyn BufRead + Send)) -> Result<Summary, StoreError> {
        let (reader, header) = Reader::open(input)?;
        let mut tx = self
            .pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.error(e))?;
        let mut side = SqliteSide {
            store: self,
            conn: &mut tx,
        };
        let result = import_into(&mut side, reader, &header).await;
        finish_import(tx, result, |e| self.error(e)).await
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

struct PgSide<'a> {
    store: &'a PgStore,
    conn: &'a mut sqlx::PgConnection,
}

#[async_trait]
impl Side for PgSide<'_> {
    async fn number(&mut self, sql: &str) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar(sql)
            .fetch_one(&mut *self.conn)
            .await
            .map_err(|e| self.store.error(e))
    }

    async fn execute(&mut self, sql: &str) -> Result<(), StoreError> {
        sqlx::query(sql)
            .execute(&mut *self.conn)
            .await
            .map(|_| ())
            .map_err(|e| self.store.error(e))
    }

    async fn catalog(&mut self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let err = |e| self.store.error(e);
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() \
               AND table_name IN (SELECT table_name FROM information_schema.tables \
                                  WHERE table_schema = current_schema() \
                                    AND table_type = 'BASE TABLE') \
             ORDER BY table_name, ordinal_position",
        )
        .fetch_all(&mut *self.conn)
        .await
        .map_err(err)?;
        let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (table, column) in columns {
            if !not_carried(&table) {
                by_table.entry(table).or_default().push(column);
            }
        }
        let references: Vec<(String, String)> = sqlx::query_as(
            "SELECT c.relname::text, p.relname::text FROM pg_constraint k \
             JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid \
             WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace",
        )
        .fetch_all(&mut *self.conn)
        .await
        .map_err(err)?;
        let tables: Vec<String> = by_table.keys().cloned().collect();
        Ok(dependency_order(&tables, &references)?
            .into_iter()
            .map(|t| {
                let columns = by_table.remove(&t).unwrap_or_default();
                (t, columns)
            })
            .collect())
    }

    async fn rows_to(
        &mut self,
        table: &str,
        columns: &[String],
        writer: &mut Writer<'_>,
    ) -> Result<(), StoreError> {
        // json_build_array takes at most 100 arguments; tables here have far fewer.
        let list: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let key = columns.first().map(|c| quote(c)).unwrap_or_default();
        let sql = format!(
            "SELECT json_build_array({})::text FROM {} ORDER BY {key}",
            list.join(", "),
            quote(table)
        );
        let mut rows = sqlx::query_scalar::<_, String>(&sql).fetch(&mut *self.conn);
        while let Some(row) = rows.try_next().await.map_err(|e| self.store.error(e))? {
            writer.row(&row)?;
        }
        Ok(())
    }

    async fn lock(&mut self, tables: &[String]) -> Result<(), StoreError> {
        // Replicas running against this database would see a half-filled one: every
        // writer waits until the import commits.
        let names: Vec<String> = tables.iter().map(|t| quote(t)).collect();
        self.execute(&format!(
            "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
            names.join(", ")
        ))
        .await
    }

    async fn insert(&mut self, table: &TableLine, rows: Vec<Vec<Value>>) -> Result<(), StoreError> {
        // Rows as objects, so PostgreSQL converts each value to its column's type
        // (0/1 → boolean, numbers → BIGINT or DOUBLE PRECISION).
        let objects: Vec<serde_json::Map<String, Value>> = rows
            .into_iter()
            .map(|row| table.columns.iter().cloned().zip(row).collect())
            .collect();
        let names: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
        let sql = format!(
            "INSERT INTO {t} ({cols}) OVERRIDING SYSTEM VALUE \
             SELECT {cols} FROM jsonb_populate_recordset(NULL::{t}, $1::jsonb)",
            t = quote(&table.table),
            cols = names.join(", ")
        );
        let json = serde_json::to_string(&objects).map_err(|e| StoreError::Other(e.to_string()))?;
        sqlx::query(&sql)
            .bind(json)
            .execute(&mut *self.conn)
            .await
            .map(|_| ())
            .map_err(|e| self.store.error(e))
    }

    async fn settle(&mut self) -> Result<(), StoreError> {
        // The next ticket follows the imported ones (SQLite exports have no counter row).
        self.execute(
            "INSERT INTO ticket_counter (id, last) \
             SELECT TRUE, COALESCE(MAX(number), 0) FROM tickets \
             ON CONFLICT (id) DO UPDATE SET last = EXCLUDED.last",
        )
        .await?;
        // Identity columns continue after the imported ids.
        let identities: Vec<(String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND is_identity = 'YES'",
        )
        .fetch_all(&mut *self.conn)
        .await
        .map_err(|e| self.store.error(e))?;
        for (table, column) in identities {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence($1, $2), \
                        COALESCE(MAX({c}), 0) + 1, false) FROM {t}",
                c = quote(&column),
                t = quote(&table)
            );
            sqlx::query(&sql)
                .bind(quote(&table))
                .bind(&column)
                .execute(&mut *self.conn)
                .await
                .map_err(|e| self.store.error(e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Transfer for PgStore {
    async fn export(&self, out: &mut (dyn Write + Send)) -> Result<Summary, StoreError> {
        let mut tx = self.pool().begin().await.map_err(|e| self.error(e))?;
        let mut side = PgSide {
            store: self,
            conn: &mut tx,
        };
        // One snapshot for every table.
        let summary = match side
            .execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
        {
            Ok(()) => export_from(&mut side, "postgres", out).await,
            Err(e) => Err(e),
        };
        let _ = tx.rollback().await;
        summary
    }

    async fn import(&self, input: &mut (dyn BufRead + Send)) -> Result<Summary, StoreError> {
        let (reader, header) = Reader::open(input)?;
        let mut tx = self.pool().begin().await.map_err(|e| self.error(e))?;
        let mut side = PgSide {
            store: self,
            conn: &mut tx,
        };
        let result = import_into(&mut side, reader, &header).await;
        finish_import(tx, result, |e| self.error(e)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn tables_come_after_the_tables_they_reference() {
        let tables = s(&[
            "tickets",
            "customers",
            "ticket_messages",
            "outbox",
            "b_self",
        ]);
        let refs = vec![
            ("tickets".to_string(), "customers".to_string()),
            ("ticket_messages".to_string(), "tickets".to_string()),
            ("b_self".to_string(), "b_self".to_string()),
            ("outbox".to_string(), "not_exported".to_string()),
        ];
        let order = dependency_order(&tables, &refs).unwrap();
        assert_eq!(
            order,
            s(&[
                "b_self",
                "customers",
                "outbox",
                "tickets",
                "ticket_messages"
            ])
        );
    }

    #[test]
    fn a_reference_cycle_is_an_error() {
        let tables = s(&["a", "b"]);
        let refs = vec![
            ("a".to_string(), "b".to_string()),
            ("b".to_string(), "a".to_string()),
        ];
        assert!(dependency_order(&tables, &refs).is_err());
    }

    fn read_all(text: &str) -> Result<Summary, StoreError> {
        let mut input = std::io::Cursor::new(text.as_bytes().to_vec());
        let (mut reader, _) = Reader::open(&mut input)?;
        loop {
            if let Item::End = reader.next()? {
                return Ok(reader.summary);
            }
        }
    }

    #[test]
    fn the_reader_checks_the_files_structure() {
        let head = "{\"frontdesk_export\":1,\"schema_version\":6,\"dialect\":\"sqlite\"}\n";
        let good = format!(
            "{head}{{\"table\":\"t\",\"columns\":[\"a\",\"b\"]}}\n[1,\"x\"]\n[2,null]\n\
             {{\"end\":{{\"tables\":1,\"rows\":2}}}}\n"
        );
        let summary = read_all(&good).unwrap();
        assert_eq!(summary.tables, vec![("t".to_string(), 2)]);
        assert_eq!(summary.schema_version, 6);

        let cut = format!("{head}{{\"table\":\"t\",\"columns\":[\"a\",\"b\"]}}\n[1,\"x\"]\n");
        let e = read_all(&cut).unwrap_err().to_string();
        assert!(e.contains("without its end line"), "{e}");

        let wide = format!(
            "{head}{{\"table\":\"t\",\"columns\":[\"a\"]}}\n[1,2]\n{{\"end\":{{\"tables\":1,\"rows\":1}}}}\n"
        );
        let e = read_all(&wide).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("2 values for 1 columns"),
            "{e}"
        );

        let miscounted = format!(
            "{head}{{\"table\":\"t\",\"columns\":[\"a\"]}}\n[1]\n{{\"end\":{{\"tables\":1,\"rows\":5}}}}\n"
        );
        assert!(read_all(&miscounted).is_err());

        let e = read_all("hello\n").unwrap_err().to_string();
        assert!(e.contains("not a frontdesk export"), "{e}");
        let e = read_all("{\"frontdesk_export\":9,\"schema_version\":6,\"dialect\":\"x\"}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("format 9"), "{e}");
    }
}
