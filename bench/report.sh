#!/usr/bin/env bash
# Time `txanon report` on a large release, optionally side by side with
# another txanon binary (an older commit's), in one run.
#
#   bash bench/report.sh [DATA_DIR] [OLD_TXANON]
#
# ROWS (default 5000000) and RUNS (default 3) come from the environment.
# DATA_DIR (default /tmp/txanon-report-bench) holds the dump, the release
# and the pages; keep it outside the repository (the dump is 1.4 GB).
#
# Steps: generate DATA_DIR/dump-ROWS.csv once (data-samples/generate.py,
# seed 42), build txanon (release), anonymize the dump once with
# schemas/transactions-private.toml (the entity-k gate: the report then
# recomputes k, l and unicity) and the demo key, then run
# `txanon report REL --schema S -o PAGE` RUNS times per binary, the
# binaries alternating, each under /usr/bin/time -v. Prints wall time and
# peak RSS of every run, the medians, and the load average before each run.
set -euo pipefail

ROWS="${ROWS:-5000000}"
RUNS="${RUNS:-3}"
DATA="${1:-/tmp/txanon-report-bench}"
OLD="${2:-}"

cd "$(dirname "$0")/.."
case "$ROWS$RUNS" in *[!0-9]*) echo "report.sh: ROWS and RUNS must be integers" >&2; exit 2;; esac
case "$(realpath -m "$DATA")/" in "$(pwd)/"*) echo "report.sh: keep DATA_DIR outside the repository" >&2; exit 2;; esac
mkdir -p "$DATA"

SCHEMA=schemas/transactions-private.toml
KEY=data-samples/demo.key
DUMP="$DATA/dump-$ROWS.csv"
REL="$DATA/rel-$ROWS.parquet"

if [[ ! -f "$DUMP" ]]; then
    echo "== dump: generating $DUMP ($ROWS rows, seed 42)"
    python3 data-samples/generate.py --rows "$ROWS" --seed 42 --out "$DUMP.tmp"
    mv "$DUMP.tmp" "$DUMP"
fi

echo "== build: cargo build --release --locked"
cargo build --release --locked
NEW="$DATA/txanon-$(git rev-parse --short HEAD)"
cp target/release/txanon "$NEW"

if [[ ! -f "$REL" ]]; then
    echo "== release: anonymize $DUMP with $SCHEMA"
    /usr/bin/time -f "anonymize: %e s wall, %M KiB peak RSS" \
        "$NEW" anonymize --schema "$SCHEMA" --key-file "$KEY" --quiet -o "$REL" "$DUMP" 2>&1 \
        | grep -v -i "demo key" || true
    [[ -f "$REL" ]] || { echo "report.sh: anonymize wrote no release" >&2; exit 1; }
fi

BINS=("$NEW")
[[ -n "$OLD" ]] && BINS=("$OLD" "$NEW")
RESULTS="$DATA/report-times.tsv"
: > "$RESULTS"
for run in $(seq 1 "$RUNS"); do
    for bin in "${BINS[@]}"; do
        name="$(basename "$bin")"
        load="$(cut -d' ' -f1-3 /proc/loadavg)"
        log="$DATA/time-$name-$run.log"
        /usr/bin/time -v "$bin" report "$REL" --schema "$SCHEMA" \
            -o "$DATA/page-$name-$run.html" 2> "$log"
        wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")"
        secs="$(echo "$wall" | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')"
        rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")"
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$run" "$secs" "$rss" "$load" | tee -a "$RESULTS"
    done
done

echo "== medians (binary, wall s, peak RSS MiB)"
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
for bin in "${BINS[@]}"; do
    name="$(basename "$bin")"
    wall="$(awk -F'\t' -v n="$name" '$1 == n { print $3 }' "$RESULTS" | median)"
    rss="$(awk -F'\t' -v n="$name" '$1 == n { print $4 }' "$RESULTS" | median)"
    printf '%s\t%s s\t%s MiB\n' "$name" "$wall" "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')"
done
echo "== pages: same figures? (k, suppressed rows and unicity rows of each page)"
for bin in "${BINS[@]}"; do
    name="$(basename "$bin")"
    grep -o '<div class="l">k</div><div class="v">[^<]*\|<div class="l">Suppressed rows</div><div class="v">[^<]*\|<td class="num">[24]</td><td class="num">[^<]*</td><td>[^<]*' \
        "$DATA/page-$name-1.html" | sed 's/<[^>]*>/ /g; s/  */ /g' | sed "s/^/$name:/"
done
