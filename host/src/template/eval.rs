//! Evaluator: renders a parsed tree against a [`Context`].

use super::error::TemplateError;
use super::functions::{self, Func};
use super::lexer::Pos;
use super::parser::{CmdKind, Command, Conditional, Node, OpKind, Operand, Pipeline, RangeNode};
use super::value::Value;
use super::{Context, Limits};

/// What dot (or a variable) holds: the root context, or an ordinary value.
/// The root is kept symbolic so `.x`, `.env.x` and `.auth.x` resolve against
/// the context without building a map on every access.
#[derive(Debug, Clone)]
enum Data {
    Root,
    Val(Value),
}

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) fn render(
    nodes: &[Node],
    ctx: &Context,
    size_hint: usize,
    limits: &Limits,
) -> Result<String, TemplateError> {
    let mut exec = Exec {
        ctx,
        vars: vec![("$", Data::Root)],
        limits,
        steps: 0,
        at: Pos { line: 1, column: 1 },
    };
    let mut out = String::with_capacity(size_hint.min(limits.max_output_bytes));
    exec.walk(nodes, &Data::Root, &mut out)?;
    Ok(out)
}

fn exec_error(pos: Pos, message: impl Into<String>) -> TemplateError {
    TemplateError::Exec {
        message: message.into(),
        line: pos.line,
        column: pos.column,
    }
}

/// `base` followed by `.name` for each name, for error messages.
fn path(base: &str, names: &[String]) -> String {
    let mut s = base.to_string();
    for n in names {
        s.push('.');
        s.push_str(n);
    }
    s
}

/// The root as a plain value: the map of all variables (auth tokens are not
/// included, so printing `{{.}}` or `{{toJson .}}` cannot leak them).
fn root_value(ctx: &Context) -> Value {
    Value::Map(ctx.all_vars())
}

fn auth_value(ctx: &Context) -> Value {
    Value::Map(
        ctx.auth
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Walks `all[start..]` from `v`. `all` and `base` only build error paths.
fn walk_fields<'v>(
    mut v: &'v Value,
    all: &[String],
    start: usize,
    base: &str,
    pos: Pos,
) -> Result<&'v Value, TemplateError> {
    for (k, name) in all.iter().enumerate().skip(start) {
        v = match v {
            Value::Map(map) => map.get(name).ok_or_else(|| TemplateError::UndefinedField {
                name: name.clone(),
                path: path(base, &all[..=k]),
                line: pos.line,
                column: pos.column,
            })?,
            Value::Null => {
                return Err(TemplateError::UndefinedField {
                    name: name.clone(),
                    path: path(base, &all[..=k]),
                    line: pos.line,
                    column: pos.column,
                });
            }
            other => {
                return Err(exec_error(
                    pos,
                    format!(
                        "can't evaluate `{}`: `{}` is a {}, not a map",
                        path(base, &all[..=k]),
                        path(base, &all[..k]),
                        other.type_name()
                    ),
                ));
            }
        };
    }
    Ok(v)
}

/// Resolves a field chain on `base`; `desc` is how the base reads in errors
/// (`""` for dot, `"$x"` for a variable).
fn field_chain(
    ctx: &Context,
    base: &Data,
    names: &[String],
    desc: &str,
    pos: Pos,
) -> Result<Data, TemplateError> {
    if names.is_empty() {
        return Ok(base.clone());
    }
    match base {
        Data::Root => root_chain(ctx, names, desc, pos),
        Data::Val(v) => walk_fields(v, names, 0, desc, pos).map(|v| Data::Val(v.clone())),
    }
}

fn root_chain(
    ctx: &Context,
    names: &[String],
    desc: &str,
    pos: Pos,
) -> Result<Data, TemplateError> {
    let undefined_var = |name: &String| TemplateError::UndefinedVariable {
        name: name.clone(),
        line: pos.line,
        column: pos.column,
    };
    let (var, start) = match names {
        [] => return Ok(Data::Root),
        [env] if env == "env" => return Ok(Data::Val(root_value(ctx))),
        [auth] if auth == "auth" => return Ok(Data::Val(auth_value(ctx))),
        [auth, name, ..] if auth == "auth" => {
            let token = ctx
                .auth
                .get(name)
                .ok_or_else(|| TemplateError::UndefinedAuth {
                    name: name.clone(),
                    line: pos.line,
                    column: pos.column,
                })?;
            let token = Value::String(token.clone());
            return walk_fields(&token, names, 2, desc, pos).map(|v| Data::Val(v.clone()));
        }
        [env, name, ..] if env == "env" => (ctx.var(name).ok_or_else(|| undefined_var(name))?, 2),
        [name, ..] => (ctx.var(name).ok_or_else(|| undefined_var(name))?, 1),
    };
    if start == names.len() {
        return Ok(Data::Val(var.into_owned()));
    }
    walk_fields(&var, names, start, desc, pos).map(|v| Data::Val(v.clone()))
}

struct Exec<'t, 'c> {
    ctx: &'c Context<'c>,
    /// Variables in scope, innermost last; `$` is always first.
    vars: Vec<(&'t str, Data)>,
    limits: &'c Limits,
    /// Evaluation steps taken so far (see [`Limits::max_steps`]).
    steps: u64,
    /// The last position evaluated, for limit errors raised in plain text.
    at: Pos,
}

/// What copying a value costs in steps, beyond the step itself: big strings
/// and collections count more, so looping over a large value is bounded
/// by the step budget too and not only by the number of loop iterations.
fn weight(v: &Value) -> u64 {
    let n = match v {
        Value::String(s) => s.len() / 1024,
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        _ => 0,
    };
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl<'t> Exec<'t, '_> {
    /// Counts `n` evaluation steps at `pos`; fails past the step budget.
    fn charge(&mut self, pos: Pos, n: u64) -> Result<(), TemplateError> {
        self.at = pos;
        self.steps = self.steps.saturating_add(n).saturating_add(1);
        if self.steps > self.limits.max_steps {
            return Err(TemplateError::Limit {
                message: format!(
                    "the template takes more than {} evaluation steps (a range over a huge number or list?); simplify it",
                    self.limits.max_steps
                ),
                line: pos.line,
                column: pos.column,
            });
        }
        Ok(())
    }

    /// Fails when `len` bytes (of output or of one value) pass the output budget.
    fn check_size(&self, len: usize, pos: Pos) -> Result<(), TemplateError> {
        if len > self.limits.max_output_bytes {
            return Err(TemplateError::Limit {
                message: format!(
                    "the rendered text would be larger than {} bytes (the limit per rendered string)",
                    self.limits.max_output_bytes
                ),
                line: pos.line,
                column: pos.column,
            });
        }
        Ok(())
    }

    fn to_value(&self, d: Data) -> Value {
        match d {
            Data::Root => root_value(self.ctx),
            Data::Val(v) => v,
        }
    }

    fn truthy(d: &Data) -> bool {
        match d {
            Data::Root => true,
            Data::Val(v) => v.is_truthy(),
        }
    }

    fn write(&self, d: &Data, out: &mut String) {
        match d {
            Data::Root => root_value(self.ctx).write_display(out),
            Data::Val(v) => v.write_display(out),
        }
    }

    fn walk(
        &mut self,
        nodes: &'t [Node],
        dot: &Data,
        out: &mut String,
    ) -> Result<Flow, TemplateError> {
        for node in nodes {
            let flow = match node {
                Node::Text(s) => {
                    let at = self.at;
                    self.charge(at, 0)?;
                    self.check_size(out.len().saturating_add(s.len()), at)?;
                    out.push_str(s);
                    Flow::Normal
                }
                Node::Action(p) => {
                    self.charge(p.pos, 0)?;
                    let v = self.eval_pipeline(dot, p)?;
                    if p.decl.is_empty() {
                        self.write(&v, out);
                        self.check_size(out.len(), p.pos)?;
                    }
                    Flow::Normal
                }
                Node::If(c) => self.walk_conditional(c, dot, out, false)?,
                Node::With(c) => self.walk_conditional(c, dot, out, true)?,
                Node::Range(r) => self.walk_range(r, dot, out)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_conditional(
        &mut self,
        c: &'t Conditional,
        dot: &Data,
        out: &mut String,
        with: bool,
    ) -> Result<Flow, TemplateError> {
        let mark = self.vars.len();
        let mut flow = None;
        for b in &c.branches {
            let v = self.eval_pipeline(dot, &b.pipe)?;
            if Self::truthy(&v) {
                flow = Some(if with {
                    self.walk(&b.body, &v, out)?
                } else {
                    self.walk(&b.body, dot, out)?
                });
                break;
            }
        }
        let flow = match (flow, &c.else_body) {
            (Some(f), _) => f,
            (None, Some(body)) => self.walk(body, dot, out)?,
            (None, None) => Flow::Normal,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(
        &mut self,
        r: &'t RangeNode,
        dot: &Data,
        out: &mut String,
    ) -> Result<Flow, TemplateError> {
        let mark = self.vars.len();
        let collection = self.eval_cmds(dot, &r.pipe)?;
        let mut ran = false;
        // Iterates lazily (no copy of the items, no huge Vec for `range N`).
        let mut step = |exec: &mut Self, key: Value, elem: Value| -> Result<bool, TemplateError> {
            ran = true;
            exec.charge(r.pipe.pos, weight(&elem))?;
            exec.range_step(r, mark, key, elem, out)
        };
        match self.to_value(collection) {
            Value::List(list) => {
                for (i, elem) in list.into_iter().enumerate() {
                    let key = Value::Int(i64::try_from(i).unwrap_or(i64::MAX));
                    if step(self, key, elem)? {
                        break;
                    }
                }
            }
            Value::Map(map) => {
                for (k, elem) in map {
                    if step(self, Value::String(k), elem)? {
                        break;
                    }
                }
            }
            Value::Int(n) => {
                for i in 0..n.max(0) {
                    if step(self, Value::Int(i), Value::Int(i))? {
                        break;
                    }
                }
            }
            Value::Null => {}
            other => {
                return Err(exec_error(
                    r.pipe.pos,
                    format!(
                        "range can't iterate over a {} value; range takes a list, map or integer",
                        other.type_name()
                    ),
                ));
            }
        }
        let flow = match (&r.else_body, ran) {
            // break/continue in a range's else belong to an enclosing range.
            (Some(body), false) => self.walk(body, dot, out)?,
            _ => Flow::Normal,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    /// One iteration of a range; returns true on `{{break}}`.
    fn range_step(
        &mut self,
        r: &'t RangeNode,
        mark: usize,
        key: Value,
        elem: Value,
        out: &mut String,
    ) -> Result<bool, TemplateError> {
        self.vars.truncate(mark);
        let pos = r.pipe.pos;
        match r.pipe.decl.as_slice() {
            [] => {}
            [v] => self.bind(v, r.pipe.assign, Data::Val(elem.clone()), pos)?,
            [k, v, ..] => {
                self.bind(k, r.pipe.assign, Data::Val(key), pos)?;
                self.bind(v, r.pipe.assign, Data::Val(elem.clone()), pos)?;
            }
        }
        let flow = self.walk(&r.body, &Data::Val(elem), out)?;
        Ok(matches!(flow, Flow::Break))
    }

    fn bind(
        &mut self,
        name: &'t str,
        assign: bool,
        value: Data,
        pos: Pos,
    ) -> Result<(), TemplateError> {
        if !assign {
            self.vars.push((name, value));
            return Ok(());
        }
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(exec_error(pos, format!("undefined variable `{name}`"))),
        }
    }

    fn lookup(&self, name: &str, pos: Pos) -> Result<&Data, TemplateError> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| d)
            .ok_or_else(|| exec_error(pos, format!("undefined variable `{name}`")))
    }

    fn eval_pipeline(&mut self, dot: &Data, p: &'t Pipeline) -> Result<Data, TemplateError> {
        let v = self.eval_cmds(dot, p)?;
        if let Some(name) = p.decl.first() {
            self.bind(name, p.assign, v.clone(), p.pos)?;
        }
        Ok(v)
    }

    /// Evaluates the commands of a pipeline. A "not defined" error before a
    /// later `default` in the same pipeline makes the piped value nil, so
    /// `{{.x | default "d"}}` and `{{.x | upper | default "d"}}` are optional.
    fn eval_cmds(&mut self, dot: &Data, p: &'t Pipeline) -> Result<Data, TemplateError> {
        let mut val: Option<Data> = None;
        let mut i = 0;
        while let Some(cmd) = p.cmds.get(i) {
            match self.eval_command(dot, cmd, val.take()) {
                Ok(v) => {
                    val = Some(v);
                    i += 1;
                }
                Err(e) if e.is_missing() => {
                    let later_default = p.cmds.iter().skip(i + 1).position(Command::is_default);
                    match later_default {
                        Some(k) => {
                            val = Some(Data::Val(Value::Null));
                            i += 1 + k;
                        }
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(val.unwrap_or(Data::Val(Value::Null)))
    }

    fn eval_command(
        &mut self,
        dot: &Data,
        cmd: &'t Command,
        piped: Option<Data>,
    ) -> Result<Data, TemplateError> {
        match &cmd.kind {
            CmdKind::Value(op) => self.eval_operand(dot, op),
            CmdKind::Call { func, args } => self.call(dot, *func, args, piped, cmd.pos),
        }
    }

    fn call(
        &mut self,
        dot: &Data,
        func: Func,
        args: &'t [Operand],
        piped: Option<Data>,
        pos: Pos,
    ) -> Result<Data, TemplateError> {
        let mut vals = Vec::with_capacity(args.len() + usize::from(piped.is_some()));
        match func {
            Func::And | Func::Or => {
                // Short-circuit like Go: stop at the first deciding argument.
                let want = func == Func::Or;
                let mut last = Data::Val(Value::Null);
                for a in args {
                    let v = self.eval_operand(dot, a)?;
                    if Self::truthy(&v) == want {
                        return Ok(v);
                    }
                    last = v;
                }
                return Ok(piped.unwrap_or(last));
            }
            Func::Default => {
                // A "not defined" argument is nil here: this is what makes it optional.
                for a in args {
                    vals.push(match self.eval_operand(dot, a) {
                        Ok(d) => self.to_value(d),
                        Err(e) if e.is_missing() => Value::Null,
                        Err(e) => return Err(e),
                    });
                }
            }
            _ => {
                for a in args {
                    let d = self.eval_operand(dot, a)?;
                    vals.push(self.to_value(d));
                }
            }
        }
        if let Some(p) = piped {
            vals.push(self.to_value(p));
        }
        self.charge(pos, u64::try_from(vals.len()).unwrap_or(u64::MAX))?;
        let result =
            functions::call(func, &vals, self.limits.max_output_bytes).map_err(|message| {
                TemplateError::Function {
                    name: func.name().to_string(),
                    message,
                    line: pos.line,
                    column: pos.column,
                }
            })?;
        if let Value::String(s) = &result {
            self.check_size(s.len(), pos)?;
        }
        Ok(Data::Val(result))
    }

    fn eval_operand(&mut self, dot: &Data, op: &'t Operand) -> Result<Data, TemplateError> {
        let d = self.eval_operand_inner(dot, op)?;
        let cost = match &d {
            Data::Root => u64::try_from(self.ctx.var_count()).unwrap_or(u64::MAX),
            Data::Val(v) => weight(v),
        };
        self.charge(op.pos, cost)?;
        Ok(d)
    }

    fn eval_operand_inner(&mut self, dot: &Data, op: &'t Operand) -> Result<Data, TemplateError> {
        match &op.kind {
            OpKind::Dot => Ok(dot.clone()),
            OpKind::Field(names) => field_chain(self.ctx, dot, names, "", op.pos),
            OpKind::Var(name, fields) => {
                let ctx = self.ctx;
                let base = self.lookup(name, op.pos)?;
                field_chain(ctx, base, fields, name, op.pos)
            }
            OpKind::Lit(v) => Ok(Data::Val(v.clone())),
            OpKind::Pipe(p, fields) => {
                let d = self.eval_pipeline(dot, p)?;
                field_chain(self.ctx, &d, fields, "(...)", op.pos)
            }
            OpKind::Call(func) => self.call(dot, *func, &[], None, op.pos),
        }
    }
}
