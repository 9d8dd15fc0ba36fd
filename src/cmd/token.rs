//! `txanon token`: tokens of given raw values under a schema column's rules.

use std::io::{BufRead, Read};

use anyhow::{bail, Context, Result};
use zeroize::Zeroizing;

use crate::cli::TokenArgs;
use crate::cmd::config::{load_key, KeyUse};
use crate::exit::ExitCode;
use crate::messages::Messages;
use crate::schema::{Action, Column, OnInvalid, Schema};
use crate::transform::normalize::{nfkc_trim, normalize, Normalized};
use crate::transform::tokenize::Tokenizer;

/// Longest value read from `--stdin` (one line).
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Run `token`.
pub fn run(args: &TokenArgs, msg: &Messages) -> Result<ExitCode> {
    let schema = Schema::load(&args.schema)?.with_context(args.context.clone());
    let column = token_column(&schema, &args.column)?;
    let Action::Tokenize {
        kind,
        namespace,
        on_invalid,
    } = &column.action
    else {
        bail!("internal error: not a token column");
    };
    let key = load_key(args.key.key_file.as_deref(), KeyUse::Tokens, msg)?;
    let t = &schema.tokens;
    let tokenizer = Tokenizer::new(&key, &t.context, namespace, t.bits, t.encoding);
    let invalid = Tokenizer::new(
        &key,
        &t.context,
        &format!("{namespace}.invalid"),
        t.bits,
        t.encoding,
    );

    let mut out = crate::stdout::Stdout::new();
    let mut failed = false;
    let mut emit = |i: usize, raw: &str, out: &mut crate::stdout::Stdout| -> Result<()> {
        let line = match normalize(kind, raw) {
            Normalized::Value(v) => tokenizer.token(&v),
            Normalized::Empty => {
                msg.warning(&format!(
                    "value {}: empty after normalization (no token)",
                    i + 1
                ));
                String::new()
            }
            Normalized::Invalid(rule) => {
                if *on_invalid == OnInvalid::Token {
                    msg.warning(&format!(
                        "value {}: invalid ({rule}); token under namespace {namespace}.invalid",
                        i + 1
                    ));
                    invalid.token(&nfkc_trim(raw))
                } else {
                    msg.warning(&format!("value {}: invalid ({rule}); no token", i + 1));
                    failed = true;
                    String::new()
                }
            }
        };
        out.line(&line)?;
        Ok(())
    };
    if args.stdin {
        for_each_stdin_line(|i, raw| {
            emit(i, raw, &mut out)?;
            out.flush()?;
            Ok(())
        })?;
    } else {
        for (i, raw) in args.values.iter().enumerate() {
            emit(i, raw, &mut out)?;
        }
    }
    out.flush()?;
    Ok(if failed {
        ExitCode::Error
    } else {
        ExitCode::Success
    })
}

/// The schema's tokenize column called `name`: its input name, or its
/// output name (`mobile_token`).
pub fn token_column<'a>(schema: &'a Schema, name: &str) -> Result<&'a Column> {
    let column = schema
        .column(name)
        .or_else(|| schema.columns.iter().find(|c| c.output == name));
    let Some(column) = column else {
        bail!(
            "column {name:?} is not declared in {}",
            schema.path.display()
        );
    };
    if !matches!(column.action, Action::Tokenize { .. }) {
        bail!(
            "column {:?} has action = {:?}; only tokenize columns have tokens",
            column.name,
            column.action.name()
        );
    }
    Ok(column)
}

/// Call `f` with each line of stdin (its 0-based index, the text without
/// the line ending), streamed: one line in memory at a time, each bounded
/// by [`MAX_VALUE_BYTES`], zeroized when done. A line that is too long or
/// not UTF-8 is an error naming its line number, never its content.
pub fn for_each_stdin_line(mut f: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let mut stdin = std::io::stdin().lock();
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_VALUE_BYTES + 1));
    for i in 0.. {
        line.clear();
        let read = (&mut stdin)
            .take(MAX_VALUE_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading stdin line {}", i + 1))?;
        if read == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        } else if line.len() > MAX_VALUE_BYTES {
            bail!(
                "stdin line {}: longer than {MAX_VALUE_BYTES} bytes; one value per line",
                i + 1
            );
        }
        let Ok(raw) = std::str::from_utf8(&line) else {
            bail!("stdin line {}: not UTF-8", i + 1);
        };
        f(i, raw)?;
    }
    Ok(())
}
