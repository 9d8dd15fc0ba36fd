#!/usr/bin/env python3
"""The noise scales and selection thresholds `txanon aggregate` prints equal
what OpenDP's Python package (`opendp` on PyPI) computes for the same
measurements, derived here from the spec, not from txanon's report.

For each configuration below this script reads the spec (contribution
bounds, clamping bounds, epsilon, delta) and the schema (each summed
column's decimal places) and derives on its own, as README
"Mechanisms" states them:
  * the epsilon share of each mechanism: epsilon / (one per count, sum and
    count_distinct, two per mean, one for partition selection unless a
    count_distinct is released by it);
  * each sensitivity: max_groups_per_entity x (1 for entities,
    max_rows_per_group for rows, max_rows_per_group x max(|lower|, |upper|)
    in minor units for a sum);
then asks OpenDP for the scale (binary_search_param over make_laplace on
i64 vectors, L1 distance, at that sensitivity and share) and, for partition
selection, the smallest threshold whose delta (make_laplace_threshold's
privacy map at OpenDP's own scale, d_in = (groups, groups, 1)) is at most
the declared delta. txanon's release (--json) must report the same
sensitivities, scales (relative difference < 1e-9), thresholds and
epsilons as these.

Usage: python3 tests/dp/opendp_check.py target/debug/txanon
Exit 0 when every figure agrees, 1 otherwise.
"""

import json
import os
import subprocess
import sys
import tempfile
import tomllib

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


SCHEMA = os.path.join(ROOT, "schemas", "transactions-aggregate.toml")


def decimal_places(column):
    """Decimal places of an output column of the schema (0 for int)."""
    with open(SCHEMA, "rb") as f:
        schema = tomllib.load(f)
    for c in schema["columns"]:
        if c.get("output", c["name"]) == column:
            t = c.get("type", "string")
            if t == "int":
                return 0
            if t.startswith("decimal("):
                return int(t[len("decimal("):-1].split(",")[1])
            raise ValueError(f"{column} is {t}, not summable")
    raise ValueError(f"{column} is not in the schema")


def expected(spec):
    """The mechanisms of a release of `spec`, from the spec alone:
    (per measure: [(what, sensitivity)]), selection sensitivity or None,
    and the epsilon share of each mechanism."""
    rel = spec["release"]
    g, r = rel["max_groups_per_entity"], rel["max_rows_per_group"]
    public = set(spec.get("keys", {}))
    selection = not all(c in public for c in rel["group_by"])
    distinct = any(m["kind"] == "count_distinct" for m in spec["measure"])
    per_measure = []
    for m in spec["measure"]:
        kind = m["kind"]
        if kind == "count":
            per_measure.append([("rows", g * r)])
        elif kind == "count_distinct":
            per_measure.append([("entities", "selection" if selection else g)])
        else:
            unit = 10 ** decimal_places(m["column"])
            magnitude = max(abs(round(m["lower"] * unit)), abs(round(m["upper"] * unit)))
            mechs = [("sum", g * r * magnitude)]
            if kind == "mean":
                mechs.append(("rows with a value", g * r))
            per_measure.append(mechs)
    n = sum(len(ms) for ms in per_measure) + (1 if selection and not distinct else 0)
    return per_measure, ((g, g, 1) if selection else None), rel["epsilon"] / n


def check(name, txanon, tmp):
    spec_path = os.path.join(tmp, name + ".toml")
    with open(spec_path, "w", encoding="utf-8") as f:
        f.write(CONFIGS[name])
    spec = tomllib.loads(CONFIGS[name])
    key = os.path.join(tmp, "k.key")
    with open(key, "w") as f:
        f.write(KEY)
    os.chmod(key, 0o600)
    out = os.path.join(tmp, name + ".parquet")
    run = subprocess.run(
        [txanon, "aggregate", "--schema", SCHEMA,
         "--spec", spec_path, "--key-file", key, "--ledger", os.path.join(tmp, name + ".ledger"),
         "--new-ledger", "-o", out, "--json", "-q",
         os.path.join(ROOT, "data-samples", "transactions.csv")],
        capture_output=True, text=True)
    if run.returncode != 0:
        print(f"{name}: txanon failed: {run.stderr}")
        return 1
    report = json.loads(run.stdout)
    per_measure, sel_d_in, share = expected(spec)
    failures = 0

    def verdict(ok, line):
        nonlocal failures
        print(f"{name}: {line}: {'ok' if ok else 'DIFFERS'}")
        failures += not ok

    # Partition selection first: a count_distinct it releases reports it.
    sel = report.get("selection")
    verdict((sel is None) == (sel_d_in is None),
            f"partition selection expected {sel_d_in is not None}, reported {sel is not None}")
    if sel is not None and sel_d_in is not None:
        delta = spec["release"]["delta"]
        py_scale = dp.binary_search_param(laplace, d_in=sel_d_in[1], d_out=share)
        py_t = dp.binary_search(
            lambda t: threshold(py_scale, t).map(sel_d_in)[1] <= delta, bounds=(1, 2**30))
        py_eps, py_delta = threshold(py_scale, py_t).map(sel_d_in)
        s = sel["sensitivity"]
        ok = ((s["groups"], s["total"], s["per_group"]) == sel_d_in
              and abs(py_scale - sel["scale"]) <= 1e-9 * py_scale
              and py_t == sel["threshold"] and py_eps <= share and py_delta <= delta
              and abs(py_eps - sel["epsilon"]) <= 1e-12 and abs(py_delta - sel["delta"]) <= 1e-15)
        verdict(ok, f"partition selection: d_in {sel_d_in} (txanon {(s['groups'], s['total'], s['per_group'])}), "
                    f"scale {py_scale} (txanon {sel['scale']}), threshold {py_t} (txanon {sel['threshold']}), "
                    f"(epsilon, delta) ({py_eps}, {py_delta}) (txanon ({sel['epsilon']}, {sel['delta']}))")
    verdict(len(report["measures"]) == len(per_measure),
            f"{len(per_measure)} measure(s) declared, {len(report['measures'])} reported")
    for m, mechs in zip(report["measures"], per_measure):
        verdict(len(m["mechanisms"]) == len(mechs),
                f"{m['output']}: {len(mechs)} mechanism(s) expected, {len(m['mechanisms'])} reported")
        for mech, (what, sens) in zip(m["mechanisms"], mechs):
            if sens == "selection":
                ok = mech["opendp"] == "make_laplace_threshold" and sel is not None \
                    and mech["scale"] == sel["scale"]
                verdict(ok, f"{m['output']}: entities released by partition selection")
                continue
            py_scale = dp.binary_search_param(laplace, d_in=sens, d_out=share)
            py_eps = laplace(py_scale).map(sens)
            ok = (mech["opendp"] == "make_laplace"
                  and mech["sensitivity"]["total"] == sens
                  and abs(py_scale - mech["scale"]) <= 1e-9 * py_scale
                  and py_eps <= share and abs(py_eps - mech["epsilon"]) <= 1e-12)
            verdict(ok, f"{m['output']}: {what}: sensitivity {sens} (txanon {mech['sensitivity']['total']}), "
                        f"scale {py_scale} (txanon {mech['scale']}), epsilon {py_eps} (txanon {mech['epsilon']})")
    spec_epsilon = spec["release"]["epsilon"]
    total = sum(x["epsilon"] for ms in report["measures"] for x in ms["mechanisms"]
                if x["opendp"] == "make_laplace") + (sel["epsilon"] if sel else 0.0)
    verdict(abs(total - report["epsilon"]) <= 1e-12 and report["epsilon"] <= spec_epsilon * (1 + 1e-9),
            f"release epsilon {report['epsilon']} is the sum {total}, at most the declared {spec_epsilon}")
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
