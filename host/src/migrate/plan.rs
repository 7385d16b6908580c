//! Which migrations an `up` or `down` would run.

use std::collections::BTreeSet;

use crate::config::Migration;
use crate::store::AppliedMigration;

/// What `up` would do.
#[derive(Debug, Clone)]
pub struct UpPlan<'a> {
    /// The highest applied version (0 = nothing applied).
    pub current: u64,
    /// To run, in order.
    pub pending: Vec<&'a Migration>,
    /// Files below the current version that were never applied.
    pub out_of_order: Vec<&'a Migration>,
}

/// `to`: 0 = all. `from`: plan as if this were the current version (`--dry-run-from`).
pub fn plan_up<'a>(
    migrations: &'a [Migration],
    applied: &[AppliedMigration],
    to: u64,
    from: Option<u64>,
    allow_out_of_order: bool,
) -> UpPlan<'a> {
    let (applied_set, current) = match from {
        Some(from) => (
            migrations
                .iter()
                .map(|m| m.version)
                .filter(|v| *v <= from)
                .collect::<BTreeSet<u64>>(),
            from,
        ),
        None => (
            applied.iter().map(|a| a.version).collect::<BTreeSet<u64>>(),
            applied.iter().map(|a| a.version).max().unwrap_or(0),
        ),
    };
    let within = |m: &&Migration| to == 0 || m.version <= to;
    let out_of_order: Vec<&Migration> = migrations
        .iter()
        .filter(|m| m.version < current && !applied_set.contains(&m.version))
        .collect();
    let pending = migrations
        .iter()
        .filter(|m| !applied_set.contains(&m.version))
        .filter(|m| m.version > current || (allow_out_of_order && m.version < current))
        .filter(within)
        .collect();
    UpPlan {
        current,
        pending,
        out_of_order,
    }
}

/// Applied versions above `to`, newest first.
pub fn plan_down(applied: &[AppliedMigration], to: u64) -> Vec<&AppliedMigration> {
    let mut versions: Vec<&AppliedMigration> = applied.iter().filter(|a| a.version > to).collect();
    versions.sort_by_key(|a| std::cmp::Reverse(a.version));
    versions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Migration, UpSpec};

    fn migration(version: u64) -> Migration {
        Migration {
            version,
            name: format!("m{version}"),
            path: format!("{version:03}_m.yaml").into(),
            checksum: String::new(),
            up: UpSpec {
                name: None,
                env: Default::default(),
                request: None,
                response: None,
                steps: Vec::new(),
            },
            down: None,
            verify: None,
        }
    }

    fn applied(version: u64) -> AppliedMigration {
        AppliedMigration {
            version,
            name: String::new(),
            checksum: String::new(),
            applied_at: String::new(),
        }
    }

    fn versions(plan: &UpPlan<'_>) -> Vec<u64> {
        plan.pending.iter().map(|m| m.version).collect()
    }

    #[test]
    fn pending_above_current_up_to_to() {
        let files: Vec<Migration> = [1, 2, 3, 4].into_iter().map(migration).collect();
        let plan = plan_up(&files, &[applied(1)], 3, None, false);
        assert_eq!(plan.current, 1);
        assert_eq!(versions(&plan), vec![2, 3]);
    }

    #[test]
    fn out_of_order_detected_and_only_run_when_allowed() {
        let files: Vec<Migration> = [1, 2, 3].into_iter().map(migration).collect();
        let plan = plan_up(&files, &[applied(1), applied(3)], 0, None, false);
        assert_eq!(
            plan.out_of_order
                .iter()
                .map(|m| m.version)
                .collect::<Vec<_>>(),
            vec![2]
        );
        assert!(plan.pending.is_empty());
        let plan = plan_up(&files, &[applied(1), applied(3)], 0, None, true);
        assert_eq!(versions(&plan), vec![2]);
    }

    #[test]
    fn dry_run_from_pretends_a_current_version() {
        let files: Vec<Migration> = [1, 2, 3].into_iter().map(migration).collect();
        let plan = plan_up(&files, &[], 0, Some(2), false);
        assert_eq!(versions(&plan), vec![3]);
    }

    #[test]
    fn down_is_newest_first_above_to() {
        let all = [applied(1), applied(2), applied(3)];
        let plan: Vec<u64> = plan_down(&all, 1).iter().map(|a| a.version).collect();
        assert_eq!(plan, vec![3, 2]);
    }
}
