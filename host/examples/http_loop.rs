//! The floor `scripts/bench.sh` compares apirun with: a plain sequential
//! HTTP loop (reqwest, one keep-alive connection) sending the same POSTs as
//! the benchmark's migrations, each answer checked for its status and its
//! JSON body parsed for `id` (what a migration's extraction does), with no
//! state kept. Prints the elapsed wall time in milliseconds.
//!
//! Usage: `http_loop URL N`

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: http_loop URL N");
        return ExitCode::from(2);
    };
    let client = reqwest::blocking::Client::new();
    let started = Instant::now();
    for i in 1..=n {
        let response = client
            .post(url)
            .header("content-type", "application/json")
            .body(format!("{{\"n\": {i}}}"))
            .send();
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                eprintln!("request {i}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let status = response.status().as_u16();
        let body = response.bytes().unwrap_or_default();
        let id = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("id").cloned());
        if status != 201 || id.is_none() {
            eprintln!("request {i}: status {status}, no `id` in the body");
            return ExitCode::FAILURE;
        }
    }
    println!("{:.1}", started.elapsed().as_secs_f64() * 1000.0);
    ExitCode::SUCCESS
}
