#!/usr/bin/env python3
"""Time the privacy search beside the plain anonymize run (see bench/search.sh).

Every run is `/usr/bin/time -v target/release/txanon anonymize ...`; wall
clock ("Elapsed (wall clock) time") and peak RSS ("Maximum resident set
size") are read from its report. Plain and search runs alternate, so drift
on a shared machine hits both alike; medians and per-round ratios are
printed with the load average before and after, the commit and the search's
own figures (chosen node, entity-k, suppressed rows, search time) from
`--json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "target" / "release" / "txanon"
KEY = ROOT / "data-samples" / "demo.key"
PLAIN = ROOT / "schemas" / "transactions.toml"
SEARCH = ROOT / "schemas" / "transactions-search.toml"


def timed(schema: Path, dump: Path, out: Path) -> dict:
    """One run: wall seconds, peak RSS MiB, and the --json summary."""
    cmd = ["/usr/bin/time", "-v", str(BIN), "anonymize", "--schema", str(schema),
           "--key-file", str(KEY), "--json", "--quiet", "--threads", "2",
           "-o", str(out), str(dump)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    try:
        out.unlink()
    except FileNotFoundError:
        pass
    if p.returncode != 0:
        sys.exit(f"search.py: {' '.join(cmd)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    wall = rss = None
    for line in p.stderr.splitlines():
        line = line.strip()
        if line.startswith("Elapsed (wall clock) time"):
            clock = line.rsplit(" ", 1)[1]
            secs = 0.0
            for part in clock.split(":"):
                secs = secs * 60 + float(part)
            wall = secs
        elif line.startswith("Maximum resident set size"):
            rss = int(line.rsplit(" ", 1)[1]) / 1024
    if wall is None or rss is None:
        sys.exit("search.py: /usr/bin/time -v gave no wall time or peak RSS")
    return {"wall": wall, "rss": rss, "summary": json.loads(p.stdout)}


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def commit() -> str:
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return rev + ("-dirty" if dirty else "")


def search_line(summary: dict) -> str:
    s = summary["privacy"]["search"]
    levels = ", ".join(f"{lv['column']}={lv['name']}" for lv in s["levels"])
    return (f"node ({levels}), entity-k {s['k']}, {s['suppressed_rows']:,} of {s['rows']:,} "
            f"rows suppressed ({100 * s['suppressed_rows'] / max(s['rows'], 1):.2f} %), "
            f"{s['nodes_evaluated']} of {s['nodes']} nodes over {s['pairs']:,} pairs, "
            f"search {s['search_seconds']:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rss-rows", default="none")
    a = ap.parse_args()
    data = Path(a.data)
    dump = data / f"dump-{a.rows}.csv"
    out = data / "bench-search-out.parquet"
    lines = [f"txanon at {commit()}, {os.cpu_count()} CPUs, {a.rows:,} rows "
             f"({dump.stat().st_size / 2**20:,.0f} MiB CSV), load average at start {load()}", ""]
    plain, search = [], []
    for r in range(a.runs):
        plain.append(timed(PLAIN, dump, out))
        search.append(timed(SEARCH, dump, out))
        print(f"round {r + 1}: plain {plain[-1]['wall']:.2f} s {plain[-1]['rss']:.0f} MiB, "
              f"search {search[-1]['wall']:.2f} s {search[-1]['rss']:.0f} MiB "
              f"(ratio {search[-1]['wall'] / plain[-1]['wall']:.2f}), load {load()}", flush=True)
    med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
    ratios = [s["wall"] / p["wall"] for p, s in zip(plain, search)]
    walls = {name: " / ".join(f"{x['wall']:.2f}" for x in xs)
             for name, xs in (("plain", plain), ("search", search))}
    lines += [
        "| run | wall s (median) | wall s (all) | peak RSS MiB (median) |",
        "|---|---:|---|---:|",
        f"| plain (`transactions.toml`) | {med(plain, 'wall'):.2f} | "
        f"{walls['plain']} | {med(plain, 'rss'):.0f} |",
        f"| search (`transactions-search.toml`) | {med(search, 'wall'):.2f} | "
        f"{walls['search']} | {med(search, 'rss'):.0f} |",
        "",
        f"search / plain wall: {med(search, 'wall') / med(plain, 'wall'):.2f} (medians); "
        f"per round {', '.join(f'{x:.2f}' for x in ratios)}",
        f"search: {search_line(search[-1]['summary'])}",
    ]
    if a.rss_rows != "none":
        lines += ["", "| rows | search wall s | search peak RSS MiB |",
                  "|---:|---:|---:|"]
        for n in [int(x) for x in a.rss_rows.split(",")]:
            if n == a.rows:
                # The rounds above: their last search run.
                s = search[-1]
                lines.append(f"| {n:,} | {s['wall']:.2f} | {s['rss']:.0f} |")
                continue
            d = data / f"dump-{n}.csv"
            s = timed(SEARCH, d, out)
            lines.append(f"| {n:,} | {s['wall']:.2f} | {s['rss']:.0f} |")
            lines.append(f"<!-- {n:,} rows: {search_line(s['summary'])} -->")
            print(lines[-2], lines[-1], f"load {load()}", flush=True)
    lines += ["", f"load average at end {load()}"]
    text = "\n".join(lines) + "\n"
    print(text)
    (data / "search-results.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
