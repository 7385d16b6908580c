//! PostgreSQL's DDL for the layout and upgrade plans of `store::go_upgrade`
//! ([`SchemaTx`]), and the layout check of a read-only store. Beyond the
//! shared plan, the Go tool's PostgreSQL tables have `INTEGER` versions and
//! `SERIAL` ids (widened to 64 bits here) and a `TIMESTAMPTZ applied_at`
//! (converted to RFC 3339 text, as apirun writes it).

use tokio_postgres::GenericClient;

use super::lock::advisory_key;
use super::tx::PgTx;
use super::{Inner, pg_err};
use crate::store::go_upgrade::{self, Column, EnvPlan, Kind, TablePlan, column_type, has};
use crate::store::protocol::SchemaTx;
use crate::store::rows::{StoreCtx, quote};
use crate::store::{STORE_SCHEMA_VERSION, StoreError};

/// How long `init` waits for another process's `init` or for table locks.
const INIT_LOCK_TIMEOUT: &str = "60s";

/// A `timestamptz` column as RFC 3339 UTC text with milliseconds (like
/// [`now_rfc3339`](crate::store::now_rfc3339)).
pub(super) fn ts_text(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Id => "BIGSERIAL PRIMARY KEY",
        Kind::Version => "BIGINT NOT NULL",
        Kind::TextDefaultEmpty => "TEXT NOT NULL DEFAULT ''",
        Kind::TextRequired => "TEXT NOT NULL",
        Kind::State => go_upgrade::STATE_CHECK,
        Kind::Int => "INTEGER",
        Kind::BigInt => "BIGINT",
        Kind::Text => "TEXT",
        Kind::Failed => "BOOLEAN NOT NULL DEFAULT FALSE",
        Kind::RanAt => "TIMESTAMPTZ NOT NULL DEFAULT now()",
    }
}

/// Columns of the table an unqualified `table` resolves to (through search_path),
/// with their types as `format_type` writes them; empty if there is none.
async fn columns(
    client: &impl GenericClient,
    ctx: &StoreCtx,
    table: &str,
) -> Result<Vec<Column>, StoreError> {
    let op = format!("read the columns of {table}");
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a
             WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0
               AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&table],
        )
        .await
        .map_err(pg_err(&ctx.describe, &op))?;
    rows.iter()
        .map(|r| {
            Ok(Column {
                name: r.try_get(0)?,
                ty: r.try_get(1)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(pg_err(&ctx.describe, &op))
}

async fn layout_version(
    client: &impl GenericClient,
    ctx: &StoreCtx,
) -> Result<Option<String>, StoreError> {
    client
        .query_opt(
            &format!(
                "SELECT value FROM {} WHERE key = 'schema_version'",
                ctx.names.meta
            ),
            &[],
        )
        .await
        .and_then(|row| row.map(|r| r.try_get(0)).transpose())
        .map_err(pg_err(&ctx.describe, "read the store's layout version"))
}

/// For a read-only store, which may not upgrade anything: `true` if none of its
/// tables exist (it reads as empty); see [`go_upgrade::read_only_layout`].
pub(super) async fn read_only_layout(
    client: &impl GenericClient,
    inner: &Inner,
) -> Result<bool, StoreError> {
    let (ctx, t) = (&inner.ctx, &inner.ctx.tables);
    let meta = t.meta();
    let mut present = Vec::new();
    for table in [
        &meta,
        &t.schema_migrations,
        &t.migration_runs,
        &t.stored_env,
    ] {
        if !columns(client, ctx, table).await?.is_empty() {
            present.push(table.as_str());
        }
    }
    let version = if present.contains(&meta.as_str()) {
        layout_version(client, ctx).await?
    } else {
        None
    };
    go_upgrade::read_only_layout(ctx, &present, version.as_deref())
}

impl PgTx<'_> {
    /// Two processes creating the same tables at once would collide in the
    /// catalog (CREATE TABLE IF NOT EXISTS is not safe against that): serialise
    /// on a transaction-level advisory lock per table, taken in a fixed order.
    pub async fn serialise_init(&self, schema: &str) -> Result<(), StoreError> {
        self.exec(
            "set the lock timeout",
            &format!("SET LOCAL lock_timeout = '{INIT_LOCK_TIMEOUT}'"),
        )
        .await?;
        let t = &self.ctx.tables;
        let mut keys: Vec<i64> = [
            &t.meta(),
            &t.schema_migrations,
            &t.migration_runs,
            &t.stored_env,
        ]
        .iter()
        .map(|table| advisory_key("init", schema, table))
        .collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            self.client
                .execute("SELECT pg_advisory_xact_lock($1::bigint)", &[&key])
                .await
                .map_err(self.err("wait for another apirun creating the same tables"))?;
        }
        Ok(())
    }

    /// `ALTER TABLE t ALTER COLUMN c TYPE BIGINT` if `c` is a smaller integer (the Go
    /// tool's `INTEGER` versions and `SERIAL` ids), with its sequence if it has one.
    async fn widen_to_bigint(
        &self,
        table: &str,
        cols: &[Column],
        column: &str,
    ) -> Result<(), StoreError> {
        match column_type(cols, column) {
            Some("integer" | "smallint") => {}
            _ => return Ok(()),
        }
        let op = format!("widen {table}.{column} to BIGINT");
        let sql = format!(
            "ALTER TABLE {} ALTER COLUMN {column} TYPE BIGINT",
            quote(table)
        );
        self.exec(&op, &sql).await?;
        let seq: Option<String> = self
            .client
            .query_one(
                "SELECT pg_get_serial_sequence(quote_ident($1), $2)",
                &[&table, &column],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(self.err(&op))?;
        if let Some(seq) = seq {
            // pg_get_serial_sequence returns the name quoted as needed.
            self.exec(&op, &format!("ALTER SEQUENCE {seq} AS BIGINT"))
                .await?;
        }
        Ok(())
    }
}

impl SchemaTx for PgTx<'_> {
    async fn columns(&mut self, table: &str) -> Result<Vec<Column>, StoreError> {
        columns(self.client, self.ctx, table).await
    }

    async fn create_meta(&mut self) -> Result<(), StoreError> {
        let meta = self.ctx.tables.meta();
        if !columns(self.client, self.ctx, &meta).await?.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            self.ctx.names.meta
        );
        self.exec(&format!("create table {meta}"), &sql).await
    }

    async fn layout_version(&mut self) -> Result<Option<String>, StoreError> {
        layout_version(self.client, self.ctx).await
    }

    async fn apply_schema_migrations(
        &mut self,
        plan: &TablePlan,
        cols: &[Column],
    ) -> Result<(), StoreError> {
        let (table, sm) = (&self.ctx.tables.schema_migrations, &self.ctx.names.sm);
        let missing = match plan {
            TablePlan::Create => {
                let sql = format!(
                    "CREATE TABLE IF NOT EXISTS {sm} (
                        version BIGINT PRIMARY KEY,
                        name TEXT NOT NULL DEFAULT '',
                        checksum TEXT NOT NULL DEFAULT '',
                        applied_at TEXT NOT NULL DEFAULT '')"
                );
                return self.exec(&format!("create table {table}"), &sql).await;
            }
            TablePlan::Existing { missing } => missing,
        };
        self.widen_to_bigint(table, cols, "version").await?;
        for col in missing {
            let sql = format!("ALTER TABLE {sm} ADD COLUMN {col} TEXT NOT NULL DEFAULT ''");
            self.exec(&format!("add column {col} to {table}"), &sql)
                .await?;
        }
        let as_utc = match column_type(cols, "applied_at") {
            Some("timestamp with time zone") => "applied_at",
            // A plain timestamp is taken to be UTC.
            Some("timestamp without time zone") => "(applied_at AT TIME ZONE 'UTC')",
            _ => return Ok(()),
        };
        let sql = format!(
            "ALTER TABLE {sm} ALTER COLUMN applied_at TYPE TEXT USING COALESCE({}, ''),
                          ALTER COLUMN applied_at SET DEFAULT '';
             UPDATE {sm} SET applied_at = '' WHERE applied_at IS NULL;
             ALTER TABLE {sm} ALTER COLUMN applied_at SET NOT NULL",
            ts_text(as_utc)
        );
        self.exec(&format!("convert {table}.applied_at to text"), &sql)
            .await
    }

    async fn apply_migration_runs(
        &mut self,
        plan: &TablePlan,
        cols: &[Column],
    ) -> Result<(), StoreError> {
        let (table, mr) = (&self.ctx.tables.migration_runs, &self.ctx.names.mr);
        match plan {
            TablePlan::Create => {
                let columns = go_upgrade::runs_columns_sql(sql_type);
                let sql = format!("CREATE TABLE IF NOT EXISTS {mr} ({columns})");
                self.exec(&format!("create table {table}"), &sql).await?;
            }
            TablePlan::Existing { missing } if missing.is_empty() => {}
            TablePlan::Existing { missing } => {
                // Altered in place: add our columns, let status_code be NULL while
                // a run is in flight, derive the state from `failed`.
                let op = format!("upgrade table {table}");
                self.widen_to_bigint(table, cols, "version").await?;
                self.widen_to_bigint(table, cols, "id").await?;
                let mut alter: Vec<String> = go_upgrade::RUNS_COLUMNS
                    .iter()
                    .filter(|(name, _)| missing.contains(name))
                    .map(|(name, kind)| format!("ADD COLUMN {name} {}", sql_type(*kind)))
                    .collect();
                if has(cols, "status_code") {
                    alter.push("ALTER COLUMN status_code DROP NOT NULL".to_owned());
                }
                if has(cols, "ran_at") {
                    alter.push("ALTER COLUMN ran_at SET DEFAULT now()".to_owned());
                }
                self.exec(&op, &format!("ALTER TABLE {mr} {}", alter.join(", ")))
                    .await?;
                let sql = format!(
                    "UPDATE {mr} SET state = CASE WHEN failed THEN 'failed' ELSE 'succeeded' END,
                                     started_at = {}",
                    ts_text("ran_at")
                );
                self.exec(&op, &sql).await?;
            }
        }
        let sql =
            format!("CREATE INDEX IF NOT EXISTS \"{table}_version_id_idx\" ON {mr} (version, id)");
        self.exec(&format!("create an index on {table}"), &sql)
            .await
    }

    async fn has_unique_version_name(&mut self, table: &str) -> Result<bool, StoreError> {
        self.client
            .query_one(
                "SELECT EXISTS (
                    SELECT 1 FROM pg_index i
                    WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisunique
                      AND i.indpred IS NULL AND i.indnatts = 2
                      AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text)
                           FROM pg_attribute a
                           WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2[]))
                          = ARRAY['name', 'version'])",
                &[&table],
            )
            .await
            .and_then(|r| r.try_get(0))
            .map_err(self.err(format!("read the indexes of {table}")))
    }

    async fn apply_stored_env(
        &mut self,
        plan: &EnvPlan,
        cols: &[Column],
    ) -> Result<(), StoreError> {
        let (table, se) = (&self.ctx.tables.stored_env, &self.ctx.names.se);
        let (has_id, add_unique_key) = match plan {
            EnvPlan::Create => {
                // `id` keeps the order variables were recorded in (SQLite's rowid).
                let sql = format!(
                    "CREATE TABLE IF NOT EXISTS {se} (
                        version BIGINT NOT NULL,
                        name TEXT NOT NULL,
                        value TEXT NOT NULL,
                        id BIGSERIAL,
                        PRIMARY KEY (version, name))"
                );
                return self.exec(&format!("create table {table}"), &sql).await;
            }
            EnvPlan::Existing {
                has_id,
                add_unique_key,
            } => (*has_id, *add_unique_key),
        };
        self.widen_to_bigint(table, cols, "version").await?;
        if has_id {
            self.widen_to_bigint(table, cols, "id").await?;
        } else {
            let sql = format!("ALTER TABLE {se} ADD COLUMN id BIGSERIAL");
            self.exec(&format!("add column id to {table}"), &sql)
                .await?;
        }
        if add_unique_key {
            let sql = format!(
                "DELETE FROM {se} WHERE id NOT IN (SELECT MAX(id) FROM {se} GROUP BY version, name);
                 CREATE UNIQUE INDEX \"{table}_version_name\" ON {se} (version, name);"
            );
            self.exec(&format!("add a unique key to {table}"), &sql)
                .await?;
        }
        Ok(())
    }

    async fn set_layout_version(&mut self) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO {} (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            self.ctx.names.meta
        );
        self.client
            .execute(&sql, &[&STORE_SCHEMA_VERSION.to_string()])
            .await
            .map_err(self.err("record the store's layout version"))?;
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.finish("create the tables").await
    }
}
