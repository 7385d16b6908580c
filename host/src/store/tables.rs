//! Table names: defaults, `table_prefix`, explicit overrides, validation.
//!
//! Names are interpolated into SQL (identifiers cannot be bound as parameters), so
//! every name must match `^[A-Za-z_][A-Za-z0-9_]*$`; backends also quote them, so
//! SQL keywords such as `order` are harmless.

use super::StoreError;

pub const DEFAULT_SCHEMA_MIGRATIONS: &str = "schema_migrations";
pub const DEFAULT_MIGRATION_RUNS: &str = "migration_runs";
pub const DEFAULT_STORED_ENV: &str = "stored_env";

/// The three tables of one store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableNames {
    pub schema_migrations: String,
    pub migration_runs: String,
    pub stored_env: String,
}

/// Explicit table names from the configuration; each one beats the prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableOverrides {
    pub schema_migrations: Option<String>,
    pub migration_runs: Option<String>,
    pub stored_env: Option<String>,
}

impl Default for TableNames {
    fn default() -> Self {
        TableNames {
            schema_migrations: DEFAULT_SCHEMA_MIGRATIONS.to_owned(),
            migration_runs: DEFAULT_MIGRATION_RUNS.to_owned(),
            stored_env: DEFAULT_STORED_ENV.to_owned(),
        }
    }
}

impl TableNames {
    /// Defaults `schema_migrations`, `migration_runs`, `stored_env`; prefix `p` gives
    /// `p_schema_migrations` etc. (an empty prefix means none); explicit names override.
    /// Every resulting name is validated, and the three must differ.
    pub fn new(prefix: Option<&str>, overrides: &TableOverrides) -> Result<TableNames, StoreError> {
        let prefix = prefix.filter(|p| !p.is_empty());
        if let Some(p) = prefix {
            // The prefix alone must be a valid start of an identifier, so the error names
            // the setting the user wrote rather than a derived table name.
            validate(p, "store.table_prefix")?;
        }
        let pick = |explicit: &Option<String>, base: &str| match (explicit, prefix) {
            (Some(name), _) => name.clone(),
            (None, Some(p)) => format!("{p}_{base}"),
            (None, None) => base.to_owned(),
        };
        let names = TableNames {
            schema_migrations: pick(&overrides.schema_migrations, DEFAULT_SCHEMA_MIGRATIONS),
            migration_runs: pick(&overrides.migration_runs, DEFAULT_MIGRATION_RUNS),
            stored_env: pick(&overrides.stored_env, DEFAULT_STORED_ENV),
        };
        names.validate()?;
        Ok(names)
    }

    /// Check every name (for a `TableNames` built by hand).
    pub fn validate(&self) -> Result<(), StoreError> {
        validate(&self.schema_migrations, "store.table_schema_migrations")?;
        validate(&self.migration_runs, "store.table_migration_runs")?;
        validate(&self.stored_env, "store.table_stored_env")?;
        let all = [
            ("store.table_schema_migrations", &self.schema_migrations),
            ("store.table_migration_runs", &self.migration_runs),
            ("store.table_stored_env", &self.stored_env),
        ];
        for (i, (setting, name)) in all.iter().enumerate() {
            for (other_setting, other) in &all[i + 1..] {
                // SQL identifiers are case-insensitive in SQLite (and unquoted in PostgreSQL).
                if name.eq_ignore_ascii_case(other) {
                    return Err(StoreError::InvalidTableName {
                        setting: (*setting).to_owned(),
                        name: (*name).clone(),
                        reason: format!(
                            "{other_setting} has the same name; the three tables need different names"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The small table that records the store's own layout version
    /// (`<schema_migrations>_meta`).
    pub fn meta(&self) -> String {
        format!("{}_meta", self.schema_migrations)
    }

    /// True when all three names are the defaults.
    pub fn is_default(&self) -> bool {
        *self == TableNames::default()
    }
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`, plus SQLite's reserved `sqlite_` prefix.
fn validate(name: &str, setting: &str) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::InvalidTableName {
        setting: setting.to_owned(),
        name: name.to_owned(),
        reason,
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(invalid("the name is empty".to_owned())),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Err(invalid(format!(
                "it must start with a letter or '_', not {c:?} (allowed: ^[A-Za-z_][A-Za-z0-9_]*$)"
            )));
        }
        Some(_) => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        return Err(invalid(format!(
            "{c:?} is not allowed (allowed: ^[A-Za-z_][A-Za-z0-9_]*$)"
        )));
    }
    // 63 is PostgreSQL's identifier limit (longer names are silently truncated there);
    // apply it everywhere so a config works with both backends. Leave room for the
    // suffixes of the meta table and the indexes.
    if name.len() > 48 {
        return Err(invalid(format!(
            "it is {} characters long; the limit is 48",
            name.len()
        )));
    }
    if name.len() >= 7 && name[..7].eq_ignore_ascii_case("sqlite_") {
        return Err(invalid(
            "names starting with sqlite_ are reserved by SQLite".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(sm: Option<&str>, mr: Option<&str>, se: Option<&str>) -> TableOverrides {
        TableOverrides {
            schema_migrations: sm.map(str::to_owned),
            migration_runs: mr.map(str::to_owned),
            stored_env: se.map(str::to_owned),
        }
    }

    #[test]
    fn defaults() {
        let t = TableNames::new(None, &TableOverrides::default()).unwrap();
        assert_eq!(t, TableNames::default());
        assert_eq!(t.schema_migrations, "schema_migrations");
        assert_eq!(t.migration_runs, "migration_runs");
        assert_eq!(t.stored_env, "stored_env");
        assert!(t.is_default());
        assert_eq!(t.meta(), "schema_migrations_meta");
        // An empty prefix means no prefix.
        assert_eq!(
            TableNames::new(Some(""), &TableOverrides::default()).unwrap(),
            t
        );
    }

    #[test]
    fn prefix() {
        let t = TableNames::new(Some("p"), &TableOverrides::default()).unwrap();
        assert_eq!(t.schema_migrations, "p_schema_migrations");
        assert_eq!(t.migration_runs, "p_migration_runs");
        assert_eq!(t.stored_env, "p_stored_env");
        assert!(!t.is_default());
    }

    #[test]
    fn explicit_names_override_prefix() {
        let t = TableNames::new(Some("p"), &overrides(None, Some("runs"), Some("Vars_2"))).unwrap();
        assert_eq!(t.schema_migrations, "p_schema_migrations");
        assert_eq!(t.migration_runs, "runs");
        assert_eq!(t.stored_env, "Vars_2");
        let t = TableNames::new(None, &overrides(Some("versions"), None, None)).unwrap();
        assert_eq!(t.schema_migrations, "versions");
        assert_eq!(t.migration_runs, "migration_runs");
    }

    #[test]
    fn invalid_names_are_rejected_naming_setting_and_name() {
        for (bad, why) in [
            ("1abc", "start with a letter"),
            ("my-runs", "'-' is not allowed"),
            ("runs; DROP TABLE x", "';' is not allowed"),
            ("", "empty"),
            ("sqlite_runs", "reserved"),
            ("émigré", "start with a letter"),
        ] {
            let err = TableNames::new(None, &overrides(None, Some(bad), None)).unwrap_err();
            assert!(
                matches!(err, StoreError::InvalidTableName { .. }),
                "{bad}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains("store.table_migration_runs"), "{msg}");
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
            assert!(msg.contains(why), "{bad}: {msg}");
        }
        let long = "a".repeat(49);
        let err = TableNames::new(None, &overrides(Some(&long), None, None)).unwrap_err();
        assert!(err.to_string().contains("limit is 48"), "{err}");
    }

    #[test]
    fn invalid_prefix_is_rejected_naming_the_prefix() {
        let err = TableNames::new(Some("my-app"), &TableOverrides::default()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("store.table_prefix"), "{msg}");
        assert!(msg.contains("\"my-app\""), "{msg}");
        // A prefix starting with a digit would make invalid names too.
        assert!(TableNames::new(Some("9"), &TableOverrides::default()).is_err());
        // "_" alone is fine: "__schema_migrations".
        let t = TableNames::new(Some("_"), &TableOverrides::default()).unwrap();
        assert_eq!(t.stored_env, "__stored_env");
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let err = TableNames::new(None, &overrides(Some("t"), None, Some("T"))).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("store.table_stored_env"), "{msg}");
        assert!(msg.contains("same name"), "{msg}");
    }
}
