//! `txanon-scheduler`: Ballista's scheduler with txanon's UDFs registered.
//!
//! The scheduler plans jobs but never evaluates a txanon UDF, so it holds no
//! key: its UDFs know only how to type a column from its spec, and refuse to
//! compute.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use clap::Parser;
use datafusion::execution::FunctionRegistry;
use txanon_datafusion::udf::{KeyRing, Udfs};

/// Ballista scheduler for txanon jobs (holds no key).
#[derive(Debug, Parser)]
#[command(name = "txanon-scheduler", version, max_term_width = 100)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind_host: String,
    /// Host name executors and clients use to reach this scheduler.
    #[arg(long, default_value = "127.0.0.1")]
    external_host: String,
    /// gRPC port.
    #[arg(long, default_value_t = 50050)]
    port: u16,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    txanon_datafusion::init_logging();
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("txanon-scheduler: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let addr: SocketAddr = format!("{}:{}", args.bind_host, args.port)
        .parse()
        .context("invalid --bind-host/--port")?;
    let udfs = Udfs::new(KeyRing::keyless());
    let config = SchedulerConfig {
        bind_host: args.bind_host.clone(),
        bind_port: args.port,
        external_host: args.external_host.clone(),
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(move |config| {
        let mut state = ballista_core::utils::default_session_builder(config)?;
        for u in udfs.all() {
            state.register_udf(u.clone())?;
        }
        Ok(state)
    }));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .context("cannot set up the cluster state")?;
    log::info!("txanon-scheduler listening on {addr} (holds no key)");
    start_server(cluster, addr, Arc::new(config))
        .await
        .context("scheduler stopped")?;
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
