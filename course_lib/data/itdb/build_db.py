"""Build the Fernleaf Home IT database (SQLite), deterministically.

Fernleaf Home is a fictional home-goods company with about 1,200 employees.
Its IT department keeps departments, staff, devices, software licenses,
help-desk tickets and purchases in one SQLite file.

    from build_db import build_database, schema_description
    build_database("it.sqlite")

or from a shell:

    python build_db.py out.sqlite

Every row comes from ``random.Random(2024)``.  The generator only uses
uniform draws, integer/float arithmetic and ``datetime`` arithmetic (no
``math``/libm calls such as log or exp), so the rows are identical on every
machine and Python version that keeps ``random.Random``'s seeding stable.
All dates fall between 2019-01-01 and 2025-12-31; the data is a snapshot
taken on 2025-12-31 at 17:00.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import sys
import tempfile

SEED = 2024
START = dt.date(2019, 1, 1)
END = dt.date(2025, 12, 31)
SNAPSHOT = dt.datetime(2025, 12, 31, 17, 0, 0)

SCHEMA_SQL = """\
CREATE TABLE departments (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    location    TEXT    NOT NULL,
    budget_usd  INTEGER NOT NULL              -- annual technology budget
);

CREATE TABLE employees (
    id             INTEGER PRIMARY KEY,
    first_name     TEXT    NOT NULL,
    last_name      TEXT    NOT NULL,
    email          TEXT    NOT NULL UNIQUE,
    department_id  INTEGER NOT NULL REFERENCES departments(id),
    title          TEXT    NOT NULL,
    hire_date      TEXT    NOT NULL,          -- 'YYYY-MM-DD'
    salary_band    TEXT    NOT NULL,          -- 'B1' (entry) .. 'B6' (director)
    is_active      INTEGER NOT NULL CHECK (is_active IN (0, 1))
);

CREATE TABLE devices (
    id             INTEGER PRIMARY KEY,
    asset_tag      TEXT    NOT NULL UNIQUE,   -- e.g. 'FH-LT-00042'
    type           TEXT    NOT NULL CHECK (type IN ('laptop', 'desktop', 'phone', 'tablet', 'monitor')),
    model          TEXT    NOT NULL,          -- brand first, e.g. 'Dell Latitude 5000'
    purchase_date  TEXT    NOT NULL,          -- 'YYYY-MM-DD'
    cost_usd       REAL    NOT NULL,
    assigned_to    INTEGER REFERENCES employees(id),   -- NULL = not assigned
    status         TEXT    NOT NULL CHECK (status IN ('in_use', 'spare', 'repair', 'retired'))
);

CREATE TABLE software (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    vendor    TEXT NOT NULL,
    category  TEXT NOT NULL
);

CREATE TABLE licenses (
    id             INTEGER PRIMARY KEY,
    software_id    INTEGER NOT NULL REFERENCES software(id),
    employee_id    INTEGER NOT NULL REFERENCES employees(id),
    seat_cost_usd  REAL    NOT NULL,          -- annual cost of this seat
    start_date     TEXT    NOT NULL,          -- 'YYYY-MM-DD'
    end_date       TEXT                       -- NULL = still active
);

CREATE TABLE tickets (
    id           INTEGER PRIMARY KEY,
    opened_by    INTEGER NOT NULL REFERENCES employees(id),
    device_id    INTEGER REFERENCES devices(id),        -- NULL = no device linked
    category     TEXT    NOT NULL CHECK (category IN ('hardware', 'software', 'access', 'network', 'email', 'printer', 'security', 'mobile')),
    priority     TEXT    NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    status       TEXT    NOT NULL CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    opened_at    TEXT    NOT NULL,            -- 'YYYY-MM-DD HH:MM:SS'
    resolved_at  TEXT                         -- NULL while open / in_progress
);

CREATE TABLE purchases (
    id             INTEGER PRIMARY KEY,
    department_id  INTEGER NOT NULL REFERENCES departments(id),
    vendor         TEXT    NOT NULL,
    item           TEXT    NOT NULL,
    amount_usd     REAL    NOT NULL,
    purchased_at   TEXT    NOT NULL           -- 'YYYY-MM-DD'
);

CREATE INDEX idx_employees_department ON employees(department_id);
CREATE INDEX idx_devices_assigned_to ON devices(assigned_to);
CREATE INDEX idx_licenses_employee ON licenses(employee_id);
CREATE INDEX idx_licenses_software ON licenses(software_id);
CREATE INDEX idx_tickets_opened_by ON tickets(opened_by);
CREATE INDEX idx_tickets_device ON tickets(device_id);
CREATE INDEX idx_purchases_department ON purchases(department_id);
"""

_DESCRIPTION = """\
Fernleaf Home IT database (SQLite). Dates are TEXT 'YYYY-MM-DD' (tickets: 'YYYY-MM-DD HH:MM:SS'), 2019-01-01 to 2025-12-31.

departments(id, name, location, budget_usd)
  name e.g. 'Sales', 'Engineering', 'Warehouse & Logistics'; location is a city ('Portland', 'Austin', 'Columbus', 'Reno'); budget_usd = annual technology budget.

employees(id, first_name, last_name, email, department_id -> departments.id, title, hire_date, salary_band, is_active)
  salary_band 'B1' (entry) to 'B6' (director); is_active 1 = current employee, 0 = former.

devices(id, asset_tag, type, model, purchase_date, cost_usd, assigned_to -> employees.id, status)
  type: 'laptop', 'desktop', 'phone', 'tablet', 'monitor'; model starts with the brand (e.g. 'Dell Latitude 5000'); assigned_to is NULL when nobody has the device; status: 'in_use', 'spare', 'repair', 'retired'.

software(id, name, vendor, category)
  e.g. 'Microsoft 365' by 'Microsoft', category 'productivity'.

licenses(id, software_id -> software.id, employee_id -> employees.id, seat_cost_usd, start_date, end_date)
  One seat per row; seat_cost_usd is the annual cost; end_date NULL = license still active.

tickets(id, opened_by -> employees.id, device_id -> devices.id, category, priority, status, opened_at, resolved_at)
  category: 'hardware', 'software', 'access', 'network', 'email', 'printer', 'security', 'mobile'; priority: 'low', 'medium', 'high', 'critical'; status: 'open', 'in_progress', 'resolved', 'closed'; device_id NULL = no device linked; resolved_at NULL = not resolved yet.

purchases(id, department_id -> departments.id, vendor, item, amount_usd, purchased_at)
  Technology purchases charged to a department (vendor e.g. 'Dell', 'CDW', 'Apple').
"""


def schema_description() -> str:
    """A compact, human-readable description of every table and column."""
    return _DESCRIPTION


# --------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------

# name, location, headcount, budget per head (USD)
DEPARTMENTS = [
    ("Warehouse & Logistics", "Reno", 230, 1100),
    ("Customer Support", "Columbus", 190, 1500),
    ("Sales", "Austin", 170, 1600),
    ("Engineering", "Portland", 140, 3800),
    ("Store Operations", "Austin", 95, 1000),
    ("Marketing", "Portland", 75, 1900),
    ("Design", "Portland", 60, 3000),
    ("Finance", "Columbus", 55, 2600),
    ("Product", "Portland", 50, 2500),
    ("IT", "Columbus", 45, 11000),
    ("Human Resources", "Columbus", 40, 1400),
    ("Procurement", "Reno", 30, 1700),
    ("Legal", "Portland", 20, 2200),
]

# title, salary band, weight.  Every department also gets one director (B6).
TITLES = {
    "Warehouse & Logistics": [("Warehouse Associate", "B1", 62), ("Forklift Operator", "B1", 12),
                              ("Inventory Specialist", "B2", 13), ("Shift Supervisor", "B3", 9),
                              ("Logistics Manager", "B4", 3)],
    "Customer Support": [("Support Associate", "B1", 58), ("Senior Support Associate", "B2", 26),
                         ("Support Team Lead", "B3", 11), ("Support Manager", "B4", 4)],
    "Sales": [("Sales Representative", "B2", 48), ("Account Executive", "B3", 31),
              ("Senior Account Executive", "B4", 13), ("Sales Manager", "B4", 6)],
    "Engineering": [("Software Engineer", "B3", 40), ("Senior Software Engineer", "B4", 27),
                    ("QA Engineer", "B2", 11), ("DevOps Engineer", "B3", 9),
                    ("Staff Engineer", "B5", 6), ("Engineering Manager", "B5", 6)],
    "Store Operations": [("Store Associate", "B1", 55), ("Visual Merchandiser", "B2", 14),
                         ("Store Manager", "B3", 21), ("Regional Manager", "B4", 6)],
    "Marketing": [("Marketing Specialist", "B2", 40), ("Content Writer", "B2", 20),
                  ("SEO Analyst", "B3", 13), ("Marketing Manager", "B4", 14)],
    "Design": [("Product Designer", "B3", 44), ("Senior Product Designer", "B4", 25),
               ("UX Researcher", "B3", 20), ("Design Manager", "B5", 8)],
    "Finance": [("Accountant", "B3", 38), ("Financial Analyst", "B3", 31), ("Payroll Specialist", "B2", 12),
                ("Finance Manager", "B4", 10), ("Controller", "B5", 4)],
    "Product": [("Product Manager", "B4", 48), ("Product Analyst", "B3", 32),
                ("Senior Product Manager", "B5", 15)],
    "IT": [("IT Support Technician", "B2", 40), ("Systems Administrator", "B3", 25),
           ("Network Engineer", "B3", 14), ("Security Analyst", "B4", 12), ("IT Manager", "B5", 5)],
    "Human Resources": [("HR Generalist", "B2", 40), ("Recruiter", "B2", 30),
                        ("HR Business Partner", "B4", 15), ("HR Manager", "B4", 8)],
    "Procurement": [("Buyer", "B2", 45), ("Procurement Specialist", "B3", 35),
                    ("Procurement Manager", "B4", 12)],
    "Legal": [("Paralegal", "B2", 40), ("Corporate Counsel", "B5", 35), ("Contracts Manager", "B4", 20)],
}

FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Steven", "Emily",
    "Andrew", "Michelle", "Kevin", "Amanda", "Brian", "Melissa", "Luis", "Stephanie", "Priya", "Rebecca",
    "Jason", "Laura", "Ryan", "Hannah", "Jacob", "Olivia", "Ethan", "Sofia", "Noah", "Chloe",
    "Wei", "Mei", "Arjun", "Ananya", "Diego", "Lucia", "Omar", "Fatima", "Kenji", "Yuki",
    "Tyler", "Grace", "Marcus", "Naomi", "Samuel", "Zoe", "Owen", "Maya", "Elijah", "Aisha",
]

LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Patel", "Chen", "Kim", "Singh", "Wang", "Khan", "Tanaka", "Ali", "Cohen", "Novak",
    "Fischer", "Larsen", "Rossi", "Silva", "Murphy", "Kelly", "Price", "Bennett", "Wood", "Brooks",
    "Hughes", "Foster", "Russell", "Reyes", "Ortiz", "Morales", "Bailey", "Cooper", "Howard", "Ward",
]

# hiring by year (the company moved its records into this system in 2019)
HIRE_YEAR_WEIGHTS = [(2019, 27), (2020, 8), (2021, 14), (2022, 16), (2023, 13), (2024, 12), (2025, 10)]

# device catalog: type -> [(model, list price)]
MODELS = {
    "laptop": [("Dell Latitude 5000", 1350), ("Lenovo ThinkPad T14", 1450), ("HP EliteBook 840", 1400),
               ("Apple MacBook Air 13", 1300), ("Apple MacBook Pro 14", 2300)],
    "desktop": [("Dell OptiPlex 7000", 950), ("HP ProDesk 400", 820), ("Lenovo ThinkCentre M70q", 780),
                ("Apple iMac 24", 1650)],
    "phone": [("Apple iPhone", 950), ("Apple iPhone SE", 480), ("Samsung Galaxy S", 880), ("Google Pixel", 700)],
    "tablet": [("Apple iPad", 450), ("Apple iPad Air", 650), ("Samsung Galaxy Tab Active", 560),
               ("Microsoft Surface Go", 600)],
    "monitor": [("Dell P2422H", 230), ("Dell U2723QE", 580), ("LG 27UK850", 420), ("HP E24 G5", 210)],
}
TAG_PREFIX = {"laptop": "LT", "desktop": "DT", "phone": "PH", "tablet": "TB", "monitor": "MN"}
LIFETIME_DAYS = {"laptop": (1260, 1500), "desktop": (1600, 1900), "phone": (880, 1150),
                 "tablet": (1100, 1400), "monitor": (2000, 2400)}

# (name, vendor, category, list price per seat per year, adopted on)
SOFTWARE = [
    ("Microsoft 365", "Microsoft", "productivity", 264, "2019-01-01"),
    ("Power BI Pro", "Microsoft", "analytics", 120, "2019-06-01"),
    ("Visio", "Microsoft", "productivity", 180, "2019-01-01"),
    ("Zoom Workplace", "Zoom", "communication", 180, "2019-01-01"),
    ("Salesforce Sales Cloud", "Salesforce", "crm", 1800, "2019-01-01"),
    ("Tableau Creator", "Salesforce", "analytics", 900, "2020-09-01"),
    ("Zendesk Suite", "Zendesk", "customer_service", 1380, "2019-01-01"),
    ("Adobe Creative Cloud", "Adobe", "design", 1000, "2019-01-01"),
    ("Adobe Acrobat Pro", "Adobe", "productivity", 240, "2019-01-01"),
    ("Figma", "Figma", "design", 540, "2020-03-01"),
    ("GitHub Enterprise", "GitHub", "development", 252, "2019-01-01"),
    ("JetBrains All Products", "JetBrains", "development", 290, "2019-01-01"),
    ("Jira Software", "Atlassian", "project_management", 97, "2019-01-01"),
    ("Confluence", "Atlassian", "collaboration", 72, "2019-01-01"),
    ("NetSuite", "Oracle", "finance", 1200, "2019-01-01"),
    ("Workday HCM", "Workday", "hr", 1100, "2021-01-01"),
    ("DocuSign eSignature", "DocuSign", "productivity", 480, "2019-01-01"),
    ("1Password Business", "1Password", "security", 96, "2020-01-01"),
    ("ServiceNow ITSM", "ServiceNow", "it_management", 1200, "2019-01-01"),
    ("Manhattan WMS", "Manhattan Associates", "logistics", 1500, "2019-01-01"),
    ("Ironclad", "Ironclad", "legal", 1300, "2022-01-01"),
    ("Slack Business+", "Salesforce", "communication", 150, "2023-04-01"),
]

# department -> [(software name, probability that an employee gets a seat)]
SEATS = {
    "Warehouse & Logistics": [("Manhattan WMS", 0.30)],
    "Customer Support": [("Zendesk Suite", 0.95), ("Zoom Workplace", 0.10)],
    "Sales": [("Salesforce Sales Cloud", 0.95), ("Zoom Workplace", 0.80), ("DocuSign eSignature", 0.35),
              ("Slack Business+", 0.30)],
    "Engineering": [("GitHub Enterprise", 0.96), ("JetBrains All Products", 0.55), ("Jira Software", 0.90),
                    ("Confluence", 0.70), ("1Password Business", 0.80), ("Slack Business+", 0.85)],
    "Store Operations": [("Power BI Pro", 0.15), ("Zoom Workplace", 0.15)],
    "Marketing": [("Adobe Creative Cloud", 0.40), ("Figma", 0.20), ("Tableau Creator", 0.20),
                  ("Zoom Workplace", 0.40), ("Slack Business+", 0.50)],
    "Design": [("Figma", 0.92), ("Adobe Creative Cloud", 0.85), ("Jira Software", 0.50), ("Slack Business+", 0.80)],
    "Finance": [("NetSuite", 0.80), ("Power BI Pro", 0.50), ("Adobe Acrobat Pro", 0.40), ("Visio", 0.10)],
    "Product": [("Jira Software", 0.95), ("Confluence", 0.90), ("Figma", 0.45), ("Tableau Creator", 0.30),
                ("Slack Business+", 0.85)],
    "IT": [("ServiceNow ITSM", 0.92), ("1Password Business", 1.00), ("Jira Software", 0.40), ("Visio", 0.35),
           ("Slack Business+", 0.70)],
    "Human Resources": [("Workday HCM", 0.90), ("DocuSign eSignature", 0.50), ("Zoom Workplace", 0.60)],
    "Procurement": [("NetSuite", 0.60), ("DocuSign eSignature", 0.50), ("Adobe Acrobat Pro", 0.30)],
    "Legal": [("Ironclad", 0.90), ("Adobe Acrobat Pro", 0.90), ("DocuSign eSignature", 0.60)],
}

# purchase catalog: (vendor, item, low, high, departments or None = any)
PURCHASE_ITEMS = [
    ("Dell", "Laptops (bulk order)", 6000, 60000, None),
    ("Lenovo", "Laptops (bulk order)", 6000, 55000, None),
    ("HP", "Desktops", 3000, 30000, ["Customer Support", "Finance", "Warehouse & Logistics", "Procurement"]),
    ("Apple", "MacBook Pro laptops", 9000, 70000, ["Engineering", "Design", "Product"]),
    ("Apple", "iPhones", 2500, 25000, ["Sales", "IT", "Store Operations", "Legal"]),
    ("Dell", "Monitors", 1500, 15000, None),
    ("CDW", "Docking stations", 800, 9000, None),
    ("CDW", "Keyboards and mice", 250, 3000, None),
    ("Logitech", "Headsets", 400, 7000, ["Customer Support", "Sales", "IT"]),
    ("Staples", "Printer supplies", 150, 2500, None),
    ("Cisco", "Network switches", 5000, 45000, ["IT"]),
    ("Cisco", "Wi-Fi access points", 3000, 30000, ["IT", "Warehouse & Logistics"]),
    ("Zebra", "Barcode scanners", 2000, 28000, ["Warehouse & Logistics", "Store Operations"]),
    ("Samsung", "Rugged tablets", 3000, 30000, ["Warehouse & Logistics", "Store Operations"]),
    ("Amazon Web Services", "Cloud hosting", 5000, 65000, ["Engineering", "IT"]),
    ("Microsoft", "Software subscription renewal", 2000, 40000, None),
    ("Adobe", "Creative Cloud renewal", 3000, 30000, ["Design", "Marketing"]),
    ("Poly", "Conference room AV", 2500, 22000, None),
    ("Accenture", "Consulting services", 15000, 120000, ["IT", "Finance", "Engineering"]),
]


# --------------------------------------------------------------------------
# Helpers (uniform draws and arithmetic only)
# --------------------------------------------------------------------------

def _day(rng: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    if hi <= lo:
        return lo
    return lo + dt.timedelta(days=rng.randint(0, (hi - lo).days))


def _weekday(d: dt.date, limit: dt.date) -> dt.date:
    """Move a Saturday/Sunday to the following Monday (unless past limit)."""
    wd = d.weekday()
    if wd >= 5:
        m = d + dt.timedelta(days=7 - wd)
        if m <= limit:
            return m
    return d


def _skew(rng: random.Random, lo: float, hi: float, power: int = 2) -> float:
    """A value in [lo, hi] that is more often near lo (u**power)."""
    u = rng.random()
    p = 1.0
    for _ in range(power):
        p *= u
    return lo + (hi - lo) * p


def _pick(rng: random.Random, pairs):
    """Choose from [(value, weight), ...]."""
    return rng.choices([v for v, _ in pairs], weights=[w for _, w in pairs], k=1)[0]


def _iso(d: dt.date) -> str:
    return d.isoformat()


# --------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------

def _make_departments(rng):
    rows = []
    for i, (name, loc, head, per_head) in enumerate(DEPARTMENTS, start=1):
        budget = int(head * per_head * rng.uniform(0.9, 1.1) / 5000 + 0.5) * 5000
        rows.append((i, name, loc, budget))
    return rows


def _make_employees(rng):
    emps = []          # dicts, kept for the later generators
    used_emails = {}
    dept_ids = {name: i for i, (name, *_rest) in enumerate(DEPARTMENTS, start=1)}
    for name, _loc, head, _pb in DEPARTMENTS:
        titles = TITLES[name]
        for k in range(head):
            first = rng.choice(FIRST_NAMES)
            last = rng.choice(LAST_NAMES)
            base = f"{first}.{last}".lower()
            n = used_emails.get(base, 0) + 1
            used_emails[base] = n
            email = f"{base}@fernleafhome.com" if n == 1 else f"{base}{n}@fernleafhome.com"
            if k == 0:
                title, band = f"Director of {name}", "B6"
                hire = _day(rng, START, dt.date(2019, 3, 31))
            else:
                title, band, _w = rng.choices(titles, weights=[t[2] for t in titles], k=1)[0]
                year = _pick(rng, HIRE_YEAR_WEIGHTS)
                hire = _day(rng, dt.date(year, 1, 1), dt.date(year, 12, 31))
            hire = _weekday(hire, END)
            # turnover: earlier hires and frontline teams leave more often
            p_leave = 0.03 + 0.022 * (2025 - hire.year)
            if name in ("Warehouse & Logistics", "Store Operations", "Customer Support"):
                p_leave += 0.06
            left_on = None
            if k > 0 and (END - hire).days > 120 and rng.random() < p_leave:
                left_on = _day(rng, hire + dt.timedelta(days=90), END - dt.timedelta(days=10))
            emps.append({
                "first": first, "last": last, "email": email, "dept": name,
                "dept_id": dept_ids[name], "title": title, "hire": hire, "band": band,
                "left_on": left_on,
            })
    # ids in hiring order, like a real HR system
    emps.sort(key=lambda e: (e["hire"], e["email"]))
    for i, e in enumerate(emps, start=1):
        e["id"] = i
    return emps


def _choose_model(rng, dtype, dept):
    models = MODELS[dtype]
    weights = [1.0] * len(models)
    for i, (m, _p) in enumerate(models):
        if dept in ("Engineering", "Design", "Product") and m.startswith("Apple MacBook Pro"):
            weights[i] = 6.0
        if dept == "Design" and m == "Apple iMac 24":
            weights[i] = 8.0
        if dept != "Design" and m == "Apple iMac 24":
            weights[i] = 0.05
        if dept in ("Warehouse & Logistics", "Store Operations") and m == "Samsung Galaxy Tab Active":
            weights[i] = 6.0
        if m.startswith("Dell"):
            weights[i] *= 1.6          # Dell is the preferred PC vendor
        if m == "Apple iPhone":
            weights[i] *= 2.0
    idx = rng.choices(range(len(models)), weights=weights, k=1)[0]
    return models[idx]


def _price(rng, list_price, when: dt.date):
    drift = 1.0 + 0.015 * (when.year - 2019)   # prices creep up a little each year
    return round(list_price * drift * rng.uniform(0.88, 1.06), 2)


PRIMARY = {
    "Warehouse & Logistics": [("laptop", 12), ("desktop", 20), ("tablet", 38), (None, 30)],
    "Store Operations": [("laptop", 25), ("desktop", 14), ("tablet", 36), (None, 25)],
    "Customer Support": [("laptop", 45), ("desktop", 55)],
    "Finance": [("laptop", 70), ("desktop", 30)],
    "Procurement": [("laptop", 75), ("desktop", 25)],
    "Design": [("laptop", 80), ("desktop", 20)],
}
PHONE_P = {"Sales": 0.85, "IT": 0.70, "Store Operations": 0.45, "Legal": 0.50, "Customer Support": 0.20,
           "Warehouse & Logistics": 0.10}
MONITORS = {  # (p one monitor, p two monitors)
    "Engineering": (0.50, 0.35), "Design": (0.40, 0.50), "Product": (0.50, 0.25), "Finance": (0.50, 0.30),
    "Warehouse & Logistics": (0.20, 0.0), "Store Operations": (0.15, 0.0),
}


def _make_devices(rng, emps):
    devs = []  # dicts: type, model, purchase, retire, cost, owner, status, assigned
    for e in emps:
        service_end = e["left_on"] or END
        if (END - e["hire"]).days < 12:
            continue                       # brand-new hire: not provisioned yet
        kinds = []
        primary = _pick(rng, PRIMARY.get(e["dept"], [("laptop", 97), ("desktop", 3)]))
        if primary:
            kinds.append(primary)
        p_phone = 0.90 if e["band"] in ("B5", "B6") else PHONE_P.get(e["dept"], 0.18)
        if rng.random() < p_phone:
            kinds.append("phone")
        if primary in ("laptop", "desktop"):
            p1, p2 = MONITORS.get(e["dept"], (0.40, 0.05))
            if primary == "desktop":
                p1, p2 = max(p1, 1.0 - p2), p2
            u = rng.random()
            n_mon = 2 if u < p2 else (1 if u < p1 + p2 else 0)
            kinds.extend(["monitor"] * n_mon)
        for dtype in kinds:
            lo_life, hi_life = LIFETIME_DAYS[dtype]
            bought = max(START, e["hire"] - dt.timedelta(days=rng.randint(2, 25)))
            if dtype == "phone" and rng.random() < 0.25:
                bought = min(service_end, bought + dt.timedelta(days=rng.randint(30, 400)))
            model, price = _choose_model(rng, dtype, e["dept"])
            while True:
                life = rng.randint(lo_life, hi_life)
                nxt = bought + dt.timedelta(days=life)
                dev = {"type": dtype, "model": model, "purchase": bought,
                       "cost": _price(rng, price, bought), "owner": e["id"]}
                devs.append(dev)
                if nxt <= service_end:
                    dev.update(retire=nxt, status="retired", assigned=None)
                    bought = nxt
                    if rng.random() < 0.35:   # refresh sometimes switches model
                        model, price = _choose_model(rng, dtype, e["dept"])
                    continue
                if e["left_on"] is None:
                    status = "repair" if rng.random() < 0.035 else "in_use"
                    dev.update(retire=None, status=status, assigned=e["id"])
                else:
                    young = (e["left_on"] - bought).days < 900
                    status = "spare" if (young and rng.random() < 0.6) else "retired"
                    dev.update(retire=e["left_on"], status=status, assigned=None)
                break
    # IT stock: spares and loaners bought in bulk recently
    for dtype, n in (("laptop", 28), ("desktop", 6), ("phone", 12), ("tablet", 8), ("monitor", 20)):
        for _ in range(n):
            bought = _weekday(_day(rng, dt.date(2024, 6, 1), dt.date(2025, 12, 15)), END)
            model, price = _choose_model(rng, dtype, "IT")
            status = "repair" if rng.random() < 0.12 else "spare"
            devs.append({"type": dtype, "model": model, "purchase": bought, "cost": _price(rng, price, bought),
                         "owner": None, "retire": None, "status": status, "assigned": None})
    devs.sort(key=lambda d: (d["purchase"], d["type"], d["owner"] or 0))
    counters = {t: 0 for t in TAG_PREFIX}
    for i, d in enumerate(devs, start=1):
        d["id"] = i
        counters[d["type"]] += 1
        d["tag"] = f"FH-{TAG_PREFIX[d['type']]}-{counters[d['type']]:05d}"
    return devs


def _make_software():
    return [(i, n, v, c) for i, (n, v, c, _p, _a) in enumerate(SOFTWARE, start=1)]


def _make_licenses(rng, emps):
    sw = {n: (i, price, dt.date.fromisoformat(adopt))
          for i, (n, _v, _c, price, adopt) in enumerate(SOFTWARE, start=1)}
    rows = []
    for e in emps:
        service_end = e["left_on"] or END
        wanted = []
        p_m365 = 0.55 if e["dept"] in ("Warehouse & Logistics", "Store Operations") else 1.0
        if rng.random() < p_m365:
            wanted.append("Microsoft 365")
        for name, p in SEATS[e["dept"]]:
            if e["band"] in ("B5", "B6"):
                p = min(1.0, p + 0.2)
            if rng.random() < p:
                wanted.append(name)
        for name in wanted:
            sid, price, adopted = sw[name]
            start = max(e["hire"] + dt.timedelta(days=rng.randint(0, 6)), adopted + dt.timedelta(days=rng.randint(0, 45)))
            if start >= service_end:
                continue
            end = None
            if e["left_on"] is not None:
                end = e["left_on"]
            elif name == "Zoom Workplace" and start.year <= 2024 and rng.random() < 0.65:
                # most Zoom seats were dropped in 2024 when the company moved meetings to Teams
                end = max(start + dt.timedelta(days=30), _day(rng, dt.date(2024, 3, 1), dt.date(2024, 9, 30)))
            elif rng.random() < 0.06:
                end = _day(rng, start + dt.timedelta(days=60), END)
            if end is not None and end > END:
                end = None
            cost = round(price * (1.0 + 0.03 * (start.year - 2019)) * rng.uniform(0.78, 1.0), 2)
            rows.append([sid, e["id"], cost, _iso(start), _iso(end) if end else None])
    rows.sort(key=lambda r: (r[3], r[1], r[0]))
    return [(i, *r) for i, r in enumerate(rows, start=1)]


CATEGORY_WEIGHTS = [("hardware", 22), ("software", 25), ("access", 18), ("network", 10), ("email", 8),
                    ("printer", 7), ("security", 5), ("mobile", 5)]
PRIORITY_WEIGHTS = {
    "security": [("low", 8), ("medium", 27), ("high", 42), ("critical", 23)],
    "access": [("low", 30), ("medium", 45), ("high", 20), ("critical", 5)],
    "network": [("low", 20), ("medium", 40), ("high", 28), ("critical", 12)],
    "default": [("low", 36), ("medium", 42), ("high", 17), ("critical", 5)],
}
RESOLVE_HOURS = {"critical": 5.0, "high": 18.0, "medium": 42.0, "low": 96.0}
HOUR_WEIGHTS = [(7, 2), (8, 8), (9, 14), (10, 14), (11, 12), (12, 7), (13, 10), (14, 11), (15, 10),
                (16, 8), (17, 4), (18, 2), (20, 1), (22, 1)]
TICKET_RATE = {"IT": 0.4, "Engineering": 0.8, "Customer Support": 1.3, "Sales": 1.2, "Legal": 1.1,
               "Warehouse & Logistics": 0.7, "Store Operations": 0.9}
N_TICKETS = 2200


def _opened_at(rng, lo: dt.date, hi: dt.date) -> dt.datetime:
    d = _day(rng, lo, hi)
    if d.weekday() >= 5 and rng.random() < 0.8:
        d = _weekday(d, hi)
    hour = _pick(rng, HOUR_WEIGHTS)
    t = dt.datetime(d.year, d.month, d.day, hour, rng.randint(0, 59), rng.randint(0, 59))
    return min(t, SNAPSHOT - dt.timedelta(minutes=rng.randint(5, 300)))


def _resolution(rng, priority, opened: dt.datetime):
    """Return (status, resolved_at or None)."""
    hours = RESOLVE_HOURS[priority] * (0.08 + 3.0 * rng.random() * rng.random() * rng.random())
    resolved = opened + dt.timedelta(seconds=int(hours * 3600) + rng.randint(60, 900))
    stale = rng.random() < 0.02
    if resolved > SNAPSHOT or stale:
        return ("in_progress" if rng.random() < 0.55 else "open"), None
    if (SNAPSHOT - resolved).days < 7:
        return "resolved", resolved
    return ("closed" if rng.random() < 0.92 else "resolved"), resolved


def _fmt(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def _make_tickets(rng, emps, devs):
    by_owner = {}
    for d in devs:
        if d["owner"] is not None:
            by_owner.setdefault(d["owner"], []).append(d)
    windows, weights = [], []
    for e in emps:
        lo, hi = e["hire"], (e["left_on"] or END)
        days = (hi - lo).days
        if days < 5:
            continue
        u = rng.random()
        heavy = 0.35 + 5.0 * u * u * u * u       # a few people file many tickets
        windows.append((e, lo, hi))
        weights.append(days * heavy * TICKET_RATE.get(e["dept"], 1.0))
    rows = []
    # every device currently in repair has a recent hardware ticket
    for d in devs:
        if d["status"] == "repair" and d["assigned"] is not None:
            opened = _opened_at(rng, END - dt.timedelta(days=25), END)
            pr = _pick(rng, [("medium", 5), ("high", 4), ("critical", 1)])
            rows.append([d["assigned"], d["id"], "hardware", pr, "in_progress", _fmt(opened), None])
    picks = rng.choices(windows, weights=weights, k=N_TICKETS - len(rows))
    for e, lo, hi in picks:
        opened = _opened_at(rng, lo, hi)
        cat = _pick(rng, CATEGORY_WEIGHTS)
        pr = _pick(rng, PRIORITY_WEIGHTS.get(cat, PRIORITY_WEIGHTS["default"]))
        device_id = None
        p_link = {"hardware": 0.92, "mobile": 0.85, "software": 0.25, "network": 0.10}.get(cat, 0.03)
        if rng.random() < p_link:
            day = opened.date()
            live = [d for d in by_owner.get(e["id"], [])
                    if d["purchase"] <= day and (d["retire"] is None or d["retire"] > day)]
            if cat == "mobile":
                live = [d for d in live if d["type"] in ("phone", "tablet")]
            elif cat == "hardware":
                live = [d for d in live if d["type"] != "phone"] or live
            if live:
                device_id = rng.choice(live)["id"]
        status, resolved = _resolution(rng, pr, opened)
        rows.append([e["id"], device_id, cat, pr, status, _fmt(opened), _fmt(resolved) if resolved else None])
    rows.sort(key=lambda r: (r[5], r[0]))
    return [(i, *r) for i, r in enumerate(rows, start=1)]


def _make_purchases(rng, emps):
    dept_ids = {name: i for i, (name, *_r) in enumerate(DEPARTMENTS, start=1)}
    rows = []
    for year in range(2019, 2026):
        y0, y1 = dt.date(year, 1, 1), dt.date(year, 12, 31)
        for name, *_r in DEPARTMENTS:
            hc = sum(1 for e in emps if e["dept"] == name and e["hire"] <= y1
                     and (e["left_on"] is None or e["left_on"] >= y0))
            n = int(hc / 14 + rng.uniform(0.0, 2.5))
            if name == "IT":
                n = n * 2 + 8
            items = [it for it in PURCHASE_ITEMS if it[4] is None or name in it[4]]
            weights = [3.0 if it[4] is not None else 1.0 for it in items]
            for _ in range(n):
                vendor, item, lo, hi, _d = rng.choices(items, weights=weights, k=1)[0]
                if rng.random() < 0.3:  # end-of-quarter buying
                    m = rng.choice((3, 6, 9, 12))
                    last = (dt.date(year + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1))
                    when = _day(rng, dt.date(year, m, 1), last)
                else:
                    when = _day(rng, y0, y1)
                when = _weekday(when, END)
                amount = round(_skew(rng, lo, hi, 2) * (1.0 + 0.02 * (year - 2019)), 2)
                rows.append([dept_ids[name], vendor, item, amount, _iso(when)])
    rows.sort(key=lambda r: (r[4], r[0], r[1]))
    return [(i, *r) for i, r in enumerate(rows, start=1)]


# --------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------

def build_database(path) -> None:
    """Write the Fernleaf Home IT database to ``path`` (atomically replaced)."""
    path = os.fspath(path)
    rng = random.Random(SEED)
    departments = _make_departments(rng)
    emps = _make_employees(rng)
    devs = _make_devices(rng, emps)
    software = _make_software()
    licenses = _make_licenses(rng, emps)
    tickets = _make_tickets(rng, emps, devs)
    purchases = _make_purchases(rng, emps)

    employees = [(e["id"], e["first"], e["last"], e["email"], e["dept_id"], e["title"], _iso(e["hire"]),
                  e["band"], 0 if e["left_on"] else 1) for e in emps]
    devices = [(d["id"], d["tag"], d["type"], d["model"], _iso(d["purchase"]), d["cost"], d["assigned"],
                d["status"]) for d in devs]

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".itdb-", suffix=".sqlite", dir=directory)
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA foreign_keys = ON")
            con.executescript(SCHEMA_SQL)
            con.executemany("INSERT INTO departments VALUES (?,?,?,?)", departments)
            con.executemany("INSERT INTO employees VALUES (?,?,?,?,?,?,?,?,?)", employees)
            con.executemany("INSERT INTO devices VALUES (?,?,?,?,?,?,?,?)", devices)
            con.executemany("INSERT INTO software VALUES (?,?,?,?)", software)
            con.executemany("INSERT INTO licenses VALUES (?,?,?,?,?,?)", licenses)
            con.executemany("INSERT INTO tickets VALUES (?,?,?,?,?,?,?,?)", tickets)
            con.executemany("INSERT INTO purchases VALUES (?,?,?,?,?,?)", purchases)
            con.commit()
            con.execute("VACUUM")
        finally:
            con.close()
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)   # mkstemp creates 0600; use normal file permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python build_db.py OUT.sqlite", file=sys.stderr)
        return 2
    build_database(argv[0])
    con = sqlite3.connect(argv[0])
    try:
        for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid"):
            n = con.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
            print(f"{name:12s} {n:6d}")
    finally:
        con.close()
    print(f"wrote {argv[0]} ({os.path.getsize(argv[0]):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
