//! "Did you mean ...?" suggestions for misspelt keys and values.

/// Lower-cases and drops `_`, `-` and spaces, so that `value_from_env`, `valueFromEnv` and
/// `value-from-env` compare equal.
fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The candidate closest to `input`, if one is close enough to be a plausible typo.
pub fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = normalise(input);
    if norm.is_empty() {
        return None;
    }
    // Same word spelt with another case or separator: always the answer.
    if let Some(exact) = candidates.iter().find(|c| normalise(c) == norm) {
        return Some(exact);
    }
    let len = norm.chars().count();
    let allowed = match len {
        0..=2 => 0,
        3..=5 => 1,
        6..=8 => 2,
        _ => len / 3,
    };
    let mut best: Option<(usize, f64, &'a str)> = None;
    for &cand in candidates {
        let cn = normalise(cand);
        let dist = strsim::damerau_levenshtein(&norm, &cn);
        // A prefix typo ("migrat" for "migrate_dir") is also plausible.
        let prefix = cn.starts_with(&norm) && len >= 4;
        if dist > allowed && !prefix {
            continue;
        }
        let score = strsim::jaro_winkler(&norm, &cn);
        let better = match best {
            None => true,
            Some((bd, bs, _)) => dist < bd || (dist == bd && score > bs),
        };
        if better {
            best = Some((dist, score, cand));
        }
    }
    best.map(|(_, _, c)| c)
}

/// `did you mean "x"?`, or a list of the valid values when nothing is close.
pub fn did_you_mean(input: &str, candidates: &[&str]) -> String {
    match closest(input, candidates) {
        Some(c) => format!("did you mean \"{c}\"?"),
        None => format!("expected one of: {}", candidates.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_and_case_variants() {
        let keys = ["migrate_dir", "env", "auth", "store", "render_body"];
        assert_eq!(closest("migrat_dir", &keys), Some("migrate_dir"));
        assert_eq!(closest("Migrate-Dir", &keys), Some("migrate_dir"));
        assert_eq!(closest("stor", &keys), Some("store"));
        assert_eq!(closest("renderbody", &keys), Some("render_body"));
        assert_eq!(closest("completely_else", &keys), None);
        assert_eq!(
            closest("value_from_env", &["name", "value", "valueFromEnv"]),
            Some("valueFromEnv")
        );
        assert_eq!(
            did_you_mean("x", &["a", "b"]),
            "expected one of: a, b".to_string()
        );
    }
}
