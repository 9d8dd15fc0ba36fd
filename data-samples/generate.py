#!/usr/bin/env python3
"""Deterministic generator of SYNTHETIC legacy payment-transaction dumps.

Every value this script writes is made up.  Names come from short lists of
common surnames / given names, phone numbers are random within valid number
ranges, resident ID numbers carry a valid ISO 7064 MOD 11-2 check digit but
random birth-registration details, addresses are combinations of real
province / city / district names with generic street names and random house
numbers.  No real person is described.

Usage:
    python3 data-samples/generate.py --rows 3000 --seed 2010 --out data-samples/transactions.csv
    python3 data-samples/generate.py --rows 5000000 --seed 1 --out - | gzip > big.csv.gz

Output is RFC 4180 CSV encoded as UTF-8 (no BOM), header row first, "\\n" line
endings; fields containing a comma, double quote or newline are quoted and
embedded quotes are doubled.  For a given (--rows, --seed, --invalid-rate,
--empty-rate) the output is byte-for-byte identical across runs and machines
(only random.Random(seed) is used; nothing depends on hash randomisation).

Python 3.11+ standard library only.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import random
import sys

COLUMNS = [
    "txn_id",
    "created_at",
    "account_id",
    "customer_name",
    "id_card",
    "mobile",
    "email",
    "home_address",
    "shipping_address",
    "birth_date",
    "amount",
    "currency",
    "merchant_id",
    "channel",
    "is_refund",
    "item_count",
    "ip_address",
]

# Rows are produced in independent batches; customers of a batch only appear
# in that batch.  This bounds memory for multi-million-row runs.
BATCH_ROWS = 50_000
ROWS_PER_CUSTOMER = 10

# ---------------------------------------------------------------------------
# Reference lists (common names, real administrative divisions)
# ---------------------------------------------------------------------------

# (surname, pinyin) roughly in order of frequency.
SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
    ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
    ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"),
    ("郭", "guo"), ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"),
    ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"),
    ("许", "xu"), ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"),
    ("彭", "peng"), ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"),
    ("袁", "yuan"), ("潘", "pan"), ("于", "yu"), ("蒋", "jiang"), ("蔡", "cai"),
    ("余", "yu"), ("杜", "du"), ("叶", "ye"), ("程", "cheng"), ("苏", "su"),
    ("魏", "wei"), ("吕", "lv"), ("丁", "ding"), ("任", "ren"), ("沈", "shen"),
    ("欧阳", "ouyang"), ("司马", "sima"), ("诸葛", "zhuge"),
]
GIVEN_MALE = [
    ("伟", "wei"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
    ("勇", "yong"), ("杰", "jie"), ("涛", "tao"), ("明", "ming"), ("超", "chao"),
    ("刚", "gang"), ("平", "ping"), ("辉", "hui"), ("鹏", "peng"), ("华", "hua"),
    ("飞", "fei"), ("鑫", "xin"), ("波", "bo"), ("斌", "bin"), ("宇", "yu"),
    ("浩", "hao"), ("凯", "kai"), ("健", "jian"), ("俊", "jun"), ("帆", "fan"),
    ("建", "jian"), ("国", "guo"), ("文", "wen"), ("志", "zhi"), ("东", "dong"),
    ("海", "hai"), ("峰", "feng"), ("龙", "long"), ("林", "lin"), ("亮", "liang"),
]
GIVEN_FEMALE = [
    ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("艳", "yan"), ("娟", "juan"), ("霞", "xia"), ("秀", "xiu"), ("英", "ying"),
    ("玲", "ling"), ("桂", "gui"), ("婷", "ting"), ("雪", "xue"), ("慧", "hui"),
    ("燕", "yan"), ("红", "hong"), ("梅", "mei"), ("琳", "lin"), ("倩", "qian"),
    ("佳", "jia"), ("颖", "ying"), ("洁", "jie"), ("晶", "jing"), ("欣", "xin"),
    ("萍", "ping"), ("兰", "lan"), ("丹", "dan"), ("莉", "li"), ("薇", "wei"),
]
WEST_FIRST_MALE = [
    "James", "John", "Robert", "Michael", "William", "David", "Richard",
    "Thomas", "Daniel", "Matthew", "Christopher", "Andrew", "Mark", "Paul",
    "Steven", "Peter", "George", "Kevin", "Brian", "Edward",
]
WEST_FIRST_FEMALE = [
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Susan", "Emily",
    "Sarah", "Jessica", "Karen", "Laura", "Anna", "Emma", "Olivia", "Sophie",
    "Rachel", "Hannah", "Lucy", "Grace", "Claire",
]
WEST_LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis",
    "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Jackson",
    "Thompson", "White", "Clark", "Lewis", "Walker", "Hall", "Allen", "Young",
    "King", "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill",
    "Campbell", "Mitchell", "Roberts", "Carter", "Evans", "Turner", "Parker",
    "Collins", "Edwards", "Stewart", "O'Brien", "Murphy", "Cook", "Hughes",
]

# province -> [(city, [(district, 6-digit administrative code), ...]), ...]
# Municipalities use city "" (the province name already ends in 市).
REGIONS = [
    ("浙江省", [
        ("杭州市", [("西湖区", "330106"), ("上城区", "330102"), ("拱墅区", "330105"), ("滨江区", "330108")]),
        ("宁波市", [("海曙区", "330203"), ("鄞州区", "330212")]),
        ("温州市", [("鹿城区", "330302")]),
    ]),
    ("江苏省", [
        ("南京市", [("玄武区", "320102"), ("鼓楼区", "320106"), ("建邺区", "320105")]),
        ("苏州市", [("吴中区", "320506"), ("相城区", "320507")]),
        ("无锡市", [("滨湖区", "320211")]),
    ]),
    ("广东省", [
        ("广州市", [("天河区", "440106"), ("越秀区", "440104"), ("海珠区", "440105")]),
        ("深圳市", [("南山区", "440305"), ("福田区", "440304"), ("罗湖区", "440303")]),
    ]),
    ("北京市", [
        ("", [("朝阳区", "110105"), ("海淀区", "110108"), ("东城区", "110101"), ("西城区", "110102")]),
    ]),
    ("上海市", [
        ("", [("浦东新区", "310115"), ("徐汇区", "310104"), ("静安区", "310106"), ("黄浦区", "310101")]),
    ]),
    ("天津市", [
        ("", [("和平区", "120101"), ("南开区", "120104")]),
    ]),
    ("重庆市", [
        ("", [("渝中区", "500103"), ("江北区", "500105")]),
    ]),
    ("四川省", [
        ("成都市", [("武侯区", "510107"), ("锦江区", "510104"), ("青羊区", "510105")]),
    ]),
    ("湖北省", [
        ("武汉市", [("武昌区", "420106"), ("江汉区", "420103"), ("洪山区", "420111")]),
    ]),
    ("陕西省", [
        ("西安市", [("雁塔区", "610113"), ("碑林区", "610103")]),
    ]),
    ("山东省", [
        ("济南市", [("历下区", "370102"), ("市中区", "370103")]),
        ("青岛市", [("市南区", "370202"), ("崂山区", "370212")]),
    ]),
    ("福建省", [
        ("厦门市", [("思明区", "350203"), ("湖里区", "350206")]),
        ("福州市", [("鼓楼区", "350102")]),
    ]),
    ("湖南省", [
        ("长沙市", [("岳麓区", "430104"), ("芙蓉区", "430102")]),
    ]),
    ("河南省", [
        ("郑州市", [("金水区", "410105"), ("二七区", "410103")]),
    ]),
    ("辽宁省", [
        ("沈阳市", [("和平区", "210102"), ("沈河区", "210103")]),
        ("大连市", [("中山区", "210202")]),
    ]),
]
# Flattened (province, city, district, code); weights favour the big cities.
DISTRICTS = [
    (p, c, d, code)
    for p, cities in REGIONS
    for c, ds in cities
    for d, code in ds
]

STREETS = [
    "中山路", "人民路", "解放路", "建设路", "和平路", "新华路", "胜利路", "文化路",
    "长江路", "黄河路", "北京路", "南京路", "延安路", "朝阳路", "光明路", "学府路",
    "文三路", "天目山路", "体育场路", "东风路", "青年路", "工业大道", "科技园路",
    "幸福街", "友谊路", "滨江大道", "花园路", "府前街", "环城西路", "五一路",
]
COMPOUNDS = [
    "阳光花园", "金色家园", "翠苑", "华府", "绿城小区", "万科城", "世纪新城",
    "锦绣江南", "碧桂园", "东方明珠苑", "和谐家园", "书香门第", "紫金苑",
]
COMPANIES = ["大厦", "科技大厦", "国际广场", "商务中心", "创业园"]

# (city, state, ZIP) — real combinations
US_CITIES = [
    ("Springfield", "IL", "62704"), ("Portland", "OR", "97205"),
    ("Austin", "TX", "78701"), ("Boston", "MA", "02108"),
    ("Seattle", "WA", "98101"), ("Denver", "CO", "80202"),
    ("San Francisco", "CA", "94103"), ("Palo Alto", "CA", "94301"),
    ("New York", "NY", "10001"), ("Chicago", "IL", "60614"),
    ("Madison", "WI", "53703"), ("Ann Arbor", "MI", "48104"),
]
US_STREETS = [
    "Main", "Oak", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill",
    "Park", "Pine", "Sunset", "Lincoln", "Jackson", "Church", "Highland",
]
US_SUFFIX = ["St.", "Ave.", "Rd.", "Blvd.", "Dr.", "Ln."]

CN_MOBILE_PREFIXES = [
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "186", "187", "188", "189",
]
US_AREA = ["212", "415", "650"]
# 3-digit UK mobile prefixes whose every 4th digit is an allocated range.
UK_MOBILE_PREFIX = [
    "740", "741", "742", "743", "744", "746", "747", "748", "749", "751",
    "753", "754", "755", "756", "757", "758", "759", "771", "772", "773",
    "774", "775", "776", "780", "781", "784", "785", "786", "787", "788",
    "789", "790", "792", "794", "795", "796", "797", "798", "799",
]

CN_EMAIL_DOMAINS = (
    ["163.com"] * 25 + ["qq.com"] * 22 + ["126.com"] * 12 + ["sina.com"] * 10
    + ["gmail.com"] * 8 + ["hotmail.com"] * 7 + ["yahoo.com.cn"] * 6
    + ["sohu.com"] * 5 + ["139.com"] * 3 + ["vip.163.com"] * 2
)
WEST_EMAIL_DOMAINS = ["gmail.com"] * 5 + ["hotmail.com"] * 3 + ["yahoo.com"] * 3 + ["aol.com"]
IDN_DOMAINS = ["例子.中国", "邮件.中国", "网址.公司"]

CN_IP_FIRST = [58, 59, 60, 61, 110, 111, 112, 113, 114, 115, 116, 117, 118,
               119, 120, 121, 122, 123, 124, 125, 180, 182, 183, 202, 210,
               211, 218, 219, 220, 221, 222]
US_IP_FIRST = [24, 50, 63, 64, 66, 67, 68, 69, 71, 72, 73, 74, 75, 76, 96, 98, 173]
IPV6_PREFIX = ["2001:da8", "2001:250", "2001:da8", "240e:0", "2408:8000"]

MERCHANT_POOL = 500

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for a GB 11643-1999 resident ID."""
    s = sum(int(ch) * w for ch, w in zip(first17, ID_WEIGHTS))
    return ID_CHECK[s % 11]


def weighted_table(pairs, size=1000):
    """Expand [(value, weight), ...] into a lookup list for O(1) sampling."""
    total = sum(w for _, w in pairs)
    out = []
    for v, w in pairs:
        out.extend([v] * round(w * size / total))
    return out


def csvq(s: str) -> str:
    if "," in s or '"' in s or "\n" in s or "\r" in s:
        return '"' + s.replace('"', '""') + '"'
    return s


# ---------------------------------------------------------------------------
# Per-customer construction
# ---------------------------------------------------------------------------

BIRTH_LO = _dt.date(1950, 1, 1).toordinal()
BIRTH_HI = _dt.date(1992, 12, 31).toordinal()


class Gen:
    def __init__(self, seed: int, invalid_rate: float, empty_rate: float):
        self.r = random.Random(seed)
        r = self.r
        self.invalid_rate = invalid_rate
        self.empty_rate = empty_rate
        self.used_mobiles: set[str] = set()
        self.used_ids: set[str] = set()
        self.used_emails: set[str] = set()
        self.cust_counter = 0
        self.row_counter = 0
        # Bijective scramblers so that account / txn numbers are unique
        # without bookkeeping.
        self.acct_mul = 982451653          # prime, coprime with 10**12
        self.acct_add = r.randrange(10**12)
        self.txn_mul = 73939133            # odd, not multiple of 5
        self.txn_add = r.randrange(10**8)
        merchants: set[str] = set()
        while len(merchants) < MERCHANT_POOL:
            merchants.add("M%08d" % r.randrange(1, 10**5 * 2))
        self.merchants = sorted(merchants)
        r.shuffle(self.merchants)
        self.surname_tab = weighted_table([(s, 1.0 / (i + 4)) for i, s in enumerate(SURNAMES)], 2000)
        self.district_tab = weighted_table(
            [(d, 3.0 if d[0] in ("北京市", "上海市", "广东省", "浙江省") else 1.0) for d in DISTRICTS], 600)

        # created_at: days 2004-01-01 .. 2010-12-31 weighted by year (growth).
        year_w = {2004: 1, 2005: 2, 2006: 3, 2007: 5, 2008: 8, 2009: 12, 2010: 18}
        day = _dt.date(2004, 1, 1)
        end = _dt.date(2010, 12, 31)
        days = []
        while day <= end:
            iso = day.isoformat()
            days.extend([(iso, iso.replace("-", ""))] * year_w[day.year])
            day += _dt.timedelta(days=1)
        self.days = days
        hour_w = [2, 1, 1, 1, 1, 1, 2, 4, 6, 8, 10, 10, 9, 9, 10, 10, 9, 8, 8, 9, 11, 12, 10, 6]
        self.hours = weighted_table(list(enumerate(hour_w)), 400)
        self.times = ["%02d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60) for s in range(86400)]

    # -- identifiers --------------------------------------------------------

    def _cn_mobile(self) -> str:
        r = self.r
        while True:
            m = r.choice(CN_MOBILE_PREFIXES) + "%08d" % r.randrange(10**8)
            if m not in self.used_mobiles:
                self.used_mobiles.add(m)
                return m

    def _mobile_spellings(self, kind: str, num: str) -> list[str]:
        if kind == "CN":
            a, b, c = num[:3], num[3:7], num[7:]
            return [
                num,                              # 0  13800138000
                f"{a} {b} {c}",                   # 1  138 0013 8000
                f"{a}-{b}-{c}",                   # 2  138-0013-8000
                f"+86 {a} {b} {c}",               # 3
                "+86" + num,                      # 4
                f"0086-{a}-{b}-{c}",              # 5
                "(+86) " + num,                   # 6
                num.translate(FULLWIDTH),         # 7  full-width digits
                f"+86.{a}.{b}.{c}",               # 8
            ]
        if kind == "US":                          # num = 10 digits NPA NXX XXXX
            a, b, c = num[:3], num[3:6], num[6:]
            return [
                f"+1 {a}-{b}-{c}",
                f"+1{num}",
                f"+1 ({a}) {b}-{c}",
                f"001-{a}-{b}-{c}",
                f"+1.{a}.{b}.{c}",
                f"+1 {a} {b} {c}",
                f"(+1) {num}",
                f"+1-{a}-{b}-{c}",
                f"001{num}",
            ]
        # UK: num = 10 digits national significant number starting 7
        a, b = num[:4], num[4:]
        return [
            f"+44 {a} {b}",
            f"+44{num}",
            f"0044 {a} {b}",
            f"+44 (0){a} {b}",
            f"+44-{a}-{b}",
            f"(+44) {num}",
            f"+44.{a}.{b}",
            f"0044{num}",
            f"+44 {num[:2]} {num[2:6]} {num[6:]}",
        ]

    def _ip(self, western_abroad: bool) -> str:
        r = self.r
        x = r.random()
        if x < 0.03:
            g = [r.randrange(1, 0x10000) for _ in range(3)]
            return "%s:%x:%x:%x::%x" % (r.choice(IPV6_PREFIX), g[0], g[1], g[2], r.randrange(1, 0x10000))
        first = r.choice(US_IP_FIRST if western_abroad else CN_IP_FIRST)
        return "%d.%d.%d.%d" % (first, r.randrange(256), r.randrange(256), r.randrange(1, 255))

    # -- addresses ----------------------------------------------------------

    def _cn_address(self, district=None):
        """Return an address as (kind, components); it is spelled per row."""
        r = self.r
        if district is None:
            district = r.choice(self.district_tab)
        prov, city, dist, _code = district
        street = r.choice(STREETS)
        num = str(int(1 + 400 * r.random() ** 2))
        x = r.random()
        if x < 0.40:
            comp = r.choice(COMPOUNDS)
            if r.random() < 0.03:
                comp = '"' + comp + '"'           # ASCII quotes -> "" in CSV
            extra = "%s%d幢%d单元%d%02d室" % (comp, r.randint(1, 30), r.randint(1, 4),
                                          r.randint(1, 28), r.randint(1, 4))
        elif x < 0.55:
            extra = "%s%s%d楼" % (r.choice(["天堂软件园", "华星", "东方", "世贸", "银泰"]),
                                 r.choice(COMPANIES), r.randint(2, 30))
        else:
            extra = ""
        # Some addresses separate the building part with an ASCII comma.
        sep = "," if extra and r.random() < 0.2 else ""
        parts = [prov, city, dist, street, num, "号"]
        if extra:
            parts.append(sep + extra)
        return ("CN", [p for p in parts if p])

    def _us_address(self):
        r = self.r
        city, state, zipc = r.choice(US_CITIES)
        line1 = "%d %s %s" % (r.randint(1, 9999), r.choice(US_STREETS), r.choice(US_SUFFIX))
        if r.random() < 0.25:
            line1 += ", Apt %d%s" % (r.randint(1, 30), r.choice("ABCDEF"))
        return ("US", [line1, city, "%s %s" % (state, zipc)])

    def spell_address(self, addr) -> str:
        """One messy spelling of an address (whitespace / case / width)."""
        r = self.r
        kind, parts = addr
        x = r.random()
        nl = x < 0.001  # rare embedded newline
        if kind == "CN":
            if nl:
                i = r.randrange(1, len(parts))
                return "".join(parts[:i]) + "\n" + "".join(parts[i:])
            if x < 0.55:
                return "".join(parts)
            if x < 0.75:
                return " ".join(parts)
            if x < 0.85:
                return "".join(p + r.choice(("", "", " ", "  ")) for p in parts).rstrip()
            if x < 0.93:
                return "\u3000".join(parts)
            return "".join(parts).translate(FULLWIDTH)
        line1, city, st = parts
        if nl:
            return "%s,\n%s, %s" % (line1, city, st)
        s = "%s, %s, %s" % (line1, city, st)
        if x < 0.70:
            return s
        if x < 0.78:
            return s.upper()
        if x < 0.85:
            return s.lower()
        words = s.split(" ")
        i = r.randrange(1, len(words))
        return " ".join(words[:i]) + "  " + " ".join(words[i:])

    # -- customers ----------------------------------------------------------

    def make_customer(self):
        r = self.r
        idx = self.cust_counter
        self.cust_counter += 1
        account = "2088%012d" % ((idx * self.acct_mul + self.acct_add) % 10**12)
        male = r.random() < 0.52
        chinese = r.random() < 0.75
        bdate = _dt.date.fromordinal(r.randint(BIRTH_LO, BIRTH_HI))
        birth = bdate.isoformat()
        home_district = r.choice(self.district_tab)

        if chinese:
            sname, spy = r.choice(self.surname_tab)
            pool = GIVEN_MALE if male else GIVEN_FEMALE
            g1 = r.choice(pool)
            if r.random() < 0.55:
                g2 = r.choice(pool)
                gname, gpy = g1[0] + g2[0], g1[1] + g2[1]
            else:
                gname, gpy = g1
            name = sname + gname
        else:
            first = r.choice(WEST_FIRST_MALE if male else WEST_FIRST_FEMALE)
            last = r.choice(WEST_LAST)
            name = f"{first} {last}"
            spy, gpy = last.lower().replace("'", ""), first.lower()

        # id_card
        if chinese or r.random() < 0.2:
            region = home_district[3] if r.random() < 0.6 else r.choice(DISTRICTS)[3]
            while True:
                seq = r.randrange(0, 500) * 2 + (1 if male else 0)  # odd = male
                first17 = "%s%s%03d" % (region, bdate.strftime("%Y%m%d"), seq)
                idc = first17 + id_check_digit(first17)
                if idc not in self.used_ids:
                    self.used_ids.add(idc)
                    break
        elif r.random() < 0.5:
            idc = ""
        else:
            idc = "%s%08d" % (r.choice("EEEG"), r.randrange(10**8))  # passport-like

        # mobile
        abroad = (not chinese) and r.random() < 0.4
        if abroad:
            if r.random() < 0.65:
                kind = "US"
                while True:
                    nxx = r.randint(200, 999)
                    if nxx % 100 != 11 and nxx not in (555, 950, 958, 959, 976):
                        break
                num = "%s%03d%04d" % (r.choice(US_AREA), nxx, r.randrange(10000))
            else:
                kind = "UK"
                num = "%s%07d" % (r.choice(UK_MOBILE_PREFIX), r.randrange(10**7))
        else:
            kind = "CN"
            num = self._cn_mobile()
        mobiles = self._mobile_spellings(kind, num)

        # email
        yy = bdate.strftime("%y")
        if chinese and r.random() < 0.015:
            local, domain = name, r.choice(IDN_DOMAINS)
        else:
            domain = r.choice(CN_EMAIL_DOMAINS if chinese else WEST_EMAIL_DOMAINS)
            if domain == "qq.com" and r.random() < 0.7:
                local = str(r.randrange(10**5, 10**10))
            else:
                form = r.randrange(6)
                if form == 0:
                    local = f"{spy}.{gpy}"
                elif form == 1:
                    local = f"{spy}{gpy}{yy}"
                elif form == 2:
                    local = f"{gpy}.{spy}"
                elif form == 3:
                    local = f"{spy}{gpy}{r.randrange(1000)}"
                elif form == 4:
                    local = f"{spy}_{gpy}{bdate.year}"
                else:
                    local = f"{gpy[0]}{spy}{r.randrange(100, 10000)}"
        email = f"{local}@{domain}"
        while email in self.used_emails:
            email = f"{local}{r.randrange(10, 1000)}@{domain}"
        self.used_emails.add(email)
        if "." in local and local.isascii():
            titled = ".".join(p.capitalize() for p in local.split(".")) + "@" + domain
        else:
            titled = local.capitalize() + "@" + domain
        emails = [
            email, email, email, email, email, email, email,   # canonical mostly
            email.upper(),
            titled,
            "  " + titled + " ",
            " " + email,
            email + "  ",
            local + "@" + domain.upper(),
        ]
        email_invalid = [
            email.replace("@", "#", 1),
            email.replace("@", "@@", 1),
            local + "@localhost",
            email.rsplit(".", 1)[0],
            "a@@b.com",
            "x@localhost",
            "@" + domain,
        ]

        # addresses
        if chinese or r.random() < 0.4:
            home = self._cn_address(home_district)
            ship = [self._cn_address(home_district if r.random() < 0.5 else None)
                    for _ in range(r.choice((1, 1, 2)))]
        else:
            home = self._us_address()
            ship = [self._us_address() if r.random() < 0.6 else self._cn_address()
                    for _ in range(r.choice((1, 1, 2)))]

        ips = [self._ip(abroad) for _ in range(r.choice((1, 1, 2, 3)))]
        return (account, csvq(name), idc, mobiles, num, emails, email_invalid,
                home, ship, birth, ips, abroad)

    # -- rows ---------------------------------------------------------------

    def invalid_id(self, idc: str) -> str:
        r = self.r
        x = r.random()
        if len(idc) == 18 and x < 0.4:
            bad = idc[:17] + r.choice([c for c in "0123456789X" if c != idc[17]])
            return bad                                  # wrong check digit
        if len(idc) == 18 and x < 0.6:
            return idc[:17]                             # truncated
        if len(idc) == 18 and x < 0.75:
            return idc[:6] + idc[8:14] + idc[14:17]     # legacy 15-digit form
        return r.choice(["N/A", "无", "000000000000000000", "123456", "unknown"])

    def invalid_mobile(self, num: str) -> str:
        r = self.r
        x = r.random()
        if x < 0.3:
            return num[:9]                              # truncated
        return r.choice(["N/A", "12345", "unknown", "无", "0000000000", "-"])

    def invalid_ip(self) -> str:
        return self.r.choice(["999.12.0.1", "256.256.256.256", "10.0.0", "unknown", "localhost"])

    def batch(self, n: int) -> str:
        r = self.r
        rnd = r.random
        ncust = max(1, round(n / ROWS_PER_CUSTOMER))
        custs = [self.make_customer() for _ in range(ncust)]
        # Every customer appears at least once; the rest is skewed.
        weights = [r.lognormvariate(0.0, 0.9) for _ in range(ncust)]
        assign = custs + r.choices(custs, weights=weights, k=n - ncust) if n > ncust else custs[:n]
        r.shuffle(assign)

        inv = self.invalid_rate
        emp = self.empty_rate
        days, ndays = self.days, len(self.days)
        hours, nhours = self.hours, len(self.hours)
        times = self.times
        merchants = self.merchants
        nmer = len(merchants)
        txn_mul, txn_add = self.txn_mul, self.txn_add
        spell = self.spell_address
        mob_tab = [0] * 40 + [1] * 12 + [2] * 10 + [3] * 8 + [4] * 8 + [5] * 5 + [6] * 5 + [7] * 6 + [8] * 6
        nmob = len(mob_tab)
        channels = ["web"] * 45 + ["wap"] * 20 + ["pos"] * 20 + ["client"] * 15
        log_lo, log_hi = math.log(0.01), math.log(50000.0)
        out = []
        append = out.append
        row = self.row_counter
        for c in assign:
            (account, name, idc, mobiles, num, emails, email_invalid,
             home, ship, birth, ips, abroad) = c
            dstr, dcompact = days[int(rnd() * ndays)]
            t = times[hours[int(rnd() * nhours)] * 3600 + int(rnd() * 3600)]
            txn = "T%s%08d" % (dcompact, (row * txn_mul + txn_add) % 100000000)
            row += 1

            # id_card
            x = rnd()
            if x < emp:
                id_out = ""
            elif x < emp + inv:
                id_out = csvq(self.invalid_id(idc))
            else:
                id_out = idc
            # mobile
            x = rnd()
            if x < emp:
                mob = ""
            elif x < emp + inv:
                mob = self.invalid_mobile(num)
            else:
                mob = mobiles[mob_tab[int(rnd() * nmob)]]
            # email
            x = rnd()
            if x < emp:
                em = ""
            elif x < emp + inv:
                em = email_invalid[int(rnd() * len(email_invalid))]
            else:
                em = emails[int(rnd() * len(emails))]
            # addresses
            x = rnd()
            home_s = "" if x < emp else csvq(spell(home))
            x = rnd()
            if x < emp:
                ship_s = ""
            elif x < 0.70:
                ship_s = home_s if x < 0.60 else csvq(spell(home))
            else:
                ship_s = csvq(spell(ship[int(rnd() * len(ship))]))
            # amount: log-uniform mixed with a log-normal bump around ~100
            if rnd() < 0.35:
                a = math.exp(log_lo + (log_hi - log_lo) * rnd())
            else:
                a = math.exp(r.gauss(4.6, 1.3))
            cents = int(a * 100)
            if cents < 1:
                cents = 1
            elif cents > 5000000:
                cents = 5000000
            if rnd() < 0.3:
                cents -= cents % 100 if cents >= 100 else 0
            amount = "%d.%02d" % (cents // 100, cents % 100)
            x = rnd()
            if abroad:
                cur = "USD" if x < 0.5 else ("HKD" if x < 0.55 else "CNY")
            else:
                cur = "CNY" if x < 0.93 else ("USD" if x < 0.97 else "HKD")
            mer = merchants[int(nmer * rnd() ** 2.2)]
            ch = channels[int(rnd() * 100)]
            refund = "true" if rnd() < 0.03 else "false"
            items = str(1 + int(20 * rnd() ** 3))
            # ip
            x = rnd()
            if x < emp:
                ip = ""
            elif x < emp + inv:
                ip = self.invalid_ip()
            elif x < 0.85:
                ip = ips[int(rnd() * len(ips))]
            else:
                ip = self._ip(abroad)

            append(",".join((txn, dstr + " " + t, account, name, id_out, mob, em,
                             home_s, ship_s, birth, amount, cur, mer, ch, refund,
                             items, ip)))
        self.row_counter = row
        append("")
        return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, required=True, help="number of data rows")
    ap.add_argument("--seed", type=int, required=True, help="random seed (integer)")
    ap.add_argument("--out", default="-", help="output path, or - for stdout (default)")
    ap.add_argument("--invalid-rate", type=float, default=0.01,
                    help="per-field probability that an identifier (id_card, mobile, email, "
                         "ip_address) is deliberately invalid (default 0.01)")
    ap.add_argument("--empty-rate", type=float, default=0.02,
                    help="per-field probability that a personal field is empty (default 0.02)")
    a = ap.parse_args(argv)
    if a.rows < 0:
        ap.error("--rows must be >= 0")
    for name in ("invalid_rate", "empty_rate"):
        v = getattr(a, name)
        if not 0.0 <= v <= 1.0:
            ap.error(f"--{name.replace('_', '-')} must be within [0, 1]")
    if a.invalid_rate + a.empty_rate > 1.0:
        ap.error("--invalid-rate + --empty-rate must not exceed 1")

    g = Gen(a.seed, a.invalid_rate, a.empty_rate)
    if a.out == "-":
        f = open(sys.stdout.fileno(), "w", encoding="utf-8", newline="", buffering=1 << 20, closefd=False)
    else:
        f = open(a.out, "w", encoding="utf-8", newline="", buffering=1 << 20)
    try:
        f.write(",".join(COLUMNS) + "\n")
        left = a.rows
        while left > 0:
            n = min(BATCH_ROWS, left)
            f.write(g.batch(n))
            left -= n
    except BrokenPipeError:
        return 1
    finally:
        try:
            f.close()
        except BrokenPipeError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
