//! `txanon dataset`: a dataset's generations, inputs, counts, key
//! fingerprint and risk figures from its manifest, and whether its part
//! files are the ones the manifest lists.

use std::fmt::Write as _;

use anyhow::Result;
use serde_json::Value;

use crate::cli::{DatasetArgs, DatasetFormat};
use crate::dataset::{verify, Verification};
use crate::exit::ExitCode;
use crate::messages::Messages;

/// Run `dataset`.
pub fn run(args: &DatasetArgs, _msg: &Messages) -> Result<ExitCode> {
    let dir = crate::cmd::anonymize::output_path(&args.dataset);
    let v = verify(&dir)?;
    let text = match args.format {
        DatasetFormat::Text => render(&v),
        DatasetFormat::Json => {
            let mut s = serde_json::to_string_pretty(&json(&v))?;
            s.push('\n');
            s
        }
    };
    crate::stdout::print(&text)?;
    Ok(if v.consistent() {
        ExitCode::Success
    } else {
        ExitCode::Violations
    })
}

fn get<'a>(m: &'a Value, pointer: &str) -> &'a Value {
    m.pointer(pointer).unwrap_or(&Value::Null)
}

fn num(m: &Value, pointer: &str) -> u64 {
    get(m, pointer).as_u64().unwrap_or(0)
}

fn text<'a>(m: &'a Value, pointer: &str) -> &'a str {
    get(m, pointer).as_str().unwrap_or("-")
}

/// The report as JSON: the manifest's figures and the verification.
pub fn json(v: &Verification) -> Value {
    let m = &v.current.manifest;
    serde_json::json!({
        "dataset": v.current.dir,
        "consistent": v.consistent(),
        "generation": v.current.generation,
        "label": get(m, "/label"),
        "schema": get(m, "/schema"),
        "token_spec": get(m, "/token_spec"),
        "token_context": get(m, "/token_context"),
        "key_fingerprint": get(m, "/key_fingerprint"),
        "demo_key": get(m, "/demo_key"),
        "partition_by": get(m, "/partition_by"),
        "rows": get(m, "/rows"),
        "generations": generations(m),
        "inputs": get(m, "/inputs"),
        "privacy": get(m, "/privacy"),
        "checked": {"files": v.files, "rows": v.rows},
        "problems": v.problems,
        "notes": v.notes,
    })
}

/// The manifest's generations (one for a manifest written before they
/// were recorded).
fn generations(m: &Value) -> Value {
    match m.get("generations") {
        Some(g @ Value::Array(_)) => g.clone(),
        _ => serde_json::json!([{
            "generation": 1,
            "inputs": get(m, "/inputs").as_array().map_or(0, Vec::len),
            "files": get(m, "/files").as_array().map_or(0, Vec::len),
            "rows": get(m, "/rows"),
        }]),
    }
}

/// The report as text.
pub fn render(v: &Verification) -> String {
    let m = &v.current.manifest;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dataset {} ({}): generation {}{}",
        v.current.dir.display(),
        text(m, "/label"),
        v.current.generation,
        get(m, "/partition_by")
            .as_str()
            .map_or(String::new(), |p| format!(", partitioned by {p}"))
    );
    let _ = writeln!(
        out,
        "  schema {} v{} (SHA-256 {}), token spec {}, context {:?}",
        text(m, "/schema/name"),
        get(m, "/schema/version"),
        text(m, "/schema/sha256"),
        text(m, "/token_spec"),
        text(m, "/token_context")
    );
    let _ = writeln!(
        out,
        "  key fingerprint {}{}",
        text(m, "/key_fingerprint"),
        if get(m, "/demo_key").as_bool() == Some(true) {
            "  (DEMO KEY: protects nothing)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  rows read {}  written {}  skipped {}{}",
        num(m, "/rows/read"),
        num(m, "/rows/written"),
        num(m, "/rows/skipped"),
        match num(m, "/rows/erased") {
            0 => String::new(),
            n => format!("  erased {n} (written counts the rows left)"),
        } + &match num(m, "/rows/replaced") {
            0 => String::new(),
            n => format!("  replaced {n} (rows of replaced inputs, removed)"),
        }
    );
    for g in generations(m).as_array().into_iter().flatten() {
        if let Some(e) = g.get("erasure") {
            let _ = writeln!(
                out,
                "  generation {}: erasure {} by column {}: {} row(s) removed, {} part file(s) rewritten",
                num(g, "/generation"),
                num(e, "/number"),
                text(e, "/column"),
                num(e, "/rows_removed"),
                num(e, "/files_rewritten")
            );
            continue;
        }
        let _ = writeln!(
            out,
            "  generation {}: {} input(s), {} part file(s), rows read {} written {} skipped {}",
            num(g, "/generation"),
            num(g, "/inputs"),
            num(g, "/files"),
            num(g, "/rows/read"),
            num(g, "/rows/written"),
            num(g, "/rows/skipped")
        );
        for r in g
            .get("replaced")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let _ = writeln!(
                out,
                "    replaced {} of generation {}: {} part file(s), {} row(s) removed",
                text(r, "/path"),
                num(r, "/generation"),
                num(r, "/files_removed"),
                num(r, "/rows_removed")
            );
        }
    }
    for i in get(m, "/inputs").as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "    input (generation {}) {}: {} bytes, SHA-256 {}, rows read {} written {}",
            i.get("generation").and_then(Value::as_u64).unwrap_or(1),
            text(i, "/path"),
            num(i, "/bytes"),
            text(i, "/sha256"),
            num(i, "/rows_read"),
            num(i, "/rows_written")
        );
    }
    match get(m, "/privacy").as_object() {
        Some(p) if !p.is_empty() => {
            let _ = writeln!(out, "  risk figures (as the manifest records them):");
            for (k, val) in p {
                let _ = writeln!(out, "    {k} = {}", val.as_str().unwrap_or("-"));
            }
        }
        _ => {
            let _ = writeln!(out, "  risk figures: none recorded (no [privacy] section)");
        }
    }
    for n in &v.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    if v.consistent() {
        let _ = writeln!(
            out,
            "  consistent: {} part file(s), {} rows, as the manifest lists them, and no other part file",
            v.files, v.rows
        );
    } else {
        for p in &v.problems {
            let _ = writeln!(out, "  INCONSISTENT {}: {}", p.file, p.problem);
        }
        let _ = writeln!(
            out,
            "  inconsistent: {} problem(s); {} part file(s) checked",
            v.problems.len(),
            v.files
        );
    }
    out
}
