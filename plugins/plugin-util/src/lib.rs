//! Pure helpers shared by the built-in plugins.
//!
//! Plain types only (no wit-bindgen): every plugin has its own generated
//! bindings, so it wraps what these return in its own error type.

/// The message for a config key the plugin does not know: it suggests the
/// closest of `known` (a typo within 3 edits) or else lists them all.
pub fn unknown_key_message(key: &str, known: &[&str]) -> String {
    let closest = known
        .iter()
        .map(|candidate| (edit_distance(key, candidate), candidate))
        .min()
        .filter(|(distance, _)| *distance <= 3);
    match closest {
        Some((_, candidate)) => {
            format!("unknown config key `{key}`; did you mean `{candidate}`?")
        }
        None => format!(
            "unknown config key `{key}`; known keys: {}",
            known.join(", ")
        ),
    }
}

/// Levenshtein distance in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_distance() {
        assert_eq!(edit_distance("scope", "scopes"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn unknown_key_suggests_the_closest_or_lists_all() {
        let known = ["email", "password", "collection"];
        assert_eq!(
            unknown_key_message("emial", &known),
            "unknown config key `emial`; did you mean `email`?"
        );
        assert_eq!(
            unknown_key_message("zzzzzzzzzz", &known),
            "unknown config key `zzzzzzzzzz`; known keys: email, password, collection"
        );
    }
}
