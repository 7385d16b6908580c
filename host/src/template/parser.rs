//! Parser: turns lexer tokens into a tree of [`Node`]s.
//!
//! Checks at parse time what Go checks at parse time (unknown functions,
//! undeclared `$variables`, misplaced `{{else}}`/`{{end}}`/`{{break}}`) and
//! also the number of arguments of every function call, which is known
//! statically because a piped value always adds exactly one argument.

use super::error::TemplateError;
use super::functions::Func;
use super::lexer::{self, Pos, Tok, Token};
use super::value::Value;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    /// `{{pipeline}}`: prints the value unless the pipeline declares a variable.
    Action(Pipeline),
    If(Box<Conditional>),
    With(Box<Conditional>),
    Range(Box<RangeNode>),
    Break,
    Continue,
}

/// `if`/`with` with their `else if`/`else with` chain flattened into branches.
#[derive(Debug, Clone)]
pub(crate) struct Conditional {
    pub branches: Vec<Branch>,
    pub else_body: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Branch {
    pub pipe: Pipeline,
    pub body: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(crate) struct RangeNode {
    pub pipe: Pipeline,
    pub body: Vec<Node>,
    pub else_body: Option<Vec<Node>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    pub pos: Pos,
    /// Declared or assigned variables (`$x :=`, `$i, $v :=`), with the `$`.
    pub decl: Vec<String>,
    /// `=` (assign to existing variables) rather than `:=`.
    pub assign: bool,
    pub cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub pos: Pos,
    pub kind: CmdKind,
}

impl Command {
    pub(crate) fn is_default(&self) -> bool {
        matches!(
            self.kind,
            CmdKind::Call {
                func: Func::Default,
                ..
            }
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) enum CmdKind {
    /// A function call; in a pipeline the previous value is appended to `args`.
    Call { func: Func, args: Vec<Operand> },
    /// A lone operand (only as the first command of a pipeline).
    Value(Operand),
}

#[derive(Debug, Clone)]
pub(crate) struct Operand {
    pub pos: Pos,
    pub kind: OpKind,
}

#[derive(Debug, Clone)]
pub(crate) enum OpKind {
    /// `.`
    Dot,
    /// `.a.b.c` relative to dot.
    Field(Vec<String>),
    /// `$x.a.b` (`$` is the root data).
    Var(String, Vec<String>),
    Lit(Value),
    /// `(pipeline).a.b`
    Pipe(Box<Pipeline>, Vec<String>),
    /// A function used as an argument without parentheses: called with no arguments.
    Call(Func),
}

/// The result of parsing a whole template.
pub(crate) struct Parsed {
    pub nodes: Vec<Node>,
    /// Any action or comment appeared (the template is not plain text).
    pub saw_action: bool,
}

/// Deepest nesting of control structures and parentheses (bounds recursion).
const MAX_DEPTH: usize = 100;

/// Most `$variables` in scope at once. Lookups scan the scope, so this keeps
/// them cheap; real templates use a handful.
const MAX_VARIABLES: usize = 1000;

const KEYWORDS: [&str; 10] = [
    "if", "else", "end", "range", "with", "break", "continue", "define", "template", "block",
];

pub(crate) fn parse(src: &str) -> Result<Parsed, TemplateError> {
    let toks = lexer::lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        depth: 0,
        saw_action: false,
    };
    let (nodes, stop) = p.parse_list()?;
    match stop {
        Stop::Eof => Ok(Parsed {
            nodes,
            saw_action: p.saw_action,
        }),
        Stop::End(pos) => {
            Err(pos.error("unexpected {{end}}: there is no {{if}}, {{range}} or {{with}} to close"))
        }
        Stop::Else(pos) => {
            Err(pos.error("unexpected {{else}} outside {{if}}, {{range}} or {{with}}"))
        }
    }
}

/// Why [`Parser::parse_list`] stopped.
enum Stop {
    Eof,
    /// `{{end}}`, fully consumed.
    End(Pos),
    /// `else` consumed; the rest of that action is still pending.
    Else(Pos),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DeclMode {
    None,
    Single,
    Range,
}

enum Term {
    Func(Func, Pos),
    Nil(Pos),
    Op(Operand),
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Variables in scope, innermost last.
    vars: Vec<String>,
    range_depth: usize,
    /// Current nesting of control structures and parentheses.
    depth: usize,
    saw_action: bool,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.peek().map(|t| &t.tok)
    }

    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.i + k).map(|t| &t.tok)
    }

    fn peek_ident(&self, word: &str) -> bool {
        matches!(self.peek_tok(), Some(Tok::Ident(s)) if s == word)
    }

    /// The position of the next token (or of the last one at the end).
    fn here(&self) -> Pos {
        self.peek()
            .or(self.toks.last())
            .map(|t| t.pos)
            .unwrap_or_default()
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get_mut(self.i)?;
        self.i += 1;
        Some(match &mut t.tok {
            Tok::Text(s) => Token {
                tok: Tok::Text(std::mem::take(s)),
                pos: t.pos,
                space_before: t.space_before,
            },
            _ => t.clone(),
        })
    }

    fn expect_close(&mut self, what: &str) -> Result<(), TemplateError> {
        let pos = self.here();
        match self.next().map(|t| t.tok) {
            Some(Tok::Close) => Ok(()),
            Some(Tok::RParen) => Err(pos.error(format!("unexpected `)` in {what}"))),
            Some(t) => Err(pos.error(format!(
                "unexpected {} in {what}; expected `}}}}`",
                t.describe()
            ))),
            None => Err(pos.error(format!("unclosed {what}"))),
        }
    }

    fn parse_list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let Some(tok) = self.next() else {
                return Ok((nodes, Stop::Eof));
            };
            match tok.tok {
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::Comment => self.saw_action = true,
                Tok::Open => {
                    self.saw_action = true;
                    let open = tok.pos;
                    let Some(Tok::Ident(word)) = self.peek_tok() else {
                        nodes.push(self.parse_action(open)?);
                        continue;
                    };
                    match word.as_str() {
                        "end" => {
                            self.i += 1;
                            self.expect_close("{{end}}")?;
                            return Ok((nodes, Stop::End(open)));
                        }
                        "else" => {
                            self.i += 1;
                            return Ok((nodes, Stop::Else(open)));
                        }
                        "if" => {
                            self.i += 1;
                            nodes.push(Node::If(Box::new(
                                self.nested(open, |p| p.parse_conditional("if", open))?,
                            )));
                        }
                        "with" => {
                            self.i += 1;
                            nodes.push(Node::With(Box::new(
                                self.nested(open, |p| p.parse_conditional("with", open))?,
                            )));
                        }
                        "range" => {
                            self.i += 1;
                            nodes.push(Node::Range(Box::new(
                                self.nested(open, |p| p.parse_range(open))?,
                            )));
                        }
                        "break" | "continue" => {
                            let is_break = word == "break";
                            if self.range_depth == 0 {
                                return Err(
                                    open.error(format!("{{{{{word}}}}} outside {{{{range}}}}"))
                                );
                            }
                            self.i += 1;
                            self.expect_close(if is_break {
                                "{{break}}"
                            } else {
                                "{{continue}}"
                            })?;
                            nodes.push(if is_break {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        "define" | "template" | "block" => {
                            return Err(open.error(format!(
                                "{{{{{word}}}}} is not supported: apirun templates are single, self-contained strings"
                            )));
                        }
                        _ => nodes.push(self.parse_action(open)?),
                    }
                }
                other => return Err(tok.pos.error(format!("unexpected {}", other.describe()))),
            }
        }
    }

    /// Runs `f` one nesting level deeper, refusing past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        pos: Pos,
        f: impl FnOnce(&mut Self) -> Result<T, TemplateError>,
    ) -> Result<T, TemplateError> {
        if self.depth >= MAX_DEPTH {
            return Err(pos.error(format!(
                "template is nested too deeply (more than {MAX_DEPTH} levels)"
            )));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn parse_action(&mut self, open: Pos) -> Result<Node, TemplateError> {
        let pipe = self.parse_pipeline(DeclMode::Single, open, "command")?;
        self.expect_close("command")?;
        Ok(Node::Action(pipe))
    }

    /// `{{if}}`/`{{with}}` after the keyword, through the matching `{{end}}`.
    fn parse_conditional(&mut self, kw: &str, open: Pos) -> Result<Conditional, TemplateError> {
        let mark = self.vars.len();
        let mut branches = Vec::new();
        let mut else_body = None;
        let mut branch_pos = open;
        loop {
            let pipe = self.parse_pipeline(DeclMode::Single, branch_pos, kw)?;
            self.expect_close(&format!("{{{{{kw}}}}}"))?;
            let inner = self.vars.len();
            let (body, stop) = self.parse_list()?;
            self.vars.truncate(inner);
            branches.push(Branch { pipe, body });
            match stop {
                Stop::End(_) => break,
                Stop::Eof => {
                    return Err(open.error(format!("unclosed {{{{{kw}}}}}: missing {{{{end}}}}")));
                }
                Stop::Else(pos) => {
                    if self.peek_ident(kw) {
                        self.i += 1;
                        branch_pos = pos;
                        continue;
                    }
                    self.expect_close("{{else}}")?;
                    let (body, stop) = self.parse_list()?;
                    self.vars.truncate(inner);
                    match stop {
                        Stop::End(_) => {
                            else_body = Some(body);
                            break;
                        }
                        Stop::Else(pos) => {
                            return Err(pos.error(format!("expected {{{{end}}}} after {{{{else}}}}; found a second {{{{else}}}} in {{{{{kw}}}}}")));
                        }
                        Stop::Eof => {
                            return Err(
                                open.error(format!("unclosed {{{{{kw}}}}}: missing {{{{end}}}}"))
                            );
                        }
                    }
                }
            }
        }
        self.vars.truncate(mark);
        Ok(Conditional {
            branches,
            else_body,
        })
    }

    fn parse_range(&mut self, open: Pos) -> Result<RangeNode, TemplateError> {
        let mark = self.vars.len();
        let pipe = self.parse_pipeline(DeclMode::Range, open, "range")?;
        self.expect_close("{{range}}")?;
        let inner = self.vars.len();
        self.range_depth += 1;
        let listed = self.parse_list();
        self.range_depth -= 1;
        let (body, stop) = listed?;
        self.vars.truncate(inner);
        let else_body = match stop {
            Stop::End(_) => None,
            Stop::Eof => return Err(open.error("unclosed {{range}}: missing {{end}}")),
            Stop::Else(_) => {
                self.expect_close("{{else}} of {{range}}")?;
                let (body, stop) = self.parse_list()?;
                match stop {
                    Stop::End(_) => Some(body),
                    Stop::Else(pos) => {
                        return Err(
                            pos.error("expected {{end}}; found a second {{else}} in {{range}}")
                        );
                    }
                    Stop::Eof => return Err(open.error("unclosed {{range}}: missing {{end}}")),
                }
            }
        };
        self.vars.truncate(mark);
        // `range` over a literal integer above the step budget can only fail
        // at render time (unless a `{{break}}` ends it): say so now.
        if let [
            Command {
                kind:
                    CmdKind::Value(Operand {
                        kind: OpKind::Lit(Value::Int(n)),
                        pos,
                    }),
                ..
            },
        ] = pipe.cmds.as_slice()
            && u64::try_from(*n).is_ok_and(|n| n > super::Limits::DEFAULT_MAX_STEPS)
            && !has_break(&body)
        {
            return Err(pos.error(format!(
                "range over {n} takes more than the {} evaluation steps a template may take",
                super::Limits::DEFAULT_MAX_STEPS
            )));
        }
        Ok(RangeNode {
            pipe,
            body,
            else_body,
        })
    }

    fn parse_pipeline(
        &mut self,
        mode: DeclMode,
        pos: Pos,
        what: &str,
    ) -> Result<Pipeline, TemplateError> {
        let mut decl = Vec::new();
        let mut assign = false;
        if mode != DeclMode::None
            && let Some(Tok::Var(first)) = self.peek_tok()
        {
            let first = first.clone();
            match self.peek_at(1) {
                Some(t @ (Tok::Declare | Tok::Assign)) => {
                    assign = *t == Tok::Assign;
                    decl.push(first);
                    self.i += 2;
                }
                Some(Tok::Comma) => {
                    let here = self.here();
                    if mode != DeclMode::Range {
                        return Err(here.error("`$a, $b :=` is only allowed in {{range}}"));
                    }
                    match (self.peek_at(2), self.peek_at(3)) {
                        (Some(Tok::Var(second)), Some(t @ (Tok::Declare | Tok::Assign))) => {
                            assign = *t == Tok::Assign;
                            decl.push(first);
                            decl.push(second.clone());
                            self.i += 4;
                        }
                        _ => return Err(here.error("expected `$key, $value :=` in {{range}}")),
                    }
                }
                _ => {}
            }
        }
        for name in &decl {
            if name == "$" {
                return Err(
                    pos.error("cannot declare or assign `$`; it always means the root data")
                );
            }
            if assign && !self.vars.contains(name) {
                return Err(pos.error(format!(
                    "undefined variable `{name}`: declare it with `{name} := ...` first"
                )));
            }
        }
        let mut cmds = Vec::new();
        loop {
            cmds.push(self.parse_command(!cmds.is_empty(), what)?);
            if matches!(self.peek_tok(), Some(Tok::Pipe)) {
                self.i += 1;
            } else {
                break;
            }
        }
        if !assign {
            self.vars.extend(decl.iter().cloned());
            // `$` (the root) does not count.
            if self.vars.len() > MAX_VARIABLES + 1 {
                return Err(pos.error(format!(
                    "more than {MAX_VARIABLES} variables declared in one template; reuse a variable with `=`"
                )));
            }
        }
        Ok(Pipeline {
            pos,
            decl,
            assign,
            cmds,
        })
    }

    fn parse_command(&mut self, piped: bool, what: &str) -> Result<Command, TemplateError> {
        let start = self.here();
        let mut terms = Vec::new();
        loop {
            let Some(t) = self.peek() else {
                return Err(start.error("unclosed action"));
            };
            if matches!(t.tok, Tok::Pipe | Tok::Close | Tok::RParen) {
                break;
            }
            if !terms.is_empty() && !t.space_before {
                return Err(t
                    .pos
                    .error(format!("missing space before {}", t.tok.describe())));
            }
            terms.push(self.parse_term()?);
        }
        let mut terms = terms.into_iter();
        let Some(first) = terms.next() else {
            let message = if piped {
                "missing command after `|`".to_string()
            } else {
                format!("missing value for {what}")
            };
            return Err(start.error(message));
        };
        match first {
            Term::Func(func, pos) => {
                let args = terms.map(into_operand).collect::<Result<Vec<_>, _>>()?;
                check_arity(func, args.len() + usize::from(piped), pos)?;
                if let (
                    Func::Printf,
                    Some(Operand {
                        kind: OpKind::Lit(Value::String(f)),
                        pos,
                    }),
                ) = (func, args.first())
                {
                    super::functions::check_format(f)
                        .map_err(|e| pos.error(format!("printf: {e}")))?;
                }
                Ok(Command {
                    pos,
                    kind: CmdKind::Call { func, args },
                })
            }
            Term::Nil(pos) => Err(pos.error("nil is not a command")),
            Term::Op(op) => {
                if let Some(extra) = terms.next() {
                    let pos = match &extra {
                        Term::Func(_, p) | Term::Nil(p) => *p,
                        Term::Op(o) => o.pos,
                    };
                    return Err(pos.error(
                        "can't give arguments to a non-function; only functions take arguments",
                    ));
                }
                if piped {
                    return Err(op.pos.error(
                        "can't pipe into a non-function; a command after `|` must be a function",
                    ));
                }
                Ok(Command {
                    pos: op.pos,
                    kind: CmdKind::Value(op),
                })
            }
        }
    }

    fn parse_term(&mut self) -> Result<Term, TemplateError> {
        let start = self.here();
        let Some(tok) = self.next() else {
            return Err(start.error("unclosed action"));
        };
        let pos = tok.pos;
        let kind = match tok.tok {
            Tok::Ident(name) => {
                return match name.as_str() {
                    "true" => Ok(Term::Op(Operand {
                        pos,
                        kind: OpKind::Lit(Value::Bool(true)),
                    })),
                    "false" => Ok(Term::Op(Operand {
                        pos,
                        kind: OpKind::Lit(Value::Bool(false)),
                    })),
                    "nil" => Ok(Term::Nil(pos)),
                    kw if KEYWORDS.contains(&kw) => {
                        Err(pos.error(format!("unexpected keyword `{kw}` in command")))
                    }
                    _ => match Func::lookup(&name) {
                        Some(func) => Ok(Term::Func(func, pos)),
                        None => Err(pos.error(format!(
                            "function `{name}` is not defined; available functions: {}",
                            Func::names().collect::<Vec<_>>().join(", ")
                        ))),
                    },
                };
            }
            Tok::Dot => OpKind::Dot,
            Tok::Field(name) => {
                let mut names = vec![name];
                names.extend(self.field_chain());
                OpKind::Field(names)
            }
            Tok::Var(name) => {
                if !self.vars.contains(&name) {
                    return Err(pos.error(format!("undefined variable `{name}`")));
                }
                let fields = self.field_chain();
                OpKind::Var(name, fields)
            }
            Tok::Str(s) => OpKind::Lit(Value::String(s)),
            Tok::Number(v) => OpKind::Lit(v),
            Tok::LParen => {
                let pipe = self.nested(pos, |p| {
                    p.parse_pipeline(DeclMode::None, pos, "parenthesized pipeline")
                })?;
                let here = self.here();
                match self.next().map(|t| t.tok) {
                    Some(Tok::RParen) => {}
                    Some(Tok::Close) | None => return Err(pos.error("unclosed left paren")),
                    Some(t) => {
                        return Err(here.error(format!(
                            "unexpected {} in parenthesized pipeline",
                            t.describe()
                        )));
                    }
                }
                let fields = self.field_chain();
                OpKind::Pipe(Box::new(pipe), fields)
            }
            other => return Err(pos.error(format!("unexpected {} in command", other.describe()))),
        };
        Ok(Term::Op(Operand { pos, kind }))
    }

    /// `.a.b` directly attached (no space) to the previous operand.
    fn field_chain(&mut self) -> Vec<String> {
        let mut names = Vec::new();
        while let Some(Token {
            tok: Tok::Field(name),
            space_before: false,
            ..
        }) = self.peek()
        {
            names.push(name.clone());
            self.i += 1;
        }
        names
    }
}

/// Whether a `{{break}}` appears anywhere in `nodes` (conservatively
/// including those of nested ranges).
fn has_break(nodes: &[Node]) -> bool {
    nodes.iter().any(|n| match n {
        Node::Break => true,
        Node::If(c) | Node::With(c) => {
            c.branches.iter().any(|b| has_break(&b.body))
                || c.else_body.as_deref().is_some_and(has_break)
        }
        Node::Range(r) => has_break(&r.body) || r.else_body.as_deref().is_some_and(has_break),
        Node::Text(_) | Node::Action(_) | Node::Continue => false,
    })
}

fn into_operand(term: Term) -> Result<Operand, TemplateError> {
    match term {
        Term::Func(func, pos) => {
            check_arity(func, 0, pos)?;
            Ok(Operand {
                pos,
                kind: OpKind::Call(func),
            })
        }
        Term::Nil(pos) => Ok(Operand {
            pos,
            kind: OpKind::Lit(Value::Null),
        }),
        Term::Op(op) => Ok(op),
    }
}

fn check_arity(func: Func, got: usize, pos: Pos) -> Result<(), TemplateError> {
    let (min, max) = func.arity();
    if got >= min && max.is_none_or(|m| got <= m) {
        return Ok(());
    }
    let want = match max {
        Some(m) if m == min => format!("{min}"),
        Some(m) => format!("{min} to {m}"),
        None => format!("at least {min}"),
    };
    Err(pos.error(format!(
        "wrong number of arguments for `{}`: want {want}, got {got} (a piped value counts as the last argument); usage: {}",
        func.name(),
        func.usage()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(src: &str) -> Vec<Node> {
        match parse(src) {
            Ok(p) => p.nodes,
            Err(e) => panic!("parse {src:?}: {e}"),
        }
    }

    fn err(src: &str) -> String {
        match parse(src) {
            Ok(p) => panic!("expected a parse error for {src:?}, got {:?}", p.nodes),
            Err(e) => {
                assert!(matches!(e, TemplateError::Parse { .. }), "{e:?}");
                e.to_string()
            }
        }
    }

    #[test]
    fn structure() {
        let n = nodes("a{{if .x}}b{{else if .y}}c{{else}}d{{end}}");
        assert_eq!(n.len(), 2);
        let Node::If(c) = &n[1] else { panic!("{n:?}") };
        assert_eq!(c.branches.len(), 2);
        assert!(c.else_body.is_some());

        let n = nodes("{{range $i, $v := .l}}{{$i}}{{break}}{{else}}none{{end}}");
        let Node::Range(r) = &n[0] else {
            panic!("{n:?}")
        };
        assert_eq!(r.pipe.decl, vec!["$i".to_string(), "$v".to_string()]);
        assert!(r.else_body.is_some());

        let n = nodes("{{.a.b | printf \"%s\" | upper}}");
        let Node::Action(p) = &n[0] else {
            panic!("{n:?}")
        };
        assert_eq!(p.cmds.len(), 3);
        let CmdKind::Value(Operand {
            kind: OpKind::Field(names),
            ..
        }) = &p.cmds[0].kind
        else {
            panic!("{p:?}")
        };
        assert_eq!(names, &["a".to_string(), "b".to_string()]);

        let n = nodes("{{print (index .m \"k\").x $.y}}");
        let Node::Action(p) = &n[0] else { panic!() };
        let CmdKind::Call {
            func: Func::Print,
            args,
        } = &p.cmds[0].kind
        else {
            panic!("{p:?}")
        };
        assert!(matches!(&args[0].kind, OpKind::Pipe(_, f) if f.len() == 1));
        assert!(matches!(&args[1].kind, OpKind::Var(v, f) if v == "$" && f.len() == 1));

        let n = nodes("{{with $x := .a}}{{$x}}{{else with .b}}{{.}}{{end}}");
        let Node::With(c) = &n[0] else { panic!() };
        assert_eq!(c.branches.len(), 2);
        assert!(c.else_body.is_none());
    }

    #[test]
    fn static_detection() {
        assert!(!parse("plain").map(|p| p.saw_action).unwrap_or(true));
        assert!(
            parse("a {{/* c */}}")
                .map(|p| p.saw_action)
                .unwrap_or(false)
        );
    }

    #[test]
    fn errors() {
        assert!(err("{{nosuch .x}}").contains("function `nosuch` is not defined"));
        assert!(
            err("{{.x | nosuch}}").contains("line 1, column 8: function `nosuch` is not defined")
        );
        assert!(err("{{if .x}}a").contains("unclosed {{if}}: missing {{end}}"));
        assert!(err("a{{end}}").contains("unexpected {{end}}"));
        assert!(err("{{else}}").contains("unexpected {{else}}"));
        assert!(err("{{if .x}}{{else}}{{else}}{{end}}").contains("second {{else}}"));
        assert!(err("{{$y}}").contains("undefined variable `$y`"));
        assert!(err("{{$y = 1}}").contains("undefined variable `$y`"));
        assert!(err("{{if 1}}{{$z := 1}}{{end}}{{$z}}").contains("undefined variable `$z`"));
        assert!(err("{{break}}").contains("{{break}} outside {{range}}"));
        assert!(err("{{range .l}}{{else}}{{continue}}{{end}}").contains("outside {{range}}"));
        assert!(err("{{template \"x\"}}").contains("not supported"));
        assert!(err("{{}}").contains("missing value for command"));
        assert!(err("{{if}}{{end}}").contains("missing value for if"));
        assert!(err("{{.x |}}").contains("missing command after `|`"));
        assert!(err("{{upper}}").contains("wrong number of arguments for `upper`: want 1, got 0"));
        assert!(err("{{\"a\" | replace \"a\"}}").contains("want 3, got 2"));
        assert!(err("{{len 1 2}}").contains("want 1, got 2"));
        assert!(err("{{.x .y}}").contains("can't give arguments to a non-function"));
        assert!(err("{{.x | .y}}").contains("can't pipe into a non-function"));
        assert!(err("{{nil}}").contains("nil is not a command"));
        assert!(err("{{(.x}}").contains("unclosed left paren"));
        assert!(err("{{.x)}}").contains("unexpected `)`"));
        assert!(err("{{$a, $b := .x}}").contains("only allowed in {{range}}"));
        assert!(err("{{$ := 1}}").contains("cannot declare"));
        assert!(err("{{print \"a\"\"b\"}}").contains("missing space"));
        assert!(err("{{print end}}").contains("unexpected keyword `end`"));
        assert!(err("{{ := }}").contains("unexpected `:=`"));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "{{{{{}1{}}}}}",
            "(print ".repeat(MAX_DEPTH),
            ")".repeat(MAX_DEPTH)
        );
        nodes(&deep);
        let too_deep = format!("{{{{{}1{}}}}}", "(print ".repeat(5000), ")".repeat(5000));
        assert!(err(&too_deep).contains("nested too deeply"));
        let ifs = format!("{}{}", "{{if 1}}".repeat(5000), "{{end}}".repeat(5000));
        assert!(err(&ifs).contains("nested too deeply"));
    }

    #[test]
    fn variable_scopes() {
        nodes("{{$x := 1}}{{if $x}}{{$x = 2}}{{$y := 3}}{{$y}}{{end}}{{$x}}");
        nodes("{{if $v := .a}}{{$v}}{{else if $w := .b}}{{$v}}{{$w}}{{else}}{{$v}}{{end}}");
        nodes("{{range $k, $v := .m}}{{$k}}{{$v}}{{$}}{{end}}");
        nodes("{{$i := 0}}{{$v := 0}}{{range $i, $v = .l}}{{end}}{{$i}}");
    }
}
