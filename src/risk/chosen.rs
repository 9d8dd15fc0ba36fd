//! What `[privacy] search = "auto"` chose ([`super::search`]), as the
//! schema carries it into the writing pass (`PrivacyOptions::chosen`): data
//! and its wording only, so the schema can hold it without depending on the
//! search.

use serde::Serialize;

/// The level chosen for one quasi-identifier.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChosenLevel {
    /// Output column.
    pub column: String,
    /// Level index, 0 = as declared.
    pub level: usize,
    /// Highest level of the column's ladder.
    pub top: usize,
    /// The level's parameters (`to=month`, `width=100`, `remove`).
    pub name: String,
}

/// What the search chose, for the summary, footer and manifest.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Chosen {
    /// One level per quasi-identifier, in output order.
    pub levels: Vec<ChosenLevel>,
    /// `(1 - S/R) * H + S/R` (see the module documentation).
    pub loss: f64,
    /// Mean normalized level height `H`.
    pub height: f64,
    /// Entity-k of the node once its small classes are suppressed.
    pub k: u64,
    /// Rows the node suppresses (`S`).
    pub suppressed_rows: u64,
    /// Rows the search saw (`R`).
    pub rows: u64,
    /// `[privacy].max_suppression`.
    pub max_suppression: f64,
    /// Nodes in the lattice.
    pub nodes: u64,
    /// Nodes evaluated before the bound stopped the search.
    pub nodes_evaluated: u64,
    /// Distinct (entity, finest tuple) pairs collected.
    pub pairs: u64,
    /// Wall time of the collecting pass and the evaluation (summary and
    /// `--json` only: never in the footer or manifest, which stay identical
    /// from run to run).
    pub search_seconds: f64,
}

impl Chosen {
    /// `col=name, ...`
    pub fn node(&self) -> String {
        self.levels
            .iter()
            .map(|l| format!("{}={}", l.column, l.name))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The level vector, `2,0,1`.
    pub fn vector(&self) -> String {
        self.levels
            .iter()
            .map(|l| l.level.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Footer entries (no time).
    pub fn metadata(&self) -> Vec<(String, String)> {
        vec![
            ("txanon.privacy.search.node".into(), self.vector()),
            ("txanon.privacy.search.levels".into(), self.node()),
            (
                "txanon.privacy.search.loss".into(),
                format!("{:.6}", self.loss),
            ),
            (
                "txanon.privacy.search.suppressed_rows".into(),
                self.suppressed_rows.to_string(),
            ),
            (
                "txanon.privacy.search.max_suppression".into(),
                self.max_suppression.to_string(),
            ),
            (
                "txanon.privacy.search.nodes_evaluated".into(),
                format!("{} of {}", self.nodes_evaluated, self.nodes),
            ),
        ]
    }

    /// The summary line.
    pub fn line(&self) -> String {
        format!(
            "  search: chose ({}) = [{}], loss {:.6} (height {:.4}, {} of {} rows suppressed, max {}), \
             entity-k {}; {} of {} nodes evaluated over {} pairs in {:.2}s",
            self.node(),
            self.vector(),
            self.loss,
            self.height,
            self.suppressed_rows,
            self.rows,
            self.max_suppression,
            self.k,
            self.nodes_evaluated,
            self.nodes,
            self.pairs,
            self.search_seconds
        )
    }
}
