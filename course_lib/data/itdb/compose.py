"""Compositional question -> SQL pairs for the Fernleaf Home IT database.

``make_pairs.py`` writes each question from a fixed template (one SQL shape, four
sentences).  A small model trained only on those learns the template shapes, not
what the words mean.  This module builds a question out of independent pieces
instead, so that the same piece of English always maps to the same piece of SQL:

    question = frame( measure , noun phrase( noun , filters ) , grouping )
    SQL      = SELECT measure FROM table [JOIN ...] WHERE filters [GROUP BY ...]

* a **noun** names the rows ("devices", "pieces of equipment", "assets");
* a **filter** is one SQL condition plus several English wordings, either an
  adjective before the noun ("spare laptops"), a clause after it ("laptops out
  for repair") or a replacement of the noun itself ("notebooks" = type 'laptop');
* a **measure** is what is asked for (count, average, total, list, ...) with
  several question frames ("How many {np} are there?", "number of {np}", ...);
* a **grouping** ("by type", "for each category") or a **ranking** ("the 3
  most expensive", "which department has the most") is optional.

Each question uses 0, 1 or 2 filters, picked at random (``rng`` only), and a
pair is kept only when its SQL runs and returns a sensible result.  The data
tables below (one block per database table) hold every wording; the function
``_compose_one`` puts the pieces together and ``composed_pairs`` is the entry
point.  Run ``python compose.py`` to print counts and samples.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import make_pairs  # noqa: E402  (ALIASES, _run, _norm)

YEARS = [str(y) for y in range(2019, 2026)]
MONTHS = make_pairs.MONTHS
LIST_MAX_ROWS = 60


# --------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------
# SQL snippets use "{a}" for the main table's column prefix: "" in a
# single-table query, "dv." (the table alias) once a JOIN is present.

@dataclass
class Filter:
    group: str                     # filters of one group exclude each other (e.g. all device statuses)
    cond: str                      # SQL condition, e.g. "{a}status = 'repair'"
    pre: list = field(default_factory=list)    # adjective before the noun: "spare"
    post: list = field(default_factory=list)   # clause after the noun: "out for repair"
    noun: list = field(default_factory=list)   # (plural, singular) replacing the noun: ("notebooks", "notebook")
    join: str = ""                 # key into the table's JOINS when the condition needs another table
    alts: dict = field(default_factory=dict)   # placeholder -> alternatives, e.g. {"m": ["$50k", "50,000"]}


@dataclass
class Measure:
    kind: str                      # becomes the template id: compose_<table>_<kind>
    select: str                    # SQL select list
    frames: list                   # question frames with {np} / {a_sg} / {sg} and, for groupable ones, {by}
    extra: str = ""                # condition the measure itself needs ("{a}resolved_at IS NOT NULL")
    order: str = ""                # ORDER BY for lists
    max_rows: int | None = None    # list queries: at most this many rows
    weight: float = 1.0


@dataclass
class Group:
    group: str                     # filter group it replaces (no "laptops by type")
    select: str                    # "{a}type" or "strftime('%Y', {a}opened_at) AS year"
    by: str                        # GROUP BY expression
    words: list                    # " by type", " per status", ...
    join: str = ""


@dataclass
class Rank:
    """A ranking question: top rows by a column, or which group value has the most."""
    frames1: list                  # n = 1 ("Which ... has the most {np}?")
    frames_n: list                 # n > 1 (uses {n})
    select1: str                   # select list for n = 1
    select_n: str                  # select list for n > 1
    order: str                     # ORDER BY expression (with DESC / nothing)
    by: str = ""                   # GROUP BY expression when ranking groups
    excludes: tuple = ()           # filter groups that make no sense with this ranking
    join: str = ""
    extra: str = ""


@dataclass
class Lookup:
    """A fact about one named row: "Who makes Figma?" -> SELECT vendor FROM software WHERE name = 'Figma'."""
    frames: list                   # with {x}
    sql: str                       # with {v}
    values: list                   # [(stored value, [ways to write it])]


@dataclass
class Table:
    name: str
    alias: str
    nouns: list                    # [(plural, singular or None)]
    filters: list
    measures: list
    groups: list
    ranks: list
    joins: dict                    # key -> [JOIN clause, ...] (in order)
    lookups: list = field(default_factory=list)
    status_group: str = ""         # employees / licenses: if no filter of this group is used ...
    status_tails: list = field(default_factory=list)   # ... say "(current and former)" explicitly
    kind_weights: dict = field(default_factory=dict)
    alts: dict = field(default_factory=dict)   # placeholders used in this table's frames, e.g. {bud}


# --------------------------------------------------------------------------
# Shared wordings
# --------------------------------------------------------------------------

def money_forms(n: int) -> list:
    """Ways people write an amount: $50,000 / 50,000 dollars / $50k / 50000."""
    forms = [f"${n:,}", f"{n:,} dollars", f"${n}", f"{n}"]
    if n >= 1000 and n % 1000 == 0:
        forms += [f"${n // 1000}k", f"{n // 1000}k"]
    elif n >= 1000 and n % 500 == 0:
        forms += [f"${n / 1000:.1f}k"]
    return forms


def dept_forms(name: str):
    """(bare forms for 'the {x} department', noun-phrase forms for 'in {x}')."""
    bare, np_ = [name], [name]
    if name != "IT":
        bare.append(name.lower())
    for a in make_pairs.ALIASES.get(name, []):
        (np_ if a.startswith("the ") else bare).append(a)
    return bare, sorted(set(np_ + bare), key=(np_ + bare).index)


SW_SHORT = {k: v for k, v in make_pairs.ALIASES.items() if k in {
    "Microsoft 365", "Power BI Pro", "Zoom Workplace", "Tableau Creator", "Zendesk Suite", "Adobe Creative Cloud",
    "Adobe Acrobat Pro", "GitHub Enterprise", "JetBrains All Products", "Jira Software", "Workday HCM",
    "DocuSign eSignature", "1Password Business", "ServiceNow ITSM", "Slack Business+"}}
SW_SHORT["Salesforce Sales Cloud"] = ["Sales Cloud"]   # plain "Salesforce" is also a vendor name


def sw_forms(name: str) -> list:
    return [name] + SW_SHORT.get(name, [])


def dept_filters(wordings: dict, join: str, group: str = "dept") -> list:
    """Department of the row (via a join): 'in Sales', 'charged to the sales team', ...
    `wordings` holds pre/post lists with {dn} (noun phrase: 'the sales team') and {db} (bare name: 'Sales')."""
    return [Filter(group, f"d.name = '{name}'", join=join, alts={"dn": np_, "db": bare}, **wordings)
            for name, bare, np_ in DEPTS]


def cat_txt(c: str) -> str:
    return {"crm": "CRM", "hr": "HR", "it_management": "IT management"}.get(c, c.replace("_", " "))


# filled by _load_values() from the database
DEPTS: list = []


# --------------------------------------------------------------------------
# The seven tables
# --------------------------------------------------------------------------

DEVICE_TYPES = {
    "laptop": [("laptops", "laptop"), ("notebooks", "notebook"), ("laptop computers", "laptop computer")],
    "desktop": [("desktops", "desktop"), ("desktop PCs", "desktop PC"), ("desktop computers", "desktop computer")],
    "phone": [("phones", "phone"), ("mobile phones", "mobile phone"), ("smartphones", "smartphone"),
              ("cell phones", "cell phone"), ("mobiles", "mobile")],
    "tablet": [("tablets", "tablet")],
    "monitor": [("monitors", "monitor"), ("screens", "screen"), ("displays", "display")],
}
DEVICE_STATUS = {   # pre, post
    "in_use": (["in-use", "deployed"], ["in use", "currently in use", "handed out to staff", "deployed to people"]),
    "spare": (["spare"], ["in stock", "on the shelf", "sitting spare", "with status spare"]),
    "repair": ([], ["in repair", "being repaired", "out for repair", "at the repair shop", "broken and being fixed"]),
    "retired": (["retired", "decommissioned"], ["that were retired", "written off", "taken out of service"]),
}
BRANDS = ["Apple", "Dell", "Lenovo", "HP", "Samsung", "Google", "Microsoft", "LG"]


def devices_table() -> Table:
    F = []
    for t, nouns in DEVICE_TYPES.items():
        F.append(Filter("type", f"{{a}}type = '{t}'", noun=nouns))
    for s, (pre, post) in DEVICE_STATUS.items():
        F.append(Filter("status", f"{{a}}status = '{s}'", pre=pre, post=post))
    for b in BRANDS:
        F.append(Filter("brand", f"{{a}}model LIKE '{b}%'", pre=[b], post=[f"made by {b}", f"of the {b} brand"]))
    for y in YEARS:
        F.append(Filter("year", f"strftime('%Y', {{a}}purchase_date) = '{y}'",
                        post=[f"bought in {y}", f"purchased in {y}", f"acquired during {y}"]))
    for y in ("2021", "2023", "2024", "2025"):
        F.append(Filter("year", f"{{a}}purchase_date >= '{y}-01-01'", post=[f"bought since {y}",
                        f"purchased in {y} or later"]))
        F.append(Filter("year", f"{{a}}purchase_date < '{y}-01-01'", post=[f"bought before {y}",
                        f"purchased before {y}"]))
    for n in (500, 1000, 1500, 2000):
        F.append(Filter("cost", f"{{a}}cost_usd > {n}", post=["that cost more than {m}", "costing over {m}",
                        "priced above {m}"], alts={"m": money_forms(n)}))
    for n in (300, 500, 1000):
        F.append(Filter("cost", f"{{a}}cost_usd < {n}", post=["that cost less than {m}", "priced under {m}"],
                        alts={"m": money_forms(n)}))
    F.append(Filter("assigned", "{a}assigned_to IS NULL", pre=["unassigned"],
                    post=["not assigned to anyone", "with no owner", "that nobody has"]))
    F.append(Filter("assigned", "{a}assigned_to IS NOT NULL", pre=["assigned"],
                    post=["assigned to someone", "that someone has"]))
    F += dept_filters({"post": ["assigned to people in {dn}", "assigned to {db} employees", "held by {db} staff"]},
                      "d", group="assigned")
    money = "{a}cost_usd"
    M = [
        Measure("count", "COUNT(*)", [
            "How many {np} are there{by}?", "How many {np} do we have{by}?", "Count the {np}{by}.",
            "number of {np}{by}", "{np}: how many?", "what's the total number of {np}{by}?",
            "give me the count of {np}{by}", "how many {np}{by}"], weight=3),
        Measure("avg", f"ROUND(AVG({money}), 2)", [
            "What's the average cost of {np}{by}?", "average price of {np}{by}", "avg cost for {np}{by}",
            "What is the mean purchase price of {np}{by}?", "What does {a_sg} cost on average?",
            "What's the average price of {a_sg}?", "how much did {np} cost on average{by}"], weight=2),
        Measure("max", f"MAX({money})", [
            "What's the most we paid for {a_sg}?", "highest cost among {np}", "What is the maximum price of {np}?",
            "How much did the priciest {sg} cost?", "max cost of {np}"]),
        Measure("min", f"MIN({money})", [
            "What's the least we paid for {a_sg}?", "lowest cost among {np}", "What is the minimum price of {np}?",
            "How much did the cheapest {sg} cost?", "min cost of {np}"]),
        Measure("sum", f"ROUND(SUM({money}), 2)", [
            "What's the total cost of {np}{by}?", "total value of {np}{by}", "How much did we pay for {np} in total?",
            "sum of what we spent on {np}{by}", "What did {np} cost altogether{by}?"]),
        Measure("list", "{a}asset_tag, {a}model", [
            "List the asset tags and models of {np}.", "which {np} are there? asset tag and model pls",
            "show me {np} (asset tag, model)", "Give the asset tag and model of every one of the {np}."],
            max_rows=LIST_MAX_ROWS),
        Measure("list", "{a}asset_tag, {a}model, {a}cost_usd", [
            "List {np} with asset tag, model and cost.", "show asset tag, model and price for {np}",
            "What are the {np}? Give asset tag, model and cost."], max_rows=LIST_MAX_ROWS),
        Measure("list", "{a}asset_tag", [
            "asset tags of {np}", "Which asset tags belong to {np}?", "List the asset tags of all {np}."],
            max_rows=LIST_MAX_ROWS),
        Measure("distinct", "DISTINCT {a}model", [
            "Which models do we have among {np}?", "list the distinct models of {np}",
            "What different models of {np} are there?", "models of {np}?", "which models are the {np}"],
            max_rows=LIST_MAX_ROWS, weight=1.2),
        Measure("date", "MIN({a}purchase_date)", [
            "When did we buy our first {sg}?", "earliest purchase date of {np}",
            "When was the oldest {sg} purchased?", "first purchase date for {np}"]),
        Measure("date", "MAX({a}purchase_date)", [
            "When did we last buy {a_sg}?", "most recent purchase date of {np}",
            "When was the newest {sg} bought?", "latest purchase date among {np}"]),
    ]
    G = [
        Group("type", "{a}type", "{a}type", [" by type", " per device type", " for each type", " broken down by type",
                                             " split by device type"]),
        Group("status", "{a}status", "{a}status", [" by status", " per status", " for each status",
                                                   " broken down by status"]),
        Group("year", "strftime('%Y', {a}purchase_date) AS year", "year",
              [" by purchase year", " per year bought", " for each year of purchase", " split by year purchased"]),
        Group("model", "{a}model", "{a}model", [" by model", " per model", " for each model"]),
        Group("assigned", "d.name", "d.name", [" by department", " per department", " for each department",
                                               " broken down by the owner's department"], join="d"),
    ]
    R = [
        Rank(["What is the most expensive {sg}? Show asset tag, model and cost.",
              "priciest {sg}: asset tag, model, cost", "Which {sg} cost the most? (asset tag, model, cost)"],
             ["List the {n} most expensive {np} with asset tag, model and cost.", "top {n} {np} by cost",
              "{n} priciest {np}", "Show the {n} costliest {np} (asset tag, model, cost)."],
             "{a}asset_tag, {a}model, {a}cost_usd", "{a}asset_tag, {a}model, {a}cost_usd", "{a}cost_usd DESC"),
        Rank(["What is the cheapest {sg}? Show asset tag, model and cost.", "cheapest {sg}: asset tag, model, cost"],
             ["List the {n} cheapest {np} with asset tag, model and cost.", "{n} least expensive {np}",
              "Show the {n} lowest-cost {np} (asset tag, model, cost)."],
             "{a}asset_tag, {a}model, {a}cost_usd", "{a}asset_tag, {a}model, {a}cost_usd", "{a}cost_usd"),
        Rank(["Which model is most common among {np}?", "most common model of {np}",
              "What's the most frequent model among {np}?"],
             ["top {n} models among {np} by count", "Which {n} models are most common among {np}? With counts."],
             "{a}model", "{a}model, COUNT(*)", "COUNT(*) DESC", by="{a}model"),
        Rank(["Which department has the most {np}?", "department holding the most {np}",
              "Which team has been given the most {np}?"],
             ["top {n} departments by number of {np}", "Which {n} departments hold the most {np}? Include counts."],
             "d.name", "d.name, COUNT(*)", "COUNT(*) DESC", by="d.name", excludes=("assigned",), join="d"),
    ]
    return Table("devices", "dv", [("devices", "device"), ("pieces of equipment", "piece of equipment"),
                                   ("assets", "asset")], F, M, G, R,
                 joins={"d": ["JOIN employees e ON dv.assigned_to = e.id", "JOIN departments d ON e.department_id = d.id"]},
                 kind_weights={"count": 5, "avg": 2.5, "max": 1, "min": 1, "sum": 1.2, "list": 1.5, "distinct": 1,
                               "date": 1, "group": 2.5, "top": 2})


TICKET_CATEGORY = {   # pre, post
    "hardware": (["hardware"], ["about hardware", "for hardware problems", "in the hardware category"]),
    "software": (["software"], ["about software", "for software issues", "in the software category"]),
    "access": (["access"], ["about access", "for access requests", "in the access category"]),
    "network": (["network"], ["about the network", "for network problems", "in the network category"]),
    "email": (["email"], ["about email", "for email problems", "in the email category"]),
    "printer": (["printer", "printer-related"], ["about printers", "for printer problems", "in the printer category"]),
    "security": (["security"], ["about security", "for security issues", "in the security category"]),
    "mobile": (["mobile"], ["in the mobile category", "categorized as mobile"]),
}
TICKET_PRIORITY = {
    "low": (["low-priority", "low priority", "low prio"], ["with low priority", "marked low priority"]),
    "medium": (["medium-priority", "medium priority"], ["with medium priority", "marked medium priority"]),
    "high": (["high-priority", "high priority", "high prio"], ["with high priority", "marked high priority"]),
    "critical": (["critical", "critical-priority"], ["marked critical", "with critical priority"]),
}
TICKET_STATUS = {
    "open": (["open"], ["with status open", "marked open"]),
    "in_progress": (["in-progress"], ["in progress", "being worked on", "with status in progress"]),
    "resolved": ([], ["marked resolved", "with status resolved", "in resolved status"]),
    "closed": (["closed"], ["marked closed", "with status closed"]),
}


def tickets_table() -> Table:
    F = []
    for c, (pre, post) in TICKET_CATEGORY.items():
        F.append(Filter("category", f"{{a}}category = '{c}'", pre=pre, post=post))
    for p, (pre, post) in TICKET_PRIORITY.items():
        F.append(Filter("priority", f"{{a}}priority = '{p}'", pre=pre, post=post))
    for s, (pre, post) in TICKET_STATUS.items():
        F.append(Filter("status", f"{{a}}status = '{s}'", pre=pre, post=post))
    F.append(Filter("status", "{a}resolved_at IS NULL", pre=["unresolved"],
                    post=["not yet resolved", "still unresolved", "without a resolution yet"]))
    F.append(Filter("status", "{a}resolved_at IS NOT NULL", pre=[],
                    post=["that have been resolved", "that got a resolution", "with a resolution date"]))
    for y in YEARS:
        F.append(Filter("when", f"strftime('%Y', {{a}}opened_at) = '{y}'", pre=[y],
                        post=[f"opened in {y}", f"from {y}", f"filed in {y}", f"raised during {y}"]))
    for y in ("2023", "2024", "2025"):
        for m in range(1, 13):
            F.append(Filter("when", f"strftime('%Y-%m', {{a}}opened_at) = '{y}-{m:02d}'",
                            post=[f"opened in {MONTHS[m - 1]} {y}", f"from {MONTHS[m - 1][:3]} {y}",
                                  f"filed during {MONTHS[m - 1]} {y}"]))
    F.append(Filter("weekday", "strftime('%w', {a}opened_at) IN ('0', '6')", pre=["weekend"],
                    post=["opened on a weekend", "filed on Saturdays or Sundays", "opened on weekends"]))
    F.append(Filter("device", "{a}device_id IS NULL", post=["with no device linked", "not tied to any device"]))
    F.append(Filter("device", "{a}device_id IS NOT NULL", post=["linked to a device", "tied to a specific device"]))
    F += dept_filters({"pre": ["{db}"], "post": ["from {dn}", "opened by people in {dn}", "raised by {db} staff",
                                                 "filed by {db} employees"]}, "d")
    days = "ROUND(AVG(julianday({a}resolved_at) - julianday({a}opened_at)), 2)"
    hours = "ROUND(AVG((julianday({a}resolved_at) - julianday({a}opened_at)) * 24), 2)"
    M = [
        Measure("count", "COUNT(*)", [
            "How many {np} are there{by}?", "How many {np} do we have{by}?", "Count the {np}{by}.",
            "number of {np}{by}", "{np}: how many?", "total {np}{by}?", "how many {np}{by}",
            "give me a count of {np}{by}"], weight=3),
        Measure("avg", days, [
            "How long does it take to resolve {np}, on average, in days{by}?",
            "average resolution time in days for {np}{by}", "avg days to resolve {np}{by}",
            "What's the mean number of days it takes to fix {np}{by}?"], extra="{a}resolved_at IS NOT NULL"),
        Measure("avg", hours, [
            "average resolution time in hours for {np}{by}", "How many hours on average does it take to resolve {np}{by}?",
            "mean hours to resolution for {np}{by}", "avg time to fix {np}, in hours{by}"],
            extra="{a}resolved_at IS NOT NULL"),
        Measure("list", "{a}id, {a}priority, {a}opened_at", [
            "List {np} with id, priority and opening time.", "show me the {np} (id, priority, opened at)",
            "Which {np} are there? Give id, priority and when they were opened."],
            order="{a}opened_at", max_rows=LIST_MAX_ROWS),
        Measure("list", "{a}id, {a}category, {a}status", [
            "List the {np}: id, category and status.", "id, category and status of {np}"],
            max_rows=LIST_MAX_ROWS),
        Measure("date", "MIN({a}opened_at)", [
            "When was the first {sg} opened?", "earliest opening time of {np}", "When did the oldest {sg} come in?"]),
        Measure("date", "MAX({a}opened_at)", [
            "When was the most recent {sg} opened?", "latest opened_at among {np}", "When did the last {sg} come in?"]),
    ]
    G = [
        Group("category", "{a}category", "{a}category", [" by category", " per category", " for each category",
                                                         " broken down by category"]),
        Group("priority", "{a}priority", "{a}priority", [" by priority", " per priority", " for each priority level",
                                                         " broken down by priority"]),
        Group("status", "{a}status", "{a}status", [" by status", " per status", " for each status"]),
        Group("when", "strftime('%Y', {a}opened_at) AS year", "year", [" by year", " per year opened",
                                                                       " for each year", " split by year"]),
        Group("dept", "d.name", "d.name", [" by department", " per department", " for each department",
                                           " broken down by the opener's department"], join="d"),
    ]
    R = [
        Rank(["Which category has the most {np}?", "most common category of {np}",
              "What category do most {np} fall into?"],
             ["top {n} categories by number of {np}", "Which {n} categories have the most {np}? With counts."],
             "{a}category", "{a}category, COUNT(*)", "COUNT(*) DESC", by="{a}category", excludes=("category",)),
        Rank(["Which department files the most {np}?", "Which team has the most {np}?",
              "department with the most {np}"],
             ["top {n} departments by number of {np}", "Which {n} departments raised the most {np}? Include counts."],
             "d.name", "d.name, COUNT(*)", "COUNT(*) DESC", by="d.name", excludes=("dept",), join="d"),
        Rank(["Which is the oldest {sg}? id, priority, opened at", "oldest {sg}: id, priority and opening time"],
             ["List the {n} oldest {np} with id, priority and opening time.", "{n} oldest {np} (id, priority, opened)"],
             "{a}id, {a}priority, {a}opened_at", "{a}id, {a}priority, {a}opened_at", "{a}opened_at"),
    ]
    return Table("tickets", "t", [("tickets", "ticket"), ("help-desk tickets", "help-desk ticket"),
                                  ("help-desk requests", "help-desk request")], F, M, G, R,
                 joins={"d": ["JOIN employees e ON t.opened_by = e.id", "JOIN departments d ON e.department_id = d.id"]},
                 kind_weights={"count": 5, "avg": 2.5, "list": 1.2, "date": 1, "group": 3, "top": 2})


def employees_table(titles: list) -> Table:
    F = [
        Filter("active", "{a}is_active = 1", pre=["current", "active"],
               post=["still employed", "who still work here", "currently on staff"],
               noun=[("current staff", None), ("active employees", None), ("people still employed here", None)]),
        Filter("active", "{a}is_active = 0", pre=["former"],
               post=["who left", "who have left the company", "no longer with the company"],
               noun=[("ex-employees", None), ("leavers", None), ("former staff", None), ("people who left", None)]),
    ]
    for name, bare, np_ in DEPTS:
        F.append(Filter("dept", f"d.name = '{name}'", join="d", alts={"dn": np_, "db": bare},
                        pre=["{db}"], post=["in {dn}", "in the {db} department", "on the {db} team", "from {dn}"]))
    for loc in ("Portland", "Austin", "Columbus", "Reno"):
        F.append(Filter("dept", f"d.location = '{loc}'", join="d", pre=[f"{loc}-based", loc],
                        post=[f"based in {loc}", f"in the {loc} office", f"in {loc}"]))
    for t in titles:
        noun = [] if t.endswith("Counsel") else [(t + "s", None), (t.lower() + "s", None)]
        F.append(Filter("title", f"{{a}}title = '{t}'", noun=noun,
                        post=[f"with the title {t}", f"whose job title is {t}", f"titled {t}"]))
    for k in range(1, 7):
        b = f"B{k}"
        F.append(Filter("band", f"{{a}}salary_band = '{b}'", pre=[b, f"band-{k}"],
                        post=[f"in band {b}", f"in salary band {b}", f"at band {k}", f"in pay band {k}", f"at {b}"]))
    for y in YEARS:
        F.append(Filter("hired", f"strftime('%Y', {{a}}hire_date) = '{y}'",
                        post=[f"hired in {y}", f"who joined in {y}", f"who started in {y}"]))
    for y in ("2021", "2022", "2023", "2024", "2025"):
        F.append(Filter("hired", f"{{a}}hire_date >= '{y}-01-01'", post=[f"hired since {y}", f"hired in {y} or later"]))
        F.append(Filter("hired", f"{{a}}hire_date < '{y}-01-01'", post=[f"hired before {y}", f"who joined before {y}"]))
    # employees have no singular frames: the noun phrases are always plural
    M = [
        Measure("count", "COUNT(*)", [
            "How many {np} are there{by}?", "How many {np} do we have{by}?", "Count the {np}{by}.",
            "number of {np}{by}", "{np}: how many?", "headcount of {np}{by}", "how many {np}{by}",
            "what's the number of {np}{by}?"], weight=3),
        Measure("list", "{a}first_name, {a}last_name", [
            "List the {np}.", "who are the {np}?", "names of {np}", "Give me the first and last names of {np}.",
            "Which people are {np}?"], max_rows=LIST_MAX_ROWS),
        Measure("list", "{a}first_name, {a}last_name, {a}hire_date", [
            "List {np} with their hire dates.", "names and hire dates of {np}"],
            order="{a}hire_date", max_rows=LIST_MAX_ROWS),
        Measure("distinct", "DISTINCT {a}title", [
            "What job titles do {np} have?", "distinct titles among {np}", "Which roles exist among {np}?",
            "list the different job titles of {np}"], max_rows=LIST_MAX_ROWS),
        Measure("date", "MAX({a}hire_date)", [
            "When was the most recent hire among {np}?", "latest hire date of {np}",
            "When did the newest of the {np} join?"]),
        Measure("date", "MIN({a}hire_date)", [
            "earliest hire date among {np}", "When did the first of the {np} join?",
            "What is the oldest hire date of {np}?"]),
    ]
    G = [
        Group("dept", "d.name", "d.name", [" by department", " per department", " for each department",
                                           " broken down by team"], join="d"),
        Group("band", "{a}salary_band", "{a}salary_band", [" by salary band", " per band", " for each pay band"]),
        Group("hired", "strftime('%Y', {a}hire_date) AS year", "year", [" by hire year", " per year hired",
                                                                        " split by the year they joined"]),
        Group("title", "{a}title", "{a}title", [" by job title", " per title", " for each title"]),
        Group("active", "{a}is_active", "{a}is_active", [" split by current vs former",
                                                         " broken down by active status"]),
        Group("dept", "d.location", "d.location", [" by office location", " per city", " for each office"], join="d"),
    ]
    R = [
        Rank(["Which department has the most {np}?", "biggest department by number of {np}",
              "What team has the most {np}?"],
             ["top {n} departments by number of {np}", "Which {n} departments have the most {np}? Include counts."],
             "d.name", "d.name, COUNT(*)", "COUNT(*) DESC", by="d.name", excludes=("dept",), join="d"),
        Rank(["What is the most common job title among {np}?", "most common title of {np}"],
             ["top {n} job titles among {np}", "Which {n} titles are most common among {np}? With counts."],
             "{a}title", "{a}title, COUNT(*)", "COUNT(*) DESC", by="{a}title", excludes=("title",)),
        Rank(["Which salary band has the most {np}?", "most common band among {np}"],
             ["top {n} salary bands by number of {np}"],
             "{a}salary_band", "{a}salary_band, COUNT(*)", "COUNT(*) DESC", by="{a}salary_band", excludes=("band",)),
        Rank([], ["Who are the {n} most recent hires among {np}? With hire dates.",
                  "the {n} newest {np} and when they were hired"],
             "", "{a}first_name, {a}last_name, {a}hire_date", "{a}hire_date DESC"),
    ]
    return Table("employees", "e", [("employees", None), ("staff members", None), ("people", None),
                                    ("workers", None)], F, M, G, R,
                 joins={"d": ["JOIN departments d ON e.department_id = d.id"]},
                 status_group="active",
                 status_tails=[" (current and former)", " (including people who left)", ", past and present,",
                               " (active or not)"],
                 kind_weights={"count": 5, "list": 1.5, "distinct": 1, "date": 1, "group": 3, "top": 2})


def departments_table(locations: list) -> Table:
    F = []
    for loc in locations:
        F.append(Filter("loc", f"location = '{loc}'", pre=[loc],
                        post=[f"in {loc}", f"based in {loc}", f"located in {loc}", f"in the {loc} office"]))
    for n in (100000, 150000, 200000, 300000):
        F.append(Filter("budget", f"budget_usd > {n}", post=["with a budget over {m}", "whose budget is above {m}",
                        "with more than {m} of budget"], alts={"m": money_forms(n)}))
    for n in (100000, 150000):
        F.append(Filter("budget", f"budget_usd < {n}", post=["with a budget under {m}", "whose budget is below {m}"],
                        alts={"m": money_forms(n)}))
    bud = ["budget", "IT budget", "annual budget", "tech budget", "technology budget"]
    M = [
        Measure("count", "COUNT(*)", ["How many {np} are there{by}?", "How many {np} do we have{by}?",
                                      "number of {np}{by}", "count the {np}{by}", "{np}: how many?"], weight=2),
        Measure("sum", "SUM(budget_usd)", ["What's the total {bud} of {np}{by}?", "combined {bud} of {np}{by}",
                                           "How much {bud} do {np} have in total{by}?", "sum of the {bud}s of {np}{by}"]),
        Measure("avg", "ROUND(AVG(budget_usd), 2)", ["What's the average {bud} of {np}{by}?",
                                                     "average {bud} for {np}{by}", "mean {bud} across {np}{by}"]),
        Measure("max", "MAX(budget_usd)", ["What's the largest {bud} among {np}?", "highest {bud} of {np}",
                                           "biggest {bud} any of the {np} has"]),
        Measure("min", "MIN(budget_usd)", ["What's the smallest {bud} among {np}?", "lowest {bud} of {np}",
                                           "minimum {bud} among {np}"]),
        Measure("list", "name", ["List the {np}.", "Which {np} are there?", "names of {np}", "what are the {np}?",
                                 "show all {np}"]),
        Measure("list", "name, budget_usd", ["List the {np} with their {bud}s.", "{np} and their {bud}s",
                                             "show names and {bud}s of {np}"]),
        Measure("list", "name, location", ["List the {np} and where each is based.", "{np} with their locations"]),
        Measure("distinct", "DISTINCT location", ["Which cities are {np} in?", "list the locations of {np}",
                                                  "In which cities do we have {np}?", "distinct locations of {np}"]),
    ]
    G = [Group("loc", "location", "location", [" by location", " per city", " for each city", " per office"])]
    R = [
        Rank(["Which of the {np} has the largest {bud}?", "Which {sg} has the biggest {bud}?",
              "{sg} with the highest {bud}"],
             ["top {n} {np} by {bud}", "Which {n} {np} have the largest {bud}s?", "the {n} biggest {bud}s among {np}"],
             "name", "name, budget_usd", "budget_usd DESC"),
        Rank(["Which of the {np} has the smallest {bud}?", "{sg} with the lowest {bud}"],
             ["the {n} {np} with the smallest {bud}s", "bottom {n} {np} by {bud}"],
             "name", "name, budget_usd", "budget_usd"),
        Rank(["Which city has the most {np}?", "location with the most {np}"],
             ["top {n} cities by number of {np}"],
             "location", "location, COUNT(*)", "COUNT(*) DESC", by="location", excludes=("loc",)),
    ]
    look = [
        Lookup(["What is the {bud} of {x}?", "{x} {bud}", "How much {bud} does {x} have?", "tell me {x}'s {bud}"],
               "SELECT budget_usd FROM departments WHERE name = '{v}'", [(n, np_) for n, _b, np_ in DEPTS]),
        Lookup(["Where is {x} based?", "{x} location", "In which city is {x}?", "which office is {x} in"],
               "SELECT location FROM departments WHERE name = '{v}'", [(n, np_) for n, _b, np_ in DEPTS]),
    ]
    return Table("departments", "d", [("departments", "department"), ("teams", "team"), ("depts", "dept")],
                 F, M, G, R, joins={}, lookups=look, alts={"bud": bud},
                 kind_weights={"count": 1.2, "sum": 1, "avg": 1, "max": 0.8, "min": 0.8, "list": 1.2,
                               "distinct": 0.8, "group": 1, "top": 1.4, "lookup": 1.5})


def software_table(rows: list) -> Table:
    F = []
    for v in sorted({r[1] for r in rows}):
        forms = [v, v.lower()] if v.lower() != v else [v]
        F.append(Filter("vendor", f"vendor = '{v}'", pre=["{v}"], post=["from {v}", "made by {v}", "sold by {v}"],
                        alts={"v": forms}))
    for c in sorted({r[2] for r in rows}):
        F.append(Filter("category", f"category = '{c}'", pre=[cat_txt(c)],
                        post=[f"in the {cat_txt(c)} category", f"categorized as {c}"]))
    M = [
        Measure("count", "COUNT(*)", ["How many {np} are there{by}?", "How many {np} do we have{by}?",
                                      "number of {np}{by}", "count the {np}{by}", "{np}: how many?"], weight=2),
        Measure("list", "name", ["List the {np}.", "Which {np} do we have?", "names of {np}", "what {np} are there?",
                                 "show all {np}"], weight=1.5),
        Measure("list", "name, vendor", ["List the {np} with their vendors.", "{np} and who makes them"]),
        Measure("list", "name, category", ["List the {np} with their categories.", "{np} and their category"]),
        Measure("distinct", "DISTINCT vendor", ["Which vendors make {np}?", "list the vendors of {np}",
                                                "who are the vendors behind {np}?", "distinct vendors of {np}"]),
        Measure("distinct", "DISTINCT category", ["Which categories do {np} fall into?",
                                                  "list the categories of {np}", "distinct categories of {np}"]),
    ]
    G = [Group("vendor", "vendor", "vendor", [" by vendor", " per vendor", " for each vendor"]),
         Group("category", "category", "category", [" by category", " per category", " for each category"])]
    R = [
        Rank(["Which vendor makes the most {np}?", "vendor with the most {np}"],
             ["top {n} vendors by number of {np}"],
             "vendor", "vendor, COUNT(*)", "COUNT(*) DESC", by="vendor", excludes=("vendor",)),
        Rank(["Which category has the most {np}?", "biggest category of {np}"],
             ["top {n} categories by number of {np}"],
             "category", "category, COUNT(*)", "COUNT(*) DESC", by="category", excludes=("category",)),
    ]
    look = [
        Lookup(["Who makes {x}?", "vendor of {x}", "Which company sells {x}?", "{x} is made by which vendor?"],
               "SELECT vendor FROM software WHERE name = '{v}'", [(r[0], sw_forms(r[0])) for r in rows]),
        Lookup(["What category is {x} in?", "category of {x}", "which software category does {x} belong to"],
               "SELECT category FROM software WHERE name = '{v}'", [(r[0], sw_forms(r[0])) for r in rows]),
    ]
    return Table("software", "s", [("software products", "software product"), ("tools", "tool"),
                                   ("apps", "app"), ("applications", "application"),
                                   ("software titles", "software title")], F, M, G, R, joins={}, lookups=look,
                 kind_weights={"count": 1.5, "list": 1.5, "distinct": 1, "group": 1, "top": 0.8, "lookup": 1.5})


def licenses_table(rows: list) -> Table:
    F = [
        Filter("active", "{a}end_date IS NULL", pre=["active", "current"],
               post=["still active", "with no end date", "that are still running"]),
        Filter("active", "{a}end_date IS NOT NULL", pre=["ended", "expired"],
               post=["that have ended", "no longer active", "with an end date"]),
    ]
    for y in ("2023", "2024", "2025"):
        F.append(Filter("active", f"strftime('%Y', {{a}}end_date) = '{y}'",
                        post=[f"that ended in {y}", f"cancelled during {y}", f"that expired in {y}"]))
    for name, _v, _c in rows:
        F.append(Filter("software", f"s.name = '{name}'", join="s", pre=["{sw}"], post=["for {sw}", "of {sw}"],
                        alts={"sw": sw_forms(name)}))
    for v in sorted({r[1] for r in rows}):
        F.append(Filter("software", f"s.vendor = '{v}'", join="s", pre=[v],
                        post=[f"for {v} products", f"for software from {v}"]))
    for c in sorted({r[2] for r in rows}):
        F.append(Filter("software", f"s.category = '{c}'", join="s", pre=[f"{cat_txt(c)} software"],
                        post=[f"for {cat_txt(c)} software", f"for tools in the {cat_txt(c)} category"]))
    for y in YEARS:
        F.append(Filter("start", f"strftime('%Y', {{a}}start_date) = '{y}'",
                        post=[f"started in {y}", f"that began in {y}", f"issued in {y}"]))
    for n in (200, 500, 1000):
        F.append(Filter("cost", f"{{a}}seat_cost_usd > {n}", post=["costing more than {m} a year",
                        "with a yearly cost above {m}"], alts={"m": money_forms(n)}))
    F += dept_filters({"post": ["held by {dn}", "for {db} staff", "assigned to people in {dn}"]}, "d")
    cost = "{a}seat_cost_usd"
    M = [
        Measure("count", "COUNT(*)", ["How many {np} are there{by}?", "How many {np} do we have{by}?",
                                      "number of {np}{by}", "count the {np}{by}", "{np}: how many?",
                                      "how many {np}{by}"], weight=3),
        Measure("sum", f"ROUND(SUM({cost}), 2)", [
            "What do we pay per year for {np}{by}?", "total annual cost of {np}{by}", "yearly spend on {np}{by}",
            "What's the combined seat cost of {np}{by}?", "sum of seat costs for {np}{by}"], weight=2),
        Measure("avg", f"ROUND(AVG({cost}), 2)", [
            "What's the average seat cost of {np}{by}?", "average annual price per seat for {np}{by}",
            "What does {a_sg} cost per year on average?", "avg yearly cost of {np}{by}"], weight=1.5),
        Measure("max", f"MAX({cost})", ["What's the most expensive seat among {np}?", "highest seat cost of {np}",
                                        "max yearly cost of {a_sg}"]),
        Measure("min", f"MIN({cost})", ["What's the cheapest seat among {np}?", "lowest seat cost of {np}",
                                        "min yearly cost of {a_sg}"]),
        Measure("date", "MIN({a}start_date)", ["When did the first {sg} start?", "earliest start date of {np}",
                                               "When did we get our first {sg}?"]),
        Measure("date", "MAX({a}start_date)", ["When did the most recent {sg} start?", "latest start date of {np}"]),
    ]
    G = [
        Group("software", "s.name", "s.name", [" by software", " per product", " for each software product",
                                               " broken down by tool"], join="s"),
        Group("software", "s.vendor", "s.vendor", [" by vendor", " per software vendor"], join="s"),
        Group("dept", "d.name", "d.name", [" by department", " per department", " for each department"], join="d"),
        Group("start", "strftime('%Y', {a}start_date) AS year", "year", [" by start year", " per year started"]),
    ]
    R = [
        Rank(["Which software has the most {np}?", "product with the most {np}", "What tool has the most {np}?"],
             ["top {n} software products by number of {np}",
              "Which {n} products have the most {np}? With counts."],
             "s.name", "s.name, COUNT(*)", "COUNT(*) DESC", by="s.name", excludes=("software",), join="s"),
        Rank(["Which software costs us the most across {np}?", "product with the highest total seat cost for {np}"],
             ["top {n} software products by total seat cost of {np}",
              "Which {n} tools cost the most in {np}? Show the totals."],
             "s.name", "s.name, ROUND(SUM({a}seat_cost_usd), 2)", "SUM({a}seat_cost_usd) DESC", by="s.name",
             excludes=("software",), join="s"),
        Rank(["Which department holds the most {np}?", "team with the most {np}"],
             ["top {n} departments by number of {np}"],
             "d.name", "d.name, COUNT(*)", "COUNT(*) DESC", by="d.name", excludes=("dept",), join="d"),
    ]
    return Table("licenses", "l", [("licenses", "license"), ("license seats", "license seat"), ("seats", "seat"),
                                   ("software licenses", "software license")], F, M, G, R,
                 joins={"s": ["JOIN software s ON l.software_id = s.id"],
                        "d": ["JOIN employees e ON l.employee_id = e.id", "JOIN departments d ON e.department_id = d.id"]},
                 status_group="active",
                 status_tails=[" (active and ended)", " (including ended ones)", ", active or not,"],
                 kind_weights={"count": 4, "sum": 2, "avg": 1.5, "max": 0.7, "min": 0.7, "date": 0.7,
                               "group": 2, "top": 1.5})


PURCHASE_ITEMS = {   # LIKE pattern -> (pre, post)
    "laptop": (["laptop"], ["of laptops", "for laptops"]),
    "monitor": (["monitor"], ["of monitors", "for monitors"]),
    "desktop": (["desktop"], ["of desktops", "for desktop PCs"]),
    "headset": (["headset"], ["of headsets", "for headsets"]),
    "tablet": (["tablet"], ["of tablets", "for tablets"]),
    "iPhone": (["iPhone"], ["of iPhones", "for iPhones"]),
    "printer": (["printer supply"], ["of printer supplies", "for printer supplies"]),
    "consulting": (["consulting"], ["for consulting", "of consulting services"]),
    "cloud": (["cloud hosting"], ["for cloud hosting"]),
    "docking": (["docking station"], ["of docking stations", "for docking stations"]),
}
QUARTER_ORD = {1: "first", 2: "second", 3: "third", 4: "fourth"}


def purchases_table(vendors: list) -> Table:
    F = []
    for v in vendors:
        forms = [v, v.lower()] if v.lower() != v and v not in ("HP", "CDW") else [v]
        if v == "Amazon Web Services":
            forms = [v, "AWS"]
        F.append(Filter("vendor", f"{{a}}vendor = '{v}'", pre=["{v}"], post=["from {v}", "with {v}", "made with {v}"],
                        alts={"v": forms}))
    for pat, (pre, post) in PURCHASE_ITEMS.items():
        F.append(Filter("item", f"{{a}}item LIKE '%{pat}%'", pre=pre, post=post))
    for y in YEARS:
        F.append(Filter("when", f"strftime('%Y', {{a}}purchased_at) = '{y}'", pre=[y],
                        post=[f"in {y}", f"made in {y}", f"during {y}"]))
        for q in range(1, 5):
            m3 = 3 * q
            d2 = f"{y}-{m3:02d}-{make_pairs._last_day(int(y), m3):02d}"
            F.append(Filter("when", f"{{a}}purchased_at BETWEEN '{y}-{3 * q - 2:02d}-01' AND '{d2}'",
                            post=[f"in Q{q} {y}", f"in the {QUARTER_ORD[q]} quarter of {y}", f"during Q{q} of {y}"]))
    for n in (10000, 25000, 50000, 100000):
        F.append(Filter("amount", f"{{a}}amount_usd > {n}", post=["over {m}", "above {m}", "worth more than {m}",
                        "larger than {m}"], alts={"m": money_forms(n)}))
    for n in (500, 1000):
        F.append(Filter("amount", f"{{a}}amount_usd < {n}", post=["under {m}", "below {m}", "smaller than {m}"],
                        alts={"m": money_forms(n)}))
    F += dept_filters({"pre": ["{db}"], "post": ["by {dn}", "charged to {dn}", "made by {dn}",
                                                 "for the {db} department"]}, "d")
    amt = "{a}amount_usd"
    M = [
        Measure("count", "COUNT(*)", ["How many {np} are there{by}?", "How many {np} did we make{by}?",
                                      "number of {np}{by}", "count the {np}{by}", "{np}: how many?",
                                      "how many {np}{by}"], weight=3),
        Measure("sum", f"ROUND(SUM({amt}), 2)", [
            "How much did we spend on {np}{by}?", "total spend for {np}{by}", "What's the total amount of {np}{by}?",
            "sum of {np}{by}", "what did {np} add up to{by}?", "total $ of {np}{by}"], weight=3),
        Measure("avg", f"ROUND(AVG({amt}), 2)", [
            "What's the average amount of {np}{by}?", "average size of {np}{by}", "avg amount per {sg}{by}",
            "How much was {a_sg} on average?"], weight=1.5),
        Measure("max", f"MAX({amt})", ["What was the biggest single {sg}?", "largest amount among {np}",
                                       "max amount of {np}", "How much was the most expensive {sg}?"]),
        Measure("min", f"MIN({amt})", ["What was the smallest {sg}?", "smallest amount among {np}",
                                       "min amount of {np}"]),
        Measure("list", "{a}purchased_at, {a}vendor, {a}item, {a}amount_usd", [
            "List the {np} with date, vendor, item and amount.", "show me the {np}",
            "Which {np} were there? date, vendor, item, amount"], order="{a}purchased_at", max_rows=LIST_MAX_ROWS),
        Measure("distinct", "DISTINCT {a}vendor", ["Which vendors appear in {np}?", "list the vendors of {np}",
                                                   "distinct vendors for {np}", "who did we buy from in {np}?"],
                max_rows=LIST_MAX_ROWS),
        Measure("distinct", "DISTINCT {a}item", ["What items show up in {np}?", "distinct items in {np}",
                                                 "list the different things bought in {np}"], max_rows=LIST_MAX_ROWS),
        Measure("date", "MAX({a}purchased_at)", ["When was the most recent {sg}?", "latest date of {np}",
                                                 "When did we make the last {sg}?"]),
        Measure("date", "MIN({a}purchased_at)", ["When was the first {sg}?", "earliest date of {np}"]),
    ]
    G = [
        Group("vendor", "{a}vendor", "{a}vendor", [" by vendor", " per vendor", " for each vendor",
                                                   " broken down by supplier"]),
        Group("when", "strftime('%Y', {a}purchased_at) AS year", "year", [" by year", " per year", " for each year",
                                                                          " split by year"]),
        Group("dept", "d.name", "d.name", [" by department", " per department", " for each department"], join="d"),
    ]
    R = [
        Rank(["Which vendor got the most money across {np}?", "top vendor by spend among {np}",
              "Which supplier did we pay the most for {np}?"],
             ["top {n} vendors by total spend on {np}", "Which {n} vendors got the most money from {np}? With totals.",
              "{n} biggest vendors by {np} spend"],
             "{a}vendor", "{a}vendor, ROUND(SUM({a}amount_usd), 2)", "SUM({a}amount_usd) DESC", by="{a}vendor",
             excludes=("vendor",)),
        Rank(["Which department spent the most on {np}?", "department with the highest spend on {np}"],
             ["top {n} departments by spend on {np}", "Which {n} departments spent the most on {np}? Show totals."],
             "d.name", "d.name, ROUND(SUM(p.amount_usd), 2)", "SUM(p.amount_usd) DESC", by="d.name",
             excludes=("dept",), join="d"),
        Rank(["What was the single largest {sg}? date, vendor, item, amount", "biggest {sg} ever (all details)"],
             ["List the {n} largest {np} with date, vendor, item and amount.", "{n} biggest {np}",
              "top {n} {np} by amount"],
             "{a}purchased_at, {a}vendor, {a}item, {a}amount_usd",
             "{a}purchased_at, {a}vendor, {a}item, {a}amount_usd", "{a}amount_usd DESC"),
        Rank(["Which vendor do we order from most often for {np}?", "most frequent vendor among {np}"],
             ["top {n} vendors by number of {np}"],
             "{a}vendor", "{a}vendor, COUNT(*)", "COUNT(*) DESC", by="{a}vendor", excludes=("vendor",)),
    ]
    return Table("purchases", "p", [("purchases", "purchase"), ("orders", "order"),
                                    ("purchase orders", "purchase order")],
                 F, M, G, R, joins={"d": ["JOIN departments d ON p.department_id = d.id"]},
                 kind_weights={"count": 3, "sum": 4, "avg": 1.5, "max": 1, "min": 0.7, "list": 1.2,
                               "distinct": 1, "date": 0.8, "group": 3, "top": 2.5})


# --------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------

DEFAULT_PER_TABLE = {"devices": 250, "tickets": 240, "employees": 210, "purchases": 220,
                     "software": 90, "licenses": 130, "departments": 80}
OPENERS = ["quick q: ", "hey, ", "Hi - ", "question: ", "pls: ", "Can you check: "]


def _article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou8" else "a ") + phrase


def _fill(text: str, alts: dict, rng: random.Random) -> str:
    for key, options in alts.items():
        while "{" + key + "}" in text:
            text = text.replace("{" + key + "}", rng.choice(options), 1)
    return text


def _noun_phrase(table: Table, chosen: list, rng: random.Random):
    """(plural, singular) noun phrase for the chosen filters, or None if no singular exists."""
    only_noun = [f for f in chosen if f.noun and not (f.pre or f.post)]   # e.g. device type: "laptops"
    if len(only_noun) > 1:
        return None
    noun_opts = [f for f in chosen if f.noun]
    noun_f = only_noun[0] if only_noun else (rng.choice(noun_opts) if noun_opts and rng.random() < 0.6 else None)
    plural, single = rng.choice(noun_f.noun) if noun_f else rng.choice(table.nouns)
    pre, post = [], []
    for f in chosen:
        if f is noun_f:
            continue
        use_pre = f.pre and not pre and (not f.post or rng.random() < 0.4)
        if use_pre:
            pre.append(_fill(rng.choice(f.pre), f.alts, rng))
        else:
            post.append(_fill(rng.choice(f.post), f.alts, rng))
    # relative clauses go last ("devices written off that cost less than $1k"); two of them are joined with
    # "and": "devices that were retired and cost less than $1k"
    post.sort(key=lambda c: c.startswith(("that ", "who ", "whose ")))
    if len(post) == 2 and post[0].startswith(("that ", "who ")) and post[1].startswith(("that ", "who ")):
        post[1] = "and " + post[1].split(" ", 1)[1]
    pl = " ".join(pre + [plural] + post)
    sg = " ".join(pre + [single] + post) if single else None
    if table.status_group and not any(f.group == table.status_group for f in chosen):
        pl += rng.choice(table.status_tails)
        sg = None
    return pl, sg


def _from(table: Table, join_keys: list) -> tuple[str, str]:
    """FROM clause and the main-table column prefix."""
    clauses = []
    for key in table.joins:
        if key in join_keys:
            clauses += [c for c in table.joins[key] if c not in clauses]
    if not clauses:
        return f"FROM {table.name}", ""
    return f"FROM {table.name} {table.alias} " + " ".join(clauses), table.alias + "."


def _sql(table, select, conds, joins, group_by="", order="", limit=None) -> str:
    frm, a = _from(table, joins)
    sql = f"SELECT {select} {frm}"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    if group_by:
        sql += f" GROUP BY {group_by}"
    if order:
        sql += f" ORDER BY {order}"
    if limit:
        sql += f" LIMIT {limit}"
    return sql.replace("{a}", a)


def _casual(q: str, rng: random.Random) -> str:
    """Make the question look typed by a person: capital first letter or all lower case, openers, 'pls'."""
    q = re.sub(r"\s+", " ", q).strip()
    q = re.sub(r"\s*,\s*([?.:]|$)", r"\1", q)        # ", past and present,?" -> "... present?"
    q = re.sub(r"\s+([?.,])", r"\1", q)
    q = q[0].upper() + q[1:] if rng.random() < 0.7 else q
    roll = rng.random()
    if roll < 0.1:
        q = rng.choice(OPENERS) + q[0].lower() + q[1:] if not q[:2].isupper() else rng.choice(OPENERS) + q
    elif roll < 0.3 and not re.search(r"\bIT\b", q):    # "people in it" would no longer name the IT team
        q = q.lower()
    if rng.random() < 0.05 and q.endswith("?"):
        q = q[:-1] + " pls?"
    if rng.random() < 0.25:
        q = q.rstrip("?.")
    return q


def _pick_filters(table: Table, rng: random.Random, n: int, banned: set) -> list:
    chosen, groups = [], set(banned)
    for i in range(n):
        options = [f for f in table.filters if f.group not in groups]
        if i == 0 and table.status_group not in groups and rng.random() < 0.5:
            # employees / licenses: say "current" / "active" (or "former" / "ended") in about half the questions
            options = [f for f in options if f.group == table.status_group] or options
        if not options:
            break
        # pick a group first, then a value, so big groups (years, months) do not crowd out small ones
        g = rng.choice(sorted({f.group for f in options}))
        f = rng.choice([f for f in options if f.group == g])
        chosen.append(f)
        groups.add(g)
    return chosen


def _compose_one(table: Table, kind: str, rng: random.Random):
    """One (question, sql, max_rows) of the given kind, or None when the pieces do not fit together."""
    alts = table.alts
    if kind == "lookup":
        lk = rng.choice(table.lookups)
        value, forms = rng.choice(lk.values)
        q = _fill(rng.choice(lk.frames).replace("{x}", rng.choice(forms)), alts, rng)
        return q, lk.sql.format(v=value), None

    n_filters = rng.choices([0, 1, 2], weights=[4, 4, 2.2])[0]
    if kind == "list":
        n_filters = rng.choices([1, 2], weights=[1, 2])[0]

    if kind == "top":
        rank = rng.choice(table.ranks)
        chosen = _pick_filters(table, rng, n_filters, set(rank.excludes))
        np_ = _noun_phrase(table, chosen, rng)
        if np_ is None:
            return None
        n = 1 if not rank.frames_n or (rank.frames1 and rng.random() < 0.45) else rng.choice([3, 3, 5, 5, 10, 2])
        frame = rng.choice(rank.frames1 if n == 1 else rank.frames_n)
        if "{sg}" in frame and np_[1] is None:
            return None
        q = frame.replace("{np}", np_[0]).replace("{sg}", np_[1] or "").replace("{n}", str(n))
        joins = [f.join for f in chosen if f.join] + ([rank.join] if rank.join else [])
        conds = [f.cond for f in chosen] + ([rank.extra] if rank.extra else [])
        sql = _sql(table, rank.select1 if n == 1 else rank.select_n, conds, joins, rank.by, rank.order, n)
        return _fill(q, alts, rng), sql, None

    measure = rng.choice([m for m in table.measures if m.kind == ("count" if kind == "group" else kind)]
                         if kind != "group" else
                         [m for m in table.measures if m.kind in ("count", "avg", "sum")
                          and any("{by}" in f for f in m.frames)])
    group = rng.choice(table.groups) if kind == "group" else None
    chosen = _pick_filters(table, rng, n_filters, {group.group} if group else set())
    np_ = _noun_phrase(table, chosen, rng)
    if np_ is None:
        return None
    frames = [f for f in measure.frames if "{by}" in f] if group else measure.frames
    frame = rng.choice(frames)
    if ("{sg}" in frame or "{a_sg}" in frame) and np_[1] is None:
        return None
    q = (frame.replace("{np}", np_[0]).replace("{a_sg}", _article(np_[1] or "")).replace("{sg}", np_[1] or "")
         .replace("{by}", rng.choice(group.words) if group else ""))
    joins = [f.join for f in chosen if f.join] + ([group.join] if group and group.join else [])
    conds = list(dict.fromkeys([f.cond for f in chosen] + ([measure.extra] if measure.extra else [])))
    if group:
        sql = _sql(table, f"{group.select}, {measure.select}", conds, joins, group.by)
        return _fill(q, alts, rng), sql, LIST_MAX_ROWS
    sql = _sql(table, measure.select, conds, joins, order=measure.order)
    return _fill(q, alts, rng), sql, measure.max_rows


def _load_values(con: sqlite3.Connection) -> dict:
    """Read the stored values the tables above are built from (and check the English maps cover them)."""
    col = lambda sql: [r[0] for r in con.execute(sql)]  # noqa: E731
    DEPTS[:] = [(n, *dept_forms(n)) for n in col("SELECT name FROM departments ORDER BY id")]
    assert set(col("SELECT DISTINCT type FROM devices")) == set(DEVICE_TYPES)
    assert set(col("SELECT DISTINCT status FROM devices")) == set(DEVICE_STATUS)
    assert set(col("SELECT DISTINCT category FROM tickets")) == set(TICKET_CATEGORY)
    assert set(col("SELECT DISTINCT priority FROM tickets")) == set(TICKET_PRIORITY)
    assert set(col("SELECT DISTINCT status FROM tickets")) == set(TICKET_STATUS)
    return {
        "titles": col("SELECT title FROM employees WHERE title NOT LIKE 'Director%' GROUP BY title "
                      "HAVING COUNT(*) >= 5 ORDER BY title"),
        "locations": col("SELECT DISTINCT location FROM departments ORDER BY location"),
        "software": list(con.execute("SELECT name, vendor, category FROM software ORDER BY id")),
        "pvendors": col("SELECT DISTINCT vendor FROM purchases ORDER BY vendor"),
    }


def build_tables(con: sqlite3.Connection) -> list:
    v = _load_values(con)
    return [devices_table(), tickets_table(), employees_table(v["titles"]), departments_table(v["locations"]),
            software_table(v["software"]), licenses_table(v["software"]), purchases_table(v["pvendors"])]


def composed_pairs(con: sqlite3.Connection, rng: random.Random, per_table: dict[str, int] | None = None) -> list[dict]:
    """Each item: {"template": "compose_<table>_<kind>", "split": "train", "question": str, "sql": str, "phrasing": 0}"""
    per_table = dict(DEFAULT_PER_TABLE, **(per_table or {}))
    pairs, seen_q = [], set()
    for table in build_tables(con):
        quota = per_table.get(table.name, 0)
        weights = table.kind_weights
        total_w = sum(weights.values())
        # every kind gets at least 5 pairs, the rest in proportion to its weight
        targets = {k: max(5, round(quota * w / total_w)) for k, w in weights.items()}
        sql_uses, zeros = Counter(), 0
        for kind, target in targets.items():
            made, attempts = 0, 0
            while made < target and attempts < 60 * target:
                attempts += 1
                got = _compose_one(table, kind, rng)
                if got is None:
                    continue
                q, sql, max_rows = got
                q = _casual(q, rng)
                key = make_pairs._norm(q)
                if key in seen_q or sql_uses[sql] >= 2:
                    continue
                status = make_pairs._run(con, sql, max_rows)
                if status is None or (status == "zero" and zeros >= 1):
                    continue
                zeros += status == "zero"
                seen_q.add(key)
                sql_uses[sql] += 1
                made += 1
                pairs.append({"template": f"compose_{table.name}_{kind}", "split": "train",
                              "question": q, "sql": sql, "phrasing": 0})
    return pairs


if __name__ == "__main__":
    db = sqlite3.connect(f"file:{os.path.join(HERE, 'it.sqlite')}?mode=ro", uri=True)
    try:
        out = composed_pairs(db, random.Random(7))
    finally:
        db.close()
    by_template = Counter(p["template"] for p in out)
    for tid, n in sorted(by_template.items()):
        print(f"{tid:32s} {n:4d}")
    by_table = Counter(p["template"].split("_")[1] for p in out)
    print("per table:", dict(by_table), " total:", len(out))
    for p in random.Random(0).sample(out, 30):
        print(f"\nQ: {p['question']}\nS: {p['sql']}")
