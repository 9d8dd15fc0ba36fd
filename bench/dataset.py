#!/usr/bin/env python3
"""The steps of bench/dataset.sh (its header says what they are and why).

Every command is a child process with a timeout; wall time with
time.perf_counter, CPU from the children's rusage. Checks that fail are
listed at the end and make the exit status 1.
"""

import argparse
import bisect
import csv
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCHEMA = "schemas/transactions.toml"
KEY = "data-samples/demo.key"
PART = "created_month"

failures: list[str] = []
lines: list[str] = []


def say(text: str) -> None:
    print(text, flush=True)
    lines.append(text)


def check(ok: bool, what: str) -> None:
    say(f"  [{'ok' if ok else 'FAIL'}] {what}")
    if not ok:
        failures.append(what)


def run(args: list[str], timeout: int, stdin: str | None = None, log: Path | None = None):
    """Run a command; returns (wall seconds, cpu seconds, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    p = subprocess.run(
        args,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if log is not None:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"$ {' '.join(args)}\n{p.stderr}\n")
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"dataset.py: exit {p.returncode}: {' '.join(args)}")
    return wall, cpu, p.stdout


def split(dump: Path, days: int, out: Path) -> list[Path]:
    """DAYS files of consecutive created_at ranges, about equal in size."""
    csv.field_size_limit(1 << 24)
    opened = dict(newline="", encoding="utf-8", errors="surrogateescape")
    with open(dump, **opened) as f:
        reader = csv.reader(f)
        header = next(reader)
        at = header.index("created_at")
        sample = [row[at] if len(row) > at else "" for i, row in enumerate(reader) if i % 25 == 0]
    sample.sort()
    cuts = [sample[len(sample) * k // days] for k in range(1, days)]
    paths = [out / f"day{d + 1:03}.csv" for d in range(days)]
    files = [open(p, "w", **opened) for p in paths]
    writers = [csv.writer(f, lineterminator="\n") for f in files]
    for w in writers:
        w.writerow(header)
    with open(dump, **opened) as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            key = row[at] if len(row) > at else ""
            writers[bisect.bisect_right(cuts, key)].writerow(row)
    for f in files:
        f.close()
    return paths


def snapshot(d: Path) -> dict[str, tuple[int, int, int]]:
    out = {}
    for p in sorted(d.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(d))] = (st.st_size, st.st_mtime_ns, st.st_ino)
    return out


def glob(d: Path) -> str:
    return f"read_parquet('{d}/**/*.parquet', hive_partitioning = true)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--days", type=int, required=True)
    ap.add_argument("--txanon", required=True)
    ap.add_argument("--timeout", type=int, default=3600)
    a = ap.parse_args()
    import duckdb

    tx, t = a.txanon, a.timeout
    work = Path(f"bench/out/dataset-{a.rows}-{a.days}").resolve()
    shutil.rmtree(work, ignore_errors=True)
    (work / "days").mkdir(parents=True)
    log = work / "stderr.log"
    base = [tx, "anonymize", "--schema", SCHEMA, "--key-file", KEY, "--quiet"]
    say(f"# bench/dataset.sh {a.rows} {a.days}: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, binary {tx}")

    start = time.perf_counter()
    days = split(Path(a.dump), a.days, work / "days")
    per_day = a.rows // a.days
    extra = work / "extra-day.csv"
    subprocess.run(
        [sys.executable, "data-samples/generate.py", "--rows", str(per_day), "--seed", "43", "--out", str(extra)],
        check=True,
        timeout=t,
    )
    say(f"split {a.dump} into {a.days} files by created_at and generated a {per_day}-row extra day in {time.perf_counter() - start:.1f} s")

    # (a) one run vs DAYS appends.
    say("\n## (a) one run over every day vs one --append per day")
    one, app = work / "one", work / "app"
    w_one, c_one, _ = run(base + ["--partition-by", PART, "-o", str(one)] + [str(p) for p in days], t, log=log)
    w_app, c_app, _ = run(base + ["--partition-by", PART, "-o", str(app), str(days[0])], t, log=log)
    appends = []
    for p in days[1:]:
        w, c, _ = run(base + ["--append", "-o", f"{app}/", str(p)], t, log=log)
        appends.append(w)
        w_app, c_app = w_app + w, c_app + c
    say(f"one run: {w_one:.1f} s wall, {c_one:.1f} s CPU; first day + {len(appends)} appends: {w_app:.1f} s wall, {c_app:.1f} s CPU")
    if appends:
        say(f"appends: median {statistics.median(appends):.2f} s, first {appends[0]:.2f} s, last {appends[-1]:.2f} s")
    db = duckdb.connect()
    n_one = db.execute(f"SELECT count(*) FROM {glob(one)}").fetchone()[0]
    n_app = db.execute(f"SELECT count(*) FROM {glob(app)}").fetchone()[0]
    d1 = db.execute(f"SELECT count(*) FROM (SELECT * FROM {glob(one)} EXCEPT ALL SELECT * FROM {glob(app)})").fetchone()[0]
    d2 = db.execute(f"SELECT count(*) FROM (SELECT * FROM {glob(app)} EXCEPT ALL SELECT * FROM {glob(one)})").fetchone()[0]
    check(n_one == n_app and d1 == 0 and d2 == 0, f"equal multisets of rows (DuckDB): {n_one} vs {n_app} rows, {d1} + {d2} rows differ")
    v = json.loads(run([tx, "dataset", "--format", "json", f"{app}/"], t)[2])
    check(v.get("consistent") is True and v["checked"]["rows"] == n_app, f"txanon dataset: consistent, {v['checked']['rows']} rows in {v['checked'].get('files')} files, generation {v.get('generation')}")
    before = snapshot(app)
    _, _, out = run(base[:-1] + ["--json", "--quiet", "--append", "-o", f"{app}/"] + [str(p) for p in days], t, log=log)
    s = json.loads(out)
    check(
        s.get("rows_written") == 0 and len(s.get("skipped_inputs", [])) == a.days and snapshot(app) == before,
        f"re-running the append with all {a.days} files adds nothing (rows_written {s.get('rows_written')}, {len(s.get('skipped_inputs', []))} skipped, files unchanged)",
    )

    # (b) one more day: append vs alone, interleaved.
    say("\n## (b) appending one day to the dataset vs anonymizing it alone (no [privacy])")
    walls: dict[str, list[float]] = {"append": [], "alone": []}
    for i in range(3):
        copy = work / f"b-append-{i}"
        subprocess.run(["cp", "-al", str(one), str(copy)], check=True)
        w, _, _ = run(base + ["--append", "-o", f"{copy}/", str(extra)], t, log=log)
        walls["append"].append(w)
        w, _, _ = run(base + ["--partition-by", PART, "-o", str(work / f"b-alone-{i}"), str(extra)], t, log=log)
        walls["alone"].append(w)
    ma, ml = statistics.median(walls["append"]), statistics.median(walls["alone"])
    say(f"| command | runs (s) | median (s) |\n|---|---|---|")
    for k in ("append", "alone"):
        say(f"| {k} | {', '.join(f'{x:.2f}' for x in walls[k])} | {statistics.median(walls[k]):.2f} |")
    say(f"append / alone = {ma / ml:.2f}x (target <= 2x)")
    if ma > 2 * ml:
        say("  note: above the 2x target")

    # (c) erase one customer by phone.
    say("\n## (c) erasing one customer by phone from the partitioned dataset")
    phone, token = None, None
    with open(days[0], newline="", encoding="utf-8", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        for i, row in enumerate(reader):
            if i > 2000:
                break
            cand = (row.get("mobile") or "").strip()
            if not cand:
                continue
            tok = run([tx, "token", "--schema", SCHEMA, "--key-file", KEY, "--column", "mobile", "--stdin"], t, stdin=cand + "\n")[2].strip()
            if tok:
                phone, token = cand, tok
                break
    if token is None:
        raise SystemExit("dataset.py: no valid phone among the first day's records")
    held = db.execute(f"SELECT count(*), count(DISTINCT filename) FROM read_parquet('{one}/**/*.parquet', hive_partitioning = true, filename = true) WHERE mobile_token = '{token}'").fetchone()
    accounts = [r[0] for r in db.execute(f"SELECT DISTINCT account_token FROM {glob(one)} WHERE mobile_token = '{token}' AND account_token IS NOT NULL").fetchall()]
    files_total = len(list(one.rglob("*.parquet")))
    ec = work / "c-erase"
    subprocess.run(["cp", "-al", str(one), str(ec)], check=True)
    w_erase, c_erase, out = run([tx, "erase", "--schema", SCHEMA, "--key-file", KEY, "--column", "mobile", "--stdin", "--json", f"{ec}/"], t, stdin=phone + "\n", log=log)
    e = json.loads(out)
    rewrite_sql = (
        f"COPY (SELECT * FROM {glob(one)} WHERE mobile_token IS DISTINCT FROM '{token}') "
        f"TO '{work / 'c-rewrite'}' (FORMAT parquet, PARTITION_BY ({PART}), COMPRESSION zstd)"
    )
    w_rw, c_rw, _ = run([sys.executable, "-c", f"import duckdb; duckdb.connect().execute({rewrite_sql!r})"], t)
    say(f"the customer's phone token is in {held[0]} rows in {held[1]} of {files_total} part files")
    say(f"| what | wall (s) | CPU (s) |\n|---|---|---|")
    say(f"| txanon erase (rewrote {e['files_rewritten']} files, removed {e['rows_removed']} rows) | {w_erase:.2f} | {c_erase:.2f} |")
    say(f"| full rewrite without the customer (DuckDB COPY ... PARTITION_BY) | {w_rw:.2f} | {c_rw:.2f} |")
    say(f"| full rebuild from the exports (txanon one run, from (a)) | {w_one:.2f} | {c_one:.2f} |")
    left = db.execute(f"SELECT count(*) FROM {glob(ec)} WHERE mobile_token = '{token}'").fetchone()[0]
    check(left == 0, f"rows with the phone's token after the erasure: {left}")
    check(e["rows_removed"] == held[0] and e["files_rewritten"] == held[1], f"erase removed {e['rows_removed']} rows (held {held[0]}) and rewrote {e['files_rewritten']} files (held {held[1]})")
    gone = db.execute(f"SELECT count(*), count(*) FILTER (WHERE mobile_token IS DISTINCT FROM '{token}') FROM (SELECT * FROM {glob(one)} EXCEPT ALL SELECT * FROM {glob(ec)})").fetchone()
    new = db.execute(f"SELECT count(*) FROM (SELECT * FROM {glob(ec)} EXCEPT ALL SELECT * FROM {glob(one)})").fetchone()[0]
    check(gone[0] == held[0] and gone[1] == 0 and new == 0, f"every other row unchanged (DuckDB): {gone[0]} rows gone, {gone[1]} of them without the token, {new} rows new")
    if accounts:
        quoted = ", ".join(f"'{x}'" for x in accounts)
        rest = db.execute(f"SELECT count(*) FROM {glob(ec)} WHERE account_token IN ({quoted})").fetchone()[0]
        say(f"  (rows left with the erased rows' {len(accounts)} account token(s), carrying another or no phone: {rest}; erase by account to remove them)")
    v = json.loads(run([tx, "dataset", "--format", "json", f"{ec}/"], t)[2])
    check(v.get("consistent") is True, "txanon dataset: the erased dataset is consistent")

    say(f"\ntotal {time.perf_counter() - start:.0f} s; {'all checks passed' if not failures else f'{len(failures)} check(s) FAILED'}")
    (work / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"results: {work / 'results.md'}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
