//! Schema → DataFusion logical plan.
//!
//! One schema drives both engines: [`compile`] turns the declared columns
//! into a projection over the raw string table (drops are simply not
//! projected, renames are aliases, typed `keep` columns are parsed by
//! `txanon_keep`). The raw table has one `Utf8` column per header field,
//! named `c0`, `c1`, ... by position, so header names never need quoting.
//!
//! [`InputLayout::check`] checks every input header against the schema
//! exactly as the native pipeline does (undeclared columns stop the run
//! before anything is written), and refuses what this engine cannot do the
//! same way, so an unsupported feature is an error, never a silent difference.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use datafusion::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use datafusion::common::Column as DfColumn;
use datafusion::logical_expr::{lit, Expr, LogicalPlan, LogicalPlanBuilder};
use txanon::io::csv::Dialect;
use txanon::io::input;
use txanon::io::source::{Compression, TextEncoding};
use txanon::schema::{InputFormat, Schema};

use crate::spec::ColumnSpec;
use crate::udf::{UdfAction, Udfs};

/// The header layout shared by every input file, checked against the schema.
#[derive(Debug, Clone)]
pub struct InputLayout {
    /// Column names of the inputs' header (or the schema's, headerless).
    pub columns: Vec<String>,
    /// Input files, absolute, in the order DataFusion reads them (by path).
    pub files: Vec<PathBuf>,
    /// Undeclared columns left out under `--drop-undeclared`.
    pub undeclared: Vec<String>,
}

impl InputLayout {
    /// Check every input's header before anything is written. `warn` gets
    /// operator messages (names only, never values).
    pub fn check(
        schema: &Schema,
        inputs: &[PathBuf],
        drop_undeclared: bool,
        warn: &dyn Fn(&str),
    ) -> anyhow::Result<InputLayout> {
        if inputs.is_empty() {
            bail!("no input files");
        }
        refuse_unsupported(schema)?;
        let mut layout: Option<(PathBuf, Vec<String>)> = None;
        let mut undeclared = Vec::new();
        let mut files = Vec::with_capacity(inputs.len());
        let mut seen = HashSet::new();
        for path in inputs {
            let meta = std::fs::metadata(path)
                .with_context(|| format!("cannot read input {}", path.display()))?;
            if meta.is_dir() {
                bail!("input {} is a directory", path.display());
            }
            let abs = std::fs::canonicalize(path)
                .with_context(|| format!("cannot resolve input {}", path.display()))?;
            if !seen.insert(abs.clone()) {
                bail!(
                    "input {} is given twice; the datafusion engine reads each file once \
                     (the native engine would read it twice), so this is refused",
                    path.display()
                );
            }
            if !schema.input.header
                && input::starts_with_bom(&abs).map_err(|e| anyhow::anyhow!("{e}"))?
            {
                bail!(
                    "{}: starts with a byte-order mark and the schema says header = false; \
                     the datafusion engine would keep the mark in the first value. \
                     Use the native engine for this file",
                    path.display()
                );
            }
            // Format, compression, header and its checks: txanon's input layer,
            // the same code and wording as the native engine.
            let resolved = input::resolve(&abs, schema).map_err(|e| anyhow::anyhow!("{e}"))?;
            if resolved.format != InputFormat::Csv || resolved.compression != Compression::None {
                bail!(
                    "{}: the datafusion engine reads plain CSV only (not gzip/zstd, \
                     Parquet or NDJSON); use the native engine for this file",
                    path.display()
                );
            }
            let columns = input::input_columns(&abs, schema).map_err(|e| anyhow::anyhow!("{e}"))?;
            input::check_header(
                path,
                &columns,
                schema,
                drop_undeclared,
                &mut undeclared,
                warn,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            match &layout {
                None => layout = Some((abs.clone(), columns)),
                Some((first, cols)) if *cols != columns => bail!(
                    "{} and {} have different header layouts; the datafusion engine reads all \
                     inputs as one table, so their columns must come in the same order \
                     (the native engine accepts this)",
                    first.display(),
                    path.display()
                ),
                Some(_) => {}
            }
            files.push(abs);
        }
        // DataFusion reads the files of a table in path order; say so if the
        // caller's order differs, since row order follows it.
        let mut sorted = files.clone();
        sorted.sort();
        if sorted != files {
            warn("the datafusion engine reads inputs in path order; rows are written in that order, not in the order given");
        }
        let columns = layout.map(|l| l.1).unwrap_or_default();
        Ok(InputLayout {
            columns,
            files: sorted,
            undeclared,
        })
    }

    /// The raw table's schema: `c0..cN`, all nullable `Utf8`.
    pub fn raw_schema(&self) -> SchemaRef {
        Arc::new(ArrowSchema::new(
            (0..self.columns.len())
                .map(|i| Field::new(format!("c{i}"), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ))
    }

    /// A view of the raw table with the header's names (for `sql`).
    pub fn named_columns(&self) -> Vec<Expr> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, name)| Expr::Column(DfColumn::from_name(format!("c{i}"))).alias(name))
            .collect()
    }
}

/// The projection expressions of `schema` over the raw table of `layout`.
pub fn projection(
    schema: &Schema,
    layout: &InputLayout,
    udfs: &Udfs,
    fingerprint: &str,
) -> anyhow::Result<Vec<Expr>> {
    let mut exprs = Vec::new();
    for c in &schema.columns {
        let Some(spec) = ColumnSpec::from_column(schema, c, fingerprint)
            .map_err(|e| anyhow::anyhow!("column {:?}: {e}", c.name))?
        else {
            continue;
        };
        let Some(action) = UdfAction::for_spec(&spec) else {
            bail!(
                "column {:?}: action {:?} is not supported by the datafusion engine; use the native engine",
                c.name,
                spec.action
            );
        };
        let Some(idx) = layout.columns.iter().position(|n| *n == c.name) else {
            bail!("declared column {:?} missing from the input", c.name);
        };
        let value = Expr::Column(DfColumn::from_name(format!("c{idx}")));
        exprs.push(
            udfs.get(action)
                .call(vec![value, lit(spec.to_json())])
                .alias(&c.output),
        );
    }
    Ok(exprs)
}

/// Compile `schema` into a projection on top of `input` (the raw table scan),
/// and check the result has exactly the native output schema.
pub fn compile(
    schema: &Schema,
    layout: &InputLayout,
    udfs: &Udfs,
    fingerprint: &str,
    input: LogicalPlan,
) -> anyhow::Result<LogicalPlan> {
    let exprs = projection(schema, layout, udfs, fingerprint)?;
    let plan = LogicalPlanBuilder::from(input)
        .project(exprs)
        .context("cannot build the projection")?
        .build()
        .context("cannot build the plan")?;
    check_output_schema(schema, plan.schema().as_arrow())?;
    Ok(plan)
}

/// Fail unless `got` has the native output's names and types, in order.
pub fn check_output_schema(schema: &Schema, got: &ArrowSchema) -> anyhow::Result<()> {
    let want = schema.output_schema();
    let names = |s: &ArrowSchema| -> Vec<(String, DataType)> {
        s.fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    };
    if names(&want) != names(got) {
        bail!(
            "internal error: the compiled plan's output {:?} differs from the schema's {:?}",
            names(got),
            names(&want)
        );
    }
    Ok(())
}

/// Schema features the datafusion engine does not implement: refused with a
/// clear error rather than giving output that differs from the native engine.
fn refuse_unsupported(schema: &Schema) -> anyhow::Result<()> {
    use txanon::schema::Action;
    let input = &schema.input;
    let dialect = Dialect {
        delimiter: input.dialect.delimiter,
        ..Dialect::default()
    };
    let mut problems = Vec::new();
    if !matches!(input.format, InputFormat::Auto | InputFormat::Csv) {
        problems.push("[input].format other than csv".to_string());
    }
    if input.dialect != dialect {
        problems.push("[input] quote, escape or comment".into());
    }
    if input.encoding != TextEncoding::Utf8 || !input.encodings.is_empty() {
        problems.push("[input] encodings other than utf-8".into());
    }
    if input.null_values != [String::new()] {
        problems.push("[input].null_values".into());
    }
    if schema.privacy.is_some() {
        problems.push("[privacy]".into());
    }
    for c in &schema.columns {
        let supported = matches!(
            c.action,
            Action::Keep { .. }
                | Action::Drop
                | Action::Tokenize { .. }
                | Action::Generalize { .. }
        );
        if !supported {
            problems.push(format!(
                "column {:?}: action = {:?}",
                c.name,
                c.action.name()
            ));
        }
        if !c.derive.is_empty() {
            problems.push(format!("column {:?}: derive", c.name));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "the datafusion engine does not support {}; use the native engine",
            problems.join(", ")
        )
    }
}
