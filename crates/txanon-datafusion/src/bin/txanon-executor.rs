//! `txanon-executor`: Ballista's executor with txanon's UDFs registered
//! under this machine's own key.
//!
//! The key comes from `--key-file` or `TXANON_KEY` on this machine, never
//! from the scheduler or a plan. A task whose plan names another key's
//! fingerprint fails on this executor without computing a token.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use clap::Parser;
use txanon::key::MasterKey;
use txanon_datafusion::udf::{KeyRing, Udfs};

/// Ballista executor for txanon jobs (loads its own key).
#[derive(Debug, Parser)]
#[command(name = "txanon-executor", version, max_term_width = 100)]
struct Args {
    /// File holding the key as hex text; without it, TXANON_KEY is read.
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// Scheduler host.
    #[arg(long, default_value = "127.0.0.1")]
    scheduler_host: String,
    /// Scheduler port.
    #[arg(long, default_value_t = 50050)]
    scheduler_port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind_host: String,
    /// Host name the scheduler and clients use to reach this executor.
    #[arg(long)]
    external_host: Option<String>,
    /// Arrow Flight port (results and shuffle data).
    #[arg(long, default_value_t = 50051)]
    port: u16,
    /// gRPC port (tasks).
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// Tasks run at once [default: number of CPUs].
    #[arg(long)]
    concurrent_tasks: Option<usize>,
    /// Directory for intermediate results [default: a temporary directory].
    #[arg(long, value_name = "DIR")]
    work_dir: Option<String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    txanon_datafusion::init_logging();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("txanon-executor: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (key, source) = MasterKey::load(args.key_file.as_deref())?;
    if let Some(w) = source.warning() {
        log::warn!("{w}");
    }
    if key.is_demo() {
        log::warn!("using the published demo key: its tokens protect nothing");
    }
    let keys = KeyRing::new(key);
    log::info!(
        "txanon-executor: key from {source}, fingerprint {}",
        keys.fingerprint()
    );
    let udfs = Udfs::new(keys);
    let mut registry = BallistaFunctionRegistry::default();
    for u in udfs.all() {
        registry
            .scalar_functions
            .insert(u.name().to_string(), u.clone());
    }
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: args.bind_host,
        external_host: args.external_host,
        port: args.port,
        grpc_port: args.grpc_port,
        scheduler_host: args.scheduler_host,
        scheduler_port: args.scheduler_port,
        vcores: args.concurrent_tasks.unwrap_or(defaults.vcores).max(1),
        work_dir: args.work_dir,
        override_function_registry: Some(Arc::new(registry)),
        ..defaults
    };
    start_executor_process(Arc::new(config))
        .await
        .context("executor stopped")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// No argument of this binary (enumerated from its clap definition) can
    /// carry the key: only --key-file PATH or TXANON_KEY.
    #[test]
    fn there_is_no_key_flag() {
        txanon::cli::assert_no_key_flag(&<super::Args as clap::CommandFactory>::command());
    }
}
