#!/usr/bin/env bash
# Atomic output under SIGKILL: kill -9 `txanon anonymize` at random moments,
# RUNS times (default 50), within a time bound (default 240 s). After every
# kill the target must hold either nothing or a complete Parquet file with the
# reference row count; stale temporary files (`.NAME.txanon-tmp-PID`) must be
# recognisable, and the next run must remove them. At least one killed run
# must have left such a file (else the cleanup check proved nothing): if the
# random kills left none at the end, up to 20 more runs are killed mid-write.
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

complete=0; absent=0; i=0; stale_runs=0
target="$work/out.parquet"
stale_count() { ls -a "$work" | grep -c '^\.out\.parquet\.txanon-tmp-' || true; }
# One run killed after DELAY_MS: checks the target and what is left beside it.
kill_once() {
    rm -f "$target"
    # Start the binary itself in the background (not a shell function, whose
    # subshell would take the SIGKILL instead of txanon).
    "$BIN" anonymize --schema schemas/transactions.toml --key-file "$key" -q --threads 2 \
        -o "$target" "$work/in.csv" & pid=$!
    sleep "$(awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }')"
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
    if [ "$(stale_count)" -gt 0 ]; then stale_runs=$((stale_runs + 1)); fi
}
while [ "$i" -lt "$RUNS" ] && [ $(( $(date +%s) - start )) -lt "$LIMIT" ]; do
    i=$((i + 1))
    kill_once $(( RANDOM % (span_ms * 13 / 10 + 50) ))
done
# The cleanup check below needs a stale file to clean: if the last runs left
# none (each run removes its predecessors' files), kill more runs mid-write
# (a third to two thirds of the way through) until one does, at most 20.
extra=0
while [ "$(stale_count)" -eq 0 ] && [ "$extra" -lt 20 ]; do
    extra=$((extra + 1)); i=$((i + 1))
    kill_once $(( span_ms / 3 + RANDOM % (span_ms / 3 + 1) ))
done
stale=$(stale_count)
# The next run cleans up the temporary files of killed runs.
run "$target"
left=$(stale_count)
echo "kill loop: $i runs ($extra extra): $complete complete outputs, $absent absent, $stale_runs left stale temp files, $stale stale before the next run, $left after"
[ "$stale_runs" -ge 1 ] && [ "$stale" -ge 1 ] || {
    echo "no run left a stale temporary file: the stale-file path was not exercised"; exit 1; }
[ "$left" -eq 0 ] || { echo "stale temporary files were not removed"; exit 1; }
[ "$i" -ge 10 ] || { echo "too few runs within the time limit"; exit 1; }
