//! Findings of `check` and `scan`, and their four renderings (text, JSON,
//! JUnit XML, GitHub annotations). No rendering ever contains a value from a
//! data file: findings carry file, column, rule, counts and row numbers only.

use serde::Serialize;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The check passed.
    Pass,
    /// A violation: makes the command exit 1.
    Fail,
    /// Information that does not fail the run (e.g. an invalid-value rate).
    Info,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable rule id, e.g. `schema.keep-pii`, `input.header`, `output.pii`.
    pub rule: &'static str,
    /// Pass, fail or info.
    pub status: Status,
    /// File the finding is about (the schema file for lint findings).
    pub file: String,
    /// Column, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// 1-based position of the column in its file, set instead of `column`
    /// when the file's column name may be data and is not shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column_position: Option<usize>,
    /// Human-readable explanation; never contains a data value.
    pub message: String,
    /// Number of offending values or rows, when counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Offending share of the values examined, when counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Line (CSV) or row (Parquet) numbers of the first offending rows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<u64>,
}

impl Finding {
    /// A finding without counts.
    pub fn new(
        rule: &'static str,
        status: Status,
        file: impl Into<String>,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> Finding {
        Finding {
            rule,
            status,
            file: file.into(),
            column: column.map(str::to_string),
            column_position: None,
            message: message.into(),
            count: None,
            rate: None,
            rows: Vec::new(),
        }
    }

    /// Name the column by its 1-based position in the file (its name is
    /// not shown).
    pub fn at_position(mut self, position: usize) -> Finding {
        self.column = None;
        self.column_position = Some(position);
        self
    }

    /// The column as reports name it: `"name"`, or `#3` by position.
    fn column_label(&self) -> Option<String> {
        match (&self.column, self.column_position) {
            (Some(c), _) => Some(format!("{c:?}")),
            (None, Some(p)) => Some(format!("#{p}")),
            (None, None) => None,
        }
    }

    /// Attach counts and the first rows.
    pub fn counted(mut self, count: u64, total: u64, rows: Vec<u64>) -> Finding {
        self.count = Some(count);
        self.rate = Some(if total == 0 {
            0.0
        } else {
            count as f64 / total as f64
        });
        self.rows = rows;
        self
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per violation, then a count.
    Text,
    /// One JSON object with every check.
    Json,
    /// JUnit XML: one testcase per check.
    Junit,
    /// GitHub Actions `::error` annotations.
    Github,
}

/// Every finding of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `check` or `scan`.
    pub command: &'static str,
    /// txanon version.
    pub version: &'static str,
    /// Number of failed checks.
    pub violations: usize,
    /// All findings, in the order they were made.
    pub checks: Vec<Finding>,
}

impl Report {
    /// A report of `command` from its findings.
    pub fn new(command: &'static str, checks: Vec<Finding>) -> Report {
        let violations = checks.iter().filter(|f| f.status == Status::Fail).count();
        Report {
            command,
            version: env!("CARGO_PKG_VERSION"),
            violations,
            checks,
        }
    }

    /// Render in `format`.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.text(),
            Format::Json => {
                serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into()) + "\n"
            }
            Format::Junit => self.junit(),
            Format::Github => self.github(),
        }
    }

    fn location(f: &Finding) -> String {
        match f.column_label() {
            Some(c) => format!("{}: column {c}", f.file),
            None => f.file.clone(),
        }
    }

    fn detail(f: &Finding) -> String {
        let mut s = f.message.clone();
        if let (Some(c), Some(r)) = (f.count, f.rate) {
            s.push_str(&format!(" ({c} values, {:.2}%)", r * 100.0));
        }
        if !f.rows.is_empty() {
            let rows: Vec<String> = f.rows.iter().map(u64::to_string).collect();
            s.push_str(&format!("; first at {}", rows.join(", ")));
        }
        s
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for f in &self.checks {
            match f.status {
                Status::Fail => out.push_str(&format!(
                    "{}: {}: {}\n",
                    Self::location(f),
                    f.rule,
                    Self::detail(f)
                )),
                Status::Info => out.push_str(&format!(
                    "note: {}: {}: {}\n",
                    Self::location(f),
                    f.rule,
                    Self::detail(f)
                )),
                Status::Pass => {}
            }
        }
        let passed = self
            .checks
            .iter()
            .filter(|f| f.status == Status::Pass)
            .count();
        out.push_str(&format!(
            "txanon {}: {} violation(s), {} check(s) passed\n",
            self.command, self.violations, passed
        ));
        out
    }

    fn junit(&self) -> String {
        let failures = self.violations;
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<testsuites name=\"txanon {}\" tests=\"{}\" failures=\"{failures}\">\n  <testsuite name=\"txanon {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">\n",
            self.command,
            self.checks.len(),
            self.command,
            self.checks.len()
        ));
        for f in &self.checks {
            let name = match (&f.column, f.column_position) {
                (Some(c), _) => format!("{} [{c}]", f.rule),
                (None, Some(p)) => format!("{} [#{p}]", f.rule),
                (None, None) => f.rule.to_string(),
            };
            out.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml_escape(&f.file),
                xml_escape(&name)
            ));
            match f.status {
                Status::Fail => out.push_str(&format!(
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>\n",
                    xml_escape(&f.message),
                    f.rule,
                    xml_escape(&Self::detail(f))
                )),
                Status::Info => out.push_str(&format!(
                    ">\n      <system-out>{}</system-out>\n    </testcase>\n",
                    xml_escape(&Self::detail(f))
                )),
                Status::Pass => out.push_str("/>\n"),
            }
        }
        out.push_str("  </testsuite>\n</testsuites>\n");
        out
    }

    fn github(&self) -> String {
        let mut out = String::new();
        for f in &self.checks {
            let level = match f.status {
                Status::Fail => "error",
                Status::Info => "notice",
                Status::Pass => continue,
            };
            let title = match (&f.column, f.column_position) {
                (Some(c), _) => format!("{} ({c})", f.rule),
                (None, Some(p)) => format!("{} (column #{p})", f.rule),
                (None, None) => f.rule.to_string(),
            };
            out.push_str(&format!(
                "::{level} file={},title={}::{}\n",
                gh_escape_property(&f.file),
                gh_escape_property(&title),
                gh_escape_data(&Self::detail(f))
            ));
        }
        out.push_str(&format!(
            "txanon {}: {} violation(s)\n",
            self.command, self.violations
        ));
        out
    }
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// GitHub workflow-command escaping for message data.
fn gh_escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub workflow-command escaping for properties (file, title).
fn gh_escape_property(s: &str) -> String {
    gh_escape_data(s).replace(':', "%3A").replace(',', "%2C")
}
