//! Plugin runtime benchmark (not a test; prints figures, asserts nothing).
//!
//! `cargo bench -p apirun --bench plugins` (release). Prints:
//! - cold compile time per built-in plugin (fresh cache dir);
//! - cached load time per built-in (disk cache -> a new runtime) and the total
//!   for all built-ins (target < 5 ms);
//! - the per-call cost of instantiate+call per built-in, median over many
//!   calls (target < 100 µs);
//! - a request through the http plugin vs the same request sent directly with
//!   reqwest to the same local demo API (median of each, ratio; target 1.2x).
//!
//! Environment: `APIRUN_BENCH_CALLS` (default 2000) calls per measurement.
//! Per-call figures are measured twice, with the on-demand and the pooling
//! instance allocator (the runtime's default), under the same machine load.

use std::time::{Duration, Instant};

use apirun::plugin::{
    AllowedHosts, BUILTINS, HostServices, HttpStepRequest, LoadSource, Plugin, PluginKind,
    PluginResponse, PluginRuntime, RuntimeOptions, StepSpec,
};
use apirun::transport::{ClientSettings, HttpClient};
use apirun_demo_api::{BackgroundServer, Config as ApiConfig};
use serde_json::{Value, json};

const CACHED_LOAD_ROUNDS: usize = 30;
const WARMUP: usize = 100;

fn main() {
    // `cargo bench` passes --bench; run any other way (`cargo test
    // --all-targets`) this is a quick smoke run, not a measurement.
    let benching = std::env::args().any(|a| a == "--bench");
    let calls: usize = std::env::var("APIRUN_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 2000 } else { 20 });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cache = tempfile::tempdir().expect("temp cache dir");
    let options = || RuntimeOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..RuntimeOptions::default()
    };

    println!("apirun plugin benchmark ({calls} calls per per-call figure, medians)");
    println!();

    // ---------------------------------------------------------------- cold compile
    println!("cold compile (fresh cache dir, Cranelift, artifact written):");
    let started = Instant::now();
    let runtime = PluginRuntime::new(options()).expect("runtime");
    println!("  {:<12} {:>10}", "engine+linker", fmt(started.elapsed()));
    let mut cold_total = Duration::ZERO;
    for builtin in BUILTINS {
        let started = Instant::now();
        let loaded = runtime.load_builtin(builtin).expect("built-in compiles");
        let took = started.elapsed();
        assert_eq!(loaded.source(), LoadSource::Compiled);
        cold_total += took;
        println!(
            "  {:<12} {:>10}   ({} KiB wasm)",
            builtin.name,
            fmt(took),
            builtin.wasm.len() / 1024
        );
    }
    println!("  {:<12} {:>10}", "all", fmt(cold_total));
    drop(runtime);
    println!();

    // ---------------------------------------------------------------- cached load
    let mut per_builtin: Vec<Vec<Duration>> = vec![Vec::new(); BUILTINS.len()];
    let mut totals = Vec::new();
    let mut runtime_new = Vec::new();
    for _ in 0..CACHED_LOAD_ROUNDS {
        let started = Instant::now();
        let runtime = PluginRuntime::new(options()).expect("runtime");
        runtime_new.push(started.elapsed());
        let mut total = Duration::ZERO;
        for (i, builtin) in BUILTINS.iter().enumerate() {
            let started = Instant::now();
            let loaded = runtime.load_builtin(builtin).expect("built-in loads");
            let took = started.elapsed();
            assert_eq!(loaded.source(), LoadSource::DiskCache);
            per_builtin[i].push(took);
            total += took;
        }
        totals.push(total);
    }
    println!("cached load (disk cache -> new runtime; median of {CACHED_LOAD_ROUNDS} runtimes):");
    println!(
        "  {:<12} {:>10}",
        "engine+linker",
        fmt(median(&mut runtime_new))
    );
    for (builtin, samples) in BUILTINS.iter().zip(per_builtin.iter_mut()) {
        println!("  {:<12} {:>10}", builtin.name, fmt(median(samples)));
    }
    println!(
        "  {:<12} {:>10}   (target < 5 ms)",
        "all built-ins",
        fmt(median(&mut totals))
    );
    println!();

    // ---------------------------------------------------------------- per call
    let api = BackgroundServer::start(ApiConfig::default()).expect("demo API");
    let base = api.base_url().to_string();
    // Both instance allocators, so the pooling allocator's effect is
    // measured under the same machine load (pooling is the default).
    for (label, pooling) in [("on-demand", false), ("pooling", true)] {
        per_call(&rt, cache.path(), &base, calls, label, pooling);
        println!();
    }
    drop(api);
}

/// Instantiate+call per built-in, and the http plugin vs direct reqwest.
fn per_call(
    rt: &tokio::runtime::Runtime,
    cache_dir: &std::path::Path,
    base: &str,
    calls: usize,
    label: &str,
    pooling: bool,
) {
    let runtime = PluginRuntime::new(RuntimeOptions {
        cache_dir: Some(cache_dir.to_path_buf()),
        pooling,
        ..RuntimeOptions::default()
    })
    .expect("runtime");
    let http_client = HttpClient::new(ClientSettings::default()).expect("client");
    let bind = |name: &str, kind: PluginKind| -> Plugin {
        let builtin = BUILTINS
            .iter()
            .find(|b| b.name == name && b.kind == kind)
            .expect("built-in");
        let component = runtime.load_builtin(builtin).expect("loads");
        Plugin::new(
            runtime.clone(),
            component,
            kind,
            HostServices {
                plugin_name: name.to_string(),
                http: http_client.clone(),
                allowed_hosts: AllowedHosts::Any,
            },
            &Value::Null,
        )
        .expect("binds")
    };

    println!("instantiate + call (fresh store and instance per call), {label} allocator:");
    let basic = bind("basic", PluginKind::Auth);
    let basic_config = json!({"username": "admin", "password": "secret"});
    let mut samples = measure(rt, calls, || async {
        basic.acquire(&basic_config).await.expect("acquire");
    });
    println!(
        "  {:<28} {:>10}   (target < 100 µs)",
        "basic acquire",
        fmt(median(&mut samples))
    );

    let gjson = bind("gjson", PluginKind::Extractor);
    let response = PluginResponse {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: br#"{"id":42,"name":"demo","items":[{"role":"user","name":"a"},{"role":"admin","name":"b"}]}"#
            .to_vec(),
        attempts: 1,
    };
    let gjson_paths: Vec<String> = ["id", "name", r#"items.#(role=="admin").name"#]
        .iter()
        .map(|p| p.to_string())
        .collect();
    let mut samples = measure(rt, calls, || async {
        gjson
            .extract(&response, &gjson_paths)
            .await
            .expect("extract");
    });
    println!(
        "  {:<28} {:>10}   (target < 100 µs)",
        "gjson extract (3 paths)",
        fmt(median(&mut samples))
    );

    let header = bind("header", PluginKind::Extractor);
    let header_paths = vec!["content-type".to_string()];
    let mut samples = measure(rt, calls, || async {
        header
            .extract(&response, &header_paths)
            .await
            .expect("extract");
    });
    println!(
        "  {:<28} {:>10}",
        "header extract",
        fmt(median(&mut samples))
    );

    let regex = bind("regex", PluginKind::Extractor);
    let regex_paths = vec![r#""name":"([^"]+)""#.to_string()];
    let mut samples = measure(rt, calls, || async {
        regex
            .extract(&response, &regex_paths)
            .await
            .expect("extract");
    });
    println!(
        "  {:<28} {:>10}",
        "regex extract",
        fmt(median(&mut samples))
    );

    // The http component's own instantiate+call, without network: a spec it
    // rejects (unknown method) after parsing it.
    let http = bind("http", PluginKind::Step);
    let rejected = StepSpec::Http(HttpStepRequest {
        method: "FETCH".into(),
        url: format!("{base}/api/bench"),
        ..HttpStepRequest::default()
    });
    let mut samples = measure(rt, calls, || async {
        http.run_step(&rejected, &[])
            .await
            .expect_err("rejected spec");
    });
    println!(
        "  {:<28} {:>10}   (target < 100 µs)",
        "http step (no request sent)",
        fmt(median(&mut samples))
    );

    // ---------------------------------------------------------------- http vs reqwest
    // The same GET, interleaved so both see the same server and machine state.
    let url = format!("{base}/api/bench");
    let spec = StepSpec::Http(HttpStepRequest {
        method: "GET".into(),
        url: url.clone(),
        headers: vec![("Accept".into(), "application/json".into())],
        ..HttpStepRequest::default()
    });
    let direct = reqwest::Client::new();
    let mut via_plugin = Vec::with_capacity(calls);
    let mut via_reqwest = Vec::with_capacity(calls);
    let mut via_transport = Vec::with_capacity(calls);
    let outbound = apirun::transport::Request {
        method: "GET".into(),
        url: url.clone(),
        headers: vec![("Accept".into(), "application/json".into())],
        ..apirun::transport::Request::default()
    };
    rt.block_on(async {
        for i in 0..(calls + WARMUP) {
            let started = Instant::now();
            let outcome = http.run_step(&spec, &[]).await.expect("http step");
            let plugin_took = started.elapsed();
            assert_eq!(outcome.response.expect("response").status, 200);

            let started = Instant::now();
            let response = direct
                .get(&url)
                .header("Accept", "application/json")
                .send()
                .await
                .expect("direct send");
            let status = response.status().as_u16();
            let _body = response.bytes().await.expect("direct body");
            let direct_took = started.elapsed();
            assert_eq!(status, 200);

            // apirun's transport without the plugin: splits the overhead
            // between the wasm call and the host's HTTP layer.
            let started = Instant::now();
            let response = http_client.send(&outbound).await.expect("transport send");
            let transport_took = started.elapsed();
            assert_eq!(response.status, 200);
            if i >= WARMUP {
                via_plugin.push(plugin_took);
                via_reqwest.push(direct_took);
                via_transport.push(transport_took);
            }
        }
    });
    let plugin_median = median(&mut via_plugin);
    let direct_median = median(&mut via_reqwest);
    println!(
        "  {:<28} {:>10}   (includes the HTTP round trip)",
        "http step (GET, loopback)",
        fmt(plugin_median)
    );
    println!();
    println!(
        "http plugin send vs direct reqwest (GET {base}/api/bench, loopback), {label} allocator:"
    );
    println!("  {:<28} {:>10}", "direct reqwest", fmt(direct_median));
    println!(
        "  {:<28} {:>10}",
        "apirun transport (no wasm)",
        fmt(median(&mut via_transport))
    );
    println!("  {:<28} {:>10}", "through http plugin", fmt(plugin_median));
    println!(
        "  {:<28} {:>10}",
        "plugin overhead",
        fmt(plugin_median.saturating_sub(direct_median))
    );
    println!(
        "  {:<28} {:>9.2}x   (target <= 1.2x)",
        "ratio",
        plugin_median.as_secs_f64() / direct_median.as_secs_f64()
    );
}

/// Run `call` WARMUP + `calls` times; the durations of the last `calls`.
fn measure<F, Fut>(rt: &tokio::runtime::Runtime, calls: usize, mut call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        let mut samples = Vec::with_capacity(calls);
        for i in 0..(calls + WARMUP) {
            let started = Instant::now();
            call().await;
            let took = started.elapsed();
            if i >= WARMUP {
                samples.push(took);
            }
        }
        samples
    })
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn fmt(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.1} µs")
    } else if micros < 1e6 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}
