//! Static analysis: which root variables and auth tokens a template uses.

use super::functions::Func;
use super::lexer::Pos;
use super::parser::{CmdKind, Conditional, Node, OpKind, Operand, Pipeline};

/// What a [`Reference`] points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefKind {
    /// A variable: `.x`, `.env.x`, `$.x`, `$.env.x`.
    Var,
    /// An auth token: `.auth.x`, `$.auth.x`.
    Auth,
}

/// A root variable or auth token the template refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    pub name: String,
    pub kind: RefKind,
    /// Every use is inside `default`'s arguments (including the part of a
    /// pipeline before `| default ...`), so rendering never fails for it.
    pub optional: bool,
    /// Where the first use that makes it required is (or, if optional, the
    /// first use): 1-based line and column in the template source.
    pub line: usize,
    pub column: usize,
}

pub(crate) fn references(nodes: &[Node]) -> Vec<Reference> {
    let mut a = Analyzer {
        refs: Vec::new(),
        seen: std::collections::HashMap::new(),
        vars: vec![("$", true)],
    };
    a.nodes(nodes, true);
    a.refs
}

struct Analyzer<'t> {
    refs: Vec<Reference>,
    /// Index in `refs` by kind and name (a linear search was quadratic).
    seen: std::collections::HashMap<(RefKind, String), usize>,
    /// Variables in scope and whether each holds the root data (`$r := .` at root).
    vars: Vec<(&'t str, bool)>,
}

impl<'t> Analyzer<'t> {
    /// `root`: dot is the root data here.
    fn nodes(&mut self, nodes: &'t [Node], root: bool) {
        for node in nodes {
            match node {
                Node::Text(_) | Node::Break | Node::Continue => {}
                Node::Action(p) => {
                    let is_root = self.cmds(p, root, false);
                    self.declare(p, is_root);
                }
                Node::If(c) => self.conditional(c, root, false),
                Node::With(c) => self.conditional(c, root, true),
                Node::Range(r) => {
                    let mark = self.vars.len();
                    self.cmds(&r.pipe, root, false);
                    self.declare(&r.pipe, false);
                    let inner = self.vars.len();
                    self.nodes(&r.body, false);
                    self.vars.truncate(inner);
                    if let Some(body) = &r.else_body {
                        self.nodes(body, root);
                    }
                    self.vars.truncate(mark);
                }
            }
        }
    }

    fn conditional(&mut self, c: &'t Conditional, root: bool, with: bool) {
        let mark = self.vars.len();
        for b in &c.branches {
            let is_root = self.cmds(&b.pipe, root, false);
            self.declare(&b.pipe, is_root);
            let inner = self.vars.len();
            self.nodes(&b.body, if with { is_root } else { root });
            self.vars.truncate(inner);
        }
        if let Some(body) = &c.else_body {
            self.nodes(body, root);
        }
        self.vars.truncate(mark);
    }

    fn declare(&mut self, p: &'t Pipeline, is_root: bool) {
        for name in &p.decl {
            if p.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = is_root;
                }
            } else {
                self.vars.push((name, is_root));
            }
        }
    }

    /// Records the references of a pipeline's commands; returns whether its
    /// value is the root data.
    fn cmds(&mut self, p: &'t Pipeline, root: bool, optional: bool) -> bool {
        let mut is_root = false;
        // Found once: scanning the rest of the pipeline per command was quadratic.
        let last_default = p.cmds.iter().rposition(|c| c.is_default());
        for (i, cmd) in p.cmds.iter().enumerate() {
            let opt = optional || last_default.is_some_and(|d| d > i);
            is_root = match &cmd.kind {
                CmdKind::Call { func, args } => {
                    let opt = opt || *func == Func::Default;
                    for a in args {
                        self.operand(a, root, opt);
                    }
                    false
                }
                CmdKind::Value(op) => self.operand(op, root, opt),
            };
        }
        is_root
    }

    fn operand(&mut self, op: &'t Operand, root: bool, optional: bool) -> bool {
        match &op.kind {
            OpKind::Dot => root,
            OpKind::Field(names) => {
                if root {
                    self.root_ref(names, optional, op.pos);
                }
                false
            }
            OpKind::Var(name, fields) => {
                let var_root = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .is_some_and(|(_, r)| *r);
                self.chain_on(var_root, fields, optional, op.pos)
            }
            OpKind::Pipe(p, fields) => {
                let pipe_root = self.cmds(p, root, optional);
                self.chain_on(pipe_root, fields, optional, op.pos)
            }
            OpKind::Lit(_) | OpKind::Call(_) => false,
        }
    }

    /// Fields applied to a value that may be the root; returns whether the
    /// result is still the root.
    fn chain_on(&mut self, base_root: bool, fields: &[String], optional: bool, pos: Pos) -> bool {
        if base_root && !fields.is_empty() {
            self.root_ref(fields, optional, pos);
        }
        base_root && fields.is_empty()
    }

    fn root_ref(&mut self, names: &[String], optional: bool, pos: Pos) {
        let (kind, name) = match names {
            [first, second, ..] if first == "env" => (RefKind::Var, second),
            [first, second, ..] if first == "auth" => (RefKind::Auth, second),
            [first] if first == "env" || first == "auth" => return,
            [first, ..] => (RefKind::Var, first),
            [] => return,
        };
        match self
            .seen
            .get(&(kind, name.clone()))
            .and_then(|&k| self.refs.get_mut(k))
        {
            Some(r) => {
                if r.optional && !optional {
                    // The first required use is the one an error points at.
                    (r.line, r.column) = (pos.line, pos.column);
                }
                r.optional &= optional;
            }
            None => {
                self.seen.insert((kind, name.clone()), self.refs.len());
                self.refs.push(Reference {
                    name: name.clone(),
                    kind,
                    optional,
                    line: pos.line,
                    column: pos.column,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Template;
    use super::*;

    fn refs(src: &str) -> Vec<(String, RefKind, bool)> {
        match Template::parse(src) {
            Ok(t) => t
                .references()
                .into_iter()
                .map(|r| (r.name, r.kind, r.optional))
                .collect(),
            Err(e) => panic!("parse {src:?}: {e}"),
        }
    }

    fn var(name: &str, optional: bool) -> (String, RefKind, bool) {
        (name.to_string(), RefKind::Var, optional)
    }

    #[test]
    fn plain_and_env_and_auth() {
        assert_eq!(
            refs("{{.a}} {{.env.b}} {{.auth.admin}} {{.a}} {{$.c}} {{$.env.d}} {{$.auth.e}}"),
            vec![
                var("a", false),
                var("b", false),
                ("admin".to_string(), RefKind::Auth, false),
                var("c", false),
                var("d", false),
                ("e".to_string(), RefKind::Auth, false),
            ]
        );
        assert_eq!(refs("{{.env}} {{.auth}} {{.}} {{$}} plain"), vec![]);
        assert_eq!(refs("{{.cfg.port}}"), vec![var("cfg", false)]);
        assert!(refs("no actions").is_empty());
    }

    #[test]
    fn all_branches_and_pipeline_arguments() {
        assert_eq!(
            refs(
                "{{if .a}}{{.b}}{{else if eq .c \"x\"}}{{.d | upper}}{{else}}{{printf \"%s\" (lower .e)}}{{end}}"
            ),
            vec![
                var("a", false),
                var("b", false),
                var("c", false),
                var("d", false),
                var("e", false)
            ]
        );
        assert_eq!(
            refs("{{range .l}}{{else}}{{.f}}{{end}}"),
            vec![var("l", false), var("f", false)]
        );
        assert_eq!(
            refs("{{with .w}}{{else}}{{.g}}{{end}}"),
            vec![var("w", false), var("g", false)]
        );
    }

    #[test]
    fn optional_flags() {
        assert_eq!(refs("{{.a | default \"x\"}}"), vec![var("a", true)]);
        assert_eq!(refs("{{default \"x\" .a}}"), vec![var("a", true)]);
        assert_eq!(
            refs("{{default .d .a}}"),
            vec![var("d", true), var("a", true)]
        );
        assert_eq!(refs("{{.a | upper | default \"x\"}}"), vec![var("a", true)]);
        assert_eq!(refs("{{default \"x\" (upper .a)}}"), vec![var("a", true)]);
        assert_eq!(
            refs("{{.auth.t | default \"\"}}"),
            vec![("t".to_string(), RefKind::Auth, true)]
        );
        assert_eq!(refs("{{.a | default \"x\" | upper}}"), vec![var("a", true)]);
        // used both inside and outside default: not optional
        assert_eq!(refs("{{.a | default \"x\"}} {{.a}}"), vec![var("a", false)]);
        assert_eq!(refs("{{.a}} {{default \"x\" .a}}"), vec![var("a", false)]);
        assert_eq!(
            refs("{{upper .a | default \"x\"}} {{.b | upper}}"),
            vec![var("a", true), var("b", false)]
        );
    }

    #[test]
    fn non_root_dot_is_not_a_root_reference() {
        assert_eq!(
            refs("{{range .items}}{{.name}}{{$.x}}{{end}}"),
            vec![var("items", false), var("x", false)]
        );
        assert_eq!(
            refs("{{range $i, $v := .items}}{{$v.name}}{{end}}"),
            vec![var("items", false)]
        );
        assert_eq!(
            refs("{{with .cfg}}{{.port}}{{$.auth.a}}{{end}}"),
            vec![var("cfg", false), ("a".to_string(), RefKind::Auth, false)]
        );
        // with on the root keeps dot at the root
        assert_eq!(
            refs("{{with .}}{{.x}}{{end}}{{with $}}{{.y}}{{end}}"),
            vec![var("x", false), var("y", false)]
        );
    }

    #[test]
    fn variables_aliasing_the_root() {
        assert_eq!(
            refs("{{$r := .}}{{$r.a}}{{$s := $}}{{$s.env.b}}"),
            vec![var("a", false), var("b", false)]
        );
        assert_eq!(refs("{{$v := .a}}{{$v.b}}"), vec![var("a", false)]);
        assert_eq!(
            refs("{{$v := .a}}{{$v = .}}{{$v.c}}"),
            vec![var("a", false), var("c", false)]
        );
        assert_eq!(
            refs("{{range .l}}{{$r := .}}{{$r.z}}{{end}}"),
            vec![var("l", false)]
        );
        assert_eq!(refs("{{(.).q}}"), vec![var("q", false)]);
    }
}
