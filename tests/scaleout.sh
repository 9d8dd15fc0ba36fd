#!/usr/bin/env bash
# Scale-out proof (issue 8): the sample schema over the sample dump split into
# several files, run three ways through the `txanon` binary:
#   native     txanon anonymize
#   datafusion txanon anonymize --engine datafusion
#   ballista   txanon anonymize --engine ballista against a scheduler and two
#              executors started here on 127.0.0.1, each executor with its own
#              copy of the key file
# and compared: same schema and types, same rows in the same order, same
# tokens (pyarrow), and the same file bytes. Then: a client whose key differs
# from the executors' is refused and leaves no output, and no process log,
# plan dump or error contains the key or a canary raw value.
#
# Not part of tests/run.sh: it builds DataFusion and Ballista (see README,
# "When one machine is not enough", for the cold build time). CI (.ci/run)
# runs it after tests/run.sh.
#
# The build goes to its own target directory, target/scaleout (override with
# SCALEOUT_TARGET_DIR), without debug info: that cuts link time and disk, and
# leaves tests/run.sh's target/debug alone (different flags would otherwise
# make the two rebuild each other's artifacts).
#
# Usage: tests/scaleout.sh            (debug build, no debug info)
#        SCALEOUT_RELEASE=1 tests/scaleout.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
started=$(date +%s)

profile=debug
build_flags=(--locked -p txanon -p txanon-datafusion)
if [[ "${SCALEOUT_RELEASE:-}" == 1 ]]; then
    profile=release
    build_flags+=(--release)
fi
target_dir=${SCALEOUT_TARGET_DIR:-$ROOT/target/scaleout}
echo "== building txanon and txanon-datafusion ($profile, no debug info, in $target_dir)"
CARGO_TARGET_DIR="$target_dir" CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_RELEASE_DEBUG=0 \
    cargo build "${build_flags[@]}" --bins
BIN="$target_dir/$profile"
built=$(date +%s)

W=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${KEEP_SCALEOUT_DIR:-}" == 1 ]]; then
        echo "work directory kept: $W"
    else
        rm -rf "$W"
    fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Every client run is bounded, so a hung engine fails here with a message
# instead of eating CI's whole time limit.
STEP_TIMEOUT=${SCALEOUT_STEP_TIMEOUT:-300}

# Free ports on loopback, chosen by the kernel.
read -r P_SCHED P_E1 P_E1G P_E2 P_E2G < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()
EOF
)

wait_port() {
    local port=$1 what=$2
    for _ in $(seq 1 300); do
        if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $port)))"; then
            return 0
        fi
        sleep 0.2
    done
    fail "$what did not open port $port"
}

echo "== splitting the sample dump into 4 files (at record boundaries)"
mkdir -p "$W/parts" "$W/logs"
python3 - "$ROOT/data-samples/transactions.csv" "$W/parts" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
records, start, quoted = [], 0, False
for i, b in enumerate(data):
    if b == 0x22:
        quoted = not quoted
    elif b == 0x0A and not quoted:
        records.append(data[start:i + 1])
        start = i + 1
if start < len(data):
    records.append(data[start:])
header, body = records[0], records[1:]
n = 4
size = (len(body) + n - 1) // n
for k in range(n):
    with open(f"{sys.argv[2]}/part-{k:02d}.csv", "wb") as f:
        f.write(header)
        f.writelines(body[k * size:(k + 1) * size])
print(f"{len(body)} records in {n} files")
EOF
PARTS=("$W"/parts/part-*.csv)

SCHEMA="$ROOT/schemas/transactions.toml"
KEY="$ROOT/data-samples/demo.key"
cp "$KEY" "$W/client.key"
chmod 600 "$W/client.key"

echo "== native engine"
timeout "$STEP_TIMEOUT" "$BIN/txanon" anonymize --schema "$SCHEMA" --key-file "$W/client.key" -o "$W/native.parquet" \
    "${PARTS[@]}" >"$W/logs/native.out" 2>"$W/logs/native.err"

echo "== datafusion engine (txanon anonymize --engine datafusion)"
timeout "$STEP_TIMEOUT" "$BIN/txanon" anonymize --engine datafusion --threads 2 --schema "$SCHEMA" --key-file "$W/client.key" \
    -o "$W/datafusion.parquet" "${PARTS[@]}" >"$W/logs/datafusion.out" 2>"$W/logs/datafusion.err"

echo "== starting a Ballista scheduler and two executors on 127.0.0.1"
"$BIN/txanon-scheduler" --port "$P_SCHED" >"$W/logs/scheduler.log" 2>&1 &
PIDS+=($!)
wait_port "$P_SCHED" scheduler
for e in 1 2; do
    cp "$KEY" "$W/executor$e.key"
    chmod 600 "$W/executor$e.key"
    mkdir -p "$W/work$e"
done
RUST_LOG=${SCALEOUT_LOG:-debug} "$BIN/txanon-executor" --key-file "$W/executor1.key" \
    --scheduler-port "$P_SCHED" --port "$P_E1" --grpc-port "$P_E1G" --concurrent-tasks 2 \
    --work-dir "$W/work1" >"$W/logs/executor1.log" 2>&1 &
PIDS+=($!)
RUST_LOG=${SCALEOUT_LOG:-debug} "$BIN/txanon-executor" --key-file "$W/executor2.key" \
    --scheduler-port "$P_SCHED" --port "$P_E2" --grpc-port "$P_E2G" --concurrent-tasks 2 \
    --work-dir "$W/work2" >"$W/logs/executor2.log" 2>&1 &
PIDS+=($!)
wait_port "$P_E1" executor1
wait_port "$P_E2" executor2
sleep 2

echo "== ballista engine (txanon anonymize --engine ballista)"
timeout "$STEP_TIMEOUT" "$BIN/txanon" anonymize --engine ballista --scheduler "df://127.0.0.1:$P_SCHED" --schema "$SCHEMA" \
    --key-file "$W/client.key" -o "$W/ballista.parquet" "${PARTS[@]}" \
    >"$W/logs/ballista.out" 2>"$W/logs/ballista.err" || {
    cat "$W/logs/ballista.err" >&2
    fail "ballista run failed"
}

echo "== comparing outputs (pyarrow)"
python3 - "$W" <<'EOF'
import hashlib, sys
import pyarrow.parquet as pq
w = sys.argv[1]
native = pq.read_table(f"{w}/native.parquet")
assert native.num_rows == 3000, native.num_rows
for engine in ("datafusion", "ballista"):
    other = pq.read_table(f"{w}/{engine}.parquet")
    assert other.schema.equals(native.schema), (engine, other.schema, native.schema)
    assert other.num_rows == native.num_rows, (engine, other.num_rows)
    for name in native.column_names:
        a, b = native.column(name).to_pylist(), other.column(name).to_pylist()
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        assert not diff, f"{engine}: column {name} differs at {len(diff)} rows, first row {diff[0]}"
    meta_n = pq.read_metadata(f"{w}/native.parquet").metadata
    meta_o = pq.read_metadata(f"{w}/{engine}.parquet").metadata
    assert meta_n == meta_o, f"{engine}: footer metadata differs"
    same = hashlib.sha256(open(f"{w}/native.parquet", "rb").read()).hexdigest() == \
        hashlib.sha256(open(f"{w}/{engine}.parquet", "rb").read()).hexdigest()
    assert same, f"{engine}: same rows but the file bytes differ"
    print(f"{engine}: {other.num_rows} rows, {len(native.column_names)} columns, same types, "
          f"same values row for row, byte-identical file")
EOF

echo "== an executor refuses a plan made for another key"
"$BIN/txanon" keygen -o "$W/other.key" >/dev/null 2>&1
if timeout "$STEP_TIMEOUT" "$BIN/txanon" anonymize --engine ballista --scheduler "df://127.0.0.1:$P_SCHED" --schema "$SCHEMA" \
    --key-file "$W/other.key" -o "$W/wrong.parquet" "${PARTS[@]}" \
    >"$W/logs/wrongkey.out" 2>"$W/logs/wrongkey.err"; then
    fail "a job with another key's fingerprint succeeded"
fi
[[ ! -e "$W/wrong.parquet" ]] || fail "the refused job left an output"
grep -q "fingerprint mismatch" "$W/logs/wrongkey.err" || {
    cat "$W/logs/wrongkey.err" >&2
    fail "the refusal does not say why"
}
echo "refused: $(grep -o 'key fingerprint mismatch[^;]*' "$W/logs/wrongkey.err" | head -1)"

echo "== plan dump"
timeout "$STEP_TIMEOUT" "$BIN/txanon-df" explain --schema "$SCHEMA" --key-file "$W/client.key" "${PARTS[@]}" \
    >"$W/logs/explain.out" 2>"$W/logs/explain.err"
grep -q "txanon_tokenize" "$W/logs/explain.out" || fail "explain shows no txanon UDF"

echo "== no log, plan dump or error contains the key or a raw value"
python3 - "$W" "$ROOT/data-samples/demo.key" "$W/other.key" "$ROOT/data-samples/transactions.csv" <<'EOF'
import csv, glob, os, sys
w, demo_key, other_key, sample = sys.argv[1:5]
secrets = {"demo key": open(demo_key).read().strip(), "other key": open(other_key).read().strip()}
rows = list(csv.DictReader(open(sample, newline="", encoding="utf-8")))
canaries = {}
for col in ("customer_name", "id_card", "mobile", "email", "home_address", "ip_address", "account_id"):
    for r in rows[:200]:
        v = (r[col] or "").strip()
        if len(v) >= 8:
            canaries[f"{col} value"] = v
            break
# Positive control: every canary is in the inputs the cluster read.
parts = "".join(open(p, encoding="utf-8").read() for p in glob.glob(f"{w}/parts/*.csv"))
assert all(v in parts for v in canaries.values()), "canary extraction is broken"
assert len(canaries) >= 6, canaries.keys()
logs = sorted(glob.glob(f"{w}/logs/*"))
total = 0
for path in logs:
    text = open(path, encoding="utf-8", errors="replace").read()
    total += len(text)
    for what, s in list(secrets.items()) + list(canaries.items()):
        assert s not in text and s.lower() not in text.lower(), f"{os.path.basename(path)} contains the {what}"
print(f"{len(logs)} logs ({total} bytes, executors at RUST_LOG=debug): no key, none of {len(canaries)} canary values")
EOF

ended=$(date +%s)
echo "scaleout: OK (build $((built - started)) s, runs $((ended - built)) s, total $((ended - started)) s)"
