#!/usr/bin/env bash
# Appends under SIGKILL with a concurrent reader (issue 17): a month-
# partitioned dataset grows by `anonymize --append`, one new day at a time,
# while appends are killed with SIGKILL at random moments, RUNS times
# (default 30) within a time bound (default 120 s). Meanwhile DuckDB counts
# the rows of `DATASET/**/*.parquet` (hive partitioning) in a loop. Checks:
# - every count DuckDB saw is the base plus a whole number of days (it never
#   saw part of an increment), and no query failed;
# - after every kill `txanon dataset` verifies the dataset as consistent, and
#   its row count is what DuckDB counts;
# - at least one kill landed before the commit (a temporary directory left
#   beside the dataset) and at least one append committed; the last, unkilled
#   append removes the temporaries, and the final dataset holds every
#   committed day exactly once.
#
#   bash tests/faults/append_kill_loop.sh [RUNS] [SECONDS] [path/to/txanon]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-30}
LIMIT=${2:-120}
BIN=${3:-target/debug/txanon}
work=$(mktemp -d)
reader=
cleanup() {
    if [ -n "$reader" ]; then kill "$reader" 2>/dev/null || true; wait "$reader" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

key="$work/k.key"
printf '%s\n' "$(printf '5e%.0s' $(seq 32))" > "$key"
chmod 600 "$key"
# Day N: the sample repeated twice (6,000 rows), its ids changed so each
# day has its own content (and SHA-256).
day() {
    python3 - "$work/day$1.csv" "$1" <<'PY'
import sys
text = open("data-samples/transactions.csv", encoding="utf-8").read()
header, body = text.split("\n", 1)
out, n = sys.argv[1], sys.argv[2]
open(out, "w", encoding="utf-8").write(header + "\n" + body.replace("\nT", "\nD" + n + "T") * 2)
PY
    echo "$work/day$1.csv"
}
append() {
    "$BIN" anonymize --schema schemas/transactions.toml --key-file "$key" -q --threads 2 \
        --append -o "$work/ds/" "$@"
}
# Rows of the dataset as `txanon dataset` counts them; fails unless consistent.
rows_of() {
    "$BIN" dataset --format json "$work/ds/" > "$work/status.json" || {
        echo "the dataset is not consistent:"; cat "$work/status.json"; return 1; }
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['checked']['rows'])" "$work/status.json"
}

"$BIN" anonymize --schema schemas/transactions.toml --key-file "$key" -q --threads 2 \
    --partition-by created_month -o "$work/ds" "$(day 0)"
base=$(rows_of)
per_day=6000

# The reader: counts rows through a glob, as an analyst's DuckDB would.
python3 - "$work/ds" "$work/seen.txt" <<'PY' &
import sys, time, duckdb
ds, log = sys.argv[1], sys.argv[2]
con = duckdb.connect()
with open(log, "w") as f:
    while True:
        time.sleep(0.01)
        try:
            n = con.execute(f"SELECT count(*) FROM read_parquet('{ds}/**/*.parquet', hive_partitioning = true)").fetchone()[0]
            f.write(f"{n}\n")
        except Exception as e:  # a failed query is a finding too
            f.write(f"error {type(e).__name__}\n")
        f.flush()
PY
reader=$!

# One append of day $1 killed after $2 ms.
kill_once() {
    "$BIN" anonymize --schema schemas/transactions.toml --key-file "$key" -q --threads 2 \
        --append -o "$work/ds/" "$work/day$1.csv" & pid=$!
    sleep "$(awk -v ms="$2" 'BEGIN { printf "%.3f", ms / 1000 }')"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
t0=$(date +%s%N); append "$(day 1)"; t1=$(date +%s%N)
span_ms=$(( (t1 - t0) / 1000000 ))
committed=1
start=$(date +%s)
i=0; stale_runs=0; next=2
day "$next" >/dev/null
stale() { ls -a "$work" | grep -c '^\.ds\.txanon-tmp-' || true; }
while [ "$i" -lt "$RUNS" ] && [ $(( $(date +%s) - start )) -lt "$LIMIT" ]; do
    i=$((i + 1))
    kill_once "$next" $(( RANDOM % (span_ms * 13 / 10 + 50) ))
    rows=$(rows_of) || { echo "run $i: after a kill"; exit 1; }
    if [ "$rows" -eq $(( base + (committed + 1) * per_day )) ]; then
        committed=$((committed + 1)); next=$((next + 1)); day "$next" >/dev/null
    elif [ "$rows" -ne $(( base + committed * per_day )) ]; then
        echo "run $i: $rows rows, expected $(( base + committed * per_day )) or one day more"; exit 1
    fi
    if [ "$(stale)" -gt 0 ]; then stale_runs=$((stale_runs + 1)); fi
done
left_before=$(stale)
# The last append is not killed: it commits and removes the temporaries.
append "$work/day$next.csv"
committed=$((committed + 1))
sleep 0.5
kill "$reader" 2>/dev/null || true; wait "$reader" 2>/dev/null || true; reader=
final=$(rows_of)
left=$(stale)
python3 - "$work/seen.txt" "$base" "$per_day" "$i" "$committed" "$stale_runs" "$left_before" "$left" "$final" <<'PY'
import sys
log, base, per, runs, committed, stale_runs, before, left, final = sys.argv[1], *map(int, sys.argv[2:])
seen = [l.strip() for l in open(log) if l.strip()]
errors = [s for s in seen if s.startswith("error")]
counts = [int(s) for s in seen if not s.startswith("error")]
bad = sorted({c for c in counts if (c - base) % per != 0})
print(f"append kill loop: {runs} killed appends, {committed} days committed, "
      f"{stale_runs} kills left a temporary directory ({before} before the last append, {left} after); "
      f"DuckDB ran {len(seen)} queries: {len(set(counts))} distinct counts, {len(bad)} partial, {len(errors)} failed")
ok = True
if bad: print(f"DuckDB saw partial increments: {bad[:10]}"); ok = False
if errors: print(f"DuckDB queries failed: {errors[:5]}"); ok = False
if final != base + committed * per: print(f"final rows {final}, expected {base + committed * per}"); ok = False
if len(counts) < 10: print("too few DuckDB queries to mean anything"); ok = False
if stale_runs < 1: print("no kill landed before a commit: the temporary-directory path was not exercised"); ok = False
if committed < 2: print("no killed append committed"); ok = False
if left != 0: print("temporary directories were not removed by the next append"); ok = False
if runs < 10: print("too few runs within the time limit"); ok = False
sys.exit(0 if ok else 1)
PY
