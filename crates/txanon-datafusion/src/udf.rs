//! txanon's per-row actions as DataFusion scalar UDFs.
//!
//! Three functions, each `f(value, spec)` where `spec` is the JSON literal of
//! a [`ColumnSpec`]:
//!
//! | function            | does                                                       |
//! |---------------------|------------------------------------------------------------|
//! | `txanon_keep`       | parse to the declared type (`int`, `decimal(12,2)`, ...)   |
//! | `txanon_tokenize`   | normalize + keyed HMAC token (token spec v1)               |
//! | `txanon_generalize` | parse a date/timestamp and truncate it in the dataset zone |
//!
//! Each call builds (once per distinct spec) a one-column
//! [`BatchPlan`] and runs the core's own transform on the Arrow array, so the
//! tokens are those of `txanon anonymize` by construction, not by a second
//! implementation.
//!
//! The key lives in [`KeyRing`]: `Debug` shows only the public fingerprint,
//! and so do the UDFs' `Debug`, `PartialEq` and `Hash`. A plan names its key
//! only by fingerprint (in the spec); a node evaluating a UDF whose spec names
//! another key refuses with an error, and a node built without a key (the
//! Ballista scheduler) refuses to evaluate at all.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, internal_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use txanon::key::MasterKey;
use txanon::transform::batch::{BatchPlan, ColumnStats};

use crate::spec::ColumnSpec;

/// The key material a node holds, or only the fingerprint it expects.
#[derive(Clone)]
pub struct KeyRing {
    key: Option<Arc<MasterKey>>,
    fingerprint: String,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("fingerprint", &self.fingerprint)
            .field(
                "key",
                &if self.key.is_some() {
                    "[redacted]"
                } else {
                    "(none on this node)"
                },
            )
            .finish()
    }
}

impl KeyRing {
    /// A node that holds `key` (client, local engine, executor).
    pub fn new(key: MasterKey) -> KeyRing {
        KeyRing {
            fingerprint: key.fingerprint(),
            key: Some(Arc::new(key)),
        }
    }

    /// A node that plans but never computes (the Ballista scheduler).
    pub fn keyless() -> KeyRing {
        KeyRing {
            key: None,
            fingerprint: String::new(),
        }
    }

    /// The public fingerprint of the key held (empty when keyless).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The key, when this node holds one.
    pub fn key(&self) -> Option<&MasterKey> {
        self.key.as_deref()
    }
}

/// Which action a UDF performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdfAction {
    /// `txanon_keep`.
    Keep,
    /// `txanon_tokenize`.
    Tokenize,
    /// `txanon_generalize`.
    Generalize,
}

impl UdfAction {
    /// The SQL function name.
    pub fn function_name(self) -> &'static str {
        match self {
            UdfAction::Keep => "txanon_keep",
            UdfAction::Tokenize => "txanon_tokenize",
            UdfAction::Generalize => "txanon_generalize",
        }
    }

    /// The schema action it implements.
    pub fn action_name(self) -> &'static str {
        match self {
            UdfAction::Keep => "keep",
            UdfAction::Tokenize => "tokenize",
            UdfAction::Generalize => "generalize",
        }
    }

    /// The UDF for a spec's action.
    pub fn for_spec(spec: &ColumnSpec) -> Option<UdfAction> {
        [UdfAction::Keep, UdfAction::Tokenize, UdfAction::Generalize]
            .into_iter()
            .find(|a| a.action_name() == spec.action)
    }
}

/// Per-column counters gathered by a UDF instance (local engine summary).
pub type StatsByColumn = BTreeMap<String, ColumnStats>;

/// One txanon action as a DataFusion scalar UDF.
pub struct TxanonUdf {
    action: UdfAction,
    signature: Signature,
    keys: KeyRing,
    /// Declared column name → spec JSON, so SQL can say `txanon_tokenize(mobile, 'mobile')`.
    named: Arc<HashMap<String, String>>,
    plans: Mutex<HashMap<String, Arc<(ColumnSpec, BatchPlan)>>>,
    stats: Mutex<StatsByColumn>,
}

impl fmt::Debug for TxanonUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TxanonUdf")
            .field("name", &self.action.function_name())
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TxanonUdf {
    fn eq(&self, other: &Self) -> bool {
        self.action == other.action
            && self.keys.fingerprint == other.keys.fingerprint
            && self.keys.key.is_some() == other.keys.key.is_some()
    }
}

impl Eq for TxanonUdf {}

impl Hash for TxanonUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.action.hash(state);
        self.keys.fingerprint.hash(state);
    }
}

fn spec_literal(value: Option<&ScalarValue>) -> Option<&str> {
    match value? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s.as_str()),
        _ => None,
    }
}

impl TxanonUdf {
    /// A UDF for `action` on a node holding `keys`; `named` maps declared
    /// column names to their spec JSON (may be empty).
    pub fn new(action: UdfAction, keys: KeyRing, named: Arc<HashMap<String, String>>) -> TxanonUdf {
        TxanonUdf {
            action,
            signature: Signature::any(2, Volatility::Immutable),
            keys,
            named,
            plans: Mutex::new(HashMap::new()),
            stats: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counters summed over every batch this instance transformed.
    pub fn stats(&self) -> StatsByColumn {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The spec JSON of a call's second argument: a spec, or a declared column name.
    fn spec_json<'a>(&'a self, arg: &'a str) -> Result<&'a str> {
        if arg.trim_start().starts_with('{') {
            return Ok(arg);
        }
        match self.named.get(arg) {
            Some(json) => Ok(json),
            None => plan_err!(
                "{}: {arg:?} is neither a txanon column spec nor a column the schema declares",
                self.action.function_name()
            ),
        }
    }

    fn parse_spec(&self, arg: &str) -> Result<ColumnSpec> {
        let json = self.spec_json(arg)?;
        let spec = match ColumnSpec::parse(json) {
            Ok(s) => s,
            Err(e) => return plan_err!("{}: {e}", self.action.function_name()),
        };
        if spec.action != self.action.action_name() {
            return plan_err!(
                "{}: the spec of column {:?} is for action {:?}",
                self.action.function_name(),
                spec.column,
                spec.action
            );
        }
        Ok(spec)
    }

    /// The prepared transform for a spec, checked against this node's key.
    fn plan(&self, json: &str) -> Result<Arc<(ColumnSpec, BatchPlan)>> {
        if let Some(p) = self.plans.lock().ok().and_then(|m| m.get(json).cloned()) {
            return Ok(p);
        }
        let spec = self.parse_spec(json)?;
        let Some(key) = self.keys.key() else {
            return exec_err!(
                "{}: this node holds no txanon key and cannot compute column {:?} \
                 (only executors load the key)",
                self.action.function_name(),
                spec.column
            );
        };
        if spec.key != self.keys.fingerprint {
            return exec_err!(
                "key fingerprint mismatch: the plan for column {:?} was made for key {}, \
                 this node holds key {}; refusing to compute tokens with another key",
                spec.column,
                spec.key,
                self.keys.fingerprint
            );
        }
        let schema = match spec.to_schema() {
            Ok(s) => s,
            Err(e) => return plan_err!("{}: {e}", self.action.function_name()),
        };
        let plan = Arc::new((spec, BatchPlan::new(&schema, key)));
        if let Ok(mut m) = self.plans.lock() {
            m.insert(json.to_string(), plan.clone());
        }
        Ok(plan)
    }
}

impl ScalarUDFImpl for TxanonUdf {
    fn name(&self) -> &str {
        self.action.function_name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        internal_err!(
            "{}: the return type depends on the spec argument",
            self.name()
        )
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let Some(json) = spec_literal(args.scalar_arguments.get(1).copied().flatten()) else {
            return plan_err!(
                "{}(value, spec): spec must be a string literal (a txanon column spec)",
                self.name()
            );
        };
        let spec = self.parse_spec(json)?;
        let schema = match spec.to_schema() {
            Ok(s) => s,
            Err(e) => return plan_err!("{}: {e}", self.name()),
        };
        match schema.columns[0].output_type() {
            Some(t) => Ok(Arc::new(Field::new(self.name(), t, true))),
            None => plan_err!("{}: column {:?} is not written", self.name(), spec.column),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let json = match args.args.get(1) {
            Some(ColumnarValue::Scalar(v)) => spec_literal(Some(v)),
            _ => None,
        };
        let Some(json) = json else {
            return exec_err!("{}: spec must be a string literal", self.name());
        };
        let prepared = self.plan(json)?;
        let (spec, plan) = (&prepared.0, &prepared.1);
        let Some(value) = args.args.first() else {
            return exec_err!("{}: missing value argument", self.name());
        };
        let array = value.to_array(args.number_rows)?;
        let array: ArrayRef = if array.data_type() == &DataType::Utf8 {
            array
        } else {
            datafusion::arrow::compute::cast(&array, &DataType::Utf8)?
        };
        let Some(strings) = array.as_any().downcast_ref::<StringArray>() else {
            return internal_err!("{}: value is not a string array", self.name());
        };
        let (mut arrays, stats, issues) = plan.transform(&[strings]);
        if let Some(issue) = issues.first() {
            // The rule, never the value; the row's line is unknown here.
            return exec_err!(
                "column {:?}: {} (on_invalid = \"error\"); nothing was written. \
                 `txanon check` (or the native engine) names the line",
                spec.column,
                issue.rule
            );
        }
        if let (Ok(mut all), Some(st)) = (self.stats.lock(), stats.first()) {
            all.entry(spec.column.clone()).or_default().add(st);
        }
        match arrays.pop() {
            Some(a) => Ok(ColumnarValue::Array(a)),
            None => internal_err!("{}: transform returned no column", self.name()),
        }
    }
}

/// The three UDFs of one node, sharing its key ring.
#[derive(Debug, Clone)]
pub struct Udfs {
    keys: KeyRing,
    impls: Vec<Arc<TxanonUdf>>,
    udfs: Vec<Arc<ScalarUDF>>,
}

impl Udfs {
    /// Build the UDFs for a node holding `keys`.
    pub fn new(keys: KeyRing) -> Udfs {
        Udfs::with_named_columns(keys, HashMap::new())
    }

    /// UDFs that also accept a declared column's name in place of its spec
    /// (`named`: column name → spec JSON), for SQL typed by hand.
    pub fn with_named_columns(keys: KeyRing, named: HashMap<String, String>) -> Udfs {
        let named = Arc::new(named);
        let impls: Vec<Arc<TxanonUdf>> =
            [UdfAction::Keep, UdfAction::Tokenize, UdfAction::Generalize]
                .into_iter()
                .map(|a| Arc::new(TxanonUdf::new(a, keys.clone(), named.clone())))
                .collect();
        let udfs = impls
            .iter()
            .map(|i| Arc::new(ScalarUDF::new_from_shared_impl(i.clone())))
            .collect();
        Udfs { keys, impls, udfs }
    }

    /// The key ring.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// All UDFs, to register in a session or function registry.
    pub fn all(&self) -> &[Arc<ScalarUDF>] {
        &self.udfs
    }

    /// The UDF implementing `action`.
    pub fn get(&self, action: UdfAction) -> &Arc<ScalarUDF> {
        let i = match action {
            UdfAction::Keep => 0,
            UdfAction::Tokenize => 1,
            UdfAction::Generalize => 2,
        };
        &self.udfs[i]
    }

    /// Counters of every column computed on this node.
    pub fn stats(&self) -> StatsByColumn {
        let mut out = StatsByColumn::new();
        for i in &self.impls {
            for (col, st) in i.stats() {
                out.entry(col).or_default().add(&st);
            }
        }
        out
    }
}
