#!/usr/bin/env bash
# txanon's native pipeline beside --engine datafusion, side by side.
#
#   bash bench/engines.sh [ROWS] [RUNS] [FILES] [THREADS]
#
# Defaults: 1000000 rows, 3 runs, 8 files, 2 threads. The generated dump
# (data-samples/generate.py --seed 42, as bench/run.sh makes it) is split into
# FILES files at record boundaries, because the DataFusion engine runs in
# parallel across files; both engines get the same files in the same order.
# Runs are interleaved (native, datafusion, native, ...), wall time and peak
# RSS per run, medians printed as a Markdown table; the outputs of the two
# engines are compared byte for byte.
set -euo pipefail

ROWS="${1:-1000000}"
RUNS="${2:-3}"
FILES="${3:-8}"
THREADS="${4:-2}"
cd "$(dirname "$0")/.."
mkdir -p bench/out

DUMP="bench/out/dump-${ROWS}.csv"
MARKER="${DUMP}.size"
if [[ -f "$DUMP" && -f "$MARKER" && "$(cat "$MARKER")" == "$(stat -c %s "$DUMP")" ]]; then
    echo "== dump: $DUMP exists, reusing it"
else
    echo "== dump: generating $DUMP ($ROWS rows, seed 42)"
    rm -f "$MARKER"
    python3 data-samples/generate.py --rows "$ROWS" --seed 42 --out "$DUMP.tmp"
    mv "$DUMP.tmp" "$DUMP"
    stat -c %s "$DUMP" > "$MARKER"
fi

PARTS="bench/out/parts-${ROWS}-${FILES}"
if [[ ! -f "$PARTS/.done" ]]; then
    echo "== splitting into $FILES files"
    rm -rf "$PARTS"
    mkdir -p "$PARTS"
    python3 - "$DUMP" "$PARTS" "$FILES" <<'PY'
import sys
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(src, "rb").read()
# Record ends: newlines outside quotes (RFC 4180; "" toggles twice). A newline
# ends a record when the number of quotes before it is even; counting the
# quotes line by line (bytes.find/count run in C) is far faster than a Python
# loop over every byte.
records, start, pos, q = [], 0, 0, 0
while True:
    j = data.find(b"\n", pos)
    if j < 0:
        break
    q ^= data.count(b'"', pos, j) & 1
    pos = j + 1
    if not q:
        records.append((start, pos))
        start = pos
if start < len(data):
    records.append((start, len(data)))
header = data[records[0][0]:records[0][1]]
body = records[1:]
size = (len(body) + n - 1) // n
for k in range(n):
    chunk = body[k * size:(k + 1) * size]
    if not chunk:
        continue
    with open(f"{out}/part-{k:03d}.csv", "wb") as f:
        f.write(header)
        f.write(data[chunk[0][0]:chunk[-1][1]])
PY
    touch "$PARTS/.done"
fi

echo "== build: cargo build --release --locked -p txanon -p txanon-datafusion"
cargo build --release --locked -p txanon -p txanon-datafusion --bin txanon --bin txanon-df

exec python3 - "$PARTS" "$RUNS" "$THREADS" "$ROWS" <<'PY'
import glob, hashlib, os, platform, statistics, subprocess, sys, time
parts, runs, threads, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
files = sorted(glob.glob(f"{parts}/part-*.csv"))
size = sum(os.path.getsize(f) for f in files)
base = ["anonymize", "--schema", "schemas/transactions.toml", "--key-file",
        "data-samples/demo.key", "--quiet", "--threads", threads]
engines = {
    "native": ["target/release/txanon"] + base + ["-o", "bench/out/engine-native.parquet"] + files,
    "datafusion": ["target/release/txanon"] + base + ["--engine", "datafusion",
                   "-o", "bench/out/engine-datafusion.parquet"] + files,
}
os.makedirs("bench/out/logs", exist_ok=True)
results = {e: [] for e in engines}
for r in range(runs):
    for name, cmd in engines.items():
        out = cmd[cmd.index("-o") + 1]
        if os.path.exists(out):
            os.remove(out)
        with open(f"bench/out/logs/engine-{name}.err", "w") as err:
            t0 = time.monotonic()
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(p.pid, 0)
            wall = time.monotonic() - t0
        if status != 0:
            sys.exit(f"{name} failed (status {status}); see bench/out/logs/engine-{name}.err")
        results[name].append((wall, usage.ru_maxrss / 1024))
        print(f"run {r + 1} {name:<10} {wall:7.2f} s  {usage.ru_maxrss / 1024:7.0f} MiB", flush=True)
digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
same = digest("bench/out/engine-native.parquet") == digest("bench/out/engine-datafusion.parquet")
print()
print(f"{rows:,} rows, {len(files)} files, {size / 2**20:.0f} MiB CSV, --threads {threads}, "
      f"{runs} runs each, interleaved, medians; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
print()
print("| engine | wall (s) | rows/s | peak RSS (MiB) |")
print("|---|---:|---:|---:|")
for name, rs in results.items():
    wall = statistics.median(w for w, _ in rs)
    rss = statistics.median(m for _, m in rs)
    print(f"| `{name}` | {wall:.2f} | {rows / wall:,.0f} | {rss:.0f} |")
print()
print(f"outputs byte-identical: {'yes' if same else 'NO'}")
if not same:
    sys.exit(1)
PY
