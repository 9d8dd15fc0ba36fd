#!/usr/bin/env python3
"""Time txanon against DuckDB on one CSV dump, side by side.

Normally started by bench/run.sh, which generates the dump, builds txanon and
installs DuckDB first. Run from the repository root:

    python3 bench/bench.py --dump bench/out/dump-5000000.csv --rows 5000000 --runs 3
        [--threads-scaling] [--rss-scaling 1000000,5000000] [--other-shape] [--no-compare]
        [--keep-outputs] [--aggregate] [--txanon PATH]

Three commands are timed, interleaved (A B C, A B C, ...) so that drift on a
shared machine hits all of them alike:

  txanon           target/release/txanon anonymize ... --threads 2
  duckdb-anonymize bench/duckdb_anonymize.sql (the closest SQL equivalent)
  duckdb-plain     CSV -> Parquet with no transformation (the I/O floor)

Each run is a child process measured with os.wait4: wall time with
time.perf_counter, CPU time = ru_utime + ru_stime, peak RSS = ru_maxrss
(KiB on Linux). Medians are reported. DuckDB runs in its own `python3`
process so its RSS is its own; that includes the Python interpreter and the
`import duckdb` start-up, which is measured separately and reported.

With --aggregate, `txanon aggregate` (schemas/aggregate-monthly.toml) is
timed against `txanon anonymize` with the schema it reads the rows with
(schemas/transactions-aggregate.toml), interleaved, on the same dump; the
aggregate's budget ledger is deleted before each run.

Results are printed and written to bench/out/results.md. Any failed command
or failed sanity check exits non-zero.

Python 3.11 standard library + duckdb only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Paths are relative to the repository root (bench/..), whatever the cwd.
ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
TXANON = ROOT / "target" / "release" / "txanon"
SCHEMA = ROOT / "schemas" / "transactions.toml"
PRIVATE_SCHEMA = ROOT / "schemas" / "transactions-private.toml"
AGG_SCHEMA = ROOT / "schemas" / "transactions-aggregate.toml"
AGG_SPEC = ROOT / "schemas" / "aggregate-monthly.toml"
KEY_FILE = ROOT / "data-samples" / "demo.key"
GENERATOR = ROOT / "data-samples" / "generate.py"
# A second generator (other spellings, customers recurring ~3 times instead
# of ~10, more distinct amounts and merchants): --other-shape.
OTHER_GENERATOR = BENCH / "generate_other.py"
OTHER_SEED = 7
ANON_SQL = BENCH / "duckdb_anonymize.sql"
SEED = 42  # the dump is deterministic for (rows, seed)
THREADS = 2

MIB = 1024 * 1024

# DuckDB is driven through a fresh python3 process reading its SQL from stdin
# (so the key never appears in the process list). Its progress bar is turned
# off, as txanon's is with --quiet.
DUCKDB_CHILD = (
    "import sys, duckdb; con = duckdb.connect(); "
    "con.execute('SET enable_progress_bar = false'); con.execute(sys.stdin.read())"
)
# The same process doing nothing but start-up: its cost is part of every
# DuckDB row and is reported so readers can subtract it.
DUCKDB_STARTUP = "import duckdb"


class BenchError(Exception):
    """A command or a check failed: the benchmark result is not valid."""


# ---------------------------------------------------------------------------
# Measuring one child process
# ---------------------------------------------------------------------------


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # seconds, user + system
    rss_mib: float  # peak resident set size


@dataclass
class Command:
    name: str
    argv: list[str]
    output: Path | None  # file the command writes (deleted before each run)
    stdin: bytes | None = None  # fed to the child's stdin, then closed
    runs: list[Run] = field(default_factory=list)
    out_bytes: int = 0  # size of the output of the last run
    also_remove: list[Path] = field(default_factory=list)  # deleted before each run

    def med(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)


def remove_output(path: Path | None) -> None:
    """Delete a command's output and any txanon temp file left beside it."""
    if path is None:
        return
    path.unlink(missing_ok=True)
    for tmp in path.parent.glob(f".{path.name}.txanon-tmp-*"):
        tmp.unlink(missing_ok=True)


def measure(cmd: Command) -> Run:
    """Run cmd once (after deleting its output); fail loudly on non-zero exit."""
    remove_output(cmd.output)
    for p in cmd.also_remove:
        p.unlink(missing_ok=True)
    log = OUT / "logs" / f"{cmd.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as logf:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            cmd.argv,
            cwd=ROOT,
            stdin=subprocess.PIPE if cmd.stdin is not None else subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
        if cmd.stdin is not None:
            p.stdin.write(cmd.stdin)
            p.stdin.close()
        # wait4 reaps the child and returns its own rusage (not the sum over
        # all children of this process, as RUSAGE_CHILDREN would).
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # keep Popen consistent
    if p.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-20:]
        raise BenchError(
            f"{cmd.name} exited with {p.returncode}\n  argv: {' '.join(cmd.argv)}\n  "
            + "\n  ".join(tail)
        )
    if cmd.output is not None:
        if not cmd.output.is_file():
            raise BenchError(f"{cmd.name} exited 0 but wrote no {cmd.output}")
        cmd.out_bytes = cmd.output.stat().st_size
    return Run(wall=wall, cpu=ru.ru_utime + ru.ru_stime, rss_mib=ru.ru_maxrss / 1024)


def run_interleaved(cmds: list[Command], runs: int) -> None:
    """Run every command `runs` times, round-robin, printing each measurement."""
    for i in range(1, runs + 1):
        for cmd in cmds:
            r = measure(cmd)
            cmd.runs.append(r)
            print(
                f"  run {i}/{runs}  {cmd.name:<18} wall {r.wall:8.2f} s  "
                f"cpu {r.cpu:8.2f} s  rss {r.rss_mib:8.1f} MiB",
                flush=True,
            )


# ---------------------------------------------------------------------------
# Inputs and commands
# ---------------------------------------------------------------------------


def dump_path(rows: int) -> Path:
    return OUT / f"dump-{rows}.csv"


def check_dump(path: Path) -> None:
    """The dump is complete iff its size marker (written by run.sh or
    ensure_dump after the generator finished) matches its size."""
    marker = path.with_name(path.name + ".size")
    if not path.is_file() or not marker.is_file():
        raise BenchError(f"{path} or its size marker is missing; use bench/run.sh")
    if int(marker.read_text().strip()) != path.stat().st_size:
        raise BenchError(f"{path} does not match its size marker (incomplete?); delete it")


def ensure_dump(rows: int, other: bool = False) -> Path:
    """Generate dump-ROWS.csv (or, with `other`, other-ROWS.csv from the
    second generator) once (same convention as run.sh: write to a temp name,
    rename, then the size marker)."""
    path = OUT / f"other-{rows}.csv" if other else dump_path(rows)
    generator, seed = (OTHER_GENERATOR, OTHER_SEED) if other else (GENERATOR, SEED)
    marker = path.with_name(path.name + ".size")
    if path.is_file() and marker.is_file() and int(marker.read_text()) == path.stat().st_size:
        return path
    print(f"generating {path.relative_to(ROOT)} ({rows} rows, seed {seed}) ...", flush=True)
    tmp = path.with_name(path.name + ".tmp")
    subprocess.run(
        [sys.executable, str(generator), "--rows", str(rows), "--seed", str(seed), "--out", str(tmp)],
        check=True,
    )
    tmp.rename(path)
    marker.write_text(f"{path.stat().st_size}\n")
    return path


def warm_cache(path: Path) -> None:
    """Read the dump once so every command starts with it in the page cache
    (the first timed command would otherwise pay for the cold read alone)."""
    with open(path, "rb", buffering=0) as f:
        while f.read(16 * MIB):
            pass


def sql_str(s: str) -> str:
    """Body of a single-quoted SQL string literal."""
    return s.replace("'", "''")


def load_key_hex() -> str:
    key = KEY_FILE.read_text().strip()
    if not re.fullmatch(r"[0-9a-fA-F]{64,}", key):
        raise BenchError(f"{KEY_FILE} does not hold a hex key")
    return key.lower()


def txanon_cmd(name: str, dump: Path, threads: int, schema: Path = SCHEMA) -> Command:
    out = OUT / f"{name}.parquet"
    return Command(
        name=name,
        argv=[
            str(TXANON), "anonymize",
            "--schema", str(schema),
            "--key-file", str(KEY_FILE),  # demo key: prints a warning, captured in the log
            "--quiet",
            "--threads", str(threads),
            "-o", str(out),
            str(dump),
        ],
        output=out,
    )


def duckdb_anon_cmd(dump: Path) -> Command:
    out = OUT / "duckdb_anon.parquet"
    sql = (
        ANON_SQL.read_text()
        .replace("{{INPUT}}", sql_str(str(dump)))
        .replace("{{OUTPUT}}", sql_str(str(out)))
        .replace("{{KEY}}", load_key_hex())
    )
    if "{{" in sql:
        raise BenchError(f"unfilled placeholder left in {ANON_SQL}")
    return Command("duckdb-anonymize", [sys.executable, "-c", DUCKDB_CHILD], out, sql.encode())


def duckdb_plain_cmd(dump: Path) -> Command:
    out = OUT / "duckdb_plain.parquet"
    sql = (
        f"SET threads = {THREADS};\n"
        f"COPY (SELECT * FROM read_csv('{sql_str(str(dump))}', header = true))\n"
        f"TO '{sql_str(str(out))}' (FORMAT parquet, COMPRESSION zstd);\n"
    )
    return Command("duckdb-plain", [sys.executable, "-c", DUCKDB_CHILD], out, sql.encode())


# ---------------------------------------------------------------------------
# Machine facts and sanity checks
# ---------------------------------------------------------------------------


def machine_facts(dump: Path | None) -> list[tuple[str, str]]:
    # duckdb is never imported into this process: Linux carries a parent's
    # resident set into a forked child's ru_maxrss, so a large parent would
    # inflate every child's measured peak RSS.
    duckdb_version = subprocess.run(
        [sys.executable, "-c", "import duckdb; print(duckdb.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        mem = f"{int(m.group(1)) / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        pass
    version = subprocess.run([str(TXANON), "--version"], capture_output=True, text=True, check=True)
    # Which source the binary was built from ("-dirty": uncommitted changes).
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                         capture_output=True, text=True)
    commit = git.stdout.strip() if git.returncode == 0 else "unknown"
    facts = [
        ("nproc", f"{len(os.sched_getaffinity(0))} (of {os.cpu_count()} CPUs)"),
        ("CPU", cpu_model),
        ("RAM", mem),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("txanon", f"{version.stdout.strip()} (git {commit})"),
        ("duckdb", duckdb_version),
        ("python", platform.python_version()),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]
    if dump is not None:
        facts.append(("input", f"{dump.relative_to(ROOT)}, {dump.stat().st_size / MIB:.1f} MiB"))
    return facts


def sanity_checks(rows: int, anon: Path, dd_anon: Path, dd_plain: Path) -> list[str]:
    """Row counts must equal the input's and the two anonymized files must
    have the same columns and types; token grouping is compared for info."""
    import duckdb

    con = duckdb.connect()
    lines = []
    for p in (anon, dd_anon, dd_plain):
        n = con.execute(f"SELECT count(*) FROM read_parquet('{sql_str(str(p))}')").fetchone()[0]
        if n != rows:
            raise BenchError(f"{p.name}: {n} rows, expected {rows}")
    lines.append(f"row counts: all three outputs have {rows} rows")

    def schema(p: Path) -> list[tuple[str, str]]:
        q = f"DESCRIBE SELECT * FROM read_parquet('{sql_str(str(p))}')"
        return [(r[0], r[1]) for r in con.execute(q).fetchall()]

    s_tx, s_dd = schema(anon), schema(dd_anon)
    if s_tx != s_dd:
        diff = "\n".join(f"  {a!s:<45} {b!s}" for a, b in zip(s_tx, s_dd))
        raise BenchError(f"txanon and DuckDB-anonymize schemas differ:\n{diff}")
    lines.append("schema: txanon and DuckDB-anonymize outputs have identical columns and types: "
                 + ", ".join(f"{c} {t}" for c, t in s_tx))

    # Informational: do the two tools group values alike (same number of
    # non-null and distinct tokens per column)? Token values differ by design.
    cols = [c for c, _ in s_tx if c.endswith("_token")]
    agg = ", ".join(f"count({c}), count(DISTINCT {c})" for c in cols)
    a = con.execute(f"SELECT {agg} FROM read_parquet('{sql_str(str(anon))}')").fetchone()
    b = con.execute(f"SELECT {agg} FROM read_parquet('{sql_str(str(dd_anon))}')").fetchone()
    for i, c in enumerate(cols):
        tx = (a[2 * i], a[2 * i + 1])
        dd = (b[2 * i], b[2 * i + 1])
        mark = "same" if tx == dd else "DIFFERENT"
        lines.append(f"grouping {c}: txanon {tx[0]} non-null / {tx[1]} distinct, "
                     f"DuckDB {dd[0]} / {dd[1]} ({mark})")
    return lines


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table, right-aligned after the first column."""
    out = ["| " + " | ".join(header) + " |",
           "|---" + "|---:" * (len(header) - 1) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def compare_section(cmds: list[Command], rows: int, startup: Command) -> str:
    body = []
    for c in cmds:
        walls = [r.wall for r in c.runs]
        body.append([
            f"`{c.name}`",
            f"{c.med('wall'):.2f}",
            f"{min(walls):.2f}–{max(walls):.2f}",
            f"{c.med('cpu'):.2f}",
            f"{c.med('rss_mib'):.0f}",
            f"{c.out_bytes / MIB:.1f}",
            f"{rows / c.med('wall'):,.0f}",
        ])
    tx, dda, ddp = cmds
    # Ratios per round (commands of one round ran back to back) as well as of
    # the medians: on a noisy machine the per-round spread shows how far to trust them.
    per_round_a = [t.wall / d.wall for t, d in zip(tx.runs, dda.runs)]
    per_round_p = [t.wall / d.wall for t, d in zip(tx.runs, ddp.runs)]
    rng = lambda xs: f"{min(xs):.2f}–{max(xs):.2f}"  # noqa: E731
    lines = [
        table(["command", "median wall s", "wall range s", "median CPU s",
               "median peak RSS MiB", "output MiB", "rows/s"], body),
        "",
        f"- txanon wall / DuckDB-anonymize wall: **{tx.med('wall') / dda.med('wall'):.2f}** "
        f"(per round {rng(per_round_a)})",
        f"- txanon wall / DuckDB-plain wall: **{tx.med('wall') / ddp.med('wall'):.2f}** "
        f"(per round {rng(per_round_p)})",
        f"- txanon CPU / DuckDB-anonymize CPU: {tx.med('cpu') / dda.med('cpu'):.2f}",
        f"- txanon peak RSS: **{tx.med('rss_mib'):.0f} MiB** "
        f"(DuckDB-anonymize {dda.med('rss_mib'):.0f} MiB, DuckDB-plain {ddp.med('rss_mib'):.0f} MiB)",
        f"- DuckDB rows include the `python3 -c \"import duckdb\"` start-up: median "
        f"{startup.med('wall'):.2f} s wall, {startup.med('cpu'):.2f} s CPU, "
        f"{startup.med('rss_mib'):.0f} MiB RSS.",
    ]
    return "\n".join(lines)


def threads_section(rows: int, dump: Path, runs: int) -> str:
    t1 = txanon_cmd("txanon-threads-1", dump, 1)
    t2 = txanon_cmd("txanon-threads-2", dump, 2)
    print(f"\n== txanon --threads 1 vs 2, {runs} runs each, interleaved", flush=True)
    run_interleaved([t1, t2], runs)
    remove_output(t1.output)
    remove_output(t2.output)
    body = [[f"`txanon --threads {n}`", f"{c.med('wall'):.2f}", f"{c.med('cpu'):.2f}",
             f"{c.med('rss_mib'):.0f}", f"{rows / c.med('wall'):,.0f}"]
            for n, c in ((1, t1), (2, t2))]
    return "\n".join([
        table(["command", "median wall s", "median CPU s", "median peak RSS MiB", "rows/s"], body),
        "",
        f"- speedup, 1 → 2 threads (wall t1 / wall t2): **{t1.med('wall') / t2.med('wall'):.2f}×**",
    ])


def privacy_section(rows: int, dump: Path, runs: int) -> str:
    """transactions.toml against transactions-private.toml (quasi-identifier
    actions, derived columns and the [privacy] meter; a second pass over the
    input when classes below min_k are suppressed)."""
    plain = txanon_cmd("txanon-plain", dump, THREADS)
    private = txanon_cmd("txanon-private", dump, THREADS, PRIVATE_SCHEMA)
    print(f"\n== txanon plain vs private schema, {runs} runs each, interleaved", flush=True)
    run_interleaved([plain, private], runs)
    suppressed = "?"
    if private.output and private.output.exists():
        res = subprocess.run(
            [sys.executable, "-c",
             "import sys, pyarrow.parquet as pq; m = pq.ParquetFile(sys.argv[1]).metadata.metadata; "
             "print(m[b'txanon.privacy.suppressed_rows'].decode(), m[b'txanon.privacy.k'].decode(), "
             "m[b'txanon.privacy.classes'].decode())", str(private.output)],
            capture_output=True, text=True)
        suppressed = res.stdout.strip() or "?"
    remove_output(plain.output)
    remove_output(private.output)
    body = [[f"`{c.name}`", f"{c.med('wall'):.2f}", f"{c.med('cpu'):.2f}",
             f"{c.med('rss_mib'):.0f}", f"{rows / c.med('wall'):,.0f}"] for c in (plain, private)]
    return "\n".join([
        table(["command", "median wall s", "median CPU s", "median peak RSS MiB", "rows/s"], body),
        "",
        f"- private / plain wall: **{private.med('wall') / plain.med('wall'):.2f}×**; "
        f"suppressed rows, k, classes of the private output: {suppressed}",
    ])


def aggregate_section(rows: int, dump: Path, runs: int) -> str:
    """`txanon aggregate` against `txanon anonymize` with the schema the
    aggregate reads its rows with, interleaved; the target (issue 19) is at
    most 1.5x the anonymize wall time, with bounded memory."""
    warm_cache(dump)
    anon = txanon_cmd("txanon-anonymize-agg-schema", dump, THREADS, AGG_SCHEMA)
    agg = aggregate_cmd("txanon-aggregate", dump)
    print(f"\n== txanon aggregate vs anonymize, {runs} runs each, interleaved", flush=True)
    run_interleaved([anon, agg], runs)
    remove_output(anon.output)
    remove_output(agg.output)
    for p in agg.also_remove:
        p.unlink(missing_ok=True)
    body = [[f"`{c.name}`", f"{c.med('wall'):.2f}", f"{c.med('cpu'):.2f}",
             f"{c.med('rss_mib'):.0f}", f"{max(r.rss_mib for r in c.runs):.0f}",
             f"{rows / c.med('wall'):,.0f}"] for c in (anon, agg)]
    ratio = agg.med("wall") / anon.med("wall")
    return "\n".join([
        table(["command", "median wall s", "median CPU s", "median peak RSS MiB",
               "max peak RSS MiB", "rows/s"], body),
        "",
        f"- aggregate / anonymize wall (medians): **{ratio:.2f}×** (target: at most 1.5×); "
        f"per run: {', '.join(f'{a.wall / b.wall:.2f}' for a, b in zip(agg.runs, anon.runs))}",
    ])


def aggregate_cmd(name: str, dump: Path) -> Command:
    """`txanon aggregate` of schemas/aggregate-monthly.toml on `dump`; its
    budget ledger is deleted with its output."""
    out = OUT / "txanon-aggregate.parquet"
    ledger = OUT / "txanon-aggregate.dp-ledger.json"
    return Command(
        name=name,
        argv=[
            str(TXANON), "aggregate",
            "--schema", str(AGG_SCHEMA),
            "--spec", str(AGG_SPEC),
            # Demo key: the ledger is started without --new-ledger; deleted
            # before each run so the spec's budget never refuses a run.
            "--key-file", str(KEY_FILE),
            "--ledger", str(ledger),
            "--quiet",
            "--threads", str(THREADS),
            "-o", str(out),
            str(dump),
        ],
        output=out,
        also_remove=[ledger],
    )


def rss_section(sizes: list[int], runs: int, aggregate: bool) -> str:
    """Peak RSS of anonymize per dump size and, with `aggregate`, of
    `txanon aggregate` on the same dumps (interleaved with it)."""
    body = []
    for n in sizes:
        dump = ensure_dump(n)
        warm_cache(dump)
        cmds = [txanon_cmd(f"txanon-rss-{n}", dump, THREADS)]
        if aggregate:
            cmds.append(aggregate_cmd(f"txanon-aggregate-rss-{n}", dump))
        print(f"\n== txanon peak RSS on {n} rows, {runs} runs", flush=True)
        run_interleaved(cmds, runs)
        row = [f"{n:,}", f"{dump.stat().st_size / MIB:.0f}"]
        for c in cmds:
            remove_output(c.output)
            for p in c.also_remove:
                p.unlink(missing_ok=True)
            row += [f"{c.med('wall'):.2f}", f"{c.med('rss_mib'):.0f}",
                    f"{max(r.rss_mib for r in c.runs):.0f}"]
        body.append(row)
    header = ["rows", "input MiB", "median wall s", "median peak RSS MiB", "max peak RSS MiB"]
    if aggregate:
        header += ["aggregate median wall s", "aggregate median peak RSS MiB",
                   "aggregate max peak RSS MiB"]
    return table(header, body)


# ---------------------------------------------------------------------------


def compare(dump: Path, rows: int, runs: int, keep: bool, label: str) -> list[str]:
    """txanon, DuckDB anonymize and DuckDB plain on `dump`, interleaved, with
    the sanity checks on the last run's outputs: the report's lines."""
    warm_cache(dump)
    cmds = [txanon_cmd("txanon", dump, THREADS), duckdb_anon_cmd(dump), duckdb_plain_cmd(dump)]
    startup = Command("python-import-duckdb", [sys.executable, "-c", DUCKDB_STARTUP], None)
    print(f"\n== {dump.name}: {rows:,} rows, {runs} runs per command, interleaved, "
          f"{THREADS} threads each", flush=True)
    run_interleaved(cmds + [startup], runs)
    # In a child process, for the same reason as in machine_facts.
    res = subprocess.run(
        [sys.executable, __file__, "--sanity", str(rows), *(str(c.output) for c in cmds)],
        capture_output=True, text=True,
    )
    if res.returncode != 0:
        raise BenchError("sanity checks failed:\n" + res.stdout + res.stderr)
    checks = json.loads(res.stdout)
    if not keep:
        for c in cmds:
            remove_output(c.output)
    return [
        "",
        f"## Anonymize {rows:,} rows{label} ({dump.stat().st_size / MIB:.0f} MiB CSV), "
        f"{THREADS} threads",
        "",
        compare_section(cmds, rows, startup),
        "",
        "Sanity checks (last run's outputs):",
        "",
        *[f"- {line}" for line in checks],
    ]


def main() -> int:
    global TXANON
    if len(sys.argv) == 6 and sys.argv[1] == "--sanity":
        rows, *paths = sys.argv[2:]
        print(json.dumps(sanity_checks(int(rows), *(Path(x) for x in paths))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dump", type=Path, help="CSV dump made by bench/run.sh (default: bench/out/dump-ROWS.csv)")
    ap.add_argument("--rows", type=int, required=True, help="data rows in the dump")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per command (default 3)")
    ap.add_argument("--threads-scaling", action="store_true",
                    help="also time txanon with --threads 1 and --threads 2 and report the speedup")
    ap.add_argument("--rss-scaling", metavar="SIZES",
                    help="comma-separated row counts: time txanon alone on dumps of those sizes "
                         "(generated if missing) and report peak RSS per size (with --aggregate, "
                         "of `txanon aggregate` too)")
    ap.add_argument("--privacy", action="store_true",
                    help="also time schemas/transactions-private.toml against transactions.toml")
    ap.add_argument("--other-shape", action="store_true",
                    help="also run the txanon/DuckDB comparison on a dump of the same size from "
                         "bench/generate_other.py (other spellings and distributions), so "
                         "defaults are not tuned to one generator")
    ap.add_argument("--no-compare", action="store_true",
                    help="skip the txanon/DuckDB comparison (e.g. with --rss-scaling only)")
    ap.add_argument("--aggregate", action="store_true",
                    help="also time `txanon aggregate` (schemas/aggregate-monthly.toml) against "
                         "`txanon anonymize` with the same schema")
    ap.add_argument("--txanon", type=Path,
                    help=f"the txanon binary (default {TXANON.relative_to(ROOT)})")
    ap.add_argument("--keep-outputs", action="store_true",
                    help="keep the Parquet outputs of the last run in bench/out/")
    a = ap.parse_args()
    if a.runs < 1 or a.rows < 1:
        ap.error("--rows and --runs must be >= 1")
    sizes = []
    if a.rss_scaling:
        try:
            sizes = [int(s.replace("_", "")) for s in a.rss_scaling.split(",") if s.strip()]
        except ValueError:
            ap.error("--rss-scaling takes comma-separated integers, e.g. 1000000,5000000")
        if not sizes or min(sizes) < 1:
            ap.error("--rss-scaling needs positive row counts")

    if a.txanon:
        TXANON = a.txanon.resolve()
    OUT.mkdir(parents=True, exist_ok=True)
    if not TXANON.is_file():
        raise BenchError(f"{TXANON} missing: run `cargo build --release --locked`")
    dump = (a.dump or dump_path(a.rows)).resolve()
    check_dump(dump)

    facts = machine_facts(dump)
    print("== machine")
    for k, v in facts:
        print(f"  {k}: {v}")
    print("  (shared machine: compare ratios within one run, not absolute seconds across runs)")

    sections = [
        "# txanon vs DuckDB",
        "",
        "Generated by `bench/run.sh` (bench/bench.py) on "
        + time.strftime("%Y-%m-%d %H:%M %Z") + f"; {a.runs} runs per command, medians.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in facts],
    ]

    if not a.no_compare:
        sections += compare(dump, a.rows, a.runs, a.keep_outputs, "")
    if a.other_shape:
        other = ensure_dump(a.rows, other=True)
        sections += compare(other, a.rows, a.runs, a.keep_outputs,
                            " of the second generator (bench/generate_other.py)")
    if a.threads_scaling:
        sections += ["", "## txanon thread scaling", "", threads_section(a.rows, dump, a.runs)]
    if a.privacy:
        sections += ["", "## Quasi-identifier actions and the risk meter", "",
                     privacy_section(a.rows, dump, a.runs)]
    if a.aggregate:
        sections += ["", "## Differentially private aggregate vs anonymize", "",
                     aggregate_section(a.rows, dump, a.runs)]
    if sizes:
        sections += ["", "## txanon peak RSS by input size", "",
                     rss_section(sizes, a.runs, a.aggregate)]

    sections += ["", f"Load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", ""]
    report = "\n".join(sections)
    (OUT / "results.md").write_text(report)
    print("\n" + report)
    print(f"written to {(OUT / 'results.md').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, subprocess.CalledProcessError) as e:
        print(f"bench.py: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
