#!/usr/bin/env python3
"""A second, independent generator of SYNTHETIC dumps in the legacy shape.

bench/run.sh times txanon on data-samples/generate.py's dumps; defaults
tuned on one generator can be tuned to its quirks. This script writes the
same 17 columns (so schemas/transactions.toml reads them) with other
spellings and other distributions:

- customers recur about 3 times instead of about 10 (more distinct tokens
  per row group), spread over the whole file rather than within batches;
- phones written as "0086 139 3044 4930", "(139) 3044-4930", "139.3044.4930",
  "+86-13930444930", "13930444930" (mainland mobiles only);
- e-mails in mixed case from 40 domains, some with "+tags";
- western-style addresses ("1204 Elm St Apt 5, Springfield, IL 62701") beside
  Chinese ones with full-width digits and spaces;
- amounts log-uniform from 0.01 to 50,000 (few repeats), 2,000 merchants,
  five channels, item counts up to 40, IPv4 and IPv6 addresses;
- timestamps from 2004 to 2010 in the same `%Y-%m-%d %H:%M:%S` format.

Every value is made up. For a given (--rows, --seed) the output is byte for
byte the same (only random.Random(seed) is used). Standard library only.

    python3 bench/generate_other.py --rows 5000000 --seed 7 --out bench/out/other-5000000.csv
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys

COLUMNS = (
    "txn_id,created_at,account_id,customer_name,id_card,mobile,email,home_address,"
    "shipping_address,birth_date,amount,currency,merchant_id,channel,is_refund,"
    "item_count,ip_address"
)
ROWS_PER_CUSTOMER = 3
PREFIXES = ["130", "131", "132", "135", "136", "137", "138", "139", "150", "151",
            "152", "157", "158", "159", "177", "180", "181", "186", "187", "189"]
DOMAINS = [f"{n}.{t}" for n in ("mail", "post", "inbox", "letter", "box", "web", "net",
                                 "home", "web2", "corp") for t in ("com", "cn", "net", "org")]
SURNAMES = ["Smith", "Chen", "Garcia", "Wang", "Müller", "Li", "Kim", "Nguyen", "Singh",
            "Zhang", "O'Brien", "Rossi", "Silva", "Kowalski", "Haddad", "Tanaka"]
GIVEN = ["Alex", "Mei", "Jordan", "Wei", "Sam", "Lin", "Maria", "Yan", "Chris", "Hui",
         "Noor", "Ivan", "Ana", "Jun", "Lea", "Omar"]
STREETS = ["Elm St", "Oak Ave", "Maple Rd", "Pine Ln", "Cedar Blvd", "Birch Way",
           "High St", "Station Rd", "Mill Lane", "Church St"]
CITIES = [("Springfield", "IL", "627"), ("Portland", "OR", "972"), ("Austin", "TX", "787"),
          ("Madison", "WI", "537"), ("Salem", "MA", "019"), ("Dayton", "OH", "454")]
CN_CITIES = [("北京市", "海淀区"), ("上海市", "徐汇区"), ("广州市", "越秀区"),
             ("成都市", "武侯区"), ("杭州市", "西湖区"), ("武汉市", "洪山区")]
CN_ROADS = ["中山路", "人民路", "解放大道", "建设路", "学院路", "长江路"]
CHANNELS = ["web", "app", "pos", "phone", "kiosk"]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
START = dt.datetime(2004, 1, 1)
SPAN = int((dt.datetime(2010, 12, 31, 23, 59, 59) - START).total_seconds())


def csvq(s: str) -> str:
    if any(c in s for c in ',"\n\r'):
        return '"' + s.replace('"', '""') + '"'
    return s


class Other:
    def __init__(self, seed: int, rows: int):
        self.r = random.Random(seed)
        self.customers = max(1, rows // ROWS_PER_CUSTOMER)
        self.cache: dict[int, tuple[str, ...]] = {}

    def phone(self) -> str:
        r = self.r
        n = r.choice(PREFIXES) + f"{r.randrange(10**8):08d}"
        a, b, c = n[:3], n[3:7], n[7:]
        return r.choice([
            f"0086 {a} {b} {c}", f"({a}) {b}-{c}", f"{a}.{b}.{c}", f"+86-{n}", n, f"86{n}",
        ])

    def address(self) -> str:
        r = self.r
        if r.random() < 0.5:
            city, state, zip3 = r.choice(CITIES)
            apt = f" Apt {r.randrange(1, 40)}" if r.random() < 0.3 else ""
            return (f"{r.randrange(1, 9999)} {r.choice(STREETS)}{apt}, {city}, "
                    f"{state} {zip3}{r.randrange(100):02d}")
        city, district = r.choice(CN_CITIES)
        number = str(r.randrange(1, 999))
        if r.random() < 0.4:
            number = number.translate(FULLWIDTH)
        sep = r.choice(["", " ", "　"])
        return f"{city}{sep}{district}{r.choice(CN_ROADS)}{number}号"

    def customer(self, c: int) -> tuple[str, ...]:
        # A customer's fields come from a generator seeded by the customer
        # number, so repeat visits spell the same person the same way most of
        # the time without keeping every customer in memory.
        if c in self.cache:
            return self.cache[c]
        saved, self.r = self.r, random.Random(c * 7919 + 17)
        r = self.r
        given, surname = r.choice(GIVEN), r.choice(SURNAMES)
        user = f"{given}.{surname}".replace("'", "")
        if r.random() < 0.2:
            user += f"+{r.choice(['shop', 'news', 'pay'])}"
        email = f"{user}{r.randrange(1000)}@{r.choice(DOMAINS)}"
        email = email.upper() if r.random() < 0.1 else email
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=r.randrange(25000))
        fields = (
            f"{6200000000000000 + c * 37 + r.randrange(37)}",
            f"{given} {surname}",
            f"{r.randrange(10**17):017d}X",
            self.phone(),
            email,
            self.address(),
            birth.isoformat(),
        )
        self.r = saved
        if len(self.cache) > 100_000:
            self.cache.clear()
        self.cache[c] = fields
        return fields

    def row(self, i: int) -> str:
        r = self.r
        account, name, id_card, phone, email, home, birth = self.customer(
            r.randrange(self.customers))
        ship = home if r.random() < 0.6 else self.address()
        ts = START + dt.timedelta(seconds=r.randrange(SPAN))
        amount = 10 ** r.uniform(-2, 4.7)
        if r.random() < 0.5:
            ip = ".".join(str(r.randrange(1, 255)) for _ in range(4))
        else:
            ip = "2001:db8:" + ":".join(f"{r.randrange(65536):x}" for _ in range(6))
        return ",".join(csvq(v) for v in (
            f"X{i:010d}{r.randrange(100):02d}",
            ts.strftime("%Y-%m-%d %H:%M:%S"),
            account, name, id_card, phone, email, home, ship, birth,
            f"{amount:.2f}", r.choice(["CNY", "USD", "EUR", "HKD"]),
            f"MER-{r.randrange(2000):05d}", r.choice(CHANNELS),
            "true" if r.random() < 0.04 else "false", str(r.randrange(1, 41)), ip,
        ))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default="-", help="output path, - for stdout")
    args = ap.parse_args(argv)
    gen = Other(args.seed, args.rows)
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8", newline="")
    with out:
        out.write(COLUMNS + "\n")
        chunk = []
        for i in range(args.rows):
            chunk.append(gen.row(i))
            if len(chunk) == 10_000:
                out.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            out.write("\n".join(chunk) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
