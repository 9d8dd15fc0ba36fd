#!/usr/bin/env bash
# Hostile large inputs under a 1 GiB address-space limit (prlimit --as):
#   a 100 MB field in a tokenized column, a 100 MB field in a kept column,
#   a 100 MB header made of one name, a 100,000-column header,
#   a line of 10^7 commas, and a quote opened 100 MB before the end of file.
# Each run must end in exit 0 or 2 (never a panic, an abort, a signal or a
# hang: each run is bounded by `timeout`), exit 2 must name the file (and the
# line where there is one), stderr stays short and quotes no field, and a
# failed run leaves nothing at the target.
#
#   bash tests/faults/big_inputs.sh [path/to/txanon] [SECONDS_PER_CASE]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(realpath "${1:-target/debug/txanon}")
LIMIT=${2:-180}
AS_LIMIT=$((1 << 30))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
key="$work/k.key"
printf '%s\n' "$(printf '3c%.0s' $(seq 32))" > "$key"
chmod 600 "$key"

header=$(head -n 1 data-samples/transactions.csv)
row() { # $1 = txn_id, $2 = home_address (raw CSV text)
    printf '%s,2008-05-31 23:30:00,2088000000000001,A,,13800138000,a@b.cn,%s,addr,1980-07-15,10.00,CNY,M1,web,false,1,\n' "$1" "$2"
}
# The filler byte 'q' never appears in a message: a hit means a field was quoted.
big() { head -c "$1" /dev/zero | tr '\0' q; }
hundred_mb=$((100 * 1000 * 1000))
{ echo "$header"; row T1 "\"$(big $hundred_mb)\""; row T2 addr; } > "$work/big_token_field.csv"
{ echo "$header"; row "$(big $hundred_mb)" addr; } > "$work/big_keep_field.csv"
{ big $hundred_mb; echo; row T1 addr; } > "$work/big_header_name.csv"
python3 - "$work/wide_header.csv" "$header" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write(sys.argv[2] + "".join(f",extra{i}" for i in range(100_000)) + "\n")
PY
{ echo "$header"; row T1 addr; head -c 10000000 /dev/zero | tr '\0' ,; echo; } > "$work/ten_million_commas.csv"
{ echo "$header"; row T1 addr; printf 'T2,"'; big $hundred_mb; echo; } > "$work/unterminated_quote.csv"
{ echo "$header"; row T1 addr; printf 'T2,"'; big 1000000; echo; } > "$work/unterminated_quote_1mb.csv"

failed=0
check() { # name, expected exit codes (e.g. "0 2"), text stderr must contain on exit 2
    local name=$1 expect=$2 want=$3
    local out="$work/$name.parquet" err="$work/$name.stderr"
    local t0 t1 code=0
    t0=$(date +%s%N)
    prlimit --as=$AS_LIMIT timeout -s KILL "$LIMIT" \
        "$BIN" anonymize --schema schemas/transactions.toml --key-file "$key" -q --threads 2 \
        -o "$out" "$work/$name.csv" 2>"$err" >/dev/null || code=$?
    t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 )) bytes
    bytes=$(wc -c <"$err")
    local verdict=ok
    case " $expect " in *" $code "*) ;; *) verdict="exit $code, expected one of: $expect";; esac
    if [ "$code" -ge 128 ]; then verdict="killed by signal $((code - 128)) (137 = timeout or OOM kill)"; fi
    if grep -q -e panicked -e 'memory allocation' "$err"; then verdict="panic or allocation failure"; fi
    if grep -q qqqqqqqq "$err"; then verdict="a field value was quoted in stderr"; fi
    if [ "$bytes" -gt 4096 ]; then verdict="stderr is $bytes bytes"; fi
    if [ "$code" -eq 2 ]; then
        grep -q -F "$name.csv$want" "$err" || verdict="stderr lacks '$name.csv$want'"
        [ ! -e "$out" ] || verdict="a failed run left its target"
    fi
    if [ "$code" -eq 0 ]; then
        python3 -c "import pyarrow.parquet as pq,sys; pq.read_table(sys.argv[1])" "$out" \
            || verdict="exit 0 but the output does not read back"
    fi
    printf '%-22s exit %-3s %6d ms  %s\n' "$name" "$code" "$ms" "$verdict"
    if [ "$verdict" != ok ]; then
        failed=$((failed + 1))
        head -c 2000 "$err"
    fi
    rm -f "$out"
}

check big_token_field "0 2" ""
check big_keep_field "0 2" ""
check big_header_name "2" ""
check wide_header "2" ": undeclared column(s)"
check ten_million_commas "2" ":3: (record): wrong field count"
# A quote left open for 100 MB reaches the 64 MiB record limit first
# (csv::MAX_RECORD_BYTES); one left open for 1 MB reaches the end of the file.
check unterminated_quote "2" ":3: (record): record longer than 64 MiB"
check unterminated_quote_1mb "2" ":3: (record): unterminated quoted field"
echo "big inputs under a 1 GiB address-space limit: $((7 - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
