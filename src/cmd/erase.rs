//! `txanon erase`: the tokens of the given values (or the given tokens),
//! then [`crate::erase`] on a dataset directory or one Parquet file.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::cli::EraseArgs;
use crate::cmd::config::{self, load_key, KeyUse};
use crate::cmd::token::{for_each_stdin_line, token_column};
use crate::erase::{erase_dataset, erase_file, Outcome, Request};
use crate::exit::ExitCode;
use crate::messages::Messages;
use crate::schema::{Action, OnInvalid, Schema, TokenEncoding};
use crate::transform::normalize::{normalize, Normalized};
use crate::transform::tokenize::Tokenizer;

/// Run `erase`.
pub fn run(args: &EraseArgs, msg: &Messages) -> Result<ExitCode> {
    let schema = Schema::load(&args.schema)?.with_context(args.context.clone());
    let column = token_column(&schema, &args.column)?;
    let Some((target, values)) = args.args.split_last() else {
        bail!("give the dataset directory or Parquet file to erase from");
    };
    if args.stdin && !values.is_empty() {
        bail!("give the values either as arguments or on stdin (--stdin), not both");
    }
    if !args.stdin && values.is_empty() {
        bail!(
            "no values to erase: give them before {} or one per line on stdin with --stdin",
            PathBuf::from(target).display()
        );
    }
    let key = load_key(args.key.key_file.as_deref(), KeyUse::Tokens, msg)?;
    let Action::Tokenize {
        kind,
        namespace,
        on_invalid,
    } = &column.action
    else {
        bail!("internal error: not a token column");
    };
    let t = &schema.tokens;
    let tokenizer = Tokenizer::new(&key, &t.context, namespace, t.bits, t.encoding);
    let mut tokens = BTreeSet::new();
    let mut add = |what: &str, raw: &str| -> Result<()> {
        let token = if args.token {
            token_shape(raw, tokenizer.token_len(), t.encoding, t.bits)
                .map_err(|why| anyhow::anyhow!("{what}: {why}; nothing was read or changed"))?
        } else {
            match normalize(kind, raw) {
                Normalized::Value(v) => tokenizer.token(&v),
                Normalized::Empty => bail!(
                    "{what}: empty after normalization (no token); nothing was read or changed"
                ),
                Normalized::Invalid(rule) => {
                    let hint = if *on_invalid == OnInvalid::Token {
                        format!(
                            " (rows with invalid values hold tokens of namespace \
                             {namespace}.invalid: `txanon token` prints them, erase them \
                             with --token)"
                        )
                    } else {
                        String::new()
                    };
                    bail!("{what}: invalid ({rule}){hint}; nothing was read or changed")
                }
            }
        };
        tokens.insert(token);
        Ok(())
    };
    if args.stdin {
        for_each_stdin_line(|i, raw| add(&format!("stdin line {}", i + 1), raw))?;
        if tokens.is_empty() {
            bail!("stdin held no values; nothing was read or changed");
        }
    } else {
        for (i, raw) in values.iter().enumerate() {
            let what = format!("value {} (argument {})", i + 1, i + 1);
            let Some(raw) = raw.to_str() else {
                bail!("{what}: not UTF-8; nothing was read or changed");
            };
            add(&what, raw)?;
        }
    }
    let threads = config::threads(args.threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("txanon-worker-{i}"))
        .build()
        .map(Arc::new)
        .with_context(|| format!("cannot start {threads} worker threads"))?;
    let request = Request {
        schema: &schema,
        key: &key,
        column: &column.output,
        tokens: &tokens,
        dry_run: args.dry_run,
        pool,
    };
    msg.catch_signals();
    let path = crate::cmd::anonymize::output_path(&PathBuf::from(target));
    let dataset = path.is_dir() || target.to_string_lossy().ends_with('/');
    let outcome = if dataset {
        erase_dataset(&path, &request, msg)
    } else {
        erase_file(&path, &request, msg)
    }
    .with_context(|| format!("erase from {} failed", path.display()))?;
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&outcome)?;
        s.push('\n');
        s
    } else {
        render(&outcome, &args.column)
    };
    crate::stdout::print(&text).with_context(|| {
        if outcome.dry_run || outcome.rows_removed == 0 {
            "nothing was changed, and the summary could not be printed".to_string()
        } else {
            format!(
                "the erasure from {} is complete, but its summary could not be printed",
                path.display()
            )
        }
    })?;
    Ok(ExitCode::Success)
}

/// A token as given, checked for its shape (never echoed): `len`
/// characters of lowercase hex or base64url. Hex is lowercased.
fn token_shape(
    raw: &str,
    len: usize,
    encoding: TokenEncoding,
    bits: u16,
) -> std::result::Result<String, String> {
    let raw = raw.trim();
    let (ok, name) = match encoding {
        TokenEncoding::Hex => (raw.bytes().all(|b| b.is_ascii_hexdigit()), "hex"),
        TokenEncoding::Base64Url => (
            raw.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "base64url",
        ),
    };
    if !ok || raw.len() != len {
        return Err(format!(
            "not a {bits}-bit {name} token ({len} {name} characters expected, {} characters given)",
            raw.chars().count()
        ));
    }
    Ok(match encoding {
        TokenEncoding::Hex => raw.to_ascii_lowercase(),
        TokenEncoding::Base64Url => raw.to_string(),
    })
}

/// The outcome as text: counts and file names only.
pub fn render(o: &Outcome, asked: &str) -> String {
    let mut out = String::new();
    let verb = if o.dry_run { "would remove" } else { "removed" };
    let _ = writeln!(
        out,
        "txanon erase{}: {} {}",
        if o.dry_run { " --dry-run" } else { "" },
        if o.dataset { "dataset" } else { "file" },
        o.target.display()
    );
    let _ = writeln!(
        out,
        "  column {asked} (tokens in {}): {} distinct token(s)",
        o.column, o.tokens
    );
    let _ = writeln!(
        out,
        "  part files: {} examined, {} skipped by bloom filter, {} skipped by statistics, {} read, {} {}",
        o.files_examined,
        o.files_skipped_by_bloom_filter,
        o.files_skipped_by_statistics,
        o.files_read,
        o.files_rewritten,
        if o.dry_run { "would be rewritten" } else { "rewritten" }
    );
    let _ = writeln!(
        out,
        "  rows: {verb} {} of {} ({} left)",
        o.rows_removed,
        o.rows_before,
        o.rows_before - o.rows_removed
    );
    for r in &o.rewritten {
        if r.path == r.new_path {
            let _ = writeln!(
                out,
                "    {}: {} -> {} rows",
                r.path, r.rows_before, r.rows_after
            );
        } else {
            let _ = writeln!(
                out,
                "    {} -> {}: {} -> {} rows",
                r.path, r.new_path, r.rows_before, r.rows_after
            );
        }
    }
    if o.rows_removed == 0 {
        let _ = writeln!(out, "  no row holds these tokens; nothing was changed");
    } else if o.dry_run {
        let _ = writeln!(out, "  dry run: nothing was changed");
    } else if let (Some(before), Some(after)) = (o.generation_before, o.generation_after) {
        let _ = writeln!(
            out,
            "  committed as generation {after} (erasure {}; was generation {before}); \
             `txanon dataset {}` verifies it",
            o.erasure,
            o.target.display()
        );
    } else {
        let _ = writeln!(
            out,
            "  replaced {} (erasure {} in its footer's txanon.erasures)",
            o.target.display(),
            o.erasure
        );
    }
    if o.privacy_recorded && o.rows_removed > 0 {
        let _ = writeln!(
            out,
            "  note: the recorded [privacy] figures were measured before this erasure; \
             removing customers can lower the k of their classes below min_k: re-run \
             `txanon check` (or `txanon report`) on the result"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shapes_are_checked_without_echoing_the_value() {
        let hex = "0123456789abcdef0123456789ABCDEF";
        assert_eq!(
            token_shape(hex, 32, TokenEncoding::Hex, 128).unwrap(),
            hex.to_ascii_lowercase()
        );
        for bad in ["0123", "g123456789abcdef0123456789abcdef", "13800138000"] {
            let e = token_shape(bad, 32, TokenEncoding::Hex, 128).unwrap_err();
            assert!(e.starts_with("not a 128-bit hex token (32"), "{e}");
            assert!(!e.contains(bad), "{e}");
        }
        assert!(token_shape("AbC-_9", 6, TokenEncoding::Base64Url, 32).is_ok());
        assert!(token_shape("AbC+/9", 6, TokenEncoding::Base64Url, 32).is_err());
    }
}
