#!/usr/bin/env bash
# Atomic output under SIGKILL: kill -9 `txanon anonymize` at random moments,
# RUNS times (default 50), within a time bound (default 240 s). After every
# kill the target must hold either nothing or a complete Parquet file with the
# reference row count; stale temporary files (`.NAME.txanon-tmp-PID`) must be
# recognisable, and the next run must remove them.
#
#   bash tests/faults/kill_loop.sh [RUNS] [SECONDS] [path/to/txanon]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-50}
LIMIT=${2:-240}
BIN=${3:-target/debug/txanon}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Input: the sample, repeated to ~30,000 rows so a run lasts long enough to be killed mid-way.
python3 - "$work/in.csv" <<'PY'
import sys
text = open("data-samples/transactions.csv", encoding="utf-8").read()
header, body = text.split("\n", 1)
open(sys.argv[1], "w", encoding="utf-8").write(header + "\n" + body * 10)
PY
key="$work/k.key"
printf '%s\n' "$(printf '5e%.0s' $(seq 32))" > "$key"
chmod 600 "$key"
run() { "$BIN" anonymize --schema schemas/transactions.toml --key-file "$key" -q --threads 2 -o "$1" "$work/in.csv"; }

run "$work/ref.parquet"
ref_rows=$(python3 -c "import pyarrow.parquet as pq,sys; print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)" "$work/ref.parquet")
start=$(date +%s)
# Time a run to pick kill moments across its whole span.
t0=$(date +%s%N); run "$work/timing.parquet"; t1=$(date +%s%N)
span_ms=$(( (t1 - t0) / 1000000 ))
rm -f "$work/timing.parquet"

complete=0; absent=0; i=0
target="$work/out.parquet"
while [ "$i" -lt "$RUNS" ] && [ $(( $(date +%s) - start )) -lt "$LIMIT" ]; do
    i=$((i + 1))
    rm -f "$target"
    # Start the binary itself in the background (not a shell function, whose
    # subshell would take the SIGKILL instead of txanon).
    "$BIN" anonymize --schema schemas/transactions.toml --key-file "$key" -q --threads 2 \
        -o "$target" "$work/in.csv" & pid=$!
    delay_ms=$(( RANDOM % (span_ms * 13 / 10 + 50) ))
    sleep "$(awk -v ms="$delay_ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ -e "$target" ]; then
        rows=$(python3 -c "import pyarrow.parquet as pq,sys; print(pq.ParquetFile(sys.argv[1]).metadata.num_rows)" "$target") || {
            echo "run $i: target exists but is not a readable Parquet file"; exit 1; }
        [ "$rows" = "$ref_rows" ] || { echo "run $i: target has $rows rows, expected $ref_rows"; exit 1; }
        complete=$((complete + 1))
    else
        absent=$((absent + 1))
    fi
    # Any leftovers must be recognisable temporary files.
    for f in "$work"/.out.parquet*; do
        [ -e "$f" ] || continue
        case "$f" in *".txanon-tmp-"*) ;; *) echo "run $i: unexpected file $f"; exit 1;; esac
    done
done
stale=$(ls -a "$work" | grep -c '^\.out\.parquet\.txanon-tmp-' || true)
# The next run cleans up the temporary files of killed runs.
run "$target"
left=$(ls -a "$work" | grep -c '^\.out\.parquet\.txanon-tmp-' || true)
echo "kill loop: $i runs: $complete complete outputs, $absent absent, $stale stale temp files before the next run, $left after"
[ "$left" -eq 0 ] || { echo "stale temporary files were not removed"; exit 1; }
[ "$i" -ge 10 ] || { echo "too few runs within the time limit"; exit 1; }
