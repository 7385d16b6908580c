//! A YAML document as a tree of nodes that remember where they are, built from the events of
//! `granit-parser` (the parser inside serde-saphyr). Scalars keep their exact text, so
//! `version: 1.10` stays "1.10" (as Go's yaml.v3 does for string fields). Anchors, aliases
//! and merge keys (`<<`) are resolved here; duplicate keys are reported.

use std::collections::{HashMap, HashSet};

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

/// 1-based line and column of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_span(span: &Span) -> Pos {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// A node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// `~`, `null`, an empty value, or `!!null`.
    Null,
    /// Any other scalar, with its text after YAML escape processing. `quoted` is true for
    /// quoted and block scalars and for `!!str`: those are always strings.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key: its text and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub text: String,
    pub pos: Pos,
}

impl Node {
    /// What kind of node this is, for messages ("found a list").
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing (null)",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
}

/// A problem found while building the tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
    pub warning: bool,
}

/// The result of parsing one file: the first document's root (None for an empty file), and
/// the problems found. A syntax error stops parsing: `root` is then None.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub root: Option<Node>,
    pub problems: Vec<Problem>,
}

/// Upper bound on nodes copied by alias expansion (a guard against "billion laughs").
const MAX_ALIAS_NODES: usize = 100_000;

/// Upper bound on the bytes (scalar and key text) copied by anchors and aliases. The node
/// count alone let one 4 MiB scalar referenced 2,000 times expand to 8 GB. Documented in
/// docs/security.md ("Templates and YAML").
pub(crate) const MAX_ALIAS_BYTES: usize = 16 << 20;

pub(crate) fn parse(src: &str) -> Parsed {
    // Comments are not captured: the crate is built without its `comments` feature.
    let mut builder = Builder {
        src,
        parser: Parser::new_from_str(src),
        anchors: HashMap::new(),
        problems: Vec::new(),
        alias_nodes: 0,
        alias_bytes: 0,
    };
    let root = match builder.stream() {
        Ok(root) => root,
        Err(Fatal(problem)) => {
            builder.problems.push(problem);
            None
        }
    };
    Parsed {
        root,
        problems: builder.problems,
    }
}

fn syntax_problem(e: &ScanError) -> Problem {
    let marker = e.marker();
    let info = e.info();
    let message = if info.is_empty() {
        "invalid YAML".to_string()
    } else {
        format!("invalid YAML: {info}")
    };
    let hint = if info.contains("mapping values are not allowed")
        || info.contains("did not find expected key")
    {
        Some("check the indentation, and quote values that contain \": \" or start with { or [ (e.g. \"{{.var}}\")".to_string())
    } else if info.contains("tab") {
        Some("indent with spaces, not tabs".to_string())
    } else {
        None
    };
    Problem {
        pos: Pos {
            line: marker.line(),
            column: marker.col() + 1,
        },
        message,
        hint,
        warning: false,
    }
}

/// Fails the parse with a custom message (used for limits).
struct Fatal(Problem);

impl From<ScanError> for Fatal {
    fn from(e: ScanError) -> Self {
        Fatal(syntax_problem(&e))
    }
}

struct Builder<'a> {
    src: &'a str,
    parser: Parser<'a, granit_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    problems: Vec<Problem>,
    alias_nodes: usize,
    /// Bytes copied so far by anchors and aliases (see [`MAX_ALIAS_BYTES`]).
    alias_bytes: usize,
}

type Ev<'a> = (Event<'a>, Span);

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<Option<Ev<'a>>, ScanError> {
        self.parser.next_event().transpose()
    }

    fn stream(&mut self) -> Result<Option<Node>, Fatal> {
        let mut root = None;
        let mut documents = 0usize;
        while let Some((event, span)) = self.next()? {
            match event {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::StreamEnd => break,
                Event::DocumentStart(..) => {
                    documents += 1;
                    let node = self.document()?;
                    if documents == 1 {
                        root = node;
                    } else if node.as_ref().is_some_and(|n| !n.is_null()) {
                        self.problems.push(Problem {
                            pos: Pos::from_span(&span),
                            message: "a second YAML document (after ---) is ignored; only the first one is read".to_string(),
                            hint: Some("remove the extra `---` line or move the content into the first document".to_string()),
                            warning: true,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(root)
    }

    /// Reads one document's root node (events up to, not including, DocumentEnd).
    fn document(&mut self) -> Result<Option<Node>, Fatal> {
        let mut root = None;
        loop {
            let Some((event, span)) = self.next()? else {
                return Ok(root);
            };
            match event {
                Event::DocumentEnd | Event::StreamEnd => return Ok(root),
                other => {
                    if root.is_none() {
                        root = Some(self.node(other, span)?);
                    }
                }
            }
        }
    }

    /// Application tags (`!env X`) mean nothing here: say so rather than ignore them silently.
    fn check_tag(&mut self, tag: Option<&Tag>, pos: Pos) {
        if let Some(tag) = tag
            && tag.core_suffix().is_none()
        {
            let text = tag.original();
            if text != "!" {
                self.problems.push(Problem {
                    pos,
                    message: format!("YAML tag {text} is ignored"),
                    hint: Some("remove the tag; apirun gives tags no meaning".to_string()),
                    warning: true,
                });
            }
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Node, Fatal> {
        let pos = Pos::from_span(&span);
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.check_tag(tag.as_deref(), pos);
                let core = tag
                    .as_ref()
                    .and_then(|t| t.core_suffix().map(str::to_string));
                let quoted = style != ScalarStyle::Plain || core.as_deref() == Some("str");
                let is_null = core.as_deref() == Some("null")
                    || (!quoted && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL"));
                let value = if is_null {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        quoted,
                    }
                };
                (Node { pos, value }, anchor)
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.check_tag(tag.as_deref(), pos);
                let mut items = Vec::new();
                while let Some((ev, sp)) = self.next()? {
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, sp)?);
                }
                (
                    Node {
                        pos,
                        value: Value::Seq(items),
                    },
                    anchor,
                )
            }
            Event::MappingStart(_, anchor, tag) => {
                self.check_tag(tag.as_deref(), pos);
                (self.mapping(pos, span.start.byte_offset())?, anchor)
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(Fatal(Problem {
                        pos,
                        message: "alias refers to an unknown anchor".to_string(),
                        hint: None,
                        warning: false,
                    }));
                };
                self.alias_nodes += count_nodes(target);
                self.alias_bytes = self.alias_bytes.saturating_add(count_bytes(target));
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    return Err(Fatal(Problem {
                        pos,
                        message: format!(
                            "aliases expand to more than {} MiB of text",
                            MAX_ALIAS_BYTES >> 20
                        ),
                        hint: Some(
                            "reduce the use of anchors and aliases to large values".to_string(),
                        ),
                        warning: false,
                    }));
                }
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(Fatal(Problem {
                        pos,
                        message: format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                        hint: Some("reduce the use of anchors and aliases".to_string()),
                        warning: false,
                    }));
                }
                let mut copy = target.clone();
                copy.pos = pos;
                (copy, 0)
            }
            _ => (
                Node {
                    pos,
                    value: Value::Null,
                },
                0,
            ),
        };
        if anchor != 0 {
            // Storing the anchor copies the node too (nested anchors copy it once per level).
            self.alias_bytes = self.alias_bytes.saturating_add(count_bytes(&node));
            if self.alias_bytes > MAX_ALIAS_BYTES {
                return Err(Fatal(Problem {
                    pos,
                    message: format!(
                        "anchors and aliases copy more than {} MiB of text",
                        MAX_ALIAS_BYTES >> 20
                    ),
                    hint: Some("reduce the use of anchors on large values".to_string()),
                    warning: false,
                }));
            }
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn mapping(&mut self, pos: Pos, start: Option<usize>) -> Result<Node, Fatal> {
        // (key, value, is_merge)
        let mut raw: Vec<(Option<Key>, Node, bool)> = Vec::new();
        let mut end = None;
        let mut bad_key: Option<Pos> = None;
        while let Some((ev, sp)) = self.next()? {
            if matches!(ev, Event::MappingEnd) {
                end = sp.end.byte_offset();
                break;
            }
            let key_node = self.node(ev, sp)?;
            let Some((vev, vsp)) = self.next()? else {
                break;
            };
            let value = self.node(vev, vsp)?;
            match key_node.value {
                Value::Scalar { text, quoted } => {
                    let is_merge = !quoted && text == "<<";
                    raw.push((
                        Some(Key {
                            text,
                            pos: key_node.pos,
                        }),
                        value,
                        is_merge,
                    ));
                }
                Value::Null => raw.push((
                    Some(Key {
                        text: String::new(),
                        pos: key_node.pos,
                    }),
                    value,
                    false,
                )),
                _ => bad_key = bad_key.or(Some(key_node.pos)),
            }
        }

        if let Some(key_pos) = bad_key {
            // Almost always an unquoted template: `value: {{.x}}` is a YAML mapping whose
            // key is a mapping. Report it once and stand in the source text as a scalar, so
            // that decoding does not pile up follow-on errors.
            let text = match (start, end) {
                (Some(s), Some(e)) if s < e => self.src.get(s..e).unwrap_or(""),
                _ => "",
            };
            let text = text.trim().to_string();
            if text.starts_with("{{") {
                self.problems.push(Problem {
                    pos,
                    message: format!(
                        "unquoted template {text}: YAML reads a value starting with {{ as a mapping"
                    ),
                    hint: Some(format!("quote it: \"{text}\"")),
                    warning: false,
                });
            } else {
                self.problems.push(Problem {
                    pos: key_pos,
                    message: "a mapping key must be a plain name, found a list or mapping"
                        .to_string(),
                    hint: Some("quote the text if it is meant as a value".to_string()),
                    warning: false,
                });
            }
            return Ok(Node {
                pos,
                value: Value::Scalar { text, quoted: true },
            });
        }

        // Duplicate explicit keys.
        let mut seen: HashMap<String, Pos> = HashMap::new();
        let mut explicit: HashSet<String> = HashSet::new();
        for (key, _, is_merge) in &raw {
            let Some(key) = key else { continue };
            if *is_merge {
                continue;
            }
            if let Some(first) = seen.get(&key.text) {
                self.problems.push(Problem {
                    pos: key.pos,
                    message: format!(
                        "duplicate key \"{}\" (first defined at line {})",
                        key.text, first.line
                    ),
                    hint: Some("remove one of them".to_string()),
                    warning: false,
                });
            } else {
                seen.insert(key.text.clone(), key.pos);
                explicit.insert(key.text.clone());
            }
        }

        // Build the final entries, splicing merged mappings in at the `<<` position.
        let mut entries: Vec<(Key, Node)> = Vec::new();
        let mut added: HashSet<String> = HashSet::new();
        for (key, value, is_merge) in raw {
            let Some(key) = key else { continue };
            if is_merge {
                let sources: Vec<Node> = match value.value {
                    Value::Map(_) => vec![value],
                    Value::Seq(items) => items,
                    Value::Null => Vec::new(),
                    _ => {
                        self.problems.push(Problem {
                            pos: value.pos,
                            message: "a merge key (<<) needs a mapping or a list of mappings"
                                .to_string(),
                            hint: None,
                            warning: false,
                        });
                        Vec::new()
                    }
                };
                for source in sources {
                    match source.value {
                        Value::Map(items) => {
                            for (k, v) in items {
                                if !explicit.contains(&k.text) && added.insert(k.text.clone()) {
                                    entries.push((k, v));
                                }
                            }
                        }
                        _ => self.problems.push(Problem {
                            pos: source.pos,
                            message: "a merge key (<<) needs a mapping or a list of mappings"
                                .to_string(),
                            hint: None,
                            warning: false,
                        }),
                    }
                }
            } else if added.insert(key.text.clone()) {
                entries.push((key, value));
            }
        }
        Ok(Node {
            pos,
            value: Value::Map(entries),
        })
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(items) => items.iter().map(|(_, v)| 1 + count_nodes(v)).sum(),
        _ => 0,
    }
}

/// The text a node holds (scalars and keys), in bytes: what copying it costs.
fn count_bytes(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { text, .. } => text.len(),
        Value::Seq(items) => items.iter().map(count_bytes).fold(0, usize::saturating_add),
        Value::Map(items) => items
            .iter()
            .map(|(k, v)| k.text.len().saturating_add(count_bytes(v)))
            .fold(0, usize::saturating_add),
        Value::Null => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(src: &str) -> Node {
        let p = parse(src);
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        p.root.expect("a document")
    }

    fn map(n: &Node) -> &[(Key, Node)] {
        match &n.value {
            Value::Map(m) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_their_text_and_position() {
        let n = root("a: 1.10\nb: \"x\"\nc:\nd: ~\ne: 0x1F\n");
        let m = map(&n);
        assert_eq!(
            m[0].1.value,
            Value::Scalar {
                text: "1.10".into(),
                quoted: false
            }
        );
        assert_eq!(m[0].1.pos, Pos { line: 1, column: 4 });
        assert_eq!(m[1].0.pos, Pos { line: 2, column: 1 });
        assert_eq!(
            m[1].1.value,
            Value::Scalar {
                text: "x".into(),
                quoted: true
            }
        );
        assert_eq!(m[2].1.value, Value::Null);
        assert_eq!(m[3].1.value, Value::Null);
        assert_eq!(
            m[4].1.value,
            Value::Scalar {
                text: "0x1F".into(),
                quoted: false
            }
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let p = parse("a: b\n  c: [1, 2\nd: e\n");
        assert!(p.root.is_none());
        assert_eq!(p.problems.len(), 1);
        assert!(p.problems[0].message.starts_with("invalid YAML"));
        assert!(p.problems[0].pos.line >= 2);
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let p = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(p.problems.len(), 1);
        assert!(p.problems[0].message.contains("duplicate key \"a\""));
        assert_eq!(p.problems[0].pos.line, 3);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = root("base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  y: 3\n  z: 4\nlist: [*b]\n");
        let m = map(&n);
        let other = map(&m[1].1);
        let keys: Vec<&str> = other.iter().map(|(k, _)| k.text.as_str()).collect();
        assert_eq!(keys, ["x", "y", "z"]);
        assert_eq!(
            other[1].1.value,
            Value::Scalar {
                text: "3".into(),
                quoted: false
            }
        );
        match &m[2].1.value {
            Value::Seq(items) => assert_eq!(map(&items[0]).len(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_and_multi_document_files() {
        let p = parse("");
        assert!(p.root.is_none() && p.problems.is_empty());
        let p = parse("# only a comment\n");
        assert!(p.problems.is_empty());
        assert!(p.root.as_ref().is_none_or(Node::is_null));
        let p = parse("---\na: 1\n---\nb: 2\n");
        assert_eq!(p.problems.len(), 1);
        assert!(p.problems[0].warning);
        let p = parse("---\na: 1\n");
        assert!(p.problems.is_empty());
    }

    #[test]
    fn application_tags_warn() {
        let p = parse("a: !env HOME\nb: !!str 3\nc: !!int 4\n");
        assert_eq!(p.problems.len(), 1, "{:?}", p.problems);
        assert!(p.problems[0].warning);
        assert!(p.problems[0].message.contains("!env"));
        let m = p.root.expect("root");
        let Value::Map(entries) = &m.value else {
            panic!("not a map")
        };
        assert_eq!(
            entries[1].1.value,
            Value::Scalar {
                text: "3".into(),
                quoted: true
            }
        );
    }

    #[test]
    fn alias_bomb_is_stopped() {
        let mut src = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in ['b', 'c', 'd', 'e', 'f', 'g'] {
            src.push_str(&format!(
                "{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = name;
        }
        let p = parse(&src);
        assert!(p.root.is_none());
        assert!(p.problems[0].message.contains("aliases expand"));
    }

    /// One big scalar referenced many times: few nodes, many bytes.
    #[test]
    fn alias_bomb_of_one_large_string_is_stopped() {
        let big = "x".repeat(1 << 20);
        let mut src = format!("big: &s \"{big}\"\nlist:\n");
        for _ in 0..100 {
            src.push_str("  - *s\n");
        }
        let p = parse(&src);
        assert!(p.root.is_none());
        assert!(
            p.problems[0].message.contains("MiB of text"),
            "{:?}",
            p.problems
        );
        assert_eq!(p.problems[0].pos.line, 18, "{:?}", p.problems);
        // A few copies stay well under the limit.
        let ok = format!("big: &s \"{big}\"\nlist: [*s, *s]\n");
        assert!(parse(&ok).problems.is_empty());
    }
}
