//! Diagnostic values and unreadable files.

use std::fs;

use super::super::*;
use super::*;

#[test]
fn diagnostic_display() {
    let d = Diagnostic::error("m/001_x.yaml", "unknown method \"FETCH\"")
        .at(12, 5)
        .field("up.request.method")
        .hint("use one of GET, POST");
    assert_eq!(
        d.to_string(),
        "m/001_x.yaml:12:5: up.request.method: unknown method \"FETCH\"; use one of GET, POST"
    );
    let w = Diagnostic::warning("c.yaml", "careful");
    assert_eq!(w.to_string(), "c.yaml: warning: careful");
    let all = Diagnostics(vec![d, w]);
    assert_eq!(all.to_string().lines().count(), 2);
    assert!(all.has_errors());
    let as_error: &dyn std::error::Error = &all;
    assert!(as_error.to_string().contains("FETCH"));
}

#[test]
fn unreadable_files() {
    let dir = tmp();
    let d = errs(load_stage_config(&dir.path().join("nope.yaml")));
    find(&d, "cannot read the file");
    let p = dir.path().join("bin.yaml");
    fs::write(&p, [0x66u8, 0xff, 0xfe]).expect("write");
    let d = errs(load_stage_config(&p));
    find(&d, "not valid UTF-8");
}
