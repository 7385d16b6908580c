//! The template engine: Go `text/template` syntax, as used by the Go tool
//! whose migration files apirun runs.
//!
//! Parse once with [`Template::parse`], render many times with
//! [`Template::render`]; [`Template::references`] lists the variables and auth
//! tokens a template needs without rendering it.
//!
//! # Why not the `gotmpl` crate
//!
//! `gotmpl` 0.6.1 (a Rust port of Go's text/template) was evaluated first.
//! It has custom functions, an error-on-missing-key mode, no HTML escaping in
//! text mode and a public parse tree, but it misses the requirement of a lazy
//! / optional `default`: its executor evaluates every argument before it calls
//! a function (only `and`/`or` are special-cased), and the missing-key mode is
//! one switch for the whole template. With `MissingKey::Error`,
//! `{{.x | default "d"}}` and `{{default "d" .x}}` both fail with
//! "map has no entry for key: x" before `default` runs (checked against
//! 0.6.1); with the other modes a plain `{{.x}}` renders silently instead of
//! failing. It also reports unknown functions only at execution time, and its
//! missing-key error has no position and cannot tell a variable from an auth
//! token. So this module has its own small lexer, parser and evaluator.
//!
//! # Language
//!
//! Text and actions `{{ }}`; trim markers `{{- ` and ` -}}`; comments
//! `{{/* ... */}}`; pipelines `a | f b`; parenthesised sub-pipelines
//! `(f .x).field`; fields `.a.b.c`, `.`, `$`, `$.x`; variables `{{$x := ...}}`
//! and `{{$x = ...}}`; `if`/`else if`/`else`/`end`; `range` over lists, maps
//! (sorted keys) and integers, with `$i, $v :=`, `{{else}}`, `{{break}}`,
//! `{{continue}}`; `with`/`else with`; literals: `"..."` with Go escapes, raw
//! `` `...` ``, characters `'a'`, ints (also hex, octal, binary), floats,
//! `true`, `false`, `nil`. Truthiness is Go's: false, 0, nil, "" and empty
//! lists/maps are false. `define`/`template`/`block` are not supported.
//!
//! # The root
//!
//! At the root, `.name` is `ctx.vars["name"]`, `.env` is the map of all vars
//! (so `.env.name` is `.name`) and `.auth` is the auth map (`.auth.admin` is the
//! bare token of provider `admin`). `env` and `auth` therefore always mean
//! those maps, even if a variable has that name. `{{.}}` at the root is the map
//! of vars (auth tokens are not included). Inside `range`/`with`, dot is the
//! element; `$` stays the root.
//!
//! # Missing values
//!
//! Using something not defined is an error naming it:
//! [`TemplateError::UndefinedVariable`] for `.x`/`.env.x`,
//! [`TemplateError::UndefinedAuth`] for `.auth.x`, and
//! [`TemplateError::UndefinedField`] for a field missing from a non-root map
//! (`.name` inside `range`, `.cfg.port`). The only ways to make one optional:
//! `{{.x | default "d"}}` and `{{default "d" .x}}` (sprig's order
//! `default DEFAULT GIVEN`). Something not defined inside `default`'s arguments,
//! or anywhere in a pipeline before `| default`, is nil instead of an error.
//! `default` yields DEFAULT when GIVEN is missing, nil, "", false, 0 or an empty
//! list/map (sprig's notion of empty), and GIVEN otherwise.
//!
//! # Output
//!
//! Plain text, never HTML-escaped. Strings print as they are, ints without
//! `.0`, floats in shortest form, bools as `true`/`false`, nil as nothing,
//! lists and maps as compact JSON.
//!
//! # Functions
//!
//! `default upper lower trim replace toJson add sub mul div eq ne lt le gt ge
//! and or not len index printf print urlquery b64enc b64dec env`. An unknown
//! function or a wrong number of arguments is a parse error. Numbers in
//! arithmetic may be numeric strings; comparisons between a number and a
//! numeric string are numeric (details in the `functions` module). `env "X"`
//! reads the process environment (unset: ""); nothing else touches files,
//! processes or the network.
//!
//! # Limits
//!
//! Templates come from the config author, but a mistake (or a copied
//! snippet) must not hang or exhaust the host, and no input may panic. A
//! render stops with [`TemplateError::Limit`] past [`Limits`]: the output
//! size (also every intermediate string value) and the evaluation steps. The
//! parser refuses what it can see statically: `printf` widths/precisions
//! above 65535 in a literal format, `range` over a literal integer above the
//! step budget, nesting deeper than 100, more than 1000 variables in scope.
//! See docs/templates.md ("Limits").

mod analysis;
mod error;
mod eval;
mod functions;
#[cfg(test)]
mod fuzz;
mod guards;
mod lexer;
mod parser;
mod text;
mod tree;
mod value;

use std::collections::BTreeMap;

pub use analysis::{RefKind, Reference};
pub use error::TemplateError;
pub use text::{Layout, Origin, TemplateText};
pub use tree::TemplateTree;
pub use value::Value;

/// What a template is rendered against.
///
/// Variables come from `vars` (owned values of any type) and then from
/// `strings`: string maps borrowed from the caller, searched in order (the
/// first that has a name wins). Borrowing keeps a render's cost independent
/// of how many variables are in scope: a stage with 10,000 extracted
/// variables must not copy them into a fresh context for every template
/// (docs/performance.md).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context<'a> {
    /// Variables: `.name` and `.env.name`. They win over `strings`.
    pub vars: BTreeMap<String, Value>,
    /// Borrowed string variables, below `vars`, highest precedence first.
    pub strings: Vec<&'a BTreeMap<String, String>>,
    /// Bare tokens by auth provider name: `.auth.name`.
    pub auth: BTreeMap<String, String>,
}

impl<'a> Context<'a> {
    /// A context over borrowed string variables (no copy, no auth tokens).
    pub fn over(strings: &'a BTreeMap<String, String>) -> Context<'a> {
        Context {
            vars: BTreeMap::new(),
            strings: vec![strings],
            auth: BTreeMap::new(),
        }
    }

    /// The variable `name`, if defined.
    pub fn var(&self, name: &str) -> Option<std::borrow::Cow<'_, Value>> {
        if let Some(v) = self.vars.get(name) {
            return Some(std::borrow::Cow::Borrowed(v));
        }
        self.strings
            .iter()
            .find_map(|layer| layer.get(name))
            .map(|s| std::borrow::Cow::Owned(Value::String(s.clone())))
    }

    /// An upper bound of the number of variables (names shadowed in a lower
    /// layer count twice), for the step budget.
    pub(crate) fn var_count(&self) -> usize {
        self.strings
            .iter()
            .fold(self.vars.len(), |n, layer| n.saturating_add(layer.len()))
    }

    /// Every variable as one map (for `{{.}}` and `.env`).
    pub(crate) fn all_vars(&self) -> BTreeMap<String, Value> {
        let mut all = BTreeMap::new();
        for layer in self.strings.iter().rev() {
            all.extend(
                layer
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone()))),
            );
        }
        all.extend(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        all
    }
}

/// Budgets of one render. Defaults: [`Limits::DEFAULT_MAX_OUTPUT_BYTES`] and
/// [`Limits::DEFAULT_MAX_STEPS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest rendered string, and largest string value produced on the way
    /// (`printf`, `print`, `replace`, ... results).
    pub max_output_bytes: usize,
    /// Most evaluation steps: one per text piece, action, operand, function
    /// call and range iteration, plus one per KiB of a string copied and per
    /// element of a list or map copied.
    pub max_steps: u64,
}

impl Limits {
    /// 16 MiB: far above any request body or header a migration sends.
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 << 20;
    /// 5 million: a range over ~100k items with a dozen actions each; a
    /// second or so of work.
    pub const DEFAULT_MAX_STEPS: u64 = 5_000_000;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output_bytes: Limits::DEFAULT_MAX_OUTPUT_BYTES,
            max_steps: Limits::DEFAULT_MAX_STEPS,
        }
    }
}

/// A parsed template, ready to render any number of times.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parser::Node>,
    is_static: bool,
    size_hint: usize,
}

impl Template {
    /// Parses `source`. Syntax errors, unknown functions, wrong argument
    /// counts and undeclared `$variables` are reported here.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let parsed = parser::parse(source)?;
        Ok(Template {
            nodes: parsed.nodes,
            is_static: !parsed.saw_action,
            size_hint: source.len() + source.len() / 4,
        })
    }

    /// `text` as it is, without parsing it: a value already rendered (or
    /// read from elsewhere) that must not be read as a template again.
    pub(crate) fn literal(text: &str) -> Template {
        Template {
            nodes: vec![parser::Node::Text(text.to_string())],
            is_static: true,
            size_hint: text.len(),
        }
    }

    /// Renders against `ctx` with the default [`Limits`].
    pub fn render(&self, ctx: &Context) -> Result<String, TemplateError> {
        self.render_with(ctx, &Limits::default())
    }

    /// Renders against `ctx` within `limits`.
    pub fn render_with(&self, ctx: &Context, limits: &Limits) -> Result<String, TemplateError> {
        eval::render(&self.nodes, ctx, self.size_hint, limits)
    }

    /// Every root variable/auth reference anywhere in the template (all
    /// branches, not only those taken), deduplicated, in first-appearance
    /// order. `optional` = every use of it is inside `default`'s arguments.
    /// References relative to a non-root dot (inside range/with bodies) are
    /// not root variables; `$.x` is.
    pub fn references(&self) -> Vec<Reference> {
        analysis::references(&self.nodes)
    }

    /// Variables used unguarded: outside `default` and outside an `{{if}}`
    /// that tests them (see the `guards` module).
    pub fn unguarded_vars(&self) -> std::collections::BTreeSet<String> {
        guards::unguarded(&self.nodes)
    }

    /// No actions at all, not even comments: rendering returns the source
    /// unchanged.
    pub fn is_static(&self) -> bool {
        self.is_static
    }
}

impl std::str::FromStr for Template {
    type Err = TemplateError;

    fn from_str(source: &str) -> Result<Self, Self::Err> {
        Template::parse(source)
    }
}

/// Parses and renders in one go.
pub fn render_str(source: &str, ctx: &Context) -> Result<String, TemplateError> {
    Template::parse(source)?.render(ctx)
}

#[cfg(test)]
mod tests;
