#!/usr/bin/env python3
"""Cross-check a txanon Parquet output against an independent recomputation.

Usage (from the repository root):

    python3 tests/vectors/crosscheck.py --schema SCHEMA.toml --key-file KEY \\
        --parquet OUT.parquet [--context LABEL] INPUT.csv [INPUT2.csv ...]

Give the same schema, key, context and inputs (in the same order) as the
`txanon anonymize` run that wrote OUT.parquet.  This script reads the CSV
input with Python's `csv` module, applies the schema itself (parsing,
generalisation, normalisation v1 and token spec v1 via reference.py, the
independent reference implementation next to this file) and compares every
cell with the Parquet file as read by pyarrow.  It also:

  * checks the column names and order and the Arrow types (date32,
    decimal128(P,S), timestamp[us, UTC], strings for tokens, ...);
  * opens the file with duckdb and polars too and checks that both see the
    same row count, the expected logical types (DATE, DECIMAL(P,S),
    TIMESTAMP WITH TIME ZONE / Datetime(us, UTC), VARCHAR / String, ...) and
    the same null count, min and max per column as pyarrow;
  * checks the txanon.* footer metadata (token spec, schema sha256/name/
    version, token bits and context, key fingerprint, row count, label);
  * checks that the key (hex in either case, and its raw bytes) occurs
    nowhere in the Parquet file's bytes;
  * checks that every token cell has the shape of a token (hex or base64url
    of bits/8 bytes) and that no raw CSV value of a tokenized column (nor its
    NFKC-trimmed or normalised form) of length >= 6 occurs inside any cell of
    that column's output (a cheap leak check).

Mismatch reports name the output row (0-based), the input file and line, the
column and the rule; for tokenized columns they show only expected and
actual tokens (and the normalisation status), never the raw input, and an
actual cell that is not a clean token (a possible leak) is not shown either.
Raw input of generalized and dropped columns is never printed.  File-level
findings (footer, types, readers, leaks) come first, and a per-column tally of
cell mismatches closes the report.

Exit status: 0 when everything matches (one summary line is printed), 1 on
any mismatch (up to --max-report of them are listed), 2 when the check could
not run (missing module, unreadable or malformed schema/key/CSV/Parquet).

Requirements: Python >= 3.11 (tomllib, zoneinfo), phonenumbers and idna (for
reference.py), pyarrow, duckdb and polars, all from PyPI.

Value rules beyond the brief, chosen to match txanon's documented behaviour
(see the comments at the parsers): typed values (all but keep-string and
tokenize) are trimmed of White_Space and a blank one is null; floats must be
finite; a decimal with more than S fraction digits is invalid (never
rounded); a DST-gap wall time is invalid; the default timestamp format also
takes HH:MM without seconds, a bare date (midnight) and an RFC 3339 offset.

Assumptions: a declared column missing from an input header is an error; an
input column the schema does not declare is ignored (txanon refuses those
unless run with --drop-undeclared); a value that is invalid under
on_invalid = "error" is reported as a mismatch, since the run should have
stopped (runs with --max-bad-rows > 0 that skipped rows are not supported).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import decimal
import hashlib
import importlib
import math
import re
import sys
import time
import tomllib
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2


class SetupError(Exception):
    """The check cannot run (bad arguments, schema, key, input or missing module)."""


def require(module: str, hint: str):
    """Import `module` or stop with a message saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SetupError(f"python module {module!r} is missing ({exc}); "
                         f"install it with: pip install {hint}") from exc


# ---------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------

TYPES = ("string", "int", "float", "bool", "date", "timestamp")  # plus decimal(P,S)
ACTIONS = ("keep", "drop", "tokenize", "generalize")
KINDS = ("id", "email", "phone", "address")
GRAINS = ("hour", "day", "week", "month", "quarter", "year")
DECIMAL_RE = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")
DATE_FORMAT = "%Y-%m-%d"


@dataclass
class Column:
    name: str            # input column name
    type: str            # string|int|float|decimal|bool|date|timestamp
    precision: int       # decimal only
    scale: int           # decimal only
    format: str | None   # strftime format (date/timestamp); None = ISO 8601 default
    action: str
    kind: str            # tokenize: id|email|phone|address
    namespace: str       # tokenize
    region: str | None   # tokenize phone
    on_invalid: str
    to: str | None       # generalize grain
    output: str          # output column name

    @property
    def type_label(self) -> str:
        return f"decimal({self.precision},{self.scale})" if self.type == "decimal" else self.type

    @property
    def out_type(self) -> str:
        """Logical type of the output column."""
        if self.action == "tokenize":
            return "string"
        if self.action == "generalize":
            return "timestamp" if self.to == "hour" else "date"
        return self.type

    @property
    def rule(self) -> str:
        """Short description of the rule, for mismatch reports."""
        if self.action == "tokenize":
            extra = f" region={self.region}" if self.region else ""
            return (f"tokenize as={self.kind} namespace={self.namespace}{extra} "
                    f"on_invalid={self.on_invalid}")
        if self.action == "generalize":
            return f"generalize {self.type_label} to={self.to}"
        return f"{self.action} {self.type_label}"


@dataclass
class Schema:
    path: Path
    sha256: str
    name: str
    version: object
    delimiter: str
    header: bool
    timezone: str
    zone: zoneinfo.ZoneInfo
    context: str
    bits: int
    encoding: str
    columns: list[Column]

    @property
    def outputs(self) -> list[Column]:
        return [c for c in self.columns if c.action != "drop"]


def load_schema(path: Path, context_override: str | None) -> Schema:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SetupError(f"cannot read schema {path}: {exc}") from exc
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SetupError(f"schema {path} is not valid TOML: {exc}") from exc

    def err(msg: str):
        raise SetupError(f"schema {path}: {msg}")

    dataset = doc.get("dataset", {})
    inp = doc.get("input", {})
    tokens = doc.get("tokens", {})
    if "name" not in dataset or "version" not in dataset:
        err("[dataset] needs name and version")
    delimiter = inp.get("delimiter", ",")
    if len(delimiter) != 1:
        err(f"[input] delimiter must be one character, got {delimiter!r}")
    timezone = inp.get("timezone", "UTC")
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        err(f"unknown [input] timezone {timezone!r}: {exc}")
    bits = tokens.get("bits", 128)
    encoding = tokens.get("encoding", "hex")
    if not (isinstance(bits, int) and 96 <= bits <= 256 and bits % 8 == 0):
        err(f"[tokens] bits must be a multiple of 8 in 96..=256, got {bits!r}")
    if encoding not in ("hex", "base64url"):
        err(f"[tokens] encoding must be hex or base64url, got {encoding!r}")
    context = tokens.get("context", "") if context_override is None else context_override

    columns: list[Column] = []
    for i, c in enumerate(doc.get("columns", [])):
        name = c.get("name")
        if not name:
            err(f"column #{i + 1} has no name")
        where = f"column {name!r}"
        type_ = c.get("type", "string")
        precision = scale = 0
        m = DECIMAL_RE.fullmatch(type_)
        if m:
            type_, precision, scale = "decimal", int(m[1]), int(m[2])
            if not (1 <= precision <= 38 and scale <= precision):
                err(f"{where}: bad decimal precision/scale")
        elif type_ not in TYPES:
            err(f"{where}: unknown type {type_!r}")
        action = c.get("action")
        if action not in ACTIONS:
            err(f"{where}: action must be one of {ACTIONS}, got {action!r}")
        fmt = c.get("format")
        if fmt is None and type_ == "date":
            fmt = DATE_FORMAT
        kind = c.get("as", "id")
        if action == "tokenize" and kind not in KINDS:
            err(f"{where}: 'as' must be one of {KINDS}, got {kind!r}")
        default_invalid = "null" if action == "tokenize" else "error"
        on_invalid = c.get("on_invalid", default_invalid)
        allowed = ("null", "error", "token") if action == "tokenize" else ("error", "null")
        if action != "drop" and on_invalid not in allowed:
            err(f"{where}: on_invalid must be one of {allowed}, got {on_invalid!r}")
        to = c.get("to")
        if action == "generalize":
            if type_ not in ("date", "timestamp"):
                err(f"{where}: generalize needs type date or timestamp")
            if to not in GRAINS or (type_ == "date" and to == "hour"):
                err(f"{where}: bad generalize grain {to!r}")
        columns.append(Column(
            name=name, type=type_, precision=precision, scale=scale, format=fmt,
            action=action, kind=kind, namespace=c.get("namespace", kind),
            region=c.get("region"), on_invalid=on_invalid, to=to,
            output=c.get("output", name)))
    if not columns:
        err("no [[columns]]")
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        err("duplicate column names")
    outs = [c.output for c in columns if c.action != "drop"]
    if len(set(outs)) != len(outs):
        err("duplicate output names")
    return Schema(path=path, sha256=hashlib.sha256(data).hexdigest(),
                  name=dataset["name"], version=dataset["version"],
                  delimiter=delimiter, header=inp.get("header", True),
                  timezone=timezone, zone=zone, context=context, bits=bits,
                  encoding=encoding, columns=columns)


def load_key(path: Path) -> bytes:
    """Key file: hex text, surrounding white space ignored, >= 32 bytes."""
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        # Never echo the file content: it is (most of) a key.
        raise SetupError(f"cannot read a hex key from {path} ({type(exc).__name__})") from None
    if len(key) < 32:
        raise SetupError(f"key in {path} is {len(key)} bytes, need at least 32")
    return key


# ---------------------------------------------------------------------------
# Value parsing (keep / generalize)
# ---------------------------------------------------------------------------


class BadValue(Exception):
    """The raw value does not parse as the column's type."""


UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = dt.timedelta(microseconds=1)
I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1

# Typed values (everything but keep-string and tokenize) are trimmed of
# Unicode White_Space first (like Rust's str::trim; a value that is then
# empty is null, not invalid).  After that the forms are strict: no "_" digit
# separators (which Python's int()/float() would otherwise accept), ASCII
# digits only.
INT_RE = re.compile(r"[+-]?[0-9]+")
FLOAT_RE = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                      r"|inf|infinity|nan)", re.IGNORECASE)
DECIMAL_VALUE_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")  # no exponent
BOOLS = {"true": True, "t": True, "yes": True, "y": True, "1": True,
         "false": False, "f": False, "no": False, "n": False, "0": False}
# Default timestamp format, ISO 8601 / RFC 3339:
#   naive:       YYYY-MM-DD("T"|" ")HH:MM[:SS[.fraction]]  or just YYYY-MM-DD (midnight)
#   with offset: YYYY-MM-DD("T"|"t"|" ")HH:MM:SS[.fraction]("Z"|"z"|+HH:MM|-HH:MM)
# Fractions beyond microseconds are truncated.  (txanon, through chrono,
# also tolerates a few oddities that are not reproduced here: unpadded
# fields, repeated spaces, a leap second ":60", a "+" before the year.)
ISO_NAIVE_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?)?")
ISO_OFFSET_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?([Zz]|[+-][0-9]{2}:[0-9]{2})")


def parse_int(raw: str) -> int:
    if not INT_RE.fullmatch(raw):
        raise BadValue("not an integer")
    v = int(raw)
    if not I64_MIN <= v <= I64_MAX:
        raise BadValue("out of int64 range")
    return v


def parse_float(raw: str) -> float:
    """Finite numbers only: "inf", "nan" and overflows to infinity are invalid."""
    if not FLOAT_RE.fullmatch(raw):
        raise BadValue("not a number")
    v = float(raw)
    if not math.isfinite(v):
        raise BadValue("not a finite number")
    return v


def parse_decimal(raw: str, precision: int, scale: int) -> decimal.Decimal:
    """Exact decimal, never rounded: more than `scale` fraction digits is
    invalid (even trailing zeros, "1.230" for scale 2), and so is an integer
    part longer than precision - scale digits."""
    if not DECIMAL_VALUE_RE.fullmatch(raw):
        raise BadValue("not a decimal number")
    _, _, frac = raw.partition(".")
    if len(frac) > scale:
        raise BadValue(f"more than {scale} fraction digits")
    q = decimal.Decimal(raw)
    if abs(q) >= decimal.Decimal(10) ** (precision - scale):
        raise BadValue(f"does not fit decimal({precision},{scale})")
    return q


def parse_bool(raw: str) -> bool:
    try:
        return BOOLS[raw.lower()]
    except KeyError:
        raise BadValue("not a boolean") from None


# Fast paths for the two most common formats: for a fully zero-padded value
# these give exactly what strptime gives, ~10x faster.  Anything else goes
# through strptime.
FAST_FORMATS = {
    "%Y-%m-%d": re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})"),
    "%Y-%m-%d %H:%M:%S": re.compile(
        r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})"),
}


def strptime(raw: str, fmt: str) -> dt.datetime:
    """datetime.strptime (raises ValueError), with the fast paths above."""
    fast = FAST_FORMATS.get(fmt)
    m = fast.fullmatch(raw) if fast else None
    if m:
        return dt.datetime(*map(int, m.groups()))
    return dt.datetime.strptime(raw, fmt)


def parse_date(raw: str, fmt: str) -> dt.date:
    try:
        return strptime(raw, fmt).date()
    except ValueError as exc:
        raise BadValue("not a date in the declared format") from exc


def localize(naive: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """A wall-clock time in `zone` as an aware datetime.  In a DST fold (the
    wall time occurs twice) the earlier instant is taken (fold=0).  A wall
    time that does not exist (skipped by a DST gap) is treated as invalid."""
    aware = naive.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise BadValue("local time does not exist (DST gap)")
    return aware


def parse_timestamp(raw: str, fmt: str | None, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """Parse to an aware datetime: naive values are wall-clock times in
    `zone`, values with an offset keep it."""
    if fmt is None:
        m = ISO_OFFSET_RE.fullmatch(raw) or ISO_NAIVE_RE.fullmatch(raw)
        if not m:
            raise BadValue("not an ISO 8601 timestamp")
        frac = (m[7] or "").ljust(6, "0")[:6]          # truncate to microseconds
        try:
            value = dt.datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4] or 0),
                                int(m[5] or 0), int(m[6] or 0), int(frac))
        except ValueError as exc:
            raise BadValue("not a valid date/time") from exc
        off = m.re is ISO_OFFSET_RE and m[8]
        if off:
            if off in "Zz":
                tz = UTC
            else:
                hours, minutes = int(off[1:3]), int(off[4:6])
                if hours > 23 or minutes > 59:
                    raise BadValue("bad UTC offset")
                sign = -1 if off[0] == "-" else 1
                tz = dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
            value = value.replace(tzinfo=tz)
    else:
        try:
            value = strptime(raw, fmt)
        except ValueError as exc:
            raise BadValue("not a timestamp in the declared format") from exc
    if value.tzinfo is None:
        return localize(value, zone)
    return value


def micros(instant: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime."""
    return (instant - EPOCH) // ONE_US


def truncate_date(d: dt.date, grain: str) -> dt.date:
    if grain == "day":
        return d
    if grain == "week":                       # Monday of the ISO week
        return d - dt.timedelta(days=d.weekday())
    if grain == "month":
        return d.replace(day=1)
    if grain == "quarter":
        return d.replace(month=(d.month - 1) // 3 * 3 + 1, day=1)
    if grain == "year":
        return d.replace(month=1, day=1)
    raise AssertionError(grain)


def cached(convert):
    """Memoise a converter by raw value (dates and amounts repeat a lot);
    BadValue is cached too."""
    cache: dict[str, object] = {}

    def lookup(raw: str):
        hit = cache.get(raw)
        if hit is None:
            try:
                hit = convert(raw)
            except BadValue as exc:
                hit = exc
            cache[raw] = hit
        if isinstance(hit, BadValue):
            raise hit
        return hit
    return lookup


def make_converter(col: Column, zone: zoneinfo.ZoneInfo):
    """Memoised raw (non-empty, trimmed) -> expected output value, for keep
    and generalize.  Raises BadValue.  Timestamps are UTC epoch microseconds."""
    return cached(converter(col, zone))


def converter(col: Column, zone: zoneinfo.ZoneInfo):
    if col.action == "keep":
        return {
            "string": lambda raw: raw,
            "int": parse_int,
            "float": parse_float,
            "decimal": lambda raw: parse_decimal(raw, col.precision, col.scale),
            "bool": parse_bool,
            "date": lambda raw: parse_date(raw, col.format),
            "timestamp": lambda raw: micros(parse_timestamp(raw, col.format, zone)),
        }[col.type]
    assert col.action == "generalize"
    if col.type == "date":
        return lambda raw: truncate_date(parse_date(raw, col.format), col.to)

    def generalize_timestamp(raw: str):
        local = parse_timestamp(raw, col.format, zone).astimezone(zone)
        if col.to == "hour":
            # replace() keeps `fold`, so in a DST fold the start of the hour
            # is taken on the same side of the transition as the value.
            return micros(local.replace(minute=0, second=0, microsecond=0))
        return truncate_date(local.date(), col.to)
    return generalize_timestamp


# ---------------------------------------------------------------------------
# Expected output
# ---------------------------------------------------------------------------


class Fail:
    """Expected cell for a value that should have stopped the run
    (invalid input under on_invalid = "error")."""
    def __init__(self, reason: str):
        self.reason = reason


@dataclass
class Expected:
    rows: int
    origin: list[tuple[int, int]]            # per row: (input file index, line number)
    values: dict[str, list]                  # output name -> expected cells
    status: dict[str, list]                  # tokenize outputs: normalisation status per row
    leak_candidates: dict[str, dict[str, int]]  # tokenize outputs: raw-ish value -> first row


class Tokenizer:
    """Tokens for one column, cached by raw value (inputs repeat a lot).  On
    the first sight of a raw value it also records the leak-check
    candidates: the raw text, its NFKC-trimmed form and its normalised form
    (those of >= 6 characters), each with the first row it came from."""

    def __init__(self, ref, master: bytes, schema: Schema, col: Column, ns_keys: dict,
                 leak_candidates: dict[str, int]):
        self.ref, self.col, self.schema = ref, col, schema
        self.cache: dict[str, tuple[str, str | None, str | None]] = {}
        self.leak_candidates = leak_candidates

        def key_for(namespace: str) -> bytes:
            if namespace not in ns_keys:
                ns_keys[namespace] = ref.ns_key(master, schema.context, namespace)
            return ns_keys[namespace]
        self.key_for = key_for

    def __call__(self, raw: str, row: int):
        """raw -> (status, normalised value or None, token or None).  The
        status is reference.py's ("ok", "empty", "invalid")."""
        hit = self.cache.get(raw)
        if hit is None:
            c = self.col
            # on_invalid = "error" is computed like "null"; the caller turns
            # an invalid status into a Fail.
            policy = "token" if c.on_invalid == "token" else "null"
            hit = self.ref.tokenize_with(self.key_for, c.namespace, c.kind, raw, c.region,
                                         self.schema.bits, self.schema.encoding, policy)
            self.cache[raw] = hit
            for text in (raw, self.ref.base_normalize(raw), hit[1] or ""):
                if len(text) >= 6:
                    self.leak_candidates.setdefault(text, row)
        return hit


def read_records(path: Path, delimiter: str):
    """Yield (line number of the record's first line, fields) for every
    non-blank record.  UTF-8 with an optional BOM; RFC 4180 quoting.  The
    reader is strict: text after a closing quote, or a file ending inside a
    quoted field, stops the check (exit 2) rather than being guessed at."""
    csv.field_size_limit(2 ** 31 - 1)                 # the default is 128 KiB
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, delimiter=delimiter, strict=True)
            next_line = 1
            for fields in reader:
                start, next_line = next_line, reader.line_num + 1
                if fields:                        # csv yields [] for a blank line
                    yield start, fields
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SetupError(f"cannot read {path}: {exc}") from exc


def compute_expected(schema: Schema, master: bytes, inputs: list[Path], ref) -> Expected:
    """Read every input and compute every expected output cell.  Work is done
    column by column over each file's records (tighter loops than row by
    row); rows keep the order of the inputs."""
    ns_keys: dict[str, bytes] = {}
    outs = schema.outputs
    values: dict[str, list] = {c.output: [] for c in outs}
    status: dict[str, list] = {c.output: [] for c in outs if c.action == "tokenize"}
    leaks: dict[str, dict[str, int]] = {c.output: {} for c in outs if c.action == "tokenize"}
    origin: list[tuple[int, int]] = []
    # One cell function per output column, with its caches, shared by all files.
    cell_fns = {}
    for col in outs:
        if col.action == "tokenize":
            cell_fns[col.output] = token_cell(
                col, Tokenizer(ref, master, schema, col, ns_keys, leaks[col.output]))
        else:
            cell_fns[col.output] = typed_cell(col, make_converter(col, schema.zone), ref)

    for file_index, path in enumerate(inputs):
        records = read_records(path, schema.delimiter)
        if schema.header:
            first = next(records, None)
            if first is None:
                continue                          # empty file: no header, no rows
            header = first[1]
            missing = [c.name for c in schema.columns if c.name not in header]
            if missing:
                raise SetupError(f"{path}: header lacks declared column(s) {missing}")
            if len(set(header)) != len(header):
                raise SetupError(f"{path}: duplicate column names in the header")
            width = len(header)
            index = {c.name: header.index(c.name) for c in schema.columns}
        else:
            width = len(schema.columns)
            index = {c.name: i for i, c in enumerate(schema.columns)}

        rows = []
        first_row = len(origin)
        for line, fields in records:
            if len(fields) != width:
                raise SetupError(f"{path} line {line}: {len(fields)} fields, expected {width}")
            origin.append((file_index, line))
            rows.append(fields)
        for col in outs:
            i, fn = index[col.name], cell_fns[col.output]
            cells = [fn(fields[i], first_row + n) for n, fields in enumerate(rows)]
            if col.action == "tokenize":
                status[col.output].extend(st for st, _ in cells)
                values[col.output].extend(cell for _, cell in cells)
            else:
                values[col.output].extend(cells)
    return Expected(rows=len(origin), origin=origin, values=values, status=status,
                    leak_candidates=leaks)


def token_cell(col: Column, tokenizer: Tokenizer):
    """raw, row -> (normalisation status, expected cell) for a tokenize column."""
    fail = Fail("value invalid for its kind and on_invalid = error")
    error = col.on_invalid == "error"

    def cell(raw: str, row: int):
        st, _, token = tokenizer(raw, row)
        if error and st == "invalid":
            return st, fail
        return st, token
    return cell


def typed_cell(col: Column, convert, ref):
    """raw, row -> expected cell for a keep or generalize column."""
    string = col.type == "string"
    ws = ref.WHITE_SPACE

    def cell(raw: str, row: int):
        if raw == "":
            return None                           # empty field -> null, any type
        if not string and (raw[0] in ws or raw[-1] in ws):
            raw = ref.trim(raw)                   # typed values are trimmed ...
            if raw == "":
                return None                       # ... and blank ones are null
        try:
            return convert(raw)
        except BadValue as exc:
            if col.on_invalid == "null":
                return None
            return Fail(f"invalid {col.type_label} ({exc}) and on_invalid = error")
    return cell


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------


class Report:
    """Collects mismatches and keeps the first `limit` for printing.  Cell
    mismatches are also tallied per column and rule, so that a report whose
    listed lines are all from one column still shows the whole picture."""

    def __init__(self, limit: int):
        self.limit, self.count, self.lines = limit, 0, []
        self.per_column: dict[str, int] = defaultdict(int)

    def add(self, message: str, column: str | None = None):
        self.count += 1
        if column is not None:
            self.per_column[column] += 1
        if len(self.lines) < self.limit:
            self.lines.append(message)

    def print(self):
        for line in self.lines:
            print(line)
        if self.count > len(self.lines):
            print(f"... and {self.count - len(self.lines)} more")
        if self.per_column:
            print("cell mismatches per column: " + ", ".join(
                f"{name} {n}" for name, n in self.per_column.items()))


def token_shape(bits: int, encoding: str) -> re.Pattern:
    n = bits // 8
    if encoding == "hex":
        return re.compile(f"[0-9a-f]{{{2 * n}}}")
    return re.compile(f"[A-Za-z0-9_-]{{{math.ceil(4 * n / 3)}}}")


class TokenView:
    """Prints cells of tokenized columns safely: a value is shown only if it
    has the shape of a token and is not one found by the leak check, so that
    a leaked raw value is never echoed."""

    def __init__(self, bits: int, encoding: str):
        self.shape = token_shape(bits, encoding)
        self.leaked: set[str] = set()

    def __call__(self, value) -> str:
        if isinstance(value, str) and (not self.shape.fullmatch(value) or value in self.leaked):
            return f"<non-token value of {len(value)} characters, not shown>"
        return show(value)


def show(value) -> str:
    """Printable form of an output cell (keep/generalize/token outputs only)."""
    if value is None:
        return "null"
    if isinstance(value, Fail):
        return f"<run should have failed: {value.reason}>"
    return repr(value) if isinstance(value, str) else str(value)


def same(e, g) -> bool:
    """Cell equality; None only equals None, NaN equals NaN."""
    if e is None or g is None:
        return e is None and g is None
    if isinstance(e, float) and isinstance(g, float) and math.isnan(e) and math.isnan(g):
        return True
    return type(e) is type(g) and e == g


def fmt_micros(us: int) -> str:
    return (EPOCH + dt.timedelta(microseconds=us)).isoformat()


def check_pyarrow_types(pa, schema: Schema, table, report: Report) -> set[str]:
    """Check the Arrow type of every output column; return the columns whose
    type is wrong (their cells are not compared: one line per column is
    enough)."""
    bad = set()
    want = {
        "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)
                            or pa.types.is_string_view(t),
        "int": lambda t: t == pa.int64(),
        "float": lambda t: t == pa.float64(),
        "bool": lambda t: t == pa.bool_(),
        "date": lambda t: t == pa.date32(),
        "timestamp": lambda t: (pa.types.is_timestamp(t) and t.unit == "us"
                                and t.tz in ("UTC", "+00:00", "Etc/UTC")),
    }
    for col in schema.outputs:
        if col.output not in table.column_names:
            continue
        t = table.schema.field(col.output).type
        if col.out_type == "decimal":
            ok = pa.types.is_decimal(t) and (t.precision, t.scale) == (col.precision, col.scale)
            expected = f"decimal128({col.precision}, {col.scale})"
        else:
            ok = want[col.out_type](t)
            expected = {"string": "string", "int": "int64", "float": "double", "bool": "bool",
                        "date": "date32[day]", "timestamp": "timestamp[us, tz=UTC]"}[col.out_type]
        if not ok:
            report.add(f"column {col.output}: pyarrow type {t}, expected {expected} ({col.rule})")
            bad.add(col.output)
    return bad


def read_actual(pa, schema: Schema, table, skip: set[str], report: Report) -> dict[str, list]:
    """Output columns as read by pyarrow, as Python values (timestamps as
    UTC epoch microseconds); columns in `skip` are left out."""
    actual = {}
    for col in schema.outputs:
        if col.output not in table.column_names or col.output in skip:
            continue
        column = table.column(col.output)
        try:
            if col.out_type == "timestamp":
                column = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
            actual[col.output] = column.to_pylist()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            report.add(f"column {col.output}: cannot read as {col.out_type}: {exc}")
    return actual


def compare_values(schema: Schema, exp: Expected, actual: dict[str, list],
                   inputs: list[Path], view: TokenView, report: Report) -> int:
    """Cell-by-cell comparison; returns the number of non-null tokens compared."""
    tokens = 0
    for col in schema.outputs:
        if col.output not in actual:
            continue
        got = actual[col.output]
        want = exp.values[col.output]
        is_token = col.action == "tokenize"
        if want == got:
            # Equal lists hold no Fail (it equals nothing) and no NaN (it
            # equals nothing but itself); types were checked per column.
            tokens += len(want) - want.count(None) if is_token else 0
            continue
        for r in range(min(len(want), len(got))):
            e, g = want[r], got[r]
            if is_token and e is not None and not isinstance(e, Fail):
                tokens += 1
            if isinstance(e, Fail) or not same(e, g):
                f, line = exp.origin[r]
                where = f"row {r} ({inputs[f].name} line {line}) column {col.output}"
                if is_token:
                    detail = (f"expected {show(e)}, got {view(g)} "
                              f"[normalisation: {exp.status[col.output][r]}]")
                elif col.out_type == "timestamp" and not isinstance(e, Fail):
                    detail = (f"expected {fmt_micros(e) if e is not None else 'null'}, "
                              f"got {fmt_micros(g) if g is not None else 'null'}")
                else:
                    detail = f"expected {show(e)}, got {show(g)}"
                report.add(f"{where}: {col.rule}: {detail}",
                           column=f"{col.output} ({col.rule})")
    return tokens


def check_token_shapes_and_leaks(schema: Schema, exp: Expected, actual: dict[str, list],
                                 inputs: list[Path], view: TokenView, report: Report):
    """Every token cell looks like a token, and no raw input value (>= 6
    characters) of a tokenized column occurs inside that column's output.
    Cells found leaking are recorded in `view` so they are never printed."""
    shape = view.shape
    for col in schema.outputs:
        if col.action != "tokenize" or col.output not in actual:
            continue
        cells = [v for v in set(actual[col.output]) if v is not None]
        odd = [v for v in cells if not isinstance(v, str) or not shape.fullmatch(v)]
        if odd:
            report.add(f"column {col.output}: {len(odd)} distinct value(s) are not "
                       f"{schema.bits}-bit {schema.encoding} tokens")
        # Index candidates by their first 6 characters, then slide a 6-wide
        # window over every distinct output cell: linear in the output size.
        by_prefix: dict[str, list[str]] = defaultdict(list)
        for text in exp.leak_candidates[col.output]:
            by_prefix[text[:6]].append(text)
        leaked = 0
        first = None
        for cell in cells:
            if not isinstance(cell, str):
                continue
            for i in range(len(cell) - 5):
                for text in by_prefix.get(cell[i:i + 6], ()):
                    if cell.startswith(text, i):
                        leaked += 1
                        view.leaked.add(cell)
                        first = first if first is not None else exp.leak_candidates[col.output][text]
        if leaked:
            f, line = exp.origin[first]
            report.add(f"column {col.output}: LEAK: {leaked} occurrence(s) of raw input "
                       f"values of column {col.name} in the output (first such value from "
                       f"row {first}, {inputs[f].name} line {line}; values not shown)")


def check_metadata(ref, schema: Schema, master: bytes, pf, rows: int, report: Report):
    meta = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
            for k, v in (pf.metadata.metadata or {}).items()}
    want = {
        "txanon.token.spec": ref.SPEC,
        "txanon.schema.sha256": schema.sha256,
        "txanon.schema.name": str(schema.name),
        "txanon.schema.version": str(schema.version),
        "txanon.token.bits": str(schema.bits),
        "txanon.token.context": schema.context,
        "txanon.key.fingerprint": ref.fingerprint(master),
        "txanon.rows": str(rows),
        "txanon.label": "pseudonymised personal data",
    }
    for key, value in want.items():
        if key not in meta:
            report.add(f"footer metadata: {key} missing (expected {value!r})")
        elif meta[key] != value:
            report.add(f"footer metadata: {key} = {meta[key]!r}, expected {value!r}")


def check_key_absent(path: Path, master: bytes, report: Report):
    data = path.read_bytes()
    for label, needle in (("lowercase hex", master.hex().encode()),
                          ("uppercase hex", master.hex().upper().encode()),
                          ("raw bytes", master)):
        if needle in data:
            report.add(f"KEY LEAK: the master key ({label}) occurs in {path.name}")


def column_stats(values: list):
    """(null count, min, max) of a column as read by pyarrow, in the form
    duckdb and polars give back (timestamps as epoch microseconds).  With a
    NaN only the null count is compared: each reader orders NaN differently."""
    vals = [v for v in values if v is not None]
    nulls = len(values) - len(vals)
    if any(isinstance(v, float) and math.isnan(v) for v in vals):
        return (nulls,)
    if not vals:
        return nulls, None, None
    return nulls, min(vals), max(vals)


def duck_type(col: Column) -> str:
    return {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
            "date": "DATE", "timestamp": "TIMESTAMP WITH TIME ZONE",
            "decimal": f"DECIMAL({col.precision},{col.scale})"}[col.out_type]


def check_duckdb(duckdb, schema: Schema, actual: dict[str, list], pa_rows: int, path: Path,
                 view: TokenView, report: Report):
    """duckdb sees the rows, the logical types and the same null counts and
    min/max per column as pyarrow."""
    con = duckdb.connect()
    src = "read_parquet('" + str(path).replace("'", "''") + "')"
    rows = con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
    if rows != pa_rows:
        report.add(f"duckdb: {rows} rows, pyarrow read {pa_rows}")
    types = {name: typ for name, typ, *_ in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    for col in schema.outputs:
        if col.output not in types:
            report.add(f"duckdb: column {col.output} missing")
            continue
        if types[col.output] != duck_type(col):
            report.add(f"duckdb: column {col.output} is {types[col.output]}, "
                       f"expected {duck_type(col)} ({col.rule})")
            continue
        if col.output not in actual:
            continue
        q = '"' + col.output.replace('"', '""') + '"'
        if col.out_type == "timestamp":
            agg = f"count(*) - count({q}), epoch_us(min({q})), epoch_us(max({q}))"
        else:
            agg = f"count(*) - count({q}), min({q}), max({q})"
        want = column_stats(actual[col.output])
        got = tuple(con.execute(f"SELECT {agg} FROM {src}").fetchone())[:len(want)]
        if got != want:
            report.add(f"duckdb: column {col.output}: (nulls, min, max) = "
                       f"{stats_text(col, got, view)}, pyarrow read {stats_text(col, want, view)}")
    con.close()


def polars_type_ok(pl, col: Column, t) -> bool:
    if col.out_type == "decimal":
        return isinstance(t, pl.Decimal) and (t.precision, t.scale) == (col.precision, col.scale)
    if col.out_type == "timestamp":
        return isinstance(t, pl.Datetime) and t.time_unit == "us" and t.time_zone in (
            "UTC", "Etc/UTC", "+00:00")
    return t == {"string": pl.String, "int": pl.Int64, "float": pl.Float64,
                 "bool": pl.Boolean, "date": pl.Date}[col.out_type]


def check_polars(pl, schema: Schema, actual: dict[str, list], pa_rows: int, path: Path,
                 view: TokenView, report: Report):
    """polars sees the rows, the logical types and the same null counts and
    min/max per column as pyarrow."""
    df = pl.read_parquet(path)
    if df.height != pa_rows:
        report.add(f"polars: {df.height} rows, pyarrow read {pa_rows}")
    for col in schema.outputs:
        if col.output not in df.columns:
            report.add(f"polars: column {col.output} missing")
            continue
        t = df.schema[col.output]
        if not polars_type_ok(pl, col, t):
            report.add(f"polars: column {col.output} is {t}, expected the "
                       f"{col.out_type} type of {col.rule}")
            continue
        if col.output not in actual:
            continue
        s = df.get_column(col.output)
        if col.out_type == "timestamp":
            s = s.dt.epoch("us")
        want = column_stats(actual[col.output])
        got = (s.null_count(), s.min(), s.max())[:len(want)]
        if got != want:
            report.add(f"polars: column {col.output}: (nulls, min, max) = "
                       f"{stats_text(col, got, view)}, pyarrow read {stats_text(col, want, view)}")


def stats_text(col: Column, stats, view: TokenView) -> str:
    """(nulls, min, max) for a report; token columns show only clean tokens."""
    if len(stats) == 1:
        return f"({stats[0]} nulls)"
    nulls, lo, hi = stats
    if col.action == "tokenize":
        return f"({nulls}, {view(lo)}, {view(hi)})"
    if col.out_type == "timestamp":
        lo, hi = (fmt_micros(v) if v is not None else None for v in (lo, hi))
    return f"({nulls}, {lo}, {hi})"


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def run(args) -> int:
    started = time.monotonic()
    # Import everything first so that a missing module fails fast and clearly.
    pa = require("pyarrow", "pyarrow")
    pq = require("pyarrow.parquet", "pyarrow")
    duckdb = require("duckdb", "duckdb")
    pl = require("polars", "polars")
    require("phonenumbers", "phonenumbers")       # needed by reference.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        import reference as ref                     # tests/vectors/reference.py
    except ImportError as exc:
        raise SetupError(f"cannot import reference.py from {Path(__file__).parent}: {exc}") from exc

    schema = load_schema(args.schema, args.context)
    master = load_key(args.key_file)
    for p in args.inputs:
        if not p.is_file():
            raise SetupError(f"input {p} is not a readable file")
    try:
        pf = pq.ParquetFile(args.parquet)
        table = pf.read()
    except (OSError, pa.ArrowException) as exc:
        raise SetupError(f"cannot read Parquet file {args.parquet}: {exc}") from exc

    exp = compute_expected(schema, master, args.inputs, ref)
    report = Report(args.max_report)

    # Shape: row count and columns (names and order).
    if table.num_rows != exp.rows:
        report.add(f"pyarrow: {table.num_rows} rows, expected {exp.rows} "
                   f"(comparing the first {min(table.num_rows, exp.rows)})")
    want_cols = [c.output for c in schema.outputs]
    if table.column_names != want_cols:
        missing = [c for c in want_cols if c not in table.column_names]
        extra = [c for c in table.column_names if c not in want_cols]
        report.add(f"columns: got {table.column_names}, expected {want_cols}"
                   + (f"; missing {missing}" if missing else "")
                   + (f"; unexpected {extra}" if extra else ""))

    # File-level checks first (a wrong key or context shows up as a footer
    # mismatch at the top), then the cell-by-cell comparison.
    check_metadata(ref, schema, master, pf, exp.rows, report)
    check_key_absent(args.parquet, master, report)
    bad_types = check_pyarrow_types(pa, schema, table, report)
    actual = read_actual(pa, schema, table, bad_types, report)
    view = TokenView(schema.bits, schema.encoding)
    check_token_shapes_and_leaks(schema, exp, actual, args.inputs, view, report)
    check_duckdb(duckdb, schema, actual, table.num_rows, args.parquet, view, report)
    check_polars(pl, schema, actual, table.num_rows, args.parquet, view, report)
    tokens = compare_values(schema, exp, actual, args.inputs, view, report)

    elapsed = time.monotonic() - started
    if report.count:
        report.print()
        print(f"crosscheck FAILED: {report.count} mismatch(es) in {args.parquet} "
              f"({exp.rows} rows expected, {elapsed:.1f}s)")
        return EXIT_MISMATCH
    print(f"crosscheck ok: {exp.rows} rows, {len(want_cols)} columns, "
          f"{tokens} tokens compared")
    return EXIT_OK


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Recompute txanon's output independently and compare it with a Parquet file.")
    ap.add_argument("--schema", type=Path, required=True, help="schema TOML given to txanon")
    ap.add_argument("--key-file", type=Path, required=True, help="key file given to txanon")
    ap.add_argument("--parquet", type=Path, required=True, help="Parquet file txanon wrote")
    ap.add_argument("--context", help="token context given to txanon --context "
                    "(default: [tokens].context of the schema)")
    ap.add_argument("--max-report", type=int, default=20, metavar="N",
                    help="mismatches to list (default: %(default)s)")
    ap.add_argument("inputs", nargs="+", type=Path, metavar="INPUT.csv",
                    help="input CSV files, in the order given to txanon")
    args = ap.parse_args()
    try:
        return run(args)
    except SetupError as exc:
        print(f"crosscheck: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
