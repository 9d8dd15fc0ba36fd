//! txanon binary: parse flags, run the subcommand, map the outcome to an exit code.

use clap::Parser;

use txanon::cli::{Cli, Command};
use txanon::exit::ExitCode;
use txanon::messages::Messages;

/// glibc's malloc, which only the C libraries (zstd) still use, maps and
/// unmaps blocks of this size or more. Rust allocations go to jemalloc, the
/// global allocator set in crates/txanon-malloc.
const MMAP_THRESHOLD: usize = 1 << 20;

fn main() {
    txanon_malloc::fix_mmap_threshold(MMAP_THRESHOLD);
    let cli = Cli::parse();
    let quiet = match &cli.command {
        Command::Anonymize(a) => a.quiet,
        Command::Aggregate(a) => a.quiet,
        _ => false,
    };
    let msg = Messages::new(quiet);
    let code = match run(&cli, &msg) {
        Ok(code) => code,
        // The reader has what it wanted (`| head`): a quiet success.
        Err(err) if txanon::stdout::is_closed(&err) => ExitCode::Success,
        Err(err) => {
            if let Some(txanon::Error::Interrupted(sig)) = err.downcast_ref::<txanon::Error>() {
                msg.error(&format!("{err:#}"));
                ExitCode::Interrupted(*sig)
            } else if let Some(sig) =
                err.chain()
                    .find_map(|e| match e.downcast_ref::<txanon::Error>() {
                        Some(txanon::Error::Interrupted(sig)) => Some(*sig),
                        _ => None,
                    })
            {
                msg.error(&format!("{err:#}"));
                ExitCode::Interrupted(sig)
            } else {
                msg.error(&format!("{err:#}"));
                ExitCode::Error
            }
        }
    };
    std::process::exit(code.code());
}

fn run(cli: &Cli, msg: &Messages) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Anonymize(args) => txanon::cmd::anonymize::run(args, msg),
        Command::Check(args) => txanon::cmd::check::run(args, msg),
        Command::Scan(args) => txanon::cmd::scan::run(args, msg),
        Command::Init(args) => txanon::cmd::init::run(args, msg),
        Command::Keygen(args) => txanon::cmd::keygen::run(args, msg),
        Command::Report(args) => txanon::cmd::report::run(args, msg),
        Command::Token(args) => txanon::cmd::token::run(args, msg),
        Command::Erase(args) => txanon::cmd::erase::run(args, msg),
        Command::Dataset(args) => txanon::cmd::dataset::run(args, msg),
        Command::PrivacySearch(args) => txanon::cmd::privacy_search::run(args, msg),
        Command::Aggregate(args) => txanon::cmd::aggregate::run(args, msg),
        Command::Sql(_) => {
            txanon::cmd::external::run_df("`txanon sql`", std::env::args_os().skip(1).collect())
        }
    }
}
