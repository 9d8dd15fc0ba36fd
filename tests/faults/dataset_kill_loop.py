#!/usr/bin/env python3
"""Every way a dataset changes, under SIGKILL, with concurrent DuckDB readers
(issue 17).

A month-partitioned dataset (slices of the sample, one generation per daily
file) is changed in a loop by the writers of --ops, in turn:

- `append`: `anonymize --append` of a new daily file (the commit is one
  rename of the new generation's directory into the dataset);
- `replace`: `anonymize --append --replace-changed` of a daily file already
  in the dataset whose content changed (another number of rows, other
  txn_ids and amounts): the new generation, without the old one's part
  files, is swapped in with renameat2 RENAME_EXCHANGE;
- `erase`: `txanon erase --token --stdin` of one customer's mobile token
  (the same swap).

Three runs in four of each writer are killed with SIGKILL after a random
delay (uniform over 0 to 1.3x that writer's last unkilled duration), the
fourth is let finish; a writer none of whose kills landed before its commit
gets up to 8 more kills in the middle of its run. Meanwhile two DuckDB
processes query the dataset in a loop, one through `DATASET/**/*.parquet`
with hive partitioning (as an analyst would), one through the file list of
`DATASET/_manifest.json`. Each answer is the state (rows, sum(amount),
sum(hash(txn_id))) and the same three figures per file; txn_ids are unique
per daily file and version, so a state names its rows.

Checks (any violation fails the script, printing the answer beside the
committed states and the runs under way):
- after every run, killed or not, `txanon dataset` verifies the dataset as
  consistent, and its state is the one before the run or exactly the one
  the run was to make, computed beforehand from the CSV file and the
  dataset (the daily file's rows added; the changed file's earlier rows, as
  erasures left them, removed and its new rows added; the customer's rows
  removed); a run that was not killed exits 0 and commits (so the run after
  a kill succeeds); the glob lists no staged file; after the last, unkilled
  run of each writer no temporary is left beside the dataset; `txanon check`
  passes on the final dataset;
- every answer of either reader is a committed state valid while its query
  ran (before or after the run under way), or else an "incomplete view":
  some files of one such state, nothing else (fewer rows). Anything else
  ("mixed": rows of two states, a file no committed state had, a staged
  file) fails. An incomplete view fails too when no `erase` or `replace`
  swap was under way, or with --strict: a glob walk that crosses such a
  swap resolves the directories it reads afterwards in the new tree and
  DuckDB skips entries it listed that are gone (README, "Erasing a
  customer"); these are counted and the first ones shown;
- queries that fail (a file listed before a swap and opened after it) are
  counted and shown; more than a quarter failing fails the script.

    python3 tests/faults/dataset_kill_loop.py [--seconds N] [--ops append,replace,erase]
        [--bin PATH] [--seed N] [--strict] [--keep]

--seconds (default 50) bounds the loop; the first and last unkilled runs and
the checks come on top. tests/run.sh runs `--ops replace --seconds 20`; the
mixed run is a longer suite (README, "Testing"). The summary gives, per
writer, runs, kills (landed before the commit: a staged tree left and
nothing committed; after it: committed), commits, and per reader the
queries, distinct states, incomplete views, mixed answers and failures.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(ROOT, "schemas", "transactions.toml")
SAMPLE = os.path.join(ROOT, "data-samples", "transactions.csv")
GLOB = "read_parquet('{ds}/**/*.parquet', hive_partitioning = true, filename = true)"
LISTED = "read_parquet({files}, hive_partitioning = true, filename = true)"
QUERY = "SELECT filename, count(*), sum(amount), sum(hash(txn_id)) FROM {source} GROUP BY 1"


def answer(rows, ds):
    """The state (rows, sum(amount), sum(hash(txn_id))) and each file's
    [rows, sum, hash sum] by its path below `ds` ("/" first for a file
    outside the dataset or a staged one), from the rows of QUERY."""
    from decimal import Decimal

    n, s, h = 0, Decimal(0), 0
    files = {}
    for name, count, amount, hashes in rows:
        n, s, h = n + count, s + (amount or 0), h + int(hashes or 0)
        inside = name.startswith(ds + "/") and "txanon-tmp" not in name
        files[name[len(ds) + 1:] if inside else "/" + name] = [count, cents(amount), str(int(hashes or 0))]
    return (n, cents(s), str(h)), files


def cents(value):
    from decimal import Decimal

    return str(Decimal(value or 0).quantize(Decimal("0.01")))


def reader(how, ds, log):
    """Query the dataset in a loop until killed, through the glob or through
    the file list of `_manifest.json`; one JSON line per query."""
    import duckdb

    con = duckdb.connect()
    with open(log, "w", encoding="utf-8") as f:
        while True:
            t0 = time.monotonic()
            try:
                if how == "glob":
                    source = GLOB.format(ds=ds)
                else:
                    with open(os.path.join(ds, "_manifest.json"), encoding="utf-8") as m:
                        listed = [os.path.join(ds, p["path"]) for p in json.load(m)["files"]]
                    source = LISTED.format(files="[" + ", ".join(f"'{p}'" for p in listed) + "]")
                state, files = answer(con.execute(QUERY.format(source=source)).fetchall(), ds)
                rec = {"t0": t0, "t1": time.monotonic(), "state": state, "files": files}
            except Exception as e:  # counted and shown, never hidden
                rec = {"t0": t0, "t1": time.monotonic(), "error": f"{type(e).__name__}: {e}"[:300]}
            f.write(json.dumps(rec) + "\n")
            f.flush()
            time.sleep(0.002)


class Loop:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.abspath(args.bin)
        self.work = tempfile.mkdtemp(prefix="txanon-dskill-")
        self.ds = os.path.join(self.work, "ds")
        self.key = os.path.join(self.work, "k.key")
        with open(self.key, "w") as f:
            f.write("7c" * 32 + "\n")
        os.chmod(self.key, 0o600)
        with open(SAMPLE, encoding="utf-8") as f:
            self.header, body = f.read().split("\n", 1)
        self.lines = [l for l in body.split("\n") if l]
        import duckdb

        self.con = duckdb.connect()
        self.rng = random.Random(args.seed)
        self.days = 0           # daily files written (day0 is the base)
        self.version = {}       # day -> version of its content in the dataset
        self.erased = set()     # tokens erased
        self.timeline = []      # per run: (start, end, {reader: (before, after)}, name)
        self.states = []        # every committed state, in order
        # Per writer: runs, kills, kills that left a staged tree and no
        # commit ("staged"), killed runs that committed, commits, finished runs.
        self.stats = {op: dict(runs=0, kills=0, staged=0, killed_committed=0, commits=0, finished=0)
                      for op in ("append", "replace", "erase")}
        self.span = {}
        self.layout = {}        # state -> {file: [rows, sum(amount), sum(hash(txn_id))]}

    # -- inputs -----------------------------------------------------------
    def day_path(self, day):
        return os.path.join(self.work, f"day{day}.csv")

    def write_day(self, day, version):
        """Daily file `day` at `version`: a slice of the sample whose length
        depends on both, its txn_ids prefixed so each (day, version) is
        unique, written beside and renamed into place."""
        n = 700 + 150 * ((day * 7 + version * 3) % 9)
        start = (day * 311 + version * 97) % len(self.lines)
        rows = (self.lines[start:] + self.lines[:start])[:n]
        tag = f"D{day}V{version}"
        text = self.header + "\n" + "".join(tag + r + "\n" for r in rows)
        tmp = self.day_path(day) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.day_path(day))
        return tag

    def csv_state(self, day):
        r = self.con.execute(
            "SELECT count(*), sum(try_cast(amount AS DECIMAL(12,2))), sum(hash(txn_id)) "
            "FROM read_csv(?, all_varchar = true, header = true)", [self.day_path(day)]).fetchone()
        return int(r[0]), r[1], int(r[2])

    # -- the dataset --------------------------------------------------------
    def measure(self):
        """(state, files) of the dataset now, through the glob query."""
        return answer(self.con.execute(QUERY.format(source=GLOB.format(ds=self.ds))).fetchall(), self.ds)

    def measure_listed(self):
        """The state of the files `_manifest.json` lists (one append behind
        the glob's after a kill between an append's commit and its manifest)."""
        with open(os.path.join(self.ds, "_manifest.json"), encoding="utf-8") as m:
            listed = [os.path.join(self.ds, p["path"]) for p in json.load(m)["files"]]
        source = LISTED.format(files="[" + ", ".join(f"'{p}'" for p in listed) + "]")
        state, files = answer(self.con.execute(QUERY.format(source=source)).fetchall(), self.ds)
        self.layout.setdefault(state, files)
        return state

    def rows_where(self, cond, params):
        r = self.con.execute(
            f"SELECT count(*), sum(amount), sum(hash(txn_id)) FROM read_parquet("
            f"'{self.ds}/**/*.parquet', hive_partitioning = true) WHERE {cond}", params).fetchone()
        return int(r[0]), r[1], int(r[2] or 0)

    def verify(self, what):
        out = subprocess.run([self.bin, "dataset", "--format", "json", self.ds],
                             capture_output=True, text=True)
        if out.returncode != 0:
            self.fail(f"{what}: `txanon dataset` exit {out.returncode}:\n{out.stdout[-3000:]}{out.stderr[-2000:]}")
        return json.loads(out.stdout)

    def staged(self):
        return sorted(n for n in os.listdir(self.work) if n.startswith(".ds.txanon-tmp-"))

    def fail(self, message):
        raise Failure(message)

    # -- runs ---------------------------------------------------------------
    def command(self, op, day=None):
        base = [self.bin]
        if op in ("append", "replace"):
            base += ["anonymize", "--schema", SCHEMA, "--key-file", self.key, "-q", "--threads", "2",
                     "--append", "-o", self.ds + "/", self.day_path(day)]
            if op == "replace":
                base.append("--replace-changed")
        else:
            base += ["erase", "--schema", SCHEMA, "--key-file", self.key, "--column", "mobile",
                     "--threads", "2", "--token", "--stdin", self.ds + "/"]
        return base

    def run(self, op, kill, before, expect, day=None, stdin=None):
        """One run of `op`, killed after a random delay when `kill` (a pair:
        the delay's range as fractions of the writer's last unkilled
        duration); returns the state after it (before, or exactly `expect`)."""
        st = self.stats[op]
        st["runs"] += 1
        span = self.span.get(op, 2.0)
        delay = self.rng.uniform(span * kill[0], span * kill[1]) if kill else 0
        t0 = time.monotonic()
        p = subprocess.Popen(self.command(op, day), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        if stdin is not None:
            p.stdin.write(stdin)
        p.stdin.close()
        killed = False
        if kill:
            try:
                p.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                killed = True
        err = p.stderr.read()
        code = p.wait()
        t1 = time.monotonic()
        left = bool(self.staged())
        if killed:
            st["kills"] += 1
        elif code != 0:
            self.fail(f"{op} run {st['runs']} was not killed and exited {code}:\n{err[-2000:]}")
        else:
            st["finished"] += 1
            self.span[op] = t1 - t0
        name = f"{op} run {st['runs']} ({'killed' if killed else 'finished'})"
        after, files = self.measure()
        self.layout.setdefault(after, files)
        listed = self.measure_listed()
        self.timeline.append((t0, t1, {"glob": (before, after), "manifest": (self.listed, listed)}, name))
        self.listed = listed
        self.verify(f"after {name}")
        if any(f.startswith("/") for f in files):
            self.fail(f"after {name}: the glob lists a file outside the dataset or a staged one")
        if after == expect:
            st["commits"] += 1
            st["killed_committed"] += killed
        elif after != before:
            self.fail(f"after {name}: state {after}, neither the state before {before} "
                      f"nor the expected one {expect}")
        elif killed and left:
            st["staged"] += 1
        elif not killed and expect != before:
            self.fail(f"{name} exited 0 but did not commit: {after}, expected {expect}")
        if after not in self.states:
            self.states.append(after)
        return after

    def op_append(self, state, kill):
        day = self.days
        if not os.path.exists(self.day_path(day)):
            self.write_day(day, 0)
        n, s, h = self.csv_state(day)
        expect = add(state, n, s, h)
        after = self.run("append", kill, state, expect, day=day)
        if after == expect:
            self.version[day] = 0
            self.days += 1
        return after

    def op_replace(self, state, kill):
        day = self.rng.choice(sorted(self.version))
        old = self.version[day]
        # The old content's rows as they are in the dataset now (erasures included).
        n0, s0, h0 = self.rows_where("starts_with(txn_id, ?)", [f"D{day}V{old}T"])
        new = max(old, self.pending.get(day, old)) + 1
        self.pending[day] = new
        self.write_day(day, new)
        n, s, h = self.csv_state(day)
        expect = add(add(state, -n0, -(s0 or 0), -h0), n, s, h)
        after = self.run("replace", kill, state, expect, day=day)
        if after == expect and expect != state:
            self.version[day] = new
        return after

    def op_erase(self, state, kill):
        rows = self.con.execute(
            f"SELECT mobile_token, count(*) AS n FROM read_parquet('{self.ds}/**/*.parquet', "
            f"hive_partitioning = true) WHERE mobile_token IS NOT NULL GROUP BY 1 "
            f"ORDER BY n DESC, 1 LIMIT 50").fetchall()
        token = self.rng.choice(rows)[0]
        n, s, h = self.rows_where("mobile_token = ?", [token])
        expect = add(state, -n, -(s or 0), -h)
        return self.run("erase", kill, state, expect, stdin=token + "\n")

    # -- the loop -------------------------------------------------------------
    def main(self):
        self.pending = {}
        ops = self.args.ops
        self.write_day(0, 0)
        t0 = time.monotonic()
        subprocess.run([self.bin, "anonymize", "--schema", SCHEMA, "--key-file", self.key, "-q",
                        "--threads", "2", "--partition-by", "created_month", "-o", self.ds,
                        self.day_path(0)], check=True)
        self.span["append"] = time.monotonic() - t0
        self.version[0] = 0
        self.days = 1
        self.verify("the first run")
        state, files = self.measure()
        self.states.append(state)
        self.layout[state] = files
        self.listed = self.measure_listed()
        self.first = {"glob": state, "manifest": self.listed}
        logs = {how: os.path.join(self.work, f"seen-{how}.jsonl") for how in ("glob", "manifest")}
        readers = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--reader", how, self.ds, log])
                   for how, log in logs.items()]
        problems = []
        try:
            try:
                self.loop(state)
            finally:
                time.sleep(0.3)
                for rd in readers:
                    rd.send_signal(signal.SIGKILL)
                    rd.wait()
            left = self.staged()
            if left:
                problems.append(f"temporaries left beside the dataset after the last runs: {left}")
            check = subprocess.run([self.bin, "check", "--schema", SCHEMA, "--key-file", self.key,
                                    self.ds + "/"], capture_output=True, text=True)
            if check.returncode != 0:
                problems.append(f"`txanon check` on the final dataset: exit {check.returncode}:\n"
                                f"{check.stdout[-2000:]}{check.stderr[-2000:]}")
        except Failure as f:
            problems.append(str(f))
        print("dataset kill loop:", "; ".join(
            f"{op}: {s['runs']} runs, {s['kills']} killed ({s['staged']} before the commit, "
            f"{s['killed_committed']} after it), {s['commits']} committed"
            for op, s in self.stats.items() if s["runs"]), flush=True)
        problems += [p for how, log in logs.items() for p in self.check_reader(how, log)]
        for op in self.args.ops:
            s = self.stats[op]
            if self.args.require and s["staged"] < 1:
                problems.append(f"no {op} kill landed before its commit (the staged path was not exercised)")
            if s["commits"] < 2:
                problems.append(f"fewer than two {op} runs committed")
        if problems:
            print("dataset kill loop: FAILED:\n  " + "\n  ".join(problems), flush=True)
            print(f"(data kept in {self.work})" if self.args.keep else "", flush=True)
            return 1
        print(f"dataset kill loop: passed ({len(self.states)} committed states)")
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        return 0

    def loop(self, state):
        ops = self.args.ops
        # One unkilled run of each writer first: durations to draw delays from.
        for op in ops:
            state = getattr(self, f"op_{op}")(state, None)
        start = time.monotonic()
        turn = 0
        while time.monotonic() - start < self.args.seconds:
            op = ops[turn % len(ops)]
            # Every fourth run of a writer finishes; the others are killed at
            # a moment drawn from 0 to 1.3x its last unkilled duration.
            kill = (0, 1.3) if self.stats[op]["runs"] % 4 != 3 else None
            state = getattr(self, f"op_{op}")(state, kill)
            turn += 1
        # A writer whose kills all missed its staging (all too early or too
        # late) gets up to 8 more, in the middle of its duration.
        for op in ops:
            for _ in range(8):
                if self.stats[op]["staged"] >= 1 or not self.args.require:
                    break
                state = getattr(self, f"op_{op}")(state, (0.3, 0.9))
        # The last runs are not killed: they commit and remove what kills left.
        for op in ops:
            state = getattr(self, f"op_{op}")(state, None)

    def allowed(self, how, t0, t1):
        """States valid at some moment of [t0, t1] for the reader `how`."""
        states = set()
        prev_end, prev_after = float("-inf"), self.first[how]
        for s, e, pairs, _ in self.timeline:
            before, after = pairs[how]
            if prev_end <= t1 and s >= t0:  # the quiet gap before this run overlaps
                states.add(prev_after)
            if s <= t1 and e >= t0:  # this run overlaps
                states.update((before, after))
            prev_end, prev_after = e, after
        if prev_end <= t1:
            states.add(prev_after)
        return states

    def classify(self, r):
        """What one answer was: "ok" (a committed state valid while the query
        ran), "incomplete" (some files of one such state missing, nothing
        else: fewer rows), "mixed" (anything else: rows of two states, a file
        no committed state had) or "foreign" (a staged file or one outside
        the dataset)."""
        files = r["files"]
        if any(f.startswith("/") for f in files):
            return "foreign"
        allowed = self.allowed(r["how"], r["t0"], r["t1"])
        if tuple(r["state"]) in allowed:
            return "ok"
        for st in allowed:
            layout = self.layout[st]
            if all(layout.get(f) == v for f, v in files.items()):
                return "incomplete"
        return "mixed"

    def runs_during(self, r):
        return [t[3] for t in self.timeline if t[0] <= r["t1"] and t[1] >= r["t0"]]

    def check_reader(self, how, log):
        """The answers of one reader: a summary line, and the problems."""
        seen = [json.loads(l) for l in open(log, encoding="utf-8") if l.strip()]
        errors = [r for r in seen if "error" in r]
        answers = [r for r in seen if "error" not in r]
        for r in answers:
            r["how"] = how
        kinds = {}
        for r in answers:
            kinds.setdefault(self.classify(r), []).append(r)
        incomplete = kinds.get("incomplete", [])
        # Fewer rows can only come from a walk that crossed the swap of
        # `erase` or `--replace-changed` (README: "What a reader sees");
        # during an append alone it is a violation.
        swapped = [r for r in incomplete
                   if any(n.startswith(("replace", "erase")) for n in self.runs_during(r))]
        bad = kinds.get("mixed", []) + kinds.get("foreign", [])
        during_swap = {id(r) for r in swapped}
        bad += [r for r in incomplete if self.args.strict or id(r) not in during_swap]
        distinct = {tuple(r["state"]) for r in answers}
        label = {"glob": "DATASET/**/*.parquet", "manifest": "the files _manifest.json lists"}[how]
        print(f"dataset kill loop: DuckDB through {label}: {len(seen)} queries, {len(answers)} answers in "
              f"{len(distinct)} distinct states, {len(kinds.get('ok', []))} committed states, "
              f"{len(incomplete)} incomplete views (fewer rows, during a swap: {len(swapped)}), "
              f"{len(kinds.get('mixed', []))} mixed, {len(kinds.get('foreign', []))} with a staged file, "
              f"{len(errors)} failed")
        if errors:
            names = sorted({e["error"].split(":")[0] for e in errors})
            print(f"  failed queries ({', '.join(names)}), e.g. {errors[0]['error'][:200]}")
        for r in swapped[:3]:
            print("  " + self.describe(r))
        problems = [f"through {label}: " + self.describe(r) for r in bad[:5]]
        if len(answers) < 20:
            problems.append(f"through {label}: too few answers to mean anything")
        if len(errors) > len(answers) // 4:
            problems.append(f"through {label}: more than a quarter of the queries failed")
        return problems

    def describe(self, r):
        """One answer beside the committed states valid while it ran."""
        kind = self.classify(r)
        lines = [f"{kind} answer {tuple(r['state'])} ({len(r['files'])} files) during "
                 f"{', '.join(self.runs_during(r)) or 'no run'}; committed states then:"]
        for st in sorted(self.allowed(r["how"], r["t0"], r["t1"])):
            layout = self.layout[st]
            missing = sorted(f for f in layout if f not in r["files"])
            other = sorted(f for f, v in r["files"].items() if layout.get(f) != v)
            lines.append(f"    {st}: {len(layout)} files; the answer lacks {len(missing)} "
                         f"{missing[:3]} and has {len(other)} other or different {other[:3]}")
        return "\n".join(lines)


class Failure(Exception):
    """A violation found while the loop runs."""


def add(state, n, s, h):
    """`state` with n rows of amount sum s and txn_id hash sum h added (n < 0: removed)."""
    from decimal import Decimal

    return (state[0] + n, cents(Decimal(state[1]) + Decimal(s or 0)), str(int(state[2]) + int(h)))


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--reader":
        reader(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=50)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "txanon"))
    ap.add_argument("--ops", default="append,replace,erase")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--strict", action="store_true",
                    help="fail on incomplete views during erase and --replace-changed swaps too")
    ap.add_argument("--no-require", dest="require", action="store_false",
                    help="do not fail when no kill of a writer landed before its commit")
    args = ap.parse_args()
    args.ops = args.ops.split(",")
    for op in args.ops:
        if op not in ("append", "replace", "erase"):
            ap.error(f"unknown op {op}")
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    print(f"dataset kill loop: seed {args.seed}, {args.seconds:g} s, {','.join(args.ops)}", flush=True)
    sys.exit(Loop(args).main())


if __name__ == "__main__":
    main()
