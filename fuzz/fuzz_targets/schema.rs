#![no_main]
//! The schema loader: any text gives a schema or a schema error, never a
//! panic; a schema that loads also yields its output schema and a batch plan.

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use txanon::key::MasterKey;
use txanon::schema::Schema;
use txanon::transform::batch::BatchPlan;

const KEY_HEX: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Schema::from_toml(text, Path::new("fuzz.toml")) {
        Ok(schema) => {
            let out = schema.output_schema();
            let key = MasterKey::from_hex(KEY_HEX).expect("fixed key");
            let plan = BatchPlan::new(&schema, &key);
            assert_eq!(plan.columns.len(), out.fields().len());
            let again = Schema::from_toml(text, Path::new("fuzz.toml")).expect("loads twice");
            assert_eq!(again.sha256, schema.sha256);
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("fuzz.toml"),
                "errors name the schema file: {message}"
            );
        }
    }
});
