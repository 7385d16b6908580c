//! Fuzz-style tests, run in CI with a fixed seed and case count: random and
//! mutated templates and YAML documents must give `Ok` or `Err`, never a
//! panic, and every render ends within the step budget (asserted through
//! the budget, not the clock). `fastrand` with a fixed seed rather than
//! `proptest`: it is already a dependency, and a failing case prints its
//! seed and input, which is all a rerun needs.

use super::{Context, Limits, Template, Value};
use crate::config::yaml;

/// Template pieces, hostile ones included.
const PIECES: [&str; 40] = [
    "{{",
    "}}",
    "{{- ",
    " -}}",
    "{{/*",
    "*/}}",
    " ",
    ".a",
    ".auth.t",
    ".env.a",
    "$",
    "$x",
    "$x := ",
    "$x = ",
    "|",
    "(",
    ")",
    "if",
    "else",
    "end",
    "range",
    "with",
    "break",
    "printf",
    "\"%.70000f\"",
    "\"%0999999999d\"",
    "\"%s%s\"",
    "print",
    "replace",
    "\"\"",
    "index",
    "add",
    "mul",
    "div",
    "9223372036854775807",
    "-1",
    "1000000000",
    "\"é\"",
    "\n",
    "default",
];

/// Whole templates known to be hostile, mutated below.
const SEEDS: [&str; 8] = [
    "{{range 1000000000}}x{{end}}",
    "{{printf \"%.70000f\" 1.0}}",
    "{{$a := .a}}{{range 64}}{{$a = print $a $a}}{{end}}{{$a}}",
    "{{range $i := mul 100000 100000}}{{$i}}{{end}}",
    "{{(((((((((.a)))))))))}}",
    "{{index .l 99999999999}}{{len .a}}{{add 9223372036854775807 1}}",
    "{{replace \"\" .a .a}}{{printf \"%x%q%X\" .a .a -9223372036854775808}}",
    "{{with .m}}{{range $k, $v := .}}{{$k}}{{$v}}{{end}}{{end}}",
];

fn ctx() -> Context<'static> {
    let mut c = Context::default();
    c.vars.insert("a".into(), Value::from("abc%d{{"));
    c.vars.insert(
        "l".into(),
        Value::from(serde_json::json!([1, "x", null, [2.5]])),
    );
    c.vars.insert(
        "m".into(),
        Value::from(serde_json::json!({"k": {"z": true}})),
    );
    c.auth.insert("t".into(), "tok".into());
    c
}

/// Replaces, inserts or deletes a few random bytes (kept valid UTF-8).
fn mutate(rng: &mut fastrand::Rng, src: &str) -> String {
    let mut s: Vec<char> = src.chars().collect();
    for _ in 0..rng.usize(1..4) {
        let at = rng.usize(0..=s.len());
        match rng.u8(0..3) {
            0 if at < s.len() => {
                s.remove(at);
            }
            1 => s.insert(
                at,
                rng.choice([
                    '{', '}', '(', ')', '|', '.', '$', '"', '%', '-', '0', '9', ' ',
                ])
                .unwrap_or('x'),
            ),
            _ => {
                let piece: Vec<char> = rng.choice(PIECES).unwrap_or("").chars().collect();
                s.splice(at..at, piece);
            }
        }
    }
    s.into_iter().collect()
}

#[test]
fn templates_never_panic_and_stay_in_budget() {
    let c = ctx();
    let limits = Limits {
        max_output_bytes: 1 << 16,
        max_steps: 20_000,
    };
    let mut rng = fastrand::Rng::with_seed(0x5eed_7e47);
    for case in 0..6000 {
        let src = if case % 2 == 0 {
            let n = rng.usize(1..30);
            (0..n).map(|_| rng.choice(PIECES).unwrap_or("")).collect()
        } else {
            let seed = rng.choice(SEEDS).unwrap_or("");
            mutate(&mut rng, seed)
        };
        if let Ok(t) = Template::parse(&src) {
            let _ = t.references();
            if let Ok(out) = t.render_with(&c, &limits) {
                assert!(out.len() <= limits.max_output_bytes, "case {case}: {src:?}");
            }
        }
    }
}

/// YAML pieces: anchors, aliases, merge keys, flow and block collections.
const YAML_PIECES: [&str; 24] = [
    "a: ",
    "- ",
    "  ",
    "\n",
    "&x ",
    "*x",
    "<<: ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "\"q\"",
    "'s'",
    "|\n  t",
    "~",
    "!!str ",
    "!e ",
    "---\n",
    "? ",
    ": ",
    "#c",
    "&y [*x, *x, *x, *x]",
    "\t",
];

#[test]
fn yaml_loader_never_panics() {
    let mut rng = fastrand::Rng::with_seed(0x7a41_0001);
    let base = "env:\n  - name: a\n    value: &v \"{{.x}}\"\n  - name: b\n    value: *v\nup:\n  request: {method: GET, url: u}\n";
    for case in 0..4000 {
        let src: String = if case % 2 == 0 {
            let n = rng.usize(1..40);
            (0..n)
                .map(|_| rng.choice(YAML_PIECES).unwrap_or(""))
                .collect()
        } else {
            let mut s: Vec<char> = base.chars().collect();
            for _ in 0..rng.usize(1..5) {
                let at = rng.usize(0..=s.len());
                let piece: Vec<char> = rng.choice(YAML_PIECES).unwrap_or("").chars().collect();
                s.splice(at..at, piece);
            }
            s.into_iter().collect()
        };
        // Only the absence of a panic is checked: any input is Ok or a problem.
        let _ = yaml::parse(&src);
    }
    // Deep nesting is refused by the parser, not by a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(yaml::parse(&deep).root.is_none());
}
