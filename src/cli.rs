//! Command-line definitions (clap derive). Doc comments here are the `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::check::report::Format;

/// Turn legacy transaction dumps into pseudonymised, typed Parquet.
///
/// Identifiers (phones, e-mails, addresses, account ids) become keyed
/// HMAC-SHA256 tokens, dates are coarsened and declared columns dropped, as
/// a schema file says. Tokens are pseudonyms, not anonymity: whoever holds the
/// key can re-identify them by guessing. Keep the key apart from the data.
#[derive(Debug, Parser)]
#[command(name = "txanon", version, about, long_about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pseudonymise CSV, NDJSON or Parquet dumps into Parquet (one file, or a
    /// directory with --partition-by or a trailing '/'), as the schema declares.
    ///
    /// Every input column must be declared in the schema (or the run stops
    /// before writing anything). The output appears atomically: an error or
    /// interrupt leaves nothing at the target path.
    ///
    /// Exit codes: 0 success, 2 error, 130/143 interrupted.
    Anonymize(AnonymizeArgs),
    /// Check a schema, input dumps and outputs for compliance (for CI).
    ///
    /// Lints the schema, then checks each FILE against it. A Parquet file
    /// written by txanon (txanon.* footer metadata) is checked as an output
    /// (schema, types, metadata, key, residual personal data, token shape);
    /// any other file as an input dump in any format anonymize reads (header,
    /// value types, invalid rates, PII-looking keep columns).
    ///
    /// Exit codes: 0 clean, 1 violations found, 2 could not run.
    Check(CheckArgs),
    /// Scan CSV or Parquet files for personal data, without a schema.
    ///
    /// Reports per file and column: kind (email, phone, id_card, card, ip),
    /// hits, hit rate and the first rows. Never prints the values found.
    ///
    /// Exit codes: 0 clean, 1 personal data found, 2 could not run.
    Scan(ScanArgs),
    /// Draft a schema from a dump (printed on stdout), with the evidence for
    /// each proposed action as comments.
    Init(InitArgs),
    /// Write a new random 32-byte key as 64 hex characters (file mode 0600).
    Keygen(KeygenArgs),
    /// Write the release report: one self-contained HTML page (verdict,
    /// provenance, columns, risk figures and charts) about an output.
    ///
    /// Built from the output only (footer metadata, manifest, the released
    /// data); the page holds counts, column names and generalized labels,
    /// never a value, token or class key. It needs no script and makes no
    /// network request.
    ///
    /// Exit codes: 0 written, 2 error.
    Report(ReportArgs),
    /// Run SQL over dumps in a local Apache DataFusion session with txanon's
    /// UDFs registered (tables `input` and `anonymized`), for key holders.
    ///
    /// Runs the txanon-df binary (crates/txanon-datafusion), which must sit
    /// next to this one: `cargo build --release -p txanon-datafusion`.
    /// `txanon sql --help` shows its flags.
    #[command(disable_help_flag = true)]
    Sql(ExternalArgs),
    /// Show the generalizations `[privacy] search = "auto"` would choose
    /// among, without writing data.
    ///
    /// Reads the inputs once as anonymize would, evaluates every node of the
    /// lattice of the schema's ladders, and prints the passing nodes that no
    /// other passing node beats on both height and suppressed rows, with the
    /// node anonymize would choose marked. Counts and level names only.
    ///
    /// Exit codes: 0 some node passes, 1 none does, 2 error.
    PrivacySearch(PrivacySearchArgs),
    /// Release differentially private counts and sums per group (OpenDP
    /// noise, per-entity contribution bounds) as Parquet, against a
    /// privacy-budget ledger.
    ///
    /// Reads and transforms the inputs as anonymize does; the group-by
    /// columns, the entity and the measures are output columns declared in
    /// the --spec file. Only the aggregate file carries the guarantee, for
    /// its declared bounds and parameters; the row-level output does not.
    ///
    /// Exit codes: 0 released, 2 error or over budget (nothing written).
    Aggregate(AggregateArgs),
    /// Show a dataset directory (generations, inputs, row counts, key
    /// fingerprint, risk figures from its manifest) and verify it.
    ///
    /// Every part file the manifest lists must exist with its recorded size
    /// and row count (read from its footer), and no other *.parquet file may
    /// be below the directory. Problems name the file, never a value.
    ///
    /// Exit codes: 0 consistent, 1 inconsistent, 2 error (not a dataset).
    Dataset(DatasetArgs),
    /// Print the token of given raw values, for key holders answering
    /// lookup or erasure requests.
    ///
    /// One line per value on stdout: the token, or an empty line when the
    /// value is empty or invalid (the reason goes to stderr).
    Token(TokenArgs),
    /// Erase customers: remove every row whose token in one column is the
    /// token of a given value, from a dataset directory or one Parquet file.
    ///
    /// Values are normalized and tokenized as `anonymize` does, under the
    /// key that wrote the data (its fingerprint must match). Part files are
    /// chosen by the token column's bloom filters and statistics; only those
    /// holding a matching row are rewritten. A dataset is replaced as a
    /// whole in one step (a staged copy of hard links and rewritten files
    /// swapped in with renameat2 RENAME_EXCHANGE, Linux only), and its
    /// manifest records the erasure as a new generation (counts only). A
    /// single file is rewritten beside itself and renamed over it.
    ///
    /// Erasing rows can lower the k of the classes a customer was in: after
    /// an erase from a release with a privacy gate, re-run `txanon check` or
    /// `txanon report`.
    ///
    /// Exit codes: 0 done (also when no row matched), 2 error (nothing changed).
    Erase(EraseArgs),
}

/// `txanon erase`.
#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The schema the data was written with (its SHA-256 must match).
    #[arg(long, value_name = "SCHEMA.toml")]
    pub schema: PathBuf,

    #[allow(missing_docs)]
    #[command(flatten)]
    pub key: KeyArgs,

    /// Release scope the data was written with (overrides [tokens].context).
    #[arg(long, value_name = "LABEL")]
    pub context: Option<String>,

    /// The column to match: a tokenize column of the schema, by its input
    /// name (`mobile`) or its output name (`mobile_token`).
    #[arg(long, value_name = "NAME")]
    pub column: String,

    /// Read the values from stdin, one per line, instead of arguments
    /// (keeps them out of the process list).
    #[arg(long)]
    pub stdin: bool,

    /// The values are tokens (as `txanon token` prints them), not raw values.
    #[arg(long)]
    pub token: bool,

    /// Report the files and rows that would be removed; write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the outcome as JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,

    /// Worker threads [default: number of CPUs]. With 1, everything (reading,
    /// transforming, writing) runs in turn: one core. With more, a reader
    /// and a writer thread work beside the N workers. The files written are
    /// the same for any value.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// The values to erase (none with --stdin), then the dataset directory
    /// or the Parquet file.
    #[arg(required = true, value_name = "VALUE... DATASET/|FILE.parquet")]
    pub args: Vec<std::ffi::OsString>,
}

/// Where the key comes from. The key itself is never a flag value.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// File holding the key as hex text (at least 64 hex characters).
    /// Without it, the key is read from the TXANON_KEY environment variable.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
}

/// Arguments handed unchanged to an external txanon binary.
#[derive(Debug, Args)]
pub struct ExternalArgs {
    /// Arguments of the external command.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<std::ffi::OsString>,
}

/// Where `anonymize` runs the transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// This binary's streaming pipeline.
    Native,
    /// A local Apache DataFusion session (runs the txanon-df binary).
    Datafusion,
    /// A Ballista cluster given by --scheduler (runs the txanon-df binary).
    Ballista,
}

/// `txanon anonymize`.
#[derive(Debug, Args)]
pub struct AnonymizeArgs {
    /// The schema declaring every input column (TOML).
    #[arg(long, value_name = "SCHEMA.toml")]
    pub schema: PathBuf,

    #[allow(missing_docs)]
    #[command(flatten)]
    pub key: KeyArgs,

    /// Release scope mixed into every token (overrides [tokens].context).
    /// Different contexts give unlinkable tokens for the same values.
    #[arg(long, value_name = "LABEL")]
    pub context: Option<String>,

    /// Worker threads [default: number of CPUs]; 1 uses one core. Output is
    /// identical for any value.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// Drop input columns the schema does not declare (with a warning) instead of failing.
    #[arg(long)]
    pub drop_undeclared: bool,

    /// Skip up to N bad records (malformed CSV, or values failing a rule with
    /// on_invalid = "error") and list their line numbers, instead of failing on the first.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_bad_rows: u64,

    /// Print the run summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// No progress bar and no text summary (warnings and errors still print).
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Records per parallel work unit. Output bytes do not depend on it.
    #[arg(long, value_name = "N", default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub batch_rows: u64,

    /// Rows per Parquet row group [default: [output].row_group_rows, else 131072].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub row_group_rows: Option<u64>,

    /// Write a Hive-partitioned directory, one subdirectory per value of this
    /// output column (e.g. a month-generalized date: created_month=2007-05-01/).
    /// Implies a directory output.
    #[arg(long, value_name = "COLUMN")]
    pub partition_by: Option<String>,

    /// Also write the run's manifest (inputs with size and SHA-256, schema
    /// hash, key fingerprint, row counts; no values) to this file. Directory
    /// outputs always get DIR/_manifest.json.
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,

    /// Permission bits of every file written (Parquet, part files, manifests;
    /// directories also get x where r is set), exactly, whatever the umask.
    /// The rows are personal data: by default only the owner reads them.
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = crate::io::output::parse_mode)]
    pub mode: u32,

    /// Add the inputs to the existing dataset directory -o DATASET/ as a new
    /// generation (new part files under DATASET/gNNNNN/; nothing earlier is
    /// rewritten). Refused, before any input is read, when the dataset was
    /// written with another schema (SHA-256), token spec, context, key or
    /// --partition-by, and with [privacy] search = "auto". Inputs whose
    /// content (SHA-256) the dataset already holds are skipped and listed;
    /// other content at a path already appended is an error. `txanon
    /// dataset` shows and verifies the result.
    ///
    /// With [privacy], the gate measures the whole dataset after the append
    /// (earlier generations read back from their part files) and acts on
    /// the new rows only, since released files are never rewritten: a new
    /// class below min_k fails the run or, with "suppress", loses its new
    /// rows; a class holding earlier rows that would stay below min_k (after
    /// an erase) fails the run in both modes. Rows suppressed in an earlier
    /// generation never come back. k, classes and rows in the summary count
    /// the whole dataset; suppressed rows count this generation's.
    #[arg(long)]
    pub append: bool,

    /// With --append: an input at a path the dataset recorded whose content
    /// changed replaces the earlier content. The part files of the
    /// generation that added it are removed and the new content appended,
    /// as one generation committed by swapping the whole dataset directory
    /// (hard links, renameat2 RENAME_EXCHANGE, as erase does; Linux). Only
    /// an input that was the only input of its generation can be replaced
    /// (rows do not record their input); otherwise the run stops before
    /// reading anything.
    #[arg(long, requires = "append")]
    pub replace_changed: bool,

    /// Also write the release report (one self-contained HTML page, as
    /// `txanon report` makes) to this file, from the output just written.
    #[arg(long, value_name = "report.html")]
    pub report: Option<PathBuf>,

    /// Output: a Parquet file, or a directory of part files when the path ends
    /// in '/' or --partition-by is given. Written atomically as a new regular
    /// file; never an input, the schema, the key file, --manifest, a link,
    /// a device, a FIFO or a socket.
    #[arg(long, short = 'o', value_name = "OUT.parquet|DIR/")]
    pub output: PathBuf,

    /// Where the transform runs. `datafusion` and `ballista` give the same
    /// tokens and need the txanon-df binary next to this one (README, "When
    /// one machine is not enough").
    #[arg(long, value_enum, default_value_t = Engine::Native)]
    pub engine: Engine,

    /// Ballista scheduler for `--engine ballista`.
    #[arg(long, value_name = "df://HOST:PORT")]
    pub scheduler: Option<String>,

    /// Inputs, read in the order given: files (CSV, gzip/zstd-compressed CSV,
    /// NDJSON or Parquet, told apart by content), directories (all files below,
    /// sorted by path) and glob patterns (quote them: 'dumps/*.csv.gz').
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
}

/// `txanon report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The schema the release was written with: adds the `check` verdict,
    /// each column's action, and the recomputed risk figures and class sizes.
    #[arg(long, value_name = "SCHEMA.toml")]
    pub schema: Option<std::path::PathBuf>,

    /// The run manifest of a single-file release (`anonymize --manifest`):
    /// inputs with sizes and SHA-256, and the run's row counts. A dataset
    /// directory's own _manifest.json is read without it.
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<std::path::PathBuf>,

    /// The HTML file to write (atomically, as a new regular file).
    #[arg(long, short = 'o', value_name = "report.html")]
    pub output: std::path::PathBuf,

    /// Permission bits of the page, exactly, whatever the umask. It
    /// describes personal data: by default only the owner reads it.
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = crate::io::output::parse_mode)]
    pub mode: u32,

    /// The release: a Parquet file or a dataset directory written by anonymize.
    #[arg(value_name = "FILE.parquet|DATASET/")]
    pub release: std::path::PathBuf,
}

/// Report formats of `txanon dataset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetFormat {
    /// Lines for people.
    Text,
    /// One JSON object.
    Json,
}

/// `txanon dataset`.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// Report format.
    #[arg(long, value_enum, default_value_t = DatasetFormat::Text)]
    pub format: DatasetFormat,

    /// The dataset: a directory written by `anonymize -o DATASET/` or
    /// `--partition-by`, with the generations `--append` added.
    #[arg(value_name = "DATASET/")]
    pub dataset: PathBuf,
}

/// `txanon aggregate`.
#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// The schema (the transform of the rows).
    #[arg(long, value_name = "SCHEMA.toml")]
    pub schema: PathBuf,

    /// The aggregate release declaration (group-by, measures, bounds, epsilon).
    #[arg(long, value_name = "AGGREGATE.toml")]
    pub spec: PathBuf,

    #[allow(missing_docs)]
    #[command(flatten)]
    pub key: KeyArgs,

    /// Release scope: mixed into the tokens (overrides [tokens].context) and
    /// the ledger scope whose budget the release spends.
    #[arg(long, value_name = "LABEL")]
    pub context: Option<String>,

    /// The privacy-budget ledger [default: KEY_FILE.dp-ledger.json beside the key file].
    #[arg(long, value_name = "PATH")]
    pub ledger: Option<PathBuf>,

    /// Start a new, empty privacy-budget ledger (the first release under a
    /// key or --ledger). Refused when the ledger exists; without it a missing
    /// ledger is refused (except with the published demo key).
    #[arg(long)]
    pub new_ledger: bool,

    /// The aggregate Parquet file to write.
    #[arg(short, long, value_name = "AGG.parquet")]
    pub output: PathBuf,

    /// Also write the release as CSV.
    #[arg(long, value_name = "AGG.csv")]
    pub csv: Option<PathBuf>,

    /// Also write the release's manifest (inputs, spec and schema with their
    /// SHA-256, key fingerprint, privacy figures, ledger totals) as JSON;
    /// the Parquet footer holds the same (`txanon.aggregate.manifest`).
    #[arg(long, value_name = "PATH")]
    pub manifest: Option<PathBuf>,

    /// Worker threads [default: number of CPUs].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// Skip up to N bad records, as anonymize would.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_bad_rows: u64,

    /// Drop undeclared input columns, as anonymize would.
    #[arg(long)]
    pub drop_undeclared: bool,

    /// Permission bits of the files written.
    #[arg(long, value_name = "OCTAL", default_value = "0600", value_parser = crate::io::output::parse_mode)]
    pub mode: u32,

    /// Print the release's privacy figures (scales, thresholds, epsilon,
    /// delta) as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// No summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,

    /// Inputs, as for anonymize.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
}

/// `txanon privacy-search`.
#[derive(Debug, Args)]
pub struct PrivacySearchArgs {
    /// The schema, with `[privacy] search = "auto"` and its ladders.
    #[arg(long, value_name = "SCHEMA.toml")]
    pub schema: PathBuf,

    #[allow(missing_docs)]
    #[command(flatten)]
    pub key: KeyArgs,

    /// Release scope mixed into every token (overrides [tokens].context).
    #[arg(long, value_name = "LABEL")]
    pub context: Option<String>,

    /// Worker threads [default: number of CPUs]. The figures do not depend on it.
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// Skip up to N bad records, as anonymize would.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_bad_rows: u64,

    /// Drop undeclared input columns, as anonymize would.
    #[arg(long)]
    pub drop_undeclared: bool,

    /// Print the frontier as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Inputs, as for anonymize.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
}

/// `txanon check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The schema to check against (it is linted too).
    #[arg(long, value_name = "SCHEMA.toml")]
    pub schema: PathBuf,

    /// Key file: outputs must carry this key's fingerprint. Without it (and
    /// without TXANON_KEY) the fingerprint is not compared.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,

    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Check only the first N records of each file [default: all].
    #[arg(long, value_name = "N")]
    pub sample: Option<u64>,

    /// Input dumps (CSV, gzip/zstd CSV, NDJSON, Parquet) and/or txanon outputs, told apart by content.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `txanon scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Scan only the first N records of each file [default: all].
    #[arg(long, value_name = "N")]
    pub sample: Option<u64>,

    /// Region for phone numbers written without a country code.
    #[arg(long, value_name = "CC", default_value = "CN")]
    pub region: String,

    /// Text encoding of CSV and NDJSON files: utf-8, gb18030 or gbk (GBK is
    /// read with the GB18030 decoder). Parquet files ignore it. Bytes that
    /// are not valid in it stop the run, naming file and line.
    #[arg(long, value_name = "ENC", default_value = "utf-8", value_parser = parse_text_encoding)]
    pub encoding: crate::io::source::TextEncoding,

    /// CSV or Parquet files.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// `txanon init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Region for phone numbers written without a country code.
    #[arg(long, value_name = "CC", default_value = "CN")]
    pub region: String,

    /// Examine only the first N records [default: all, so the draft passes
    /// `check` on the whole dump].
    #[arg(long, value_name = "N")]
    pub sample: Option<u64>,

    /// Text encoding of CSV and NDJSON files: utf-8, gb18030 or gbk (GBK is
    /// read with the GB18030 decoder). Parquet files ignore it. The draft
    /// declares it as `[input].encoding`. Bytes that
    /// are not valid in it stop the run, naming file and line.
    #[arg(long, value_name = "ENC", default_value = "utf-8", value_parser = parse_text_encoding)]
    pub encoding: crate::io::source::TextEncoding,

    /// The dump (CSV) to draft a schema for.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
}

/// `txanon keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the key. An existing file is never overwritten.
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: PathBuf,
}

/// `txanon token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The schema whose column rules (kind, namespace, context) apply.
    #[arg(long, value_name = "SCHEMA.toml")]
    pub schema: PathBuf,

    /// Input column name (must be a tokenize column).
    #[arg(long, value_name = "NAME")]
    pub column: String,

    #[allow(missing_docs)]
    #[command(flatten)]
    pub key: KeyArgs,

    /// Release scope (overrides [tokens].context).
    #[arg(long, value_name = "LABEL")]
    pub context: Option<String>,

    /// Read values from stdin, one per line, instead of arguments (keeps them
    /// out of the process list).
    #[arg(long, conflicts_with = "values")]
    pub stdin: bool,

    /// Raw values to tokenize.
    #[arg(value_name = "VALUE", required_unless_present = "stdin")]
    pub values: Vec<String>,
}

/// `--encoding`: one of the schema's `[input].encoding` names.
fn parse_text_encoding(text: &str) -> Result<crate::io::source::TextEncoding, String> {
    crate::io::source::TextEncoding::parse(text)
        .ok_or_else(|| format!("{text:?} is not a supported encoding (utf-8, gb18030, gbk)"))
}

/// Every argument of `cmd` and its subcommands (recursively) that could carry
/// a key on the command line: a flag whose id, long or short name or alias
/// mentions a key, secret, HMAC or password (other than `--key-file`, which
/// takes a path), or one that reads `TXANON_KEY` through clap's `env`. Each is
/// reported as `command path: --flag`. The tests of `txanon` and of the engine
/// binaries (crates/txanon-datafusion/src/bin) assert it finds nothing.
#[doc(hidden)]
pub fn flags_that_could_carry_a_key(cmd: &clap::Command) -> Vec<String> {
    fn walk(cmd: &clap::Command, path: &str, found: &mut Vec<String>) {
        const WORDS: [&str; 5] = ["key", "secret", "hmac", "passw", "passphrase"];
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "key_file" && arg.get_long() == Some("key-file") {
                if arg.get_env().is_some_and(|e| e == "TXANON_KEY") {
                    found.push(format!("{path}: --key-file reads TXANON_KEY"));
                }
                continue;
            }
            let mut names: Vec<String> = vec![id.to_string()];
            names.extend(arg.get_long().map(str::to_string));
            names.extend(arg.get_short().map(|c| c.to_string()));
            names.extend(
                arg.get_all_aliases()
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::to_string),
            );
            names.extend(
                arg.get_all_short_aliases()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| c.to_string()),
            );
            let named = names.iter().any(|n| {
                let n = n.to_ascii_lowercase();
                WORDS.iter().any(|w| n.contains(w)) || n == "k"
            });
            let from_env = arg.get_env().is_some_and(|e| e == "TXANON_KEY");
            if named || from_env {
                found.push(format!("{path}: {}", names.join("/")));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), found);
        }
    }
    let mut found = Vec::new();
    walk(cmd, cmd.get_name(), &mut found);
    found
}

/// Panic, naming them, if any argument of `cmd` could carry a key (see
/// [`flags_that_could_carry_a_key`]); the engine binaries' tests call it on
/// their own clap definitions.
#[doc(hidden)]
pub fn assert_no_key_flag(cmd: &clap::Command) {
    cmd.clone().debug_assert();
    let found = flags_that_could_carry_a_key(cmd);
    assert!(
        found.is_empty(),
        "arguments that could carry a key: {found:?}"
    );
}

/// Every subcommand path of `cmd` ("txanon anonymize", ...), leaves first
/// level, for tests that try a refused flag on each.
#[doc(hidden)]
pub fn subcommand_paths(cmd: &clap::Command) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for sub in cmd.get_subcommands() {
        let name = sub.get_name().to_string();
        let deeper = subcommand_paths(sub);
        if deeper.is_empty() {
            out.push(vec![name]);
        } else {
            for mut d in deeper {
                d.insert(0, name.clone());
                out.push(d);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    /// No subcommand takes the key as a flag value: every argument of every
    /// subcommand is enumerated from the clap definition, and `--key HEX`
    /// is refused by each subcommand's parser.
    #[test]
    fn there_is_no_key_flag() {
        let cmd = Cli::command();
        assert_eq!(flags_that_could_carry_a_key(&cmd), Vec::<String>::new());
        let paths = subcommand_paths(&cmd);
        let names: Vec<&str> = paths.iter().map(|p| p[0].as_str()).collect();
        // The enumeration sees every subcommand (a new one joins it by itself).
        for expected in [
            "anonymize",
            "check",
            "scan",
            "init",
            "keygen",
            "sql",
            "token",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        let hex = "ab".repeat(32);
        for path in paths {
            if path == ["sql"] {
                // Passes everything through to txanon-df, whose own test refuses a key flag.
                continue;
            }
            for flag in ["--key", "-k", "--secret", "--hmac-key"] {
                let mut argv = vec!["txanon".to_string()];
                argv.extend(path.iter().cloned());
                argv.extend([flag.to_string(), hex.clone()]);
                let r = Cli::try_parse_from(&argv);
                let e = r.expect_err(&format!("{argv:?} was accepted"));
                assert_eq!(
                    e.kind(),
                    clap::error::ErrorKind::UnknownArgument,
                    "{argv:?}: {e}"
                );
            }
        }
    }

    /// Positive control: the checker does report a key flag, a short `-k`,
    /// an alias and an env-backed TXANON_KEY, in a nested subcommand.
    #[test]
    fn the_key_flag_check_fires_on_a_key_flag() {
        let cmd = clap::Command::new("t").subcommand(
            clap::Command::new("a")
                .arg(clap::Arg::new("key").long("key"))
                .arg(clap::Arg::new("x").long("x").short('k'))
                .arg(clap::Arg::new("y").long("y").alias("master-secret"))
                .arg(clap::Arg::new("z").long("z").env("TXANON_KEY"))
                .arg(clap::Arg::new("key_file").long("key-file")),
        );
        let found = flags_that_could_carry_a_key(&cmd);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found.iter().all(|f| f.starts_with("t a: ")), "{found:?}");
    }

    #[test]
    fn threads_must_be_positive() {
        let r = Cli::try_parse_from([
            "txanon",
            "anonymize",
            "--schema",
            "s",
            "-o",
            "o",
            "--threads",
            "0",
            "i",
        ]);
        assert!(r.is_err());
    }
}
