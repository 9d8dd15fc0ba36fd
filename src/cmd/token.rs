//! `txanon token`: tokens of given raw values under a schema column's rules.

use std::io::{BufRead, Write};

use anyhow::{bail, Result};

use crate::cli::TokenArgs;
use crate::exit::ExitCode;
use crate::key::MasterKey;
use crate::messages::Messages;
use crate::schema::{Action, OnInvalid, Schema};
use crate::transform::normalize::{nfkc_trim, normalize, Normalized};
use crate::transform::tokenize::Tokenizer;

/// Run `token`.
pub fn run(args: &TokenArgs, msg: &Messages) -> Result<ExitCode> {
    let schema = Schema::load(&args.schema)?.with_context(args.context.clone());
    let Some(column) = schema.column(&args.column) else {
        bail!(
            "column {:?} is not declared in {}",
            args.column,
            args.schema.display()
        );
    };
    let Action::Tokenize {
        kind,
        namespace,
        on_invalid,
    } = &column.action
    else {
        bail!(
            "column {:?} has action = {:?}; only tokenize columns have tokens",
            column.name,
            column.action.name()
        );
    };
    let (key, source) = MasterKey::load(args.key.key_file.as_deref())?;
    if let Some(w) = source.warning() {
        msg.warning(&w);
    }
    if key.is_demo() {
        msg.demo_key_warning();
    }
    let t = &schema.tokens;
    let tokenizer = Tokenizer::new(&key, &t.context, namespace, t.bits, t.encoding);
    let invalid = Tokenizer::new(
        &key,
        &t.context,
        &format!("{namespace}.invalid"),
        t.bits,
        t.encoding,
    );

    let values: Vec<String> = if args.stdin {
        std::io::stdin().lock().lines().collect::<Result<_, _>>()?
    } else {
        args.values.clone()
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    for (i, raw) in values.iter().enumerate() {
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
        if writeln!(out, "{line}").is_err() {
            return Ok(ExitCode::Success); // broken pipe: the reader has gone
        }
    }
    Ok(if failed {
        ExitCode::Error
    } else {
        ExitCode::Success
    })
}
