#!/usr/bin/env python3
"""Expected date truncations, computed with Python's datetime (not txanon's code).

Writes tests/vectors/date_truncation.csv: one row per date with its day, ISO
week (Monday, from date.isocalendar / date.fromisocalendar), month, quarter and
year starts. src/transform/generalize.rs (`truncation_matches_the_python_table`)
checks truncate_date against every row, so an identity function or an
off-by-one fails there.

Cases: hand-picked edges (year/quarter/month boundaries, leap days, 1 January
falling in the previous ISO year's week, dates before 1970, years 1 and 9999)
plus 300 dates spread over years 1-9999 by a fixed linear congruential
generator (reproducible without Python's random module).

    python3 tests/vectors/date_truncation.py --check   # recompute, compare with the file
    python3 tests/vectors/date_truncation.py --write   # regenerate the file
"""
import datetime as dt
import pathlib
import sys

OUT = pathlib.Path(__file__).with_name("date_truncation.csv")

EDGES = [
    "0001-01-01", "0001-01-07", "0001-01-08", "0001-12-31", "1582-10-15",
    "1899-12-31", "1900-02-28", "1900-03-01", "1969-12-31", "1970-01-01",
    "1999-12-31", "2000-01-01", "2000-02-29", "2000-03-01", "2004-12-31",
    "2005-01-01", "2005-01-02", "2005-01-03", "2008-03-31", "2008-04-01",
    "2008-05-31", "2008-06-30", "2008-07-01", "2008-09-30", "2008-10-01",
    "2008-12-29", "2008-12-31", "2009-01-01", "2010-01-03", "2010-01-04",
    "2012-02-29", "2016-01-01", "2020-12-31", "2021-01-01", "2021-01-03",
    "2024-02-29", "2024-12-30", "2100-02-28", "2100-03-01", "9999-12-27",
    "9999-12-31",
]


def starts(d):
    y, w, _ = d.isocalendar()
    week = dt.date.fromisocalendar(y, w, 1)
    quarter = dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
    return [d, d, week, dt.date(d.year, d.month, 1), quarter, dt.date(d.year, 1, 1)]


def table():
    days = [dt.date.fromisoformat(s) for s in EDGES]
    lo, hi = dt.date(1, 1, 1).toordinal(), dt.date(9999, 12, 31).toordinal()
    x = 20080531
    for _ in range(300):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        days.append(dt.date.fromordinal(lo + (x >> 11) % (hi - lo + 1)))
    lines = ["date,day,week,month,quarter,year"]
    for d in days:
        lines.append(",".join(v.isoformat() for v in starts(d)))
    return "\n".join(lines) + "\n"


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    text = table()
    if mode == "--write":
        OUT.write_text(text)
        print(f"wrote {OUT} ({text.count(chr(10)) - 1} dates)")
    elif mode == "--check":
        if OUT.read_text() != text:
            sys.exit(f"{OUT} differs from what --write produces")
        print(f"{text.count(chr(10)) - 1} date truncations ok")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
