#!/usr/bin/env python3
"""The noise scales and selection thresholds `txanon aggregate` prints equal
what OpenDP's Python package (`opendp` on PyPI) computes for the same
measurements.

For each configuration below, txanon writes a release with --json; for each
mechanism in it this script rebuilds the measurement with OpenDP's Python
bindings and checks:
  * discrete Laplace (make_laplace over i64 vectors, L1 distance): OpenDP's
    privacy map at txanon's scale and sensitivity gives txanon's epsilon, it
    is at most the release's per-mechanism share, and OpenDP's own
    binary_search_param finds the same scale (relative difference < 1e-9);
  * partition selection (make_laplace_threshold over a map of counts,
    L01Inf distance): OpenDP's binary_search finds the same smallest
    threshold for the declared delta, and its map gives the same
    (epsilon, delta).

Usage: python3 tests/dp/opendp_check.py target/debug/txanon
Exit 0 when every figure agrees, 1 otherwise.
"""

import json
import os
import subprocess
import sys
import tempfile

import opendp.prelude as dp

dp.enable_features("contrib")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEY = "7d1c0e5a9b3f4e2d8c6a5b4f3e2d1c0b9a8f7e6d5c4b3a29181716151413121f"

CONFIGS = {
    # The README's sample release: public keys only, two measures.
    "monthly": open(os.path.join(ROOT, "schemas", "aggregate-monthly.toml"), encoding="utf-8").read(),
    # Selection, with count_distinct as the selection measure.
    "selection-distinct": """
[release]
name = "sel"
entity = "account_token"
group_by = ["channel", "currency"]
epsilon = 2.0
delta = 1e-7
max_groups_per_entity = 3
max_rows_per_group = 2
[[measure]]
kind = "count"
[[measure]]
kind = "count_distinct"
[[measure]]
kind = "sum"
column = "amount"
lower = -50
upper = 250.5
[[measure]]
kind = "mean"
column = "item_count"
lower = 0
upper = 20
""",
    # Selection with its own share (no count_distinct), a small delta.
    "selection-own": """
[release]
name = "own"
entity = "account_token"
group_by = ["created_month"]
epsilon = 0.3
delta = 1e-9
max_groups_per_entity = 7
max_rows_per_group = 11
[[measure]]
kind = "count"
[[measure]]
kind = "sum"
column = "amount"
lower = 0
upper = 1000
""",
}


def laplace(scale):
    return dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"), scale=scale
    )


def threshold(scale, t):
    return dp.m.make_laplace_threshold(
        dp.map_domain(dp.atom_domain(T="u32"), dp.atom_domain(T="i64")),
        dp.l01inf_distance(dp.absolute_distance(T="i64")),
        scale=scale,
        threshold=t,
    )


def parts(report):
    n = 0
    distinct = False
    for m in report["measures"]:
        n += 2 if m["kind"] == "mean" else 1
        distinct |= m["kind"] == "count_distinct"
    if report["selection"] is not None and not distinct:
        n += 1
    return n


def check(name, txanon, tmp):
    spec = os.path.join(tmp, name + ".toml")
    with open(spec, "w", encoding="utf-8") as f:
        f.write(CONFIGS[name])
    key = os.path.join(tmp, "k.key")
    with open(key, "w") as f:
        f.write(KEY)
    os.chmod(key, 0o600)
    out = os.path.join(tmp, name + ".parquet")
    run = subprocess.run(
        [txanon, "aggregate", "--schema", os.path.join(ROOT, "schemas", "transactions-aggregate.toml"),
         "--spec", spec, "--key-file", key, "--ledger", os.path.join(tmp, name + ".ledger"), "--new-ledger",
         "-o", out, "--json", "-q", os.path.join(ROOT, "data-samples", "transactions.csv")],
        capture_output=True, text=True)
    if run.returncode != 0:
        print(f"{name}: txanon failed: {run.stderr}")
        return 1
    report = json.loads(run.stdout)
    report.setdefault("selection", None)
    share = report_epsilon = None
    spec_epsilon = {"monthly": 1.0, "selection-distinct": 2.0, "selection-own": 0.3}[name]
    share = spec_epsilon / parts(report)
    failures = 0
    mechanisms = [m for ms in report["measures"] for m in ms["mechanisms"] if m["opendp"] == "make_laplace"]
    for mech in mechanisms:
        scale, d_in, eps = mech["scale"], mech["sensitivity"]["total"], mech["epsilon"]
        py_eps = laplace(scale).map(d_in)
        py_scale = dp.binary_search_param(laplace, d_in=d_in, d_out=share)
        ok = py_eps == eps and py_eps <= share and abs(py_scale - scale) <= 1e-9 * scale
        print(f"{name}: {mech['releases']}: scale {scale} (OpenDP search {py_scale}), "
              f"sensitivity {d_in}, epsilon {eps} (OpenDP map {py_eps}): {'ok' if ok else 'DIFFERS'}")
        failures += not ok
    sel = report["selection"]
    if sel is not None:
        s = sel["sensitivity"]
        d_in = (s["groups"], s["total"], s["per_group"])
        delta = {"selection-distinct": 1e-7, "selection-own": 1e-9}[name]
        py_t = dp.binary_search(
            lambda t: threshold(sel["scale"], t).map(d_in)[1] <= delta, bounds=(s["per_group"], 2**30))
        py_eps, py_delta = threshold(sel["scale"], sel["threshold"]).map(d_in)
        py_scale = dp.binary_search_param(laplace, d_in=s["total"], d_out=share)
        ok = (py_t == sel["threshold"] and py_eps == sel["epsilon"] and py_delta == sel["delta"]
              and abs(py_scale - sel["scale"]) <= 1e-9 * sel["scale"])
        print(f"{name}: partition selection: threshold {sel['threshold']} (OpenDP {py_t}), scale "
              f"{sel['scale']}, (epsilon, delta) ({sel['epsilon']}, {sel['delta']}) "
              f"(OpenDP map ({py_eps}, {py_delta})): {'ok' if ok else 'DIFFERS'}")
        failures += not ok
    total = sum(m["epsilon"] for ms in report["measures"] for m in ms["mechanisms"]
                if m["opendp"] == "make_laplace") + (sel["epsilon"] if sel else 0.0)
    if abs(total - report["epsilon"]) > 1e-12 or report["epsilon"] > spec_epsilon * (1 + 1e-9):
        print(f"{name}: the report's epsilon {report['epsilon']} is not the sum {total} "
              f"or exceeds the declared {spec_epsilon}")
        failures += 1
    return failures


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in CONFIGS:
            failures += check(name, sys.argv[1], tmp)
    print(f"opendp_check: {failures} difference(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
