use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use apirun_demo_api::{Config, Server, write_atomic};
use clap::Parser;

/// Small in-memory HTTP API for apirun's end-to-end tests and multi-stage example.
#[derive(Debug, Parser)]
#[command(name = "apirun-demo-api", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    listen: SocketAddr,

    /// Once listening, write the base URL (http://IP:PORT) to this file atomically.
    #[arg(long, value_name = "PATH")]
    port_file: Option<PathBuf>,

    /// Accept these Basic credentials (repeatable). With any --basic or
    /// --bearer, every non-admin request must carry one of them.
    #[arg(long, value_name = "USER:PASS", value_parser = parse_basic)]
    basic: Vec<(String, String)>,

    /// Accept this Bearer token (repeatable).
    #[arg(long, value_name = "TOKEN")]
    bearer: Vec<String>,

    /// Persist stored resources to this JSON file on every change; loaded at start.
    #[arg(long, value_name = "PATH")]
    state_file: Option<PathBuf>,
}

fn parse_basic(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, pass)) if !user.is_empty() => Ok((user.to_owned(), pass.to_owned())),
        _ => Err("expected USER:PASS".to_owned()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let signals = Signals::install();
    let config = Config {
        listen: cli.listen,
        basic: cli.basic,
        bearer: cli.bearer,
        state_file: cli.state_file,
    };
    let server = match Server::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("apirun-demo-api: cannot start on {}: {e}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &cli.port_file
        && let Err(e) = write_atomic(path, server.base_url().as_bytes())
    {
        eprintln!(
            "apirun-demo-api: cannot write port file {}: {e}",
            path.display()
        );
        server.shutdown().await;
        return ExitCode::FAILURE;
    }
    // After the port file, so that a reader of either finds both ready.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on {}", server.base_url());
    let _ = out.flush();
    drop(out);
    signals.wait().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// SIGTERM and SIGINT handlers, installed before the server announces itself
/// so that a signal sent right after the "listening on" line is caught.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        {
            async fn recv(sig: Option<tokio::signal::unix::Signal>) {
                match sig {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = recv(self.term) => {}
                _ = recv(self.int) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_flag_parsing() {
        assert_eq!(
            parse_basic("admin:se:cret"),
            Ok(("admin".to_owned(), "se:cret".to_owned()))
        );
        assert_eq!(
            parse_basic("admin:"),
            Ok(("admin".to_owned(), String::new()))
        );
        assert!(parse_basic("admin").is_err());
        assert!(parse_basic(":pw").is_err());
    }

    #[test]
    fn cli_defaults_and_repeats() {
        let cli = Cli::try_parse_from([
            "apirun-demo-api",
            "--basic",
            "a:1",
            "--basic",
            "b:2",
            "--bearer",
            "t",
        ])
        .unwrap();
        assert_eq!(cli.listen.to_string(), "127.0.0.1:0");
        assert_eq!(cli.basic.len(), 2);
        assert_eq!(cli.bearer, vec!["t".to_owned()]);
        assert!(cli.port_file.is_none() && cli.state_file.is_none());
    }
}
