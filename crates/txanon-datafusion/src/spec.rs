//! The per-column specification a UDF call carries as its second argument.
//!
//! A compiled plan calls `txanon_tokenize(c5, '{"v":1,"key":"9f3c…",…}')`:
//! the literal says *what* to do with the column (the schema's action, token
//! options, time zone) and *under which key* (the key's public fingerprint),
//! never the key itself. It is the only thing that travels to executors, so
//! it is what `EXPLAIN`, serialized plans and scheduler logs show.
//!
//! [`ColumnSpec::to_schema`] turns it back into a one-column
//! [`txanon::schema::Schema`], which the UDF hands to the core's
//! [`txanon::transform::batch::BatchPlan`]: the DataFusion engine runs the
//! CLI's own transform code, value for value.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use txanon::io::csv::Dialect;
use txanon::io::source::TextEncoding;
use txanon::schema::{
    Action, Column, InputFormat, InputOptions, OnInvalid, OutputOptions, Schema, TokenEncoding,
    TokenOptions, ValueType,
};
use txanon::transform::generalize::Granularity;
use txanon::transform::normalize::{known_phone_region, Kind};

/// Version of the spec format; a UDF refuses other versions.
pub const SPEC_VERSION: u32 = 1;

/// One output column's transform, as carried in a plan. Contains no key
/// material and no data values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// [`SPEC_VERSION`].
    pub v: u32,
    /// Public fingerprint of the key the plan was made for.
    pub key: String,
    /// Input column name (for messages).
    pub column: String,
    /// Declared value type, schema spelling.
    #[serde(rename = "type")]
    pub value_type: String,
    /// strftime pattern of dates/timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `keep`, `tokenize` or `generalize`.
    pub action: String,
    /// Tokenize: `id`, `email`, `address` or `phone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Tokenize phone: default region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Tokenize: namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Generalize: period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// `null`, `error` or `token`.
    pub on_invalid: String,
    /// `[input].timezone`.
    pub timezone: String,
    /// Token context.
    pub context: String,
    /// Token bits.
    pub bits: u16,
    /// `hex` or `base64url`.
    pub encoding: String,
}

fn on_invalid_name(o: OnInvalid) -> &'static str {
    match o {
        OnInvalid::Null => "null",
        OnInvalid::Error => "error",
        OnInvalid::Token => "token",
    }
}

fn granularity_name(g: Granularity) -> &'static str {
    match g {
        Granularity::Hour => "hour",
        Granularity::Day => "day",
        Granularity::Week => "week",
        Granularity::Month => "month",
        Granularity::Quarter => "quarter",
        Granularity::Year => "year",
    }
}

fn value_type_name(t: ValueType) -> String {
    match t {
        ValueType::String => "string".into(),
        ValueType::Int => "int".into(),
        ValueType::Float => "float".into(),
        ValueType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
        ValueType::Bool => "bool".into(),
        ValueType::Date => "date".into(),
        ValueType::Timestamp => "timestamp".into(),
    }
}

impl ColumnSpec {
    /// The spec of `column` of `schema` under the key with `fingerprint`;
    /// `None` for dropped columns (they are simply not projected).
    pub fn from_column(
        schema: &Schema,
        column: &Column,
        fingerprint: &str,
    ) -> Result<Option<ColumnSpec>, String> {
        let mut spec = ColumnSpec {
            v: SPEC_VERSION,
            key: fingerprint.to_string(),
            column: column.name.clone(),
            value_type: value_type_name(column.value_type),
            format: column.format.clone(),
            action: column.action.name().to_string(),
            kind: None,
            region: None,
            namespace: None,
            to: None,
            on_invalid: String::new(),
            timezone: schema.input.timezone.name().to_string(),
            context: schema.tokens.context.clone(),
            bits: schema.tokens.bits,
            encoding: match schema.tokens.encoding {
                TokenEncoding::Hex => "hex".into(),
                TokenEncoding::Base64Url => "base64url".into(),
            },
        };
        match &column.action {
            Action::Drop => return Ok(None),
            Action::Keep { on_invalid } => spec.on_invalid = on_invalid_name(*on_invalid).into(),
            Action::Tokenize {
                kind,
                namespace,
                on_invalid,
            } => {
                spec.kind = Some(kind.name().into());
                if let Kind::Phone { region } = kind {
                    spec.region = region.map(|r| r.to_string());
                }
                spec.namespace = Some(namespace.clone());
                spec.on_invalid = on_invalid_name(*on_invalid).into();
            }
            Action::Generalize { to, on_invalid } => {
                spec.to = Some(granularity_name(*to).into());
                spec.on_invalid = on_invalid_name(*on_invalid).into();
            }
            other => {
                return Err(format!(
                    "column {:?}: action = {:?} is not supported by the datafusion engine; \
                     use the native engine",
                    column.name,
                    other.name()
                ))
            }
        }
        Ok(Some(spec))
    }

    /// Parse the JSON literal of a UDF call.
    pub fn parse(json: &str) -> Result<ColumnSpec, String> {
        let spec: ColumnSpec = serde_json::from_str(json)
            .map_err(|e| format!("txanon column spec is not valid: {e}"))?;
        if spec.v != SPEC_VERSION {
            return Err(format!(
                "txanon column spec version {} is not supported (this build reads version {SPEC_VERSION})",
                spec.v
            ));
        }
        Ok(spec)
    }

    /// The JSON literal.
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A one-column schema equivalent to this spec, for the core's BatchPlan.
    pub fn to_schema(&self) -> Result<Schema, String> {
        let bad = |what: &str, v: &str| format!("column {:?}: unknown {what} {v:?}", self.column);
        let value_type =
            ValueType::parse(&self.value_type).ok_or_else(|| bad("type", &self.value_type))?;
        let on_invalid = match self.on_invalid.as_str() {
            "null" => OnInvalid::Null,
            "error" => OnInvalid::Error,
            "token" => OnInvalid::Token,
            other => return Err(bad("on_invalid", other)),
        };
        let action = match self.action.as_str() {
            "keep" => Action::Keep { on_invalid },
            "tokenize" => {
                let kind_name = self.kind.as_deref().unwrap_or("");
                let kind = match kind_name {
                    "id" => Kind::Id,
                    "email" => Kind::Email,
                    "address" => Kind::Address,
                    "phone" => Kind::Phone {
                        region: match self.region.as_deref() {
                            None => None,
                            Some(code) => {
                                Some(known_phone_region(code).ok_or_else(|| bad("region", code))?)
                            }
                        },
                    },
                    other => return Err(bad("kind", other)),
                };
                Action::Tokenize {
                    kind,
                    namespace: self
                        .namespace
                        .clone()
                        .unwrap_or_else(|| kind.name().to_string()),
                    on_invalid,
                }
            }
            "generalize" => {
                let to_name = self.to.as_deref().unwrap_or("");
                Action::Generalize {
                    to: Granularity::parse(to_name).ok_or_else(|| bad("period", to_name))?,
                    on_invalid,
                }
            }
            other => return Err(bad("action", other)),
        };
        let timezone: chrono_tz::Tz = self
            .timezone
            .parse()
            .map_err(|_| bad("time zone", &self.timezone))?;
        let encoding = match self.encoding.as_str() {
            "hex" => TokenEncoding::Hex,
            "base64url" => TokenEncoding::Base64Url,
            other => return Err(bad("token encoding", other)),
        };
        if !(96..=256).contains(&self.bits) || !self.bits.is_multiple_of(8) {
            return Err(format!(
                "column {:?}: token bits {} out of range",
                self.column, self.bits
            ));
        }
        Ok(Schema {
            path: PathBuf::from("(plan)"),
            sha256: String::new(),
            name: String::new(),
            version: 0,
            description: None,
            input: InputOptions {
                format: InputFormat::Csv,
                dialect: Dialect::default(),
                header: true,
                encoding: TextEncoding::Utf8,
                encodings: Vec::new(),
                null_values: vec![String::new()],
                timezone,
            },
            output: OutputOptions::default(),
            privacy: None,
            tokens: TokenOptions {
                context: self.context.clone(),
                bits: self.bits,
                encoding,
            },
            columns: vec![Column {
                name: self.column.clone(),
                value_type,
                format: self.format.clone(),
                action,
                output: self.column.clone(),
                allow_raw: None,
                quasi: false,
                sensitive: false,
                derive: Vec::new(),
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_column_round_trips() {
        let schema = Schema::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../schemas/transactions.toml"),
        )
        .unwrap();
        let mut n = 0;
        for c in &schema.columns {
            let Some(spec) = ColumnSpec::from_column(&schema, c, "00112233aabbccdd").unwrap()
            else {
                assert_eq!(c.action, Action::Drop);
                continue;
            };
            n += 1;
            let back = ColumnSpec::parse(&spec.to_json()).unwrap();
            assert_eq!(back, spec);
            let one = back.to_schema().unwrap();
            assert_eq!(one.columns[0].action, c.action, "{}", c.name);
            assert_eq!(one.columns[0].value_type, c.value_type);
            assert_eq!(one.columns[0].format, c.format);
            assert_eq!(one.input.timezone, schema.input.timezone);
            assert_eq!(one.columns[0].output_type(), c.output_type());
        }
        assert_eq!(n, 14);
    }

    #[test]
    fn bad_specs_are_refused_by_name() {
        assert!(ColumnSpec::parse("{}").is_err());
        let schema = Schema::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../schemas/transactions.toml"),
        )
        .unwrap();
        let c = schema.column("mobile").unwrap();
        let mut spec = ColumnSpec::from_column(&schema, c, "ff").unwrap().unwrap();
        spec.v = 2;
        assert!(ColumnSpec::parse(&spec.to_json())
            .unwrap_err()
            .contains("version 2"));
        spec.v = 1;
        spec.kind = Some("shoe size".into());
        assert!(spec.to_schema().unwrap_err().contains("unknown kind"));
    }
}
