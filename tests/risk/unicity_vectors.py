#!/usr/bin/env python3
"""Expected unicity figures for the table of src/risk/tests.rs's
`unicity_figures_match_the_python_draws` (a second implementation of the
draws documented in src/risk/mod.rs; SplitMix64 and the draws are
pycanon_check.py's, the sampling is this file's).

Usage: python3 tests/risk/unicity_vectors.py

The table: 40 entities E0..E39 and 30 classes c0..c29; row order is entity
by entity, class by class, and entity k has a row in class c when
(3k^2 + 5c^2 + 7kc + k) % 23 < 4; entities whose number is a multiple of
4 have each of their rows twice (a repeated point must count once). Classes
and entities are numbered in order of first appearance. With max_points = m
an entity with more than m distinct points keeps m of them: a partial
Fisher-Yates shuffle of its sorted points (for i in 0..m: j = i + below(len - i);
swap(i, j)) with its own SplitMix64 stream seeded with
seed XOR ((r + 1) * 0xd1b54a32d192ed03 mod 2^64), r = the row number (from 0)
of the entity's first row; the first m, sorted, are kept.

Prints the rows and entities, and per (seed, max_points) the sampled entities and, for p = 2 and 4,
the eligible and unique entities; without sampling the shares are also
checked against pycanon_check.py's `unicity`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pycanon_check import SplitMix64, draw_figures, unicity  # noqa: E402

ENTITIES, CLASSES = 40, 30


def rows() -> list[tuple[str, str]]:
    out = []
    for k in range(ENTITIES):
        for c in range(CLASSES):
            if (k * k * 3 + c * c * 5 + k * c * 7 + k) % 23 < 4:
                out += [(f"c{c}", f"E{k}")] * (2 if k % 4 == 0 else 1)
    return out


SAMPLE_MIX = 0xD1B54A32D192ED03
MASK = (1 << 64) - 1


def sampled_points(table, seed: int, max_points: int):
    classes: dict[str, int] = {}
    points: dict[str, set[int]] = {}
    first: dict[str, int] = {}
    for row, (a, e) in enumerate(table):
        cid = classes.setdefault(a, len(classes))
        points.setdefault(e, set()).add(cid)
        first.setdefault(e, row)
    out: dict[str, list[int]] = {}
    sampled = 0
    for e, pts in points.items():
        pts = sorted(pts)
        if len(pts) > max_points:
            sampled += 1
            rng = SplitMix64(seed ^ (((first[e] + 1) * SAMPLE_MIX) & MASK))
            for i in range(max_points):
                j = i + rng.below(len(pts) - i)
                pts[i], pts[j] = pts[j], pts[i]
            pts = sorted(pts[:max_points])
        out[e] = pts
    return out, sampled


def main() -> None:
    rng = SplitMix64(7)
    print("SplitMix64(7).next() x3:", ", ".join(f"{rng.next():#x}" for _ in range(3)))
    rng = SplitMix64(7)
    print("SplitMix64(7).below(10), below(1000), below(2^63):",
          rng.below(10), rng.below(1000), rng.below(1 << 63))
    table = rows()
    print(f"{len(table)} rows, {len({e for _, e in table})} entities with a row")
    for seed, max_points in ((7, 1024), (11, 1024), (7, 3), (12, 4)):
        points, sampled = sampled_points(table, seed, max_points)
        figs = [draw_figures(points, seed, p) for p in (2, 4)]
        if max_points >= CLASSES:
            # Without sampling, pycanon_check.py's points built from a
            # DataFrame must give the same shares.
            import pandas as pd

            df = pd.DataFrame(table, columns=["a", "e"])
            for p, (eligible, unique) in zip((2, 4), figs):
                assert unicity(df, ["a"], "e", seed, p) == unique / eligible, (seed, p)
        print(f"seed {seed} max_points {max_points}: sampled {sampled}, "
              f"p2 (eligible, unique) {figs[0]}, p4 {figs[1]}")


if __name__ == "__main__":
    main()
