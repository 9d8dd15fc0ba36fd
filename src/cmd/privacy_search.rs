//! `txanon privacy-search`: the passing generalizations, without writing data.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::cli::PrivacySearchArgs;
use crate::cmd::config::{self, KeyUse};
use crate::exit::ExitCode;
use crate::io::source::expand_inputs;
use crate::messages::Messages;
use crate::pipeline::{privacy_frontier, AnonymizeOptions};
use crate::risk::search::Frontier;
use crate::schema::Schema;

/// Run `privacy-search`.
pub fn run(args: &PrivacySearchArgs, msg: &Messages) -> Result<ExitCode> {
    let schema = Schema::load(&args.schema)?.with_context(args.context.clone());
    if schema.privacy.as_ref().is_none_or(|p| p.search.is_none()) {
        anyhow::bail!(
            "schema {} has no [privacy] search = \"auto\": there is nothing to choose",
            args.schema.display()
        );
    }
    // The key only groups rows by entity token here; no token leaves, so the
    // demo key is not worth a warning (as for `check`).
    let key = config::load_key(args.key.key_file.as_deref(), KeyUse::Verify, msg)?;
    let threads = config::threads(args.threads);
    let opts = AnonymizeOptions {
        threads,
        drop_undeclared: args.drop_undeclared,
        max_bad_rows: args.max_bad_rows,
        ..AnonymizeOptions::new(expand_inputs(&args.inputs)?, std::path::PathBuf::new())
    };
    msg.catch_signals();
    let frontier = privacy_frontier(&schema, &key, &opts, msg)?;
    if args.json {
        let json = serde_json::to_string_pretty(&frontier).context("serializing the frontier")?;
        crate::stdout::print(&format!("{json}\n"))?;
    } else {
        crate::stdout::print(&render(&frontier))?;
    }
    Ok(if frontier.chosen.is_some() {
        ExitCode::Success
    } else {
        ExitCode::Violations
    })
}

/// The frontier as text: one line per node, counts and level names only.
pub fn render(f: &Frontier) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "privacy-search: {} rows, {} (entity, values) pairs; {} of {} nodes reach min_k = {} \
         {} with at most {} of the rows suppressed",
        f.rows,
        f.pairs,
        f.passing,
        f.nodes,
        f.min_k,
        if f.entity == "row" {
            "rows (one per person)".to_string()
        } else {
            format!("distinct {} values", f.entity)
        },
        f.max_suppression
    );
    if f.frontier.is_empty() {
        let _ = writeln!(
            out,
            "no node passes: raise max_suppression, lower min_k, or add coarser levels"
        );
        return out;
    }
    let _ = writeln!(
        out,
        "passing nodes no other passing node beats on both height and suppressed rows \
         (* = the one anonymize chooses, least loss):"
    );
    let _ = writeln!(
        out,
        "    {:>8}  {:>6}  {:>10}  {:>8}  {:>5}  levels",
        "loss", "height", "suppressed", "share", "k"
    );
    for n in &f.frontier {
        let mark = if f.chosen.as_ref().is_some_and(|c| c.levels == n.levels) {
            "*"
        } else {
            " "
        };
        let _ = writeln!(
            out,
            "  {mark} {:>8.6}  {:>6.4}  {:>10}  {:>7.2}%  {:>5}  [{}] {}",
            n.loss,
            n.height,
            n.suppressed_rows,
            if n.rows == 0 {
                0.0
            } else {
                n.suppressed_rows as f64 * 100.0 / n.rows as f64
            },
            n.k,
            n.vector(),
            n.node()
        );
    }
    let _ = writeln!(
        out,
        "to pin a node: write each column's value at its level instead of the list, drop \
         (action = \"drop\") the columns it removes, and take out removable and search"
    );
    out
}
