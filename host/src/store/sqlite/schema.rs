//! SQLite's DDL for the layout and upgrade plans of `store::go_upgrade`
//! ([`SchemaTx`]). SQLite cannot drop a NOT NULL constraint in place, so the
//! Go tool's `migration_runs` is rebuilt (ids and rows kept) rather than altered.

use rusqlite::OptionalExtension;

use super::tx::SqliteTx;
use crate::store::go_upgrade::{self, Column, EnvPlan, Kind, TablePlan, has};
use crate::store::protocol::SchemaTx;
use crate::store::{STORE_SCHEMA_VERSION, StoreError};

fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Id => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Kind::Version => "INTEGER NOT NULL",
        Kind::TextDefaultEmpty => "TEXT NOT NULL DEFAULT ''",
        Kind::TextRequired => "TEXT NOT NULL",
        Kind::State => go_upgrade::STATE_CHECK,
        Kind::Int | Kind::BigInt => "INTEGER",
        Kind::Text => "TEXT",
        Kind::Failed => "INTEGER NOT NULL DEFAULT 0",
        Kind::RanAt => "TEXT NOT NULL DEFAULT ''",
    }
}

impl SqliteTx<'_> {
    fn read_strings(&self, op: &str, sql: &str, arg: &str) -> Result<Vec<String>, StoreError> {
        let inner = self.inner();
        let mut stmt = self.conn().prepare(sql).map_err(inner.err(op))?;
        let rows = stmt
            .query_map([arg], |r| r.get::<_, Option<String>>(0))
            .map_err(inner.err(op))?;
        let all: Vec<Option<String>> = rows.collect::<Result<_, _>>().map_err(inner.err(op))?;
        Ok(all.into_iter().flatten().collect())
    }
}

impl SchemaTx for SqliteTx<'_> {
    async fn columns(&mut self, table: &str) -> Result<Vec<Column>, StoreError> {
        let op = format!("read the columns of {table}");
        let inner = self.inner();
        let mut stmt = self
            .conn()
            .prepare("SELECT name, type FROM pragma_table_info(?1)")
            .map_err(inner.err(&op))?;
        let rows = stmt
            .query_map([table], |r| {
                Ok(Column {
                    name: r.get(0)?,
                    ty: r.get(1)?,
                })
            })
            .map_err(inner.err(&op))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(inner.err(&op))
    }

    async fn create_meta(&mut self) -> Result<(), StoreError> {
        let ctx = &self.inner().ctx;
        self.exec(
            &format!("create table {}", ctx.tables.meta()),
            &format!(
                "CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
                ctx.names.meta
            ),
        )
    }

    async fn layout_version(&mut self) -> Result<Option<String>, StoreError> {
        let inner = self.inner();
        self.conn()
            .query_row(
                &format!(
                    "SELECT value FROM {} WHERE key = 'schema_version'",
                    inner.ctx.names.meta
                ),
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(inner.err("read the store's layout version"))
    }

    async fn apply_schema_migrations(
        &mut self,
        plan: &TablePlan,
        _cols: &[Column],
    ) -> Result<(), StoreError> {
        let ctx = &self.inner().ctx;
        let (table, sm) = (&ctx.tables.schema_migrations, &ctx.names.sm);
        match plan {
            TablePlan::Create => self.exec(
                &format!("create table {table}"),
                &format!(
                    "CREATE TABLE {sm} (
                        version INTEGER PRIMARY KEY,
                        name TEXT NOT NULL DEFAULT '',
                        checksum TEXT NOT NULL DEFAULT '',
                        applied_at TEXT NOT NULL DEFAULT '')"
                ),
            ),
            TablePlan::Existing { missing } => {
                for col in missing {
                    self.exec(
                        &format!("add column {col} to {table}"),
                        &format!("ALTER TABLE {sm} ADD COLUMN {col} TEXT NOT NULL DEFAULT ''"),
                    )?;
                }
                Ok(())
            }
        }
    }

    async fn apply_migration_runs(
        &mut self,
        plan: &TablePlan,
        cols: &[Column],
    ) -> Result<(), StoreError> {
        let ctx = &self.inner().ctx;
        let (table, mr) = (&ctx.tables.migration_runs, &ctx.names.mr);
        let columns = go_upgrade::runs_columns_sql(sql_type);
        match plan {
            TablePlan::Create => self.exec(
                &format!("create table {table}"),
                &format!("CREATE TABLE {mr} ({columns})"),
            )?,
            TablePlan::Existing { missing } if missing.is_empty() => {}
            TablePlan::Existing { .. } => {
                // Copy the rows into a table of the current layout, the state
                // read from the Go tool's `failed`, its `ran_at` as the start.
                let or = |col: &str, default: &str| {
                    if has(cols, col) { col } else { default }.to_owned()
                };
                let tmp = format!("\"{table}__apirun_upgrade\"");
                let failed = or("failed", "0");
                let ran_at = or("ran_at", "''");
                let sql = format!(
                    "DROP TABLE IF EXISTS {tmp};
                     CREATE TABLE {tmp} ({columns});
                     INSERT INTO {tmp} (id, version, direction, state, status_code, body,
                                        env_json, failed, ran_at, started_at)
                       SELECT {id}, version, direction,
                              CASE WHEN {failed} <> 0 THEN 'failed' ELSE 'succeeded' END,
                              {status}, {body}, {env}, {failed}, {ran_at}, {ran_at}
                       FROM {mr} ORDER BY {id};
                     DROP TABLE {mr};
                     ALTER TABLE {tmp} RENAME TO {mr};",
                    id = or("id", "NULL"),
                    status = or("status_code", "NULL"),
                    body = or("body", "NULL"),
                    env = or("env_json", "NULL"),
                );
                self.exec(&format!("upgrade table {table}"), &sql)?;
            }
        }
        self.exec(
            &format!("create an index on {table}"),
            &format!("CREATE INDEX IF NOT EXISTS \"{table}_version_id_idx\" ON {mr} (version, id)"),
        )
    }

    async fn has_unique_version_name(&mut self, table: &str) -> Result<bool, StoreError> {
        let op = format!("read the indexes of {table}");
        let indexes = self.read_strings(
            &op,
            "SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1",
            table,
        )?;
        for index in indexes {
            let mut cols: Vec<String> = self
                .read_strings(&op, "SELECT name FROM pragma_index_info(?1)", &index)?
                .into_iter()
                .map(|c| c.to_ascii_lowercase())
                .collect();
            cols.sort();
            if cols == ["name", "version"] {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn apply_stored_env(
        &mut self,
        plan: &EnvPlan,
        _cols: &[Column],
    ) -> Result<(), StoreError> {
        let ctx = &self.inner().ctx;
        let (table, se) = (&ctx.tables.stored_env, &ctx.names.se);
        match plan {
            EnvPlan::Create => self.exec(
                &format!("create table {table}"),
                &format!(
                    "CREATE TABLE {se} (
                        version INTEGER NOT NULL,
                        name TEXT NOT NULL,
                        value TEXT NOT NULL,
                        PRIMARY KEY (version, name))"
                ),
            ),
            // The order variables were recorded in is SQLite's rowid: no `id` needed.
            EnvPlan::Existing {
                add_unique_key: true,
                ..
            } => self.exec(
                &format!("add a unique key to {table}"),
                &format!(
                    "DELETE FROM {se} WHERE rowid NOT IN
                        (SELECT MAX(rowid) FROM {se} GROUP BY version, name);
                     CREATE UNIQUE INDEX \"{table}_version_name_key\" ON {se} (version, name);"
                ),
            ),
            EnvPlan::Existing { .. } => Ok(()),
        }
    }

    async fn set_layout_version(&mut self) -> Result<(), StoreError> {
        let inner = self.inner();
        self.conn()
            .execute(
                &format!(
                    "INSERT INTO {} (key, value) VALUES ('schema_version', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    inner.ctx.names.meta
                ),
                [STORE_SCHEMA_VERSION.to_string()],
            )
            .map_err(inner.err("record the store's layout version"))?;
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.finish("create the tables")
    }
}
