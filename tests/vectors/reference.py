#!/usr/bin/env python3
"""Independent reference implementation of the txanon token spec v1.

This file is the *second* implementation of the txanon tokenisation and
normalisation rules (the first is the Rust code in ``src/``).  It is kept
deliberately small and literal so that it reads as an executable copy of the
spec, and it is used to generate the committed test vectors in ``v1.json``
which the Rust test suite checks its own implementation against.

Dependencies: the Python standard library and ``phonenumbers`` (the Python
port of Google's libphonenumber), nothing else.

Usage (from the repository root):

    python3 tests/vectors/reference.py --write   # regenerate v1.json
    python3 tests/vectors/reference.py --check   # (default) verify v1.json

``--check`` recomputes every vector in v1.json from its inputs and exits
non-zero, listing the mismatches, if any output differs.  It also reports
when v1.json no longer matches the case list in this file (i.e. someone
edited the case list below and forgot to run ``--write``).

Token spec v1
-------------
    master      = key bytes (at least 32)
    ns_key      = HKDF-Expand-SHA256(PRK = master,
                                     info = "txanon/v1/" + context + "/" + namespace,
                                     L = 32)
                = HMAC-SHA256(master, info || 0x01)      (L = 32 is one block)
    token       = encode(HMAC-SHA256(ns_key, UTF-8(normalized value))[0 .. bits/8])
    fingerprint = lowercase hex of HMAC-SHA256(master, "txanon/v1/fingerprint")[0 .. 8]

bits is a multiple of 8 in 96..=256 (default 128); the encoding is lowercase
"hex" or "base64url" (RFC 4648 URL-safe alphabet, no "=" padding).

A value that normalises to the empty string has no token (null).  A value
that is invalid for its kind has no token unless on_invalid = "token", in
which case the NFKC-normalised, trimmed raw text is tokenised under the
namespace "<namespace>.invalid" (same key and context).

Normalisation v1 is documented function by function below.

Shift spec v1 (keyed per-entity date offsets, action = "shift")
---------------------------------------------------------------
    shift_key = ns_key(master, context, "shift")
    x         = big-endian u64 of HMAC-SHA256(shift_key, UTF-8(entity))[0 .. 8]
    n         = 2 * max_days + 1
    offset    = (x * n) >> 64  -  max_days          (days; exact integer arithmetic)

where entity is the normalised value of the row's `by` column (normalisation
v1 of its kind for a string column, canonical decimal for an int column).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import re
import hashlib
import hmac
import json
import sys
import unicodedata
from pathlib import Path

import idna
import phonenumbers

SPEC = "v1.1"
VECTORS_PATH = Path(__file__).resolve().parent / "v1.json"

MIN_KEY_BYTES = 32
DEFAULT_BITS = 128
ENCODINGS = ("hex", "base64url")
ON_INVALID = ("null", "token")
KINDS = ("id", "email", "phone", "address")

# Normalisation status values, as written to v1.json.
OK, EMPTY, INVALID = "ok", "empty", "invalid"


# ---------------------------------------------------------------------------
# Cryptography
# ---------------------------------------------------------------------------


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def check_key(master: bytes) -> None:
    if len(master) < MIN_KEY_BYTES:
        raise ValueError(f"key must be at least {MIN_KEY_BYTES} bytes, got {len(master)}")


def ns_info(context: str, namespace: str) -> bytes:
    """HKDF info string.  Note: an empty context gives "txanon/v1//<namespace>"."""
    return ("txanon/v1/" + context + "/" + namespace).encode("utf-8")


def ns_key(master: bytes, context: str, namespace: str) -> bytes:
    """HKDF-Expand-SHA256 (RFC 5869 section 2.3) with PRK = master and L = 32.

    With L = 32 only the first output block T(1) = HMAC(PRK, info || 0x01)
    is needed.  There is no HKDF-Extract step: the master key is used as
    the PRK directly.
    """
    check_key(master)
    return hmac_sha256(master, ns_info(context, namespace) + b"\x01")


def fingerprint(master: bytes) -> str:
    """Key fingerprint: lowercase hex of the first 8 bytes (16 hex digits)."""
    check_key(master)
    return hmac_sha256(master, b"txanon/v1/fingerprint")[:8].hex()


def encode(raw: bytes, encoding: str) -> str:
    if encoding == "hex":
        return raw.hex()  # lowercase
    if encoding == "base64url":
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    raise ValueError(f"unknown encoding {encoding!r}")


def check_bits(bits: int) -> None:
    if not (96 <= bits <= 256 and bits % 8 == 0):
        raise ValueError(f"bits must be a multiple of 8 in 96..=256, got {bits}")


def token_for(master: bytes, context: str, namespace: str, value: str,
              bits: int = DEFAULT_BITS, encoding: str = "hex") -> str:
    """Token of an already-normalised, non-empty value."""
    check_bits(bits)
    return token_with_ns_key(ns_key(master, context, namespace), value, bits, encoding)


def token_with_ns_key(key: bytes, value: str, bits: int = DEFAULT_BITS,
                      encoding: str = "hex") -> str:
    """Token of an already-normalised, non-empty value under a namespace key
    already derived with ns_key().  Same result as token_for(); it lets a
    caller that tokenises many values (crosscheck.py) derive each namespace
    key once."""
    check_bits(bits)
    mac = hmac_sha256(key, value.encode("utf-8"))
    return encode(mac[: bits // 8], encoding)


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------

# "White space" means the Unicode White_Space property (PropList.txt), which is
# exactly what Rust's char::is_whitespace / str::trim use.  Python's
# str.isspace()/str.strip() are NOT used: they additionally treat the ASCII
# control characters U+001C..U+001F as white space.
WHITE_SPACE = frozenset(
    [chr(c) for c in range(0x09, 0x0E)]          # TAB, LF, VT, FF, CR
    + ["\u0020", "\u0085", "\u00a0", "\u1680"]
    + [chr(c) for c in range(0x2000, 0x200B)]     # EN QUAD .. HAIR SPACE
    + ["\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]
)


def is_ws(ch: str) -> bool:
    return ch in WHITE_SPACE


def trim(s: str) -> str:
    """Strip leading and trailing White_Space characters (like Rust str::trim)."""
    start, end = 0, len(s)
    while start < end and is_ws(s[start]):
        start += 1
    while end > start and is_ws(s[end - 1]):
        end -= 1
    return s[start:end]


def base_normalize(raw: str) -> str:
    """Common first step for every kind: Unicode NFKC, then trim."""
    return trim(unicodedata.normalize("NFKC", raw))


class Invalid(Exception):
    """The value is not a valid instance of its kind."""


def normalize_id(s: str) -> str:
    # Nothing beyond NFKC + trim; case is preserved.
    return s


def normalize_email(s: str) -> str:
    s = s.lower()                                  # Unicode lowercase (full mapping)
    if any(is_ws(ch) for ch in s):                 # no white space anywhere
        raise Invalid("white space in e-mail")
    if s.count("@") != 1:                          # exactly one "@"
        raise Invalid("e-mail must contain exactly one '@'")
    local, domain = s.split("@")
    if not local:
        raise Invalid("empty local part")
    # The dot checks are made on the domain as written (after NFKC and
    # lowercasing), *before* IDNA conversion.
    if "." not in domain or domain.startswith(".") or domain.endswith("."):
        raise Invalid("domain must contain a '.' and not start or end with '.'")
    if any(not label for label in domain.split(".")):
        raise Invalid("domain has an empty label")
    ascii_domain = email_domain_to_ascii(domain)     # UTS #46 ToASCII, e-mail profile
    return local + "@" + ascii_domain


# UTS #46 ToASCII under the e-mail domain profile of token spec v1.1
# (docs/TOKEN-SPEC.md, "E-mail domain profile"):
#
#   Transitional_Processing = false     UseSTD3ASCIIRules = true
#   CheckHyphens            = true      CheckBidi         = true
#   CheckJoiners            = true      VerifyDnsLength   = true
#   IgnoreInvalidPunycode   = false
#
# It is built from the PyPI ``idna`` package's UTS #46 mapping table and rule
# checks, NOT from ``idna.encode(..., uts46=True)``: that function adds
# IDNA2008's code point rules (RFC 5892), so it rejects UTS #46-valid labels
# such as U+2603 SNOWMAN or emoji; it applies STD3 before NFC (rejecting
# "=" + U+0338, which composes to the valid U+2260), and the Bidi rule only to
# labels that hold right-to-left characters (UTS #46 applies it to every label
# of a domain that has one).  On Unicode's IdnaTestV2.txt it disagrees with
# UTS #46 on 235 of 6,391 lines; this composition agrees on every line the
# running Python's unicodedata can judge (check_idna_conformance).

# After mapping, UseSTD3ASCIIRules allows only these ASCII characters.
STD3_DENIED = re.compile(r"[^a-z0-9.\-\u0080-\U0010ffff]")
RTL_BIDI = frozenset(("R", "AL", "AN"))


def _std3(text: str) -> None:
    if STD3_DENIED.search(text):
        raise Invalid("UseSTD3ASCIIRules: ASCII character other than a-z, 0-9, '-' and '.'")


def email_domain_to_ascii(domain: str) -> str:
    """UTS #46 ToASCII with the flags above; raises Invalid on any error."""
    # Processing step 1-2: map (the UTS #46 table; deviations kept, i.e.
    # non-transitional), normalize to NFC.  Disallowed code points raise.
    # STD3 is checked on the result, after NFC, as UTS #46 specifies.
    try:
        mapped = idna.uts46_remap(domain, std3_rules=False)
    except idna.IDNAError as exc:
        raise Invalid(f"UTS #46 mapping: {exc}") from exc
    _std3(mapped)
    # Step 3-4: labels; an "xn--" label is decoded and must be a valid label.
    labels = []
    for label in mapped.split("."):
        if label.startswith("xn--"):
            if not label.isascii():
                raise Invalid("xn-- label with non-ASCII characters")
            try:
                unicode_label = label[4:].encode("ascii").decode("punycode")
            except UnicodeError as exc:
                raise Invalid("xn-- label is not valid Punycode") from exc
            # Python's codec is lenient (it decodes "-bbk", which RFC 3492
            # rejects: with no basic code points the delimiter is not allowed);
            # a strict decoding is exactly one that re-encodes to the input.
            if unicode_label.encode("punycode") != label[4:].encode("ascii"):
                raise Invalid("xn-- label is not valid Punycode (not canonical)")
            if unicode_label == "" or unicode_label.isascii():
                raise Invalid("xn-- label decodes to nothing or to ASCII")
            # V6: every code point valid (not mapped, ignored or disallowed).
            try:
                if idna.uts46_remap(unicode_label, std3_rules=False) != unicode_label:
                    raise Invalid("xn-- label decodes to a code point that UTS #46 maps")
            except idna.IDNAError as exc:
                raise Invalid("xn-- label decodes to a disallowed code point") from exc
            _std3(unicode_label)
            labels.append((label, unicode_label))
        else:
            labels.append((label, label))
    # Validity criteria V1-V8 on every label.
    bidi_domain = any(unicodedata.bidirectional(c) in RTL_BIDI for _, u in labels for c in u)
    out = []
    for label, u in labels:
        if not u:
            raise Invalid("empty label")
        try:
            idna.check_nfc(u)                       # V1
            idna.check_hyphen_ok(u)                 # V2, V3 (CheckHyphens)
            idna.check_initial_combiner(u)          # V5
            for i, c in enumerate(u):               # V7 (CheckJoiners)
                if c in "\u200c\u200d" and not idna.valid_contextj(u, i):
                    raise Invalid("CheckJoiners: ZWNJ/ZWJ out of context")
            if bidi_domain:                         # V8 (CheckBidi), every label
                idna.check_bidi(u, check_ltr=True)
        except (idna.IDNAError, ValueError) as exc:
            raise Invalid(f"UTS #46 validity: {exc}") from exc
        # ToASCII: Punycode-encode labels with non-ASCII characters.
        out.append(label if label.isascii() else "xn--" + u.encode("punycode").decode("ascii"))
    ascii_domain = ".".join(out)
    # VerifyDnsLength: 1..63 bytes a label, at most 253 in all, no root dot.
    if len(ascii_domain) > 253 or any(not lab or len(lab) > 63 for lab in out):
        raise Invalid("VerifyDnsLength")
    return ascii_domain


# Characters dropped from a phone number before parsing.  "Spaces" means
# U+0020 only; NFKC has already mapped NBSP, U+3000 etc. to U+0020, but a TAB
# or newline *inside* the number is an invalid character.
PHONE_SEPARATORS = frozenset(" -.()/")
ASCII_DIGITS = frozenset("0123456789")


def normalize_phone(s: str, region: str | None) -> str:
    s = "".join(ch for ch in s if ch not in PHONE_SEPARATORS)
    plus = False
    if s.startswith("+"):
        # A "+" is accepted only before the first digit.  After removing the
        # separators above, that means: only as the very first character.
        plus = True
        s = s[1:]
    # Everything left must be ASCII digits (this rejects a second "+", a "+"
    # after a digit, letters, "*", "#", tabs, ...).
    if not s or any(ch not in ASCII_DIGITS for ch in s):
        raise Invalid("phone number must be [+]digits after removing separators")
    if not plus and s.startswith("00"):
        # International "00" prefix: "0086..." is treated as "+86...".
        plus, s = True, s[2:]
    try:
        if plus:
            number = phonenumbers.parse("+" + s, None)   # international
        else:
            if not region:
                raise Invalid("national number without a region")
            number = phonenumbers.parse(s, region)       # national number of `region`
    except phonenumbers.NumberParseException as exc:
        raise Invalid(f"unparseable phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise Invalid("not a valid number according to libphonenumber metadata")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A space next to one of these (or next to any non-ASCII character) is removed.
ADDRESS_GLUE = frozenset(",.;:#-/")


def normalize_address(s: str) -> str:
    s = s.lower()
    # Every run of white space becomes a single U+0020.
    out: list[str] = []
    for ch in s:
        if is_ws(ch):
            if not out or out[-1] != " ":
                out.append(" ")
        else:
            out.append(ch)
    # Remove each space whose left or right neighbour is non-ASCII or one of
    # ", . ; : # - /".  After the collapse above a space never neighbours
    # another space, so the neighbours are the same whether spaces are
    # removed one at a time or all at once.
    def glue(ch: str) -> bool:
        return ord(ch) > 0x7F or ch in ADDRESS_GLUE

    kept = []
    for i, ch in enumerate(out):
        if ch == " ":
            left = out[i - 1] if i > 0 else None
            right = out[i + 1] if i + 1 < len(out) else None
            if (left is not None and glue(left)) or (right is not None and glue(right)):
                continue
        kept.append(ch)
    return trim("".join(kept))


def normalize(kind: str, raw: str, region: str | None = None) -> tuple[str, str | None]:
    """Return (status, normalised value or None)."""
    s = base_normalize(raw)
    if s == "":
        return EMPTY, None
    try:
        if kind == "id":
            value = normalize_id(s)
        elif kind == "email":
            value = normalize_email(s)
        elif kind == "phone":
            value = normalize_phone(s, region)
        elif kind == "address":
            value = normalize_address(s)
        else:
            raise ValueError(f"unknown kind {kind!r}")
    except Invalid:
        return INVALID, None
    # Every kind-specific step above keeps a non-empty value non-empty, but be
    # explicit: an empty result has no token.
    if value == "":
        return EMPTY, None
    return OK, value


def tokenize(master: bytes, context: str, namespace: str, kind: str, raw: str,
             region: str | None = None, bits: int = DEFAULT_BITS,
             encoding: str = "hex", on_invalid: str = "null"):
    """Return (status, normalised value or None, token or None)."""
    return tokenize_with(lambda ns: ns_key(master, context, ns), namespace, kind, raw,
                         region, bits, encoding, on_invalid)


def tokenize_with(key_for, namespace: str, kind: str, raw: str,
                  region: str | None = None, bits: int = DEFAULT_BITS,
                  encoding: str = "hex", on_invalid: str = "null"):
    """tokenize() with the namespace keys supplied by key_for(namespace) ->
    ns_key(master, context, namespace), so that a caller can cache them.
    Return (status, normalised value or None, token or None)."""
    status, value = normalize(kind, raw, region)
    if status == OK:
        return status, value, token_with_ns_key(key_for(namespace), value, bits, encoding)
    if status == INVALID and on_invalid == "token":
        return status, None, token_with_ns_key(key_for(namespace + ".invalid"),
                                               base_normalize(raw), bits, encoding)
    return status, None, None


# ---------------------------------------------------------------------------
# UTS #46 conformance: Unicode's IdnaTestV2.txt
# ---------------------------------------------------------------------------

IDNA_TEST_PATH = Path(__file__).resolve().parent / "IdnaTestV2.txt"
# The committed file is Unicode 17.0.0's.  Both txanon (ICU4X 2.4 data) and
# the idna package (3.20) implement Unicode 18.0.0, which assigned these code
# points; 17.0.0 expects [V7] (unassigned) on these lines, 18.0.0 expects the
# toAsciiN column without error.  tests/vectors.rs carries the same list.
IDNA_TEST_ASSIGNED_IN_18 = {3386: 0x3F8CD, 5860: 0x3E8AC, 5861: 0x3E8AC, 5862: 0x3E8AC}


def _idna_unescape(text: str) -> str:
    return re.sub(r"\\u([0-9A-Fa-f]{4})|\\x\{([0-9A-Fa-f]+)\}",
                  lambda m: chr(int(m.group(1) or m.group(2), 16)), text)


def idna_test_cases(path: Path = IDNA_TEST_PATH):
    """(line number, source, toUnicode, toAsciiN, toAsciiN status list) per line,
    with the file's conventions for blank columns."""
    def status(col):
        col = col.strip()
        return None if not col else [x.strip() for x in col[1:-1].split(",") if x.strip()]

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0]
        if not line.strip():
            continue
        cols = [c.strip() for c in line.split(";")]

        def field(col, default):
            return default if col == "" else ("" if col == '""' else _idna_unescape(col))

        source = field(cols[0], "")
        to_unicode = field(cols[1], source)
        to_unicode_status = status(cols[2]) or []
        to_ascii_n = field(cols[3], to_unicode)
        to_ascii_n_status = status(cols[4])
        if to_ascii_n_status is None:
            to_ascii_n_status = to_unicode_status
        if number in IDNA_TEST_ASSIGNED_IN_18:
            to_ascii_n_status = []
        yield number, source, to_unicode, to_ascii_n, to_ascii_n_status


def _unknown_to_unicodedata(text: str) -> bool:
    """A code point the idna package's (Unicode 18.0) table does not
    disallow but this Python's unicodedata does not know: NFC, bidi classes
    and combining classes for it come from unicodedata, so the line cannot be
    judged here (it is in the Rust run)."""
    for ch in text:
        if unicodedata.category(ch) == "Cn":
            try:
                idna.uts46_remap(ch, std3_rules=False)
            except idna.IDNAError:
                continue
            return True
    return False


def check_idna_conformance(path: Path = IDNA_TEST_PATH) -> tuple[int, int, list[str]]:
    """Every line's toAsciiN result and error status against
    email_domain_to_ascii.  No status is ignored: every flag it stands for
    (VerifyDnsLength A4_*, CheckHyphens V2/V3, CheckJoiners C*, CheckBidi B*,
    UseSTD3ASCIIRules U1) is on.  Return (checked, skipped, errors)."""
    checked = skipped = 0
    errors = []
    for number, source, to_unicode, to_ascii_n, statuses in idna_test_cases(path):
        if _unknown_to_unicodedata(source + to_unicode):
            skipped += 1
            continue
        checked += 1
        try:
            got = email_domain_to_ascii(source)
        except Invalid:
            got = None
        if statuses and got is not None:
            errors.append(f"IdnaTestV2 line {number}: expected {statuses}, got {got!r}")
        elif not statuses and got != to_ascii_n:
            errors.append(f"IdnaTestV2 line {number}: expected {to_ascii_n!r}, got {got!r}")
    return checked, skipped, errors


# ---------------------------------------------------------------------------
# Shift spec v1
# ---------------------------------------------------------------------------

SHIFT_SPEC = "v1"
SHIFT_NAMESPACE = "shift"
MAX_SHIFT_DAYS = 3653
INT_RE = re.compile(r"[+-]?[0-9]+")


def shift_offset_from_u64(x: int, max_days: int) -> int:
    """Map a 64-bit value onto [-max_days, +max_days]: the high 64 bits of the
    128-bit product x * (2 * max_days + 1), minus max_days.  No rejection
    step; each offset is hit by floor(2^64/n) or ceil(2^64/n) values of x."""
    if not (1 <= max_days <= MAX_SHIFT_DAYS):
        raise ValueError(f"max_days must be in 1..={MAX_SHIFT_DAYS}, got {max_days}")
    if not (0 <= x < 2 ** 64):
        raise ValueError("x must be an unsigned 64-bit integer")
    n = 2 * max_days + 1
    return ((x * n) >> 64) - max_days


def shift_entity(by_type: str, kind: str, raw: str, region: str | None = None):
    """The normalised entity value, or None (empty or invalid: no offset).

    by_type "string": normalisation v1 of `kind` (the by column's tokenize
    kind, "id" when it is not tokenised).  by_type "int": trimmed, an
    optional sign and ASCII digits within the signed 64-bit range, written
    in canonical decimal ("007" -> "7", "+5" -> "5", "-0" -> "0")."""
    if by_type == "int":
        s = trim(raw)
        if not INT_RE.fullmatch(s):
            return None
        v = int(s)
        if not (-(2 ** 63) <= v < 2 ** 63):
            return None
        return str(v)
    status, value = normalize(kind, raw, region)
    return value if status == OK else None


def shift_offset(master: bytes, context: str, entity: str, max_days: int) -> int:
    mac = hmac_sha256(ns_key(master, context, SHIFT_NAMESPACE), entity.encode("utf-8"))
    return shift_offset_from_u64(int.from_bytes(mac[:8], "big"), max_days)


def shift_date(date_iso: str, offset: int) -> str:
    return (datetime.date.fromisoformat(date_iso) + datetime.timedelta(days=offset)).isoformat()


def shift_timestamp(ts_utc_iso: str, offset: int) -> str:
    """Timestamps move by offset * 86400 s on the UTC time line."""
    t = datetime.datetime.strptime(ts_utc_iso, "%Y-%m-%dT%H:%M:%SZ")
    return (t + datetime.timedelta(days=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


# (key, context, by_type, kind, region, raw entity, max_days, date, timestamp)
def shift_case_inputs():
    cases = []
    entities = [
        ("string", "id", None, "2088185182612729"),
        ("string", "id", None, " 2088185182612729\t"),        # same after trim
        ("string", "id", None, "２０８８１８５１８２６１２７２９"),  # full-width -> NFKC
        ("string", "id", None, "2088123288158590"),
        ("string", "phone", CN, "138-0013-8000"),
        ("string", "phone", CN, "+86 138 0013 8000"),          # same number
        ("string", "email", None, "Li.Wei@163.COM"),
        ("string", "id", None, ""),                            # empty: no offset
        ("string", "phone", CN, "N/A"),                        # invalid: no offset
        ("int", "id", None, "42"),
        ("int", "id", None, "+042"),                           # same as 42
        ("int", "id", None, "-7"),
        ("int", "id", None, "1_000"),                          # not an int
        ("int", "id", None, "9223372036854775808"),            # out of range
    ]
    for key in (DEMO_KEY, KEY_48):
        for ctx in CONTEXTS:
            for by_type, kind, region, raw in entities:
                cases.append((key, ctx, by_type, kind, region, raw, 30,
                              "2009-05-15", "2009-05-15T09:41:31Z"))
    for max_days in (1, 7, 365, MAX_SHIFT_DAYS):
        for raw in ("2088185182612729", "2088123288158590", "2088121323255284"):
            cases.append((KEY_0B, "", "string", "id", None, raw, max_days,
                          "2000-02-29", "2000-02-29T23:59:59Z"))
    return cases


SHIFT_MAP_X = [0, 1, 2 ** 32, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 2, 2 ** 64 - 1,
               0x0123456789ABCDEF, 0xFEDCBA9876543210]


def shift_entry(key, context, by_type, kind, region, raw, max_days, date, ts):
    entity = shift_entity(by_type, kind, raw, region)
    offset = None if entity is None else shift_offset(key, context, entity, max_days)
    return {"key_hex": key.hex(), "context": context, "by_type": by_type,
            "kind": kind, "region": region, "raw": raw, "max_days": max_days,
            "entity": entity, "offset_days": offset,
            "date": date, "shifted_date": None if offset is None else shift_date(date, offset),
            "timestamp": ts,
            "shifted_timestamp": None if offset is None else shift_timestamp(ts, offset)}


# ---------------------------------------------------------------------------
# Test-vector inputs
# ---------------------------------------------------------------------------

# RFC 4231 section 4 test cases for HMAC-SHA-256: (name, key, data, expected
# MAC as published in the RFC, truncate_bytes).  Case 5's published output is
# truncated to 128 bits.
RFC4231 = [
    ("RFC 4231 test case 1", b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", None),
    ("RFC 4231 test case 2", b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", None),
    ("RFC 4231 test case 3", b"\xaa" * 20, b"\xdd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", None),
    ("RFC 4231 test case 4", bytes(range(0x01, 0x1a)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", None),
    ("RFC 4231 test case 5", b"\x0c" * 20, b"Test With Truncation",
     "a3b6167473100ee06e0c796c2955552b", 16),
    ("RFC 4231 test case 6", b"\xaa" * 131,
     b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", None),
    ("RFC 4231 test case 7", b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than "
     b"block-size data. The key needs to be hashed before being used by the "
     b"HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", None),
]

# Demo key shipped in data-samples/demo.key (64 hex digits = 32 bytes).  It is
# copied here so that the vectors do not depend on that file staying put.
DEMO_KEY = bytes.fromhex("b683ce432590829a796e8802fc42be517504aa6783ecfd1b6c783e44e6420a21")
KEY_0B = b"\x0b" * 32                  # 32 bytes of 0x0b
KEY_48 = bytes(range(48))              # 48 bytes 0x00 0x01 .. 0x2f
KEY_80 = bytes([0xa5]) * 80            # longer than the HMAC block (64 bytes): gets hashed
TOKEN_KEYS = [DEMO_KEY, KEY_0B, KEY_48]
ALL_KEYS = TOKEN_KEYS + [KEY_80]

CONTEXTS = ["", "release-2026q4"]

# (kind, region, raw, expected status, expected normalised value).  The
# expectations are asserted when writing, so that a change of behaviour (e.g.
# a phonenumbers metadata update) is noticed rather than silently recorded.
CN, US, GB = "CN", "US", "GB"
NORMALIZE_CASES = [
    # --- id -----------------------------------------------------------------
    ("id", None, "Cust-00042", OK, "Cust-00042"),
    ("id", None, "abcDEF", OK, "abcDEF"),                       # case kept
    ("id", None, "ＡＢＣ１２３", OK, "ABC123"),                   # full-width -> NFKC
    ("id", None, "  X-1 \t\n", OK, "X-1"),
    ("id", None, "a  b", OK, "a  b"),                           # inner spaces kept
    ("id", None, "\u3000ID7\u3000", OK, "ID7"),                 # ideographic space
    ("id", None, "\u0085\u00a0ID8\u2028", OK, "ID8"),           # NEL, NBSP, LINE SEPARATOR
    ("id", None, "\u001fID9\u001f", OK, "\u001fID9\u001f"),     # U+001F is not White_Space
    ("id", None, "\u200bID10", OK, "\u200bID10"),               # ZWSP is not White_Space
    ("id", None, "ﬁle", OK, "file"),                            # ligature -> NFKC
    ("id", None, "", EMPTY, None),
    ("id", None, "   \t\n ", EMPTY, None),
    ("id", None, "\u3000", EMPTY, None),
    # --- email --------------------------------------------------------------
    ("email", None, "alice@example.com", OK, "alice@example.com"),
    ("email", None, "a@b..com", INVALID, None),
    ("email", None, "a@" + "x" * 64 + ".com", INVALID, None),
    ("email", None, "a@" + "x" * 63 + ".com", OK, "a@" + "x" * 63 + ".com"),
    ("email", None, "Alice.Smith@Example.COM", OK, "alice.smith@example.com"),
    ("email", None, "  bob@example.org \t", OK, "bob@example.org"),
    ("email", None, "ＡＬＩＣＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ", OK, "alice@example.com"),
    ("email", None, "用户@例子.中国", OK, "用户@xn--fsqu00a.xn--fiqs8s"),
    ("email", None, "张三@测试.公司", OK, "张三@xn--0zwm56d.xn--55qx5d"),
    ("email", None, "Info@MÜLLER.de", OK, "info@xn--mller-kva.de"),
    ("email", None, "first.last+tag@sub.example.co.uk", OK, "first.last+tag@sub.example.co.uk"),
    ("email", None, "a@b.c", OK, "a@b.c"),
    ("email", None, "a@b@example.com", INVALID, None),          # two "@"
    ("email", None, "alice.example.com", INVALID, None),        # no "@"
    ("email", None, "alice@localhost", INVALID, None),          # no dot in domain
    ("email", None, "alice@.example.com", INVALID, None),       # leading dot
    ("email", None, "alice@example.com.", INVALID, None),       # trailing dot
    ("email", None, "@example.com", INVALID, None),             # empty local part
    ("email", None, "alice smith@example.com", INVALID, None),  # inner space
    ("email", None, "alice@exa mple.com", INVALID, None),       # space in domain
    ("email", None, "alice\u3000@example.com", INVALID, None),  # U+3000 -> space (NFKC)
    ("email", None, "alice@", INVALID, None),
    ("email", None, "N/A", INVALID, None),
    ("email", None, "", EMPTY, None),
    ("email", None, " \t ", EMPTY, None),
    # --- phone --------------------------------------------------------------
    ("phone", CN, "+86 138 0013 8000", OK, "+8613800138000"),
    ("phone", CN, "13800138000", OK, "+8613800138000"),
    ("phone", CN, "0086-138-0013-8000", OK, "+8613800138000"),
    ("phone", CN, "(+86) 13800138000", OK, "+8613800138000"),
    ("phone", CN, "１３８００１３８０００", OK, "+8613800138000"),   # full-width
    ("phone", CN, "＋８６ １３８ ００１３ ８０００", OK, "+8613800138000"),
    ("phone", CN, "(010) 6552-9988", OK, "+861065529988"),
    ("phone", CN, "010-65529988", OK, "+861065529988"),
    ("phone", CN, "0086 10 6552 9988", OK, "+861065529988"),
    ("phone", CN, "+86 10 6552 9988", OK, "+861065529988"),
    ("phone", CN, "139.0013.9000", OK, "+8613900139000"),
    ("phone", CN, "186/1234/5678", OK, "+8618612345678"),
    ("phone", CN, " 150 1234 5678 ", OK, "+8615012345678"),
    ("phone", CN, "130-1234-5678", OK, "+8613012345678"),
    ("phone", CN, "+1 (201) 555-0123", OK, "+12015550123"),
    ("phone", CN, "+1 650 253 0000", OK, "+16502530000"),
    ("phone", CN, "+1-212-555-1234", OK, "+12125551234"),
    ("phone", US, "(650) 253-0000", OK, "+16502530000"),
    ("phone", US, "650.253.0000", OK, "+16502530000"),
    ("phone", CN, "+44 20 7946 0958", OK, "+442079460958"),
    ("phone", GB, "020 7946 0958", OK, "+442079460958"),
    ("phone", CN, "0044 20 7946 0958", OK, "+442079460958"),
    ("phone", CN, "N/A", INVALID, None),
    ("phone", CN, "12345", INVALID, None),
    ("phone", CN, "1380013800", INVALID, None),                 # CN mobile, one digit short
    ("phone", CN, "138001380001", INVALID, None),               # one digit too many
    ("phone", CN, "138-CALL-8000", INVALID, None),              # letters
    ("phone", CN, "++86 13800138000", INVALID, None),           # two pluses
    ("phone", CN, "+86 138 +0013 8000", INVALID, None),         # second plus
    ("phone", CN, "86+13800138000", INVALID, None),             # plus after digits
    ("phone", CN, "13800138000+", INVALID, None),               # plus after digits
    ("phone", CN, "+", INVALID, None),                          # plus, no digits
    ("phone", CN, "()", INVALID, None),                         # only separators
    ("phone", CN, "138\t0013\t8000", INVALID, None),            # TAB is not a separator
    ("phone", CN, "13800138000 ext. 12", INVALID, None),        # extension letters
    ("phone", CN, "13800138000#12", INVALID, None),
    ("phone", CN, "", EMPTY, None),
    ("phone", CN, "   ", EMPTY, None),
    ("phone", CN, "\u3000\t", EMPTY, None),
    # --- address ------------------------------------------------------------
    ("address", None, "浙江省 杭州市 西湖区 文三路 123 号", OK, "浙江省杭州市西湖区文三路123号"),
    ("address", None, "123  Main St. ,  Springfield, IL 62704", OK,
     "123 main st.,springfield,il 62704"),
    ("address", None, "北京市 朝阳区 Jianguo Rd 1 号", OK, "北京市朝阳区jianguo rd 1号"),
    ("address", None, "上海市\t浦东新区\n世纪大道 100 号", OK, "上海市浦东新区世纪大道100号"),
    ("address", None, "浙江省\u3000杭州市\u3000西湖区", OK, "浙江省杭州市西湖区"),
    ("address", None, "Room 5 # 3", OK, "room 5#3"),
    ("address", None, "  12 Baker Street \n", OK, "12 baker street"),
    ("address", None, "Flat 2 / 7 ; Block A : Gate - 3", OK, "flat 2/7;block a:gate-3"),
    ("address", None, "1600   AMPHITHEATRE\tPKWY", OK, "1600 amphitheatre pkwy"),
    ("address", None, "ＮＯ．８ 中关村 大街", OK, "no.8中关村大街"),
    ("address", None, "Zürich Straße 5", OK, "zürich straße 5"),  # ü, ß are non-ASCII
    ("address", None, "", EMPTY, None),
    ("address", None, " \t\u3000\n", EMPTY, None),
]


# E-mail domain profile (token spec v1.1): tricky addresses, the expected
# result and why.  `before` is the status the same address had under token
# spec v1 as txanon implemented it before the profile was pinned (ASCII
# domains not converted at all; others with the idna crate's WHATWG URL
# profile: no CheckHyphens, no STD3 rules, no VerifyDnsLength).  The first
# ten are the addresses of the table in docs/TOKEN-SPEC.md.
# (raw, status, normalized, before, reason)
LONG_LABEL = "a" * 63
DOMAIN_253 = ".".join([LONG_LABEL] * 3 + ["b" * 57]) + ".com"      # 253 bytes
DOMAIN_254 = ".".join([LONG_LABEL] * 3 + ["b" * 58]) + ".com"      # 254 bytes
EMAIL_DOMAIN_CASES = [
    ("user@☃.net", OK, "user@xn--n3h.net", OK,
     "U+2603 is valid in UTS #46 (IdnaMappingTable: valid, NV8); IDNA2008 disallows it"),
    ("user@ab--c.com", INVALID, None, OK,
     "CheckHyphens (V2): '--' in the 3rd and 4th positions is reserved for xn-- labels"),
    ("user@-abc.com", INVALID, None, OK, "CheckHyphens (V3): label starts with '-'"),
    ("user@abc-.com", INVALID, None, OK, "CheckHyphens (V3): label ends with '-'"),
    ("user@xn--a.com", INVALID, None, OK,
     "'xn--a' decodes to U+0080, a control character UTS #46 disallows"),
    ("user@a_b.com", INVALID, None, OK, "UseSTD3ASCIIRules: '_' is not a letter, digit or hyphen"),
    ("user@xn--ab-j1t.com", INVALID, None, OK,
     "the xn-- label decodes to a\u200cb, a ZERO WIDTH NON-JOINER out of context (CheckJoiners)"),
    ("user@\u2474.com", INVALID, None, OK,
     "NFKC turns U+2474 into '(1)'; '(' and ')' fail UseSTD3ASCIIRules"),
    ("user@" + DOMAIN_254, INVALID, None, OK, "VerifyDnsLength: 254 bytes, more than 253"),
    ("user@0à.א", INVALID, None, INVALID,
     "CheckBidi (B1) on every label of a domain with a right-to-left label: '0à' starts with a digit"),
    # --- valid under UTS #46 though not under IDNA2008 (Python idna.encode rejects them)
    ("user@xn--n3h.net", OK, "user@xn--n3h.net", OK, "the A-label of ☃.net: decodes to a valid label"),
    ("user@😀.com", OK, "user@xn--e28h.com", OK, "emoji are valid in UTS #46 (NV8)"),
    ("user@xn--ls8h.la", OK, "user@xn--ls8h.la", OK, "decodes to U+1F4A9, valid in UTS #46"),
    ("user@i\u2764.ws", OK, "user@xn--i-7iq.ws", OK, "U+2764 is valid in UTS #46 (NV8)"),
    ("user@¡.com", OK, "user@xn--7a.com", OK, "U+00A1 is valid in UTS #46 (NV8)"),
    ("user@᧚.com", OK, "user@xn--pkf.com", OK, "U+19DA is valid in UTS #46 (XV8)"),
    ("user@a·b.cat", OK, "user@xn--ab-0ea.cat", OK,
     "U+00B7 is valid in UTS #46; IDNA2008's CONTEXTO rule wants l·l"),
    ("user@l·l.cat", OK, "user@xn--ll-0ea.cat", OK, "U+00B7 between two l: valid in both"),
    ("user@=\u0338.com", OK, "user@xn--1ch.com", OK,
     "'=' + U+0338 composes to U+2260 before UseSTD3ASCIIRules is checked"),
    ("user@\u2260.com", OK, "user@xn--1ch.com", OK, "U+2260 is valid in UTS #46 (NV8)"),
    # --- ASCII labels that no DNS name has
    ("user@a!b.com", INVALID, None, OK, "UseSTD3ASCIIRules: '!'"),
    ("user@[192.168.0.1]", INVALID, None, OK,
     "an address literal is not a domain: '[' and ']' fail UseSTD3ASCIIRules"),
    ("user@r3---sn-abc.googlevideo.com", INVALID, None, OK, "CheckHyphens (V2): '--' in positions 3-4"),
    ("user@a.-b.com", INVALID, None, OK, "CheckHyphens (V3)"),
    ("user@a.b-.com", INVALID, None, OK, "CheckHyphens (V3)"),
    ("user@-.com", INVALID, None, OK, "CheckHyphens (V3)"),
    ("user@a--b.com", OK, "user@a--b.com", OK, "'--' in positions 2-3 is allowed"),
    ("user@xn--.com", INVALID, None, OK, "xn-- with nothing after it (P4)"),
    ("user@xn--abc.com", INVALID, None, OK, "'xn--abc' decodes to U+0082 U+0081 U+0080, control characters UTS #46 disallows"),
    ("user@xn---bbk.com", INVALID, None, OK,
     "'-bbk' is not RFC 3492 Punycode: a leading delimiter with no basic code points"),
    ("user@xn--ssa.com", INVALID, None, OK, "decodes to U+0308 alone: a label may not start with a mark (V5)"),
    ("user@xn--fa-hia.de", OK, "user@xn--fa-hia.de", OK, "the A-label of faß.de"),
    ("user@XN--FA-HIA.DE", OK, "user@xn--fa-hia.de", OK, "lowercased first"),
    ("user@xn--Mller-kva.de", OK, "user@xn--mller-kva.de", OK, "lowercased first"),
    ("user@xn--4db.xn--4db", OK, "user@xn--4db.xn--4db", OK, "א.א: a right-to-left domain that passes CheckBidi"),
    ("user@" + DOMAIN_253, OK, "user@" + DOMAIN_253, OK, "VerifyDnsLength: 253 bytes is the limit"),
    ("user@1.2.3.4", OK, "user@1.2.3.4", OK, "all-digit labels are LDH labels"),
    # --- non-ASCII domains: mapping, non-transitional processing, joiners, bidi
    ("user@faß.de", OK, "user@xn--fa-hia.de", OK, "non-transitional: ß stays ß (transitional gave fass.de)"),
    ("user@ß.com", OK, "user@xn--zca.com", OK, "non-transitional"),
    ("user@βόλος.com", OK, "user@xn--nxasmm1c.com", OK, "final sigma kept (non-transitional)"),
    ("user@ΒΌΛΟΣ.COM", OK, "user@xn--nxasmq6b.com", OK,
     "full lowercase mapping first: Σ before '.' and a cased letter is not final, so σ"),
    ("user@例子.中国", OK, "user@xn--fsqu00a.xn--fiqs8s", OK, "CJK labels"),
    ("user@例子。中国", INVALID, None, INVALID,
     "U+3002 is not '.' under NFKC, so the domain has no '.' (checked before UTS #46 maps it)"),
    ("user@例子。中国.com", OK, "user@xn--fsqu00a.xn--fiqs8s.com", OK, "UTS #46 maps U+3002 to '.'"),
    ("user@ａｂｃ．ｃｏｍ", OK, "user@abc.com", OK, "NFKC: full-width letters and full stop"),
    ("user@ⓐⓑⓒ.com", OK, "user@abc.com", OK, "NFKC: circled letters"),
    ("user@Ⅸ.com", OK, "user@ix.com", OK, "NFKC: Roman numeral nine"),
    ("user@ex\u2024ample.com", OK, "user@ex.ample.com", OK, "NFKC: U+2024 ONE DOT LEADER becomes '.'"),
    ("user@a\u00adb.com", OK, "user@ab.com", OK, "U+00AD SOFT HYPHEN is ignored by UTS #46"),
    ("user@\u200bexample.com", OK, "user@example.com", OK, "U+200B is ignored by UTS #46 (and is not White_Space)"),
    ("user@a\u200cb.com", INVALID, None, INVALID, "CheckJoiners: ZWNJ between two Latin letters"),
    ("user@a\u094d\u200cb.com", OK, "user@xn--ab-fsf604u.com", OK, "CheckJoiners: ZWNJ after a virama"),
    ("user@ශ\u0dca\u200dර\u0dd3.com", OK, "user@xn--10cl1a0b660p.com", OK, "CheckJoiners: ZWJ after a virama"),
    ("user@\u0646\u0627\u0645\u0647\u200c\u0627\u06cc.com", OK, "user@xn--mgba3gch31f060k.com", OK,
     "CheckJoiners: ZWNJ between joining Arabic letters"),
    ("user@\u0308a.com", INVALID, None, INVALID, "V5: a label may not start with a combining mark"),
    ("user@a\u0308.com", OK, "user@xn--4ca.com", OK, "NFKC composes a + U+0308 to ä"),
    ("user@MÜNCHEN.de", OK, "user@xn--mnchen-3ya.de", OK, "lowercased, then Punycode"),
    ("user@почта.рф", OK, "user@xn--80a1acny.xn--p1ai", OK, "Cyrillic"),
    ("user@موقع.وزارة-الاتصالات.مصر", OK, "user@xn--4gbrim.xn----ymcbaaajlc6dj7bxne2c.xn--wgbh1c", OK,
     "an all right-to-left domain passes CheckBidi"),
    ("user@a\u05d0.com", INVALID, None, INVALID, "CheckBidi: a Latin letter and a Hebrew letter in one label"),
    ("user@\u05d0.com", OK, "user@xn--4db.com", OK, "CheckBidi: a Hebrew label beside LDH labels"),
    ("user@à.א\u0308", OK, "user@xn--0ca.xn--ssa73l", OK, "CheckBidi passes (from Unicode's test file)"),
    ("user@İstanbul.com", OK, "user@xn--istanbul-o0e.com", OK,
     "full lowercase mapping: U+0130 becomes i + U+0307"),
    ("user@Å.com", OK, "user@xn--5ca.com", OK, "NFKC: U+212B ANGSTROM SIGN becomes U+00C5"),
    ("user@\u3007.com", OK, "user@xn--w6j.com", OK, "U+3007 IDEOGRAPHIC NUMBER ZERO"),
]

# Token cases: (key, context, namespace, kind, region, raw, bits, encoding, on_invalid)
TOKEN_SAMPLES = [
    ("phone", "phone", CN, "+86 138 0013 8000"),
    ("email", "email", None, "Alice.Smith@Example.COM"),
    ("email", "email", None, "用户@例子.中国"),
    ("address", "address", None, "浙江省 杭州市 西湖区 文三路 123 号"),
    ("id", "id", None, "Cust-00042"),
]


def token_case_inputs():
    cases = []
    # 1. Core matrix: every key x every context x sample values, default
    #    128-bit hex output.
    for key in TOKEN_KEYS:
        for ctx in CONTEXTS:
            for ns, kind, region, raw in TOKEN_SAMPLES:
                cases.append((key, ctx, ns, kind, region, raw, 128, "hex", "null"))
    # 2. Output lengths and encodings (including lengths where base64 would
    #    need padding: 13 and 25 bytes).
    for bits in (96, 104, 128, 160, 200, 256):
        for enc in ENCODINGS:
            cases.append((DEMO_KEY, "", "phone", "phone", CN, "13800138000", bits, enc, "null"))
    for bits in (96, 256):
        for enc in ENCODINGS:
            cases.append((KEY_48, "release-2026q4", "email", "email", None,
                          "用户@例子.中国", bits, enc, "null"))
    # 3. Equivalent raw forms give the same token.
    #    ("13800138000" with these parameters is already in section 2.)
    for raw in ("0086-138-0013-8000", "１３８００１３８０００"):
        cases.append((DEMO_KEY, "", "phone", "phone", CN, raw, 128, "hex", "null"))
    # 4. Shared namespace: an "id" column and a "phone" column both use the
    #    namespace "phone", so equal normalised values give equal tokens.
    cases.append((DEMO_KEY, "", "phone", "id", None, "+8613800138000", 128, "hex", "null"))
    cases.append((DEMO_KEY, "", "phone", "phone", CN, "(+86) 13800138000", 128, "hex", "null"))
    cases.append((DEMO_KEY, "release-2026q4", "phone", "id", None, "+8613800138000", 128, "base64url", "null"))
    cases.append((DEMO_KEY, "release-2026q4", "phone", "phone", CN, "+86 138 0013 8000", 128, "base64url", "null"))
    # ... while a different namespace gives a different token.
    cases.append((DEMO_KEY, "", "contact", "phone", CN, "+86 138 0013 8000", 128, "hex", "null"))
    # 5. Invalid values under both on_invalid policies.
    invalid = [
        ("phone", "phone", CN, "N/A"),
        ("phone", "phone", CN, "＋８６ １２３４５ "),     # NFKC + trim -> "+86 12345"
        ("email", "email", None, "  Alice@@Example.com "),
        ("email", "email", None, "bob@localhost"),
    ]
    for key in (DEMO_KEY, KEY_48):
        for ctx in CONTEXTS:
            for ns, kind, region, raw in invalid:
                for policy in ON_INVALID:
                    cases.append((key, ctx, ns, kind, region, raw, 128, "hex", policy))
    cases.append((KEY_0B, "", "phone", "phone", CN, "12345", 96, "base64url", "token"))
    cases.append((KEY_0B, "release-2026q4", "email", "email", None, "@example.com", 256, "hex", "token"))
    # 6. Empty values give no token under either policy.
    for kind, ns, region, raw in (("phone", "phone", CN, "  "), ("id", "id", None, ""),
                                  ("address", "address", None, "\u3000\n"),
                                  ("email", "email", None, "\t")):
        for policy in ON_INVALID:
            cases.append((DEMO_KEY, "", ns, kind, region, raw, 128, "hex", policy))
    return cases


# ---------------------------------------------------------------------------
# Vector generation and checking
# ---------------------------------------------------------------------------


def hmac_entry(name, key, data, truncate):
    mac = hmac_sha256(key, data)
    if truncate is not None:
        mac = mac[:truncate]
    return {"name": name, "key_hex": key.hex(), "data_hex": data.hex(),
            "mac_hex": mac.hex(), "truncate_bytes": truncate}


def normalize_entry(kind, region, raw):
    status, value = normalize(kind, raw, region)
    return {"kind": kind, "region": region if kind == "phone" else None, "raw": raw,
            "normalized": value, "status": status}


def idna_encode_status(domain: str) -> str:
    """What the PyPI idna package's own encode() says about a domain with the
    flags closest to the profile (IDNA2008 code point rules on top of UTS #46
    mapping): "ok" or "invalid".  Recorded to document the differences."""
    try:
        idna.encode(domain, uts46=True, std3_rules=True)
    except idna.IDNAError:
        return INVALID
    return OK


def email_domain_entry(raw, status, value, before, reason):
    domain = base_normalize(raw).lower().partition("@")[2]
    return {"raw": raw, "status": status, "normalized": value,
            "status_before_v1_1": before, "idna_encode": idna_encode_status(domain),
            "reason": reason}


def token_entry(key, context, namespace, kind, region, raw, bits, encoding, on_invalid):
    status, value, tok = tokenize(key, context, namespace, kind, raw, region,
                                  bits, encoding, on_invalid)
    return {"key_hex": key.hex(), "context": context, "namespace": namespace,
            "kind": kind, "region": region if kind == "phone" else None,
            "bits": bits, "encoding": encoding, "on_invalid": on_invalid,
            "raw": raw, "normalized": value, "status": status, "token": tok}


def generate() -> dict:
    # Sanity-check the HMAC primitive against the RFC's published values.
    for name, key, data, expected, truncate in RFC4231:
        got = hmac_entry(name, key, data, truncate)["mac_hex"]
        if got != expected:
            raise SystemExit(f"{name}: computed {got}, RFC says {expected}")
    # Check the normalisation expectations written in NORMALIZE_CASES.
    bad = []
    for kind, region, raw, status, value in NORMALIZE_CASES:
        got = normalize(kind, raw, region)
        if got != (status, value):
            bad.append(f"  {kind} {raw!r}: expected {(status, value)!r}, got {got!r}")
    # Inputs stay within characters that Python 3.11's unicodedata (Unicode
    # 14.0) knows, so NFKC and case mapping agree across Unicode versions
    # (docs/TOKEN-SPEC.md, "Unicode versions").
    raws = ([c[2] for c in NORMALIZE_CASES] + [c[0] for c in EMAIL_DOMAIN_CASES]
            + [c[5] for c in token_case_inputs()])
    unknown = sorted({f"U+{ord(ch):04X}" for raw in raws for ch in raw
                      if unicodedata.category(ch) == "Cn"})
    if unknown:
        raise SystemExit(f"vector inputs use code points unassigned in Unicode "
                         f"{unicodedata.unidata_version}: {', '.join(unknown)}")
    for raw, status, value, _, _ in EMAIL_DOMAIN_CASES:
        got = normalize("email", raw)
        if got != (status, value):
            bad.append(f"  email {raw!r}: expected {(status, value)!r}, got {got!r}")
    if bad:
        raise SystemExit("normalisation expectations not met:\n" + "\n".join(bad))

    return {
        "spec": SPEC,
        "hmac_sha256": [hmac_entry(n, k, d, t) for n, k, d, _, t in RFC4231],
        "fingerprint": [{"key_hex": k.hex(), "fingerprint": fingerprint(k)} for k in ALL_KEYS],
        "ns_key": [
            {"key_hex": k.hex(), "context": ctx, "namespace": ns,
             "ns_key_hex": ns_key(k, ctx, ns).hex()}
            for k in ALL_KEYS
            for ctx in CONTEXTS
            for ns in ("phone", "email", "address", "id", "phone.invalid")
        ],
        "normalize": [normalize_entry(kind, region, raw)
                      for kind, region, raw, _, _ in NORMALIZE_CASES],
        "tokens": [token_entry(*c) for c in token_case_inputs()],
        "email_domains": [email_domain_entry(*c) for c in EMAIL_DOMAIN_CASES],
        "shift_spec": SHIFT_SPEC,
        "shift_map": [{"x_hex": f"{x:016x}", "max_days": d,
                       "offset_days": shift_offset_from_u64(x, d)}
                      for x in SHIFT_MAP_X for d in (1, 30, MAX_SHIFT_DAYS)],
        "shift": [shift_entry(*c) for c in shift_case_inputs()],
    }


def _escape_invisible(ch: str) -> str:
    """Write invisible / white-space code points as \\uXXXX escapes."""
    if ord(ch) > 0x7F and unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cn"):
        cp = ord(ch)
        if cp > 0xFFFF:  # JSON needs a UTF-16 surrogate pair
            cp -= 0x10000
            return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"
        return f"\\u{cp:04x}"
    return ch


def dump(vectors: dict) -> str:
    """Serialise as UTF-8 JSON: CJK etc. kept readable, invisible characters
    escaped (json.dumps already escapes ASCII control characters).  All
    non-ASCII characters occur inside JSON strings, so escaping them in the
    text is always valid."""
    text = json.dumps(vectors, ensure_ascii=False, indent=1)
    return "".join(_escape_invisible(ch) for ch in text) + "\n"


def check(path: Path) -> int:
    """Recompute every vector in `path` from its inputs; return the error count."""
    vectors = json.loads(path.read_text(encoding="utf-8"))
    errors: list[str] = []

    def cmp(section, i, field, expected, got):
        if expected != got:
            errors.append(f"{section}[{i}].{field}: file has {expected!r}, recomputed {got!r}")

    if vectors.get("spec") != SPEC:
        errors.append(f"spec: file has {vectors.get('spec')!r}, expected {SPEC!r}")

    rfc = {name: expected for name, _, _, expected, _ in RFC4231}
    for i, e in enumerate(vectors["hmac_sha256"]):
        got = hmac_entry(e["name"], bytes.fromhex(e["key_hex"]), bytes.fromhex(e["data_hex"]),
                         e["truncate_bytes"])
        cmp("hmac_sha256", i, "mac_hex", e["mac_hex"], got["mac_hex"])
        if e["name"] in rfc:
            cmp("hmac_sha256", i, "mac_hex (RFC 4231)", rfc[e["name"]], got["mac_hex"])

    for i, e in enumerate(vectors["fingerprint"]):
        cmp("fingerprint", i, "fingerprint", e["fingerprint"],
            fingerprint(bytes.fromhex(e["key_hex"])))

    for i, e in enumerate(vectors["ns_key"]):
        cmp("ns_key", i, "ns_key_hex", e["ns_key_hex"],
            ns_key(bytes.fromhex(e["key_hex"]), e["context"], e["namespace"]).hex())

    for i, e in enumerate(vectors["normalize"]):
        status, value = normalize(e["kind"], e["raw"], e["region"])
        cmp("normalize", i, "status", e["status"], status)
        cmp("normalize", i, "normalized", e["normalized"], value)

    for i, e in enumerate(vectors["tokens"]):
        status, value, tok = tokenize(bytes.fromhex(e["key_hex"]), e["context"], e["namespace"],
                                      e["kind"], e["raw"], e["region"], e["bits"],
                                      e["encoding"], e["on_invalid"])
        cmp("tokens", i, "status", e["status"], status)
        cmp("tokens", i, "normalized", e["normalized"], value)
        cmp("tokens", i, "token", e["token"], tok)

    for i, e in enumerate(vectors["email_domains"]):
        status, value = normalize("email", e["raw"])
        cmp("email_domains", i, "status", e["status"], status)
        cmp("email_domains", i, "normalized", e["normalized"], value)

    if vectors.get("shift_spec") != SHIFT_SPEC:
        errors.append(f"shift_spec: file has {vectors.get('shift_spec')!r}, expected {SHIFT_SPEC!r}")
    for i, e in enumerate(vectors["shift_map"]):
        cmp("shift_map", i, "offset_days", e["offset_days"],
            shift_offset_from_u64(int(e["x_hex"], 16), e["max_days"]))
    for i, e in enumerate(vectors["shift"]):
        got = shift_entry(bytes.fromhex(e["key_hex"]), e["context"], e["by_type"], e["kind"],
                          e["region"], e["raw"], e["max_days"], e["date"], e["timestamp"])
        for field in ("entity", "offset_days", "shifted_date", "shifted_timestamp"):
            cmp("shift", i, field, e[field], got[field])

    total = sum(len(vectors[s]) for s in ("hmac_sha256", "fingerprint", "ns_key",
                                          "normalize", "tokens", "email_domains",
                                          "shift_map", "shift"))
    # Detect a stale file (case list edited without --write).
    try:
        fresh = dump(generate())
    except SystemExit as exc:
        errors.append(f"generation failed: {exc}")
    else:
        if fresh != path.read_text(encoding="utf-8"):
            errors.append(f"{path.name} differs from what --write would produce; "
                          "run: python3 tests/vectors/reference.py --write")

    idna_checked, idna_skipped, idna_errors = check_idna_conformance()
    errors += idna_errors
    if idna_checked < 6000:
        errors.append(f"IdnaTestV2: only {idna_checked} lines checked")

    if errors:
        print(f"{len(errors)} mismatch(es) in {path}:", file=sys.stderr)
        for err in errors:
            print("  " + err, file=sys.stderr)
        return len(errors)
    print(f"{total} vectors ok (phonenumbers {phonenumbers.__version__}, idna {idna.__version__}, "
          f"Unicode {unicodedata.unidata_version} in unicodedata)")
    print(f"IdnaTestV2.txt: {idna_checked} lines agree with UTS #46 under the e-mail profile, "
          f"{idna_skipped} skipped (a code point this Python's unicodedata "
          f"{unicodedata.unidata_version} does not know)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="regenerate the vectors file")
    mode.add_argument("--check", action="store_true", help="verify the vectors file (default)")
    ap.add_argument("--file", type=Path, default=VECTORS_PATH, help="vectors file (default: %(default)s)")
    args = ap.parse_args()
    if args.write:
        args.file.write_text(dump(generate()), encoding="utf-8")
        print(f"wrote {args.file}")
        return 0
    return 1 if check(args.file) else 0


if __name__ == "__main__":
    sys.exit(main())
