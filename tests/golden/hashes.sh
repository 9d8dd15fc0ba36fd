#!/usr/bin/env bash
# Golden output hashes: SHA-256 of what txanon writes for the sample schemas,
# compared with tests/golden/expected.sha256. A refactoring that must not
# change output bytes (issue 13) runs this before and after each move.
#
# Covered, each at --threads 1 and 2 where it says so:
#   anonymize  schemas/transactions.toml and schemas/transactions-private.toml
#              over data-samples/transactions.csv, its .gz, an NDJSON and a
#              Parquet copy of it, the GB18030 sample, and a generated
#              200,000-row dump (data-samples/generate.py --seed 42, as
#              bench/run.sh makes it); single file, directory (DIR/) and
#              --partition-by outputs, every part file and _manifest.json
#   check      --format json, scan and init over the sample in its encodings
#              and formats (the generated dump is left out of these: with a
#              debug build they take longer than all the anonymize runs)
# Inputs are copied into a scratch directory and named relative to it, so
# paths printed in reports and manifests do not depend on the checkout.
#
# Usage: tests/golden/hashes.sh            compare (exit 1 on any difference)
#        tests/golden/hashes.sh --update   rewrite expected.sha256 (only for a
#                                          change that means to alter output)
# TXANON_BIN=path uses that binary instead of building target/debug/txanon;
# GOLDEN_EXPECTED=path reads (or with --update writes) another hash file;
# GOLDEN_ROWS=N changes the generated dump's size (the expected file is for
# 200000).
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
EXPECTED=${GOLDEN_EXPECTED:-$ROOT/tests/golden/expected.sha256}
ROWS=${GOLDEN_ROWS:-200000}
update=0
if [[ "${1:-}" == "--update" ]]; then
    update=1
fi

if [[ -z "${TXANON_BIN:-}" ]]; then
    cargo build --locked --quiet --bin txanon
    TXANON_BIN=$ROOT/target/debug/txanon
fi

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"

# Inputs.
cp "$ROOT/data-samples/transactions.csv" sample.csv
cp "$ROOT/data-samples/transactions.csv.gz" sample.csv.gz
cp "$ROOT/data-samples/transactions-gb18030.csv" sample-gb18030.csv
cp "$ROOT/data-samples/demo.key" demo.key
chmod 600 demo.key
cp "$ROOT/schemas/transactions.toml" plain.toml
cp "$ROOT/schemas/transactions-private.toml" private.toml
sed 's/^timezone = .*/&\nencoding = "gb18030"/' plain.toml >gb18030.toml
python3 "$ROOT/data-samples/generate.py" --rows "$ROWS" --seed 42 --out dump.csv
python3 - <<'EOF'
import csv, json
with open("sample.csv", newline="", encoding="utf-8") as f, open("sample.ndjson", "w", encoding="utf-8") as o:
    for r in csv.DictReader(f):
        o.write(json.dumps(r, ensure_ascii=False) + "\n")
EOF
# A Parquet copy of the sample (string columns), written by txanon itself
# with a keep-everything schema.
{
    printf '[dataset]\nname = "copy"\nversion = 1\n[input]\nheader = true\n'
    for c in $(head -1 sample.csv | tr ',' ' '); do
        printf '[[columns]]\nname = "%s"\naction = "keep"\n' "$c"
    done
} >keep.toml
"$TXANON_BIN" anonymize --schema keep.toml --key-file demo.key --quiet -o sample.parquet sample.csv 2>/dev/null

out=$W/hashes
: >"$out"

# hash NAME FILE...: one line per file, "sha256  NAME/relative-path".
hash_tree() {
    local name=$1 target=$2
    if [[ -d "$target" ]]; then
        (cd "$target" && find . -type f | LC_ALL=C sort | while read -r f; do
            printf '%s  %s/%s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$name" "${f#./}"
        done) >>"$out"
    else
        printf '%s  %s\n' "$(sha256sum "$target" | cut -d' ' -f1)" "$name" >>"$out"
    fi
}

# anon NAME SCHEMA THREADS OUTPUT-KIND INPUT...
anon() {
    local name=$1 schema=$2 threads=$3 kind=$4
    shift 4
    local target=out-$name extra=()
    case $kind in
        file) target=$target.parquet ;;
        dir) target=$target/ ;;
        part:*) extra=(--partition-by "${kind#part:}") ;;
    esac
    rm -rf "${target%/}"
    "$TXANON_BIN" anonymize --schema "$schema" --key-file demo.key --quiet \
        --threads "$threads" "${extra[@]}" -o "$target" "$@" 2>"err-$name" || {
        echo "anonymize $name failed:" >&2
        cat "err-$name" >&2
        exit 1
    }
    hash_tree "anonymize-$name" "${target%/}"
    rm -rf "${target%/}"
}

# report NAME CMD...: stdout and exit code of a reporting command.
report() {
    local name=$1 rc=0
    shift
    "$TXANON_BIN" "$@" >"rep-$name" 2>/dev/null || rc=$?
    printf 'exit %s\n' "$rc" >>"rep-$name"
    hash_tree "$name" "rep-$name"
}

for t in 1 2; do
    anon "plain-sample-t$t" plain.toml "$t" file sample.csv
    anon "plain-gz-t$t" plain.toml "$t" file sample.csv.gz
    anon "plain-ndjson-t$t" plain.toml "$t" file sample.ndjson
    anon "plain-parquet-t$t" plain.toml "$t" file sample.parquet
    anon "plain-gb18030-t$t" gb18030.toml "$t" file sample-gb18030.csv
    anon "plain-many-t$t" plain.toml "$t" dir sample.csv sample.csv.gz sample.ndjson sample.parquet
    anon "private-sample-t$t" private.toml "$t" file sample.csv
    anon "private-dir-t$t" private.toml "$t" dir sample.csv sample.csv.gz
    anon "private-part-t$t" private.toml "$t" part:channel sample.csv
    anon "plain-dump-t$t" plain.toml "$t" file dump.csv
    anon "plain-dump-part-t$t" plain.toml "$t" part:created_month dump.csv
done
anon "plain-dump-dir-t2" plain.toml 2 dir dump.csv

for input in sample.csv sample.csv.gz sample.ndjson sample.parquet; do
    report "check-plain-$input" check --schema plain.toml --format json "$input"
    report "check-private-$input" check --schema private.toml --format json "$input"
    report "scan-$input" scan --format json "$input"
    report "init-$input" init "$input"
done
report check-gb18030 check --schema gb18030.toml --format json sample-gb18030.csv
report scan-gb18030 scan --format json --encoding gb18030 sample-gb18030.csv
report init-gb18030 init --encoding gb18030 sample-gb18030.csv

if [[ $update == 1 ]]; then
    cp "$out" "$EXPECTED"
    echo "wrote $(wc -l <"$EXPECTED") hashes to ${EXPECTED#"$ROOT"/}"
    exit 0
fi
if diff -u "$EXPECTED" "$out"; then
    echo "golden hashes: all $(wc -l <"$out") equal"
else
    echo "golden hashes: DIFFERENT (see above)" >&2
    exit 1
fi
