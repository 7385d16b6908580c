//! Which variables a template uses *unguarded*: a use that fails (or prints
//! an empty value) when the variable is missing. Guarded uses are those
//! inside `default` (see [`super::analysis`]) and those under an `{{if}}`
//! whose condition mentions the variable: `{{if .x}}..{{.x}}..{{end}}`
//! renders nothing of x when x is empty. The multi-stage orchestrator
//! defines an import the exporting stage never extracted as empty, which is
//! safe exactly when no use of it is unguarded (docs/multi-stage.md).
//!
//! Conservative: `range` and `with` (where dot changes) count every
//! non-optional reference in them as unguarded.

use std::collections::BTreeSet;

use super::analysis::{RefKind, references};
use super::parser::Node;

pub(crate) fn unguarded(nodes: &[Node]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(nodes, &BTreeSet::new(), &mut out);
    out
}

fn vars(nodes: &[Node]) -> impl Iterator<Item = (String, bool)> {
    references(nodes)
        .into_iter()
        .filter(|r| r.kind == RefKind::Var)
        .map(|r| (r.name, r.optional))
}

fn walk(nodes: &[Node], guards: &BTreeSet<String>, out: &mut BTreeSet<String>) {
    for node in nodes {
        match node {
            Node::If(c) => {
                let mut inner = guards.clone();
                for branch in &c.branches {
                    // The condition itself is a test: an empty value is false.
                    let condition = [Node::Action(branch.pipe.clone())];
                    inner.extend(vars(&condition).map(|(name, _)| name));
                    walk(&branch.body, &inner, out);
                }
                if let Some(body) = &c.else_body {
                    walk(body, guards, out);
                }
            }
            Node::Text(_) | Node::Break | Node::Continue => {}
            other => {
                let one = std::slice::from_ref(other);
                out.extend(
                    vars(one)
                        .filter(|(name, optional)| !optional && !guards.contains(name))
                        .map(|(name, _)| name),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Template;

    fn unguarded(src: &str) -> Vec<String> {
        match Template::parse(src) {
            Ok(t) => t.unguarded_vars().into_iter().collect(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn if_and_default_guard_a_variable() {
        assert_eq!(unguarded("{{.a}} {{.b | default \"x\"}}"), ["a"]);
        assert_eq!(unguarded("{{if .a}}{{.a}}-{{.c}}{{end}}"), ["c"]);
        assert_eq!(unguarded("{{if .a}}x{{else}}{{.a}}{{end}}"), ["a"]);
        assert_eq!(
            unguarded("{{if .a}}{{else if .b}}{{.b}}{{.a}}{{end}}"),
            Vec::<String>::new()
        );
        assert_eq!(unguarded("{{range .r}}{{.x}}{{end}}"), ["r"]);
    }
}
