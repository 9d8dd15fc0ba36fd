//! Resolved options of the quasi-identifier actions (`shift`, `bucket`,
//! `mask`, `truncate_ip`, `age`), of derived outputs and of `[privacy]`.
//!
//! The raw TOML is parsed and checked in `raw.rs`; these types hold only
//! values that passed validation, so the per-row code in
//! [`crate::transform::rules`] never has to re-check them.

use chrono::NaiveDate;

use super::OnInvalid;
use crate::transform::normalize::Kind;

pub use crate::values::Number;

/// How `bucket` replaces a number.
#[derive(Debug, Clone, PartialEq)]
pub enum BucketRule {
    /// Equal-width buckets `[n*w, (n+1)*w)`; `w > 0`.
    Width(Number),
    /// Explicit, strictly increasing breaks: `[b0, b1), ..., [b_last, inf)`.
    /// Values below `b0` are invalid.
    Breaks(Vec<Number>),
    /// Round to this many significant digits (half away from zero).
    Round(u32),
}

/// `action = "bucket"`.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketSpec {
    /// The rule.
    pub rule: BucketRule,
    /// Write a text label `[lo, hi)` instead of the typed lower bound.
    pub labels: bool,
    /// Unparseable values and values below the first break.
    pub on_invalid: OnInvalid,
}

/// `action = "mask"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskSpec {
    /// Characters kept at the start.
    pub keep_first: usize,
    /// Characters kept at the end.
    pub keep_last: usize,
    /// The replacement character.
    pub with: char,
}

/// How the entity value of a `shift` is normalized before it is hashed: the
/// normalization of the `by` column's declared type (shift spec v1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKey {
    /// A string column: normalization v1 of this kind (`id` unless the `by`
    /// column is tokenized as phone, email or address).
    Text(Kind),
    /// An `int` column: the canonical decimal text of the 64-bit integer.
    Int,
}

/// `action = "shift"`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftSpec {
    /// The entity column (input name).
    pub by: String,
    /// How the entity value is normalized.
    pub key: EntityKey,
    /// Offsets lie in `[-max_days, +max_days]`.
    pub max_days: u32,
    /// Unparseable dates and rows without a valid entity.
    pub on_invalid: OnInvalid,
}

/// The reference date of `age`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgeAt {
    /// A fixed date (`at = "2010-12-31"`).
    Date(NaiveDate),
    /// Each row's value of this date or timestamp column (`at_column`).
    Column(String),
}

/// Age bands (`breaks` on an `age` column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bands {
    /// Strictly increasing lower bounds in years.
    pub breaks: Vec<i64>,
    /// Write `[lo, hi)` labels instead of the lower bound.
    pub labels: bool,
}

/// `action = "age"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeSpec {
    /// Where the age is measured.
    pub at: AgeAt,
    /// Ages above this are written as this (HIPAA Safe Harbor: 90).
    pub top: Option<i64>,
    /// Optional banding of the (capped) age.
    pub bands: Option<Bands>,
    /// Unparseable dates, and birth dates after the reference date.
    pub on_invalid: OnInvalid,
}

/// What a derived output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DerivedKind {
    /// The normalized e-mail domain when it is a known free-mail provider or
    /// declared in `values`; otherwise `*.` + its top-level domain when that
    /// is a known one (see `transform::rules::derive_value`).
    EmailDomain,
    /// `+CC`, or `+86 1XX` for Chinese mobile numbers.
    PhoneRegion,
    /// Province and city of a Chinese address from the administrative
    /// table; otherwise the address's region only when declared in `values`.
    AddressRegion,
    /// `address_region` at `to = "province"`: the province of a Chinese
    /// address only; otherwise, as for `AddressRegion`, the region only when
    /// declared in `values` (a US state is already a province-level region).
    AddressProvince,
}

impl DerivedKind {
    /// Schema spelling.
    pub fn name(&self) -> &'static str {
        match self {
            DerivedKind::EmailDomain => "email_domain",
            DerivedKind::PhoneRegion => "phone_region",
            DerivedKind::AddressRegion | DerivedKind::AddressProvince => "address_region",
        }
    }
}

/// One derived output of a tokenize column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// What is derived.
    pub kind: DerivedKind,
    /// Output column name.
    pub output: String,
    /// Values the schema declares for this output, besides the kind's own
    /// finite set (e-mail domains to keep, regions outside China).
    pub values: Vec<String>,
    /// Quasi-identifier for `[privacy]`.
    pub quasi: bool,
    /// Sensitive attribute for `[privacy]`.
    pub sensitive: bool,
}

/// What happens when the measured k is below `min_k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnViolation {
    /// Exit 2, write nothing.
    Fail,
    /// Remove the rows of classes smaller than `min_k` and report how many.
    Suppress,
}

/// `[privacy].entity`: what k counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivacyEntity {
    /// `entity = "row"`: every row is a different person (a customer table);
    /// k counts rows.
    Row,
    /// An output column identifying the person (typically the account
    /// token); k counts its distinct non-null values per class.
    Column(String),
}

impl PrivacyEntity {
    /// The entity column, if k counts a column's values.
    pub fn column(&self) -> Option<&str> {
        match self {
            PrivacyEntity::Row => None,
            PrivacyEntity::Column(c) => Some(c),
        }
    }

    /// As written in the schema and the footer: the column name, or `row`.
    pub fn name(&self) -> &str {
        match self {
            PrivacyEntity::Row => "row",
            PrivacyEntity::Column(c) => c,
        }
    }
}

/// One level of a generalization ladder.
#[derive(Debug, Clone, PartialEq)]
pub enum Level {
    /// What the column declares (its action, or its derived output): level 0.
    Declared,
    /// The column's action with this level's parameters (`to = "month"`,
    /// `width = 100`, ...).
    Apply(super::Action),
    /// The derived output (the ladder's output) computed as this kind
    /// (`address_region` with `to = "province"`).
    Derive(DerivedKind),
    /// The column is written as all nulls (the `removable = true` level).
    Remove,
}

/// The levels a quasi-identifier may be raised to (`to = ["day", "month"]`,
/// `removable = true`), finest first: level 0 is what a schema without a
/// ladder would write.
#[derive(Debug, Clone, PartialEq)]
pub struct Ladder {
    /// Output column name.
    pub output: String,
    /// Short names of the levels, for reports (`month`, `width=100`, `remove`).
    pub names: Vec<String>,
    /// The levels, finest first.
    pub levels: Vec<Level>,
}

/// `[privacy] search = "auto"`: choose one level per quasi-identifier.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Largest share of rows the chosen node may suppress, in `[0, 1)`.
    pub max_suppression: f64,
    /// One ladder per quasi-identifier, in the order of
    /// [`PrivacyOptions::quasi`] (a column without levels has one).
    pub ladders: Vec<Ladder>,
    /// Most distinct (entity, finest quasi-identifier tuple) pairs the
    /// search keeps in memory before it spills them to disk
    /// (`max_search_pairs`).
    pub max_pairs: u64,
}

/// `[privacy]`, resolved to output column names.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivacyOptions {
    /// Smallest acceptable equivalence class.
    pub min_k: u64,
    /// The gate's action.
    pub on_violation: OnViolation,
    /// Output names of the quasi-identifiers, in output order.
    pub quasi: Vec<String>,
    /// Output names of the sensitive attributes.
    pub sensitive: Vec<String>,
    /// Who a row is about: k counts distinct entities per class, and
    /// unicity is measured per entity.
    pub entity: PrivacyEntity,
    /// Seed of the unicity draws.
    pub seed: u64,
    /// Distinct points kept per entity for unicity (a seeded sample per entity beyond it).
    pub max_points: usize,
    /// `search = "auto"`: the ladders to choose levels from.
    pub search: Option<SearchOptions>,
    /// Set on the schema a search pins: the node chosen, reported with the
    /// figures.
    pub chosen: Option<crate::risk::chosen::Chosen>,
    /// Output columns written as all nulls (a pinned `remove` level).
    pub removed: Vec<String>,
}
