"""Generate the natural-language -> SQL data set for the Fernleaf Home IT database.

    python make_pairs.py            # writes it.sqlite, train/validation/test.jsonl and train_more.jsonl here

Each TEMPLATE has an id, a role, several English phrasings and one SQL
pattern.  Slot values (department names, years, device types, vendors, ...)
are read from the database, shuffled with a fixed seed and kept only when the
gold query runs and returns at least one row.

The test split has two parts (README: "Split"):
- new_wording: for every "train" template, one whole phrasing (the one least
  like the others) is held out, so test asks known kinds of question in a
  sentence pattern training never shows;
- new_shape: whole "test" templates, query shapes training never shows.
"""

from __future__ import annotations

import difflib
import itertools
import json
import os
import random
import re
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import build_db  # noqa: E402

SEED = 7
COMPOSED_PREFIX = "compose_"  # template ids of compose.py's pairs (they use this module's helpers, so it imports us)
PAIRS_PER_TEMPLATE = {"core": 12, "train": 20, "validation": 10, "test": 4}  # "test" templates: one pair per phrasing
SYSTEM_PROMPT = ("You translate questions about Fernleaf Home's IT database into a single SQLite query; "
                 "answer with the SQL only.")

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
DTYPE_PLURAL = {"laptop": "laptops", "desktop": "desktops", "phone": "phones", "tablet": "tablets",
                "monitor": "monitors"}
DSTATUS_TXT = {"in_use": "in use", "spare": "spare", "repair": "in repair", "retired": "retired"}
TSTATUS_TXT = {"open": "open", "in_progress": "in progress", "resolved": "resolved", "closed": "closed"}
ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth"}


# --------------------------------------------------------------------------
# Slot values, read from the database
# --------------------------------------------------------------------------

def _day_txt(iso: str) -> str:
    y, m, d = (int(x) for x in iso.split("-"))
    return f"{MONTHS[m - 1]} {d}, {y}"


def _last_day(y: int, m: int) -> int:
    if m == 2 and y % 4 == 0:
        return 29
    return MONTH_DAYS[m - 1]


def prod(*lists):
    """Cartesian product of lists of slot dicts, merged."""
    out = []
    for combo in itertools.product(*lists):
        d = {}
        for part in combo:
            d.update(part)
        out.append(d)
    return out


class Ctx:
    def __init__(self, con: sqlite3.Connection):
        col = lambda sql: [r[0] for r in con.execute(sql)]  # noqa: E731
        self.dept = [{"dept": d} for d in col("SELECT name FROM departments ORDER BY id")]
        self.location = [{"location": x} for x in col("SELECT DISTINCT location FROM departments ORDER BY location")]
        self.year = [{"year": str(y)} for y in range(2019, 2026)]
        self.dtype = [{"dtype": t, "dtypes": DTYPE_PLURAL[t], "dtype_txt": t}
                      for t in col("SELECT DISTINCT type FROM devices ORDER BY type")]
        self.dstatus = [{"dstatus": s, "dstatus_txt": DSTATUS_TXT[s]}
                        for s in col("SELECT DISTINCT status FROM devices ORDER BY status")]
        self.priority = [{"priority": p} for p in ("low", "medium", "high", "critical")]
        self.tstatus = [{"tstatus": s, "tstatus_txt": TSTATUS_TXT[s]}
                        for s in ("open", "in_progress", "resolved", "closed")]
        self.category = [{"category": c} for c in col("SELECT DISTINCT category FROM tickets ORDER BY category")]
        self.pvendor = [{"vendor": v} for v in col("SELECT DISTINCT vendor FROM purchases ORDER BY vendor")]
        self.software = [{"software": s} for s in col("SELECT name FROM software ORDER BY id")]
        self.swvendor = [{"vendor": v} for v in col("SELECT DISTINCT vendor FROM software ORDER BY vendor")]
        self.swcat = [{"swcat": c, "swcat_txt": c.replace("_", " ")}
                      for c in col("SELECT DISTINCT category FROM software ORDER BY category")]
        self.model = [{"model": m} for m in col("SELECT DISTINCT model FROM devices ORDER BY model")]
        self.title = [{"title": t, "titles": t + "s"} for t in col(
            "SELECT DISTINCT title FROM employees WHERE title NOT LIKE 'Director%' ORDER BY title")]
        self.band = [{"band": b} for b in col("SELECT DISTINCT salary_band FROM employees ORDER BY salary_band")]
        self.brand_type = [{"brand": b, "dtype": t, "dtypes": DTYPE_PLURAL[t]} for b, t in con.execute(
            "SELECT DISTINCT substr(model, 1, instr(model, ' ') - 1), type FROM devices ORDER BY 1, 2")]
        self.month = []
        for y in range(2019, 2026):
            for m in range(1, 13):
                self.month.append({"ym": f"{y}-{m:02d}", "month_name": MONTHS[m - 1], "year": str(y),
                                   "d1": f"{y}-{m:02d}-01", "d2": f"{y}-{m:02d}-{_last_day(y, m):02d}",
                                   "d1_txt": f"{MONTHS[m - 1]} 1, {y}",
                                   "d2_txt": f"{MONTHS[m - 1]} {_last_day(y, m)}, {y}"})
        self.quarter = []
        for y in range(2019, 2026):
            for q in range(1, 5):
                m1, m3 = 3 * q - 2, 3 * q
                self.quarter.append({"q": str(q), "qth": ORDINAL[q], "year": str(y),
                                     "d1": f"{y}-{m1:02d}-01", "d2": f"{y}-{m3:02d}-{_last_day(y, m3):02d}"})
        self.first_of_month = [{"date": f"{y}-{m:02d}-01", "date_txt": _day_txt(f"{y}-{m:02d}-01")}
                               for y in (2023, 2024, 2025) for m in range(1, 13)]
        # people whose full name is unique, so "Jane Smith" points at one row
        unique = list(con.execute(
            "SELECT first_name, last_name FROM employees GROUP BY first_name, last_name "
            "HAVING COUNT(*) = 1 ORDER BY MIN(id)"))
        self.person = [{"first": f, "last": l} for f, l in unique]
        # (department, software) pairs that occur in the seat plan
        self.dept_sw_common = [{"dept": d, "software": s} for d, plan in build_db.SEATS.items()
                               for s, p in plan if p >= 0.5]
        self.dept_sw_minor = [{"dept": d, "software": s} for d, plan in build_db.SEATS.items()
                              for s, p in plan if p < 0.6]


def n_(values, key="n"):
    return [{key: str(v)} for v in values]


def opt(none_txt, variants):
    """Optional filter: [{'cond': '', 'txt': none_txt}] + variants."""
    return [{"cond": "", "txt": none_txt}] + variants


# --------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------

class T:
    def __init__(self, tid, split, questions, sql, slots, max_rows=None):
        self.id, self.split, self.questions, self.sql = tid, split, questions, sql
        self.slots, self.max_rows = slots, max_rows


ACTIVE = [
    {"cond": " AND is_active = 1", "who": "current employees"},
    {"cond": " AND is_active = 0", "who": "former employees"},
    {"cond": "", "who": "employees (current and former)"},
]
ACTIVE_E = [
    {"cond": " AND e.is_active = 1", "who": "current employees"},
    {"cond": " AND e.is_active = 0", "who": "former employees"},
    {"cond": "", "who": "employees, past and present,"},
]
COST_OVER = {"laptop": [1500, 2000, 2300, 2400], "desktop": [900, 1000, 1600, 1700],
             "phone": [900, 1000, 1050], "tablet": [600, 650, 700], "monitor": [550, 600, 620]}
AGG = [
    {"agg": "SUM(budget_usd)", "agg_txt": "total"},
    {"agg": "ROUND(AVG(budget_usd), 2)", "agg_txt": "average"},
    {"agg": "MAX(budget_usd)", "agg_txt": "largest"},
    {"agg": "MIN(budget_usd)", "agg_txt": "smallest"},
]

TEMPLATES = [
    # ---------------------------------------------------------------- train
    # One table, one filter: the questions people ask most, in the words they use.
    T("dev_count_status", "core", [
        "How many devices are {dstatus_txt}?",
        "count of devices with status {dstatus}",
        "What number of our devices is {dstatus_txt} at the moment?",
        "devices {dstatus_txt}: how many?",
    ], "SELECT COUNT(*) FROM devices WHERE status = '{dstatus}'", lambda C: C.dstatus),

    T("dev_count_type", "core", [
        "How many {dtypes} do we own?",
        "total number of {dtypes} in inventory",
        "Count every {dtype_txt} we have, whatever its status.",
        "what's our {dtype_txt} count?",
    ], "SELECT COUNT(*) FROM devices WHERE type = '{dtype}'", lambda C: C.dtype),

    T("tickets_count_status", "core", [
        "How many tickets are {tstatus_txt}?",
        "number of {tstatus_txt} tickets",
        "Count the help-desk tickets whose status is {tstatus}.",
        "how many tickets sit in {tstatus_txt} right now",
    ], "SELECT COUNT(*) FROM tickets WHERE status = '{tstatus}'", lambda C: C.tstatus),

    T("tickets_count_category", "core", [
        "How many {category} tickets have been filed?",
        "total {category} tickets ever",
        "Count all tickets in the {category} category.",
        "what's the number of {category} issues people reported?",
    ], "SELECT COUNT(*) FROM tickets WHERE category = '{category}'", lambda C: C.category),

    T("emp_count_title", "core", [
        "How many {titles} work here now?",
        "number of active {titles}",
        "Count the current employees whose job title is {title}.",
        "how many {titles} are on staff today?",
    ], "SELECT COUNT(*) FROM employees WHERE title = '{title}' AND is_active = 1", lambda C: C.title),

    T("emp_count_active", "core", [
        "How many {who} are there?",
        "total headcount: {who}",
        "Count the {who} in the employee records.",
        "what's the number of {who}?",
    ], "SELECT COUNT(*) FROM employees WHERE is_active = {active}",
        lambda C: [{"who": "current employees", "active": "1"}, {"who": "former employees", "active": "0"}]),

    T("sw_vendor_of", "core", [
        "Who makes {software}?",
        "vendor of {software}",
        "Which company sells us {software}?",
        "{software} comes from which vendor?",
    ], "SELECT vendor FROM software WHERE name = '{software}'", lambda C: C.software),

    T("dept_location", "core", [
        "Where is {dept} based?",
        "{dept} location",
        "In which city does the {dept} department sit?",
        "which office is {dept} in?",
    ], "SELECT location FROM departments WHERE name = '{dept}'", lambda C: C.dept),

    T("dept_budget", "core", [
        "What is the budget of {dept}?",
        "{dept} budget in dollars",
        "How much budget does the {dept} team have?",
        "tell me {dept}'s annual budget",
    ], "SELECT budget_usd FROM departments WHERE name = '{dept}'", lambda C: C.dept),

    T("depts_in_location", "core", [
        "Which departments are in {location}?",
        "departments located in {location}",
        "List the teams based in our {location} office.",
        "what departments sit in {location}?",
    ], "SELECT name FROM departments WHERE location = '{location}'", lambda C: C.location),

    T("purch_total_vendor", "core", [
        "How much have we spent with {vendor} in total?",
        "total purchases from {vendor}",
        "What is the sum of all our orders from {vendor}?",
        "all-time spend at {vendor}?",
    ], "SELECT ROUND(SUM(amount_usd), 2) FROM purchases WHERE vendor = '{vendor}'", lambda C: C.pvendor),

    T("dev_count_per_status_type", "core", [
        "How many {dtypes} are in each status?",
        "{dtype_txt} count by status",
        "Break our {dtypes} down by status.",
        "for every status, how many {dtypes} do we have?",
    ], "SELECT status, COUNT(*) FROM devices WHERE type = '{dtype}' GROUP BY status", lambda C: C.dtype),

    T("tickets_count_per_category_status", "core", [
        "How many {tstatus_txt} tickets are there in each category?",
        "{tstatus_txt} tickets per category",
        "Break the {tstatus_txt} tickets down by category.",
        "count {tstatus_txt} tickets, grouped by category",
    ], "SELECT category, COUNT(*) FROM tickets WHERE status = '{tstatus}' GROUP BY category",
        lambda C: C.tstatus),

    T("dev_count_type_status", "train", [
        "How many {dtypes} are currently {dstatus_txt}?",
        "Count the {dtypes} with status '{dstatus}'.",
        "number of {dstatus_txt} {dtypes}?",
        "How many of our {dtypes} are {dstatus_txt} right now?",
    ], "SELECT COUNT(*) FROM devices WHERE type = '{dtype}' AND status = '{dstatus}'",
        lambda C: prod(C.dtype, C.dstatus)),

    T("sw_by_category", "train", [
        "Which software products are in the {swcat_txt} category?",
        "List our {swcat_txt} software.",
        "what {swcat_txt} tools do we license?",
        "Show the names of all software categorized as {swcat}.",
    ], "SELECT name FROM software WHERE category = '{swcat}'", lambda C: C.swcat),

    T("sw_by_vendor", "train", [
        "Which software do we get from {vendor}, and what category is each product?",
        "List the {vendor} products in our software catalog with their categories.",
        "what software does {vendor} sell us? include the category",
        "Show name and category of every software product whose vendor is {vendor}.",
    ], "SELECT name, category FROM software WHERE vendor = '{vendor}'", lambda C: C.swvendor),

    T("emp_band_count", "train", [
        "How many {who} are in salary band {band}?",
        "Count the {who} at band {band}.",
        "number of {who} with salary band {band}",
        "What's the headcount of {who} in pay band {band}?",
    ], "SELECT COUNT(*) FROM employees WHERE salary_band = '{band}'{cond}",
        lambda C: prod(C.band, ACTIVE)),

    T("dev_brand_type_count", "train", [
        "How many {brand} {dtypes} are in use?",
        "Count the {dtypes} from {brand} that are currently in use.",
        "how many in-use {dtypes} are made by {brand}?",
        "What number of {brand} {dtypes} do people use at the moment?",
    ], "SELECT COUNT(*) FROM devices WHERE type = '{dtype}' AND model LIKE '{brand}%' AND status = 'in_use'",
        lambda C: C.brand_type),

    T("dev_cost_over", "train", [
        "Which {dtypes} cost more than ${n}? Show asset tag, model and cost, most expensive first.",
        "List {dtypes} priced above {n} dollars (asset tag, model, cost), sorted by cost descending.",
        "show me every {dtype_txt} that cost over ${n}, priciest first",
        "Find the {dtypes} with a purchase cost greater than ${n}; give asset tag, model and cost from highest to lowest.",
    ], "SELECT asset_tag, model, cost_usd FROM devices WHERE type = '{dtype}' AND cost_usd > {n} ORDER BY cost_usd DESC",
        lambda C: [dict(t, n=str(v)) for t in C.dtype for v in COST_OVER[t["dtype"]]], max_rows=80),

    T("tickets_count_priority_status", "train", [
        "How many {priority} priority tickets are {tstatus_txt}?",
        "Count the tickets with priority {priority} and status {tstatus_txt}.",
        "number of {tstatus_txt} tickets marked {priority}",
        "How many tickets are both {priority} priority and {tstatus_txt}?",
    ], "SELECT COUNT(*) FROM tickets WHERE priority = '{priority}' AND status = '{tstatus}'",
        lambda C: prod(C.priority, C.tstatus)),

    T("tickets_list_category_status", "train", [
        "List the {category} tickets that are {tstatus_txt}, with their priority and when they were opened.",
        "Show id, priority and opened time of every {tstatus_txt} {category} ticket, oldest first.",
        "which {category} tickets are still {tstatus_txt}? give id, priority, opened_at",
        "Give me the {tstatus_txt} tickets in the {category} category (id, priority, opened at), ordered by opening time.",
    ], "SELECT id, priority, opened_at FROM tickets WHERE category = '{category}' AND status = '{tstatus}' ORDER BY opened_at",
        lambda C: prod(C.category, [t for t in C.tstatus if t["tstatus"] in ("open", "in_progress")])),

    T("emp_count_dept", "train", [
        "How many people currently work in {dept}?",
        "What is the current headcount of the {dept} department?",
        "count active employees in {dept}",
        "How many active staff does {dept} have?",
    ], "SELECT COUNT(*) FROM employees e JOIN departments d ON e.department_id = d.id WHERE d.name = '{dept}' AND e.is_active = 1",
        lambda C: C.dept),

    T("emp_list_dept_year", "train", [
        "List the employees {dept} hired in {year}, with their hire dates.",
        "Who joined {dept} during {year}? Show first name, last name and hire date.",
        "{dept} hires in {year}: names and hire dates please",
        "Which people were hired into {dept} in {year}, and on what date?",
    ], "SELECT e.first_name, e.last_name, e.hire_date FROM employees e JOIN departments d ON e.department_id = d.id "
       "WHERE d.name = '{dept}' AND strftime('%Y', e.hire_date) = '{year}' ORDER BY e.hire_date",
        lambda C: prod(C.dept, C.year), max_rows=40),

    T("dev_assigned_person", "train", [
        "What devices are assigned to {first} {last}?",
        "List the asset tag, type and model of every device {first} {last} has.",
        "which equipment does {first} {last} have checked out?",
        "Show all devices currently assigned to {first} {last}.",
    ], "SELECT dv.asset_tag, dv.type, dv.model FROM devices dv JOIN employees e ON dv.assigned_to = e.id "
       "WHERE e.first_name = '{first}' AND e.last_name = '{last}'",
        lambda C: C.person),

    T("tickets_by_person", "train", [
        "How many tickets has {first} {last} opened?",
        "Count the help-desk tickets filed by {first} {last}.",
        "number of tickets opened by {first} {last}",
        "How many support requests did {first} {last} submit in total?",
    ], "SELECT COUNT(*) FROM tickets t JOIN employees e ON t.opened_by = e.id "
       "WHERE e.first_name = '{first}' AND e.last_name = '{last}'",
        lambda C: C.person),

    T("lic_total_cost_sw", "train", [
        "What is the total annual seat cost of our active {software} licenses?",
        "How much do we pay per year for all active {software} seats?",
        "sum of seat costs for {software} licenses that haven't ended",
        "Add up the yearly cost of every {software} license that is still active.",
    ], "SELECT ROUND(SUM(l.seat_cost_usd), 2) FROM licenses l JOIN software s ON l.software_id = s.id "
       "WHERE s.name = '{software}' AND l.end_date IS NULL",
        lambda C: C.software),

    T("tickets_device_model", "train", [
        "How many tickets have been filed about {model} devices?",
        "Count the tickets linked to {model} devices.",
        "number of tickets involving {model} units",
        "How many support tickets reference a device of model {model}?",
    ], "SELECT COUNT(*) FROM tickets t JOIN devices dv ON t.device_id = dv.id WHERE dv.model = '{model}'",
        lambda C: C.model),

    T("dev_avg_cost_type_year", "train", [
        "What was the average cost of the {dtypes} we bought in {year}?",
        "Average purchase price of {dtypes} purchased in {year}?",
        "avg cost per {dtype_txt} for {year} purchases",
        "On average, how much did a {dtype_txt} bought in {year} cost?",
    ], "SELECT ROUND(AVG(cost_usd), 2) FROM devices WHERE type = '{dtype}' AND strftime('%Y', purchase_date) = '{year}'",
        lambda C: prod(C.dtype, C.year)),

    T("purch_total_dept_year", "train", [
        "How much did {dept} spend on purchases in {year}?",
        "What was the total purchase amount charged to {dept} in {year}?",
        "total {dept} purchasing spend for {year}",
        "Sum up all purchases made by the {dept} department during {year}.",
    ], "SELECT ROUND(SUM(p.amount_usd), 2) FROM purchases p JOIN departments d ON p.department_id = d.id "
       "WHERE d.name = '{dept}' AND strftime('%Y', p.purchased_at) = '{year}'",
        lambda C: prod(C.dept, C.year)),

    T("tickets_avg_resolution", "train", [
        "On average, how many days does it take to resolve a {priority} priority {category} ticket?",
        "What's the mean resolution time in days for {category} tickets with {priority} priority?",
        "avg days to resolve {priority} {category} tickets",
        "How long, in days on average, do resolved {category} tickets of {priority} priority take from opening to resolution?",
    ], "SELECT ROUND(AVG(julianday(resolved_at) - julianday(opened_at)), 2) FROM tickets "
       "WHERE priority = '{priority}' AND category = '{category}' AND resolved_at IS NOT NULL",
        lambda C: prod(C.priority, C.category)),

    T("emp_latest_hire_dept", "train", [
        "When did {dept} make its most recent hire?",
        "What is the latest hire date in the {dept} department?",
        "most recent hire date for {dept}?",
        "On what date did the newest {dept} employee start?",
    ], "SELECT MAX(e.hire_date) FROM employees e JOIN departments d ON e.department_id = d.id WHERE d.name = '{dept}'",
        lambda C: C.dept),

    T("dept_budget_location", "train", [
        "What is the {agg_txt} department budget in {location}?",
        "For departments located in {location}, what's the {agg_txt} budget?",
        "{agg_txt} budget_usd among {location} departments",
        "Looking at the departments based in {location}, give me the {agg_txt} annual budget.",
    ], "SELECT {agg} FROM departments WHERE location = '{location}'",
        lambda C: prod(C.location, AGG)),

    T("lic_avg_seat_cost_category", "train", [
        "What is the average seat cost of {swcat_txt} software licenses?",
        "Average annual cost per seat for licenses of {swcat_txt} software?",
        "mean seat_cost_usd for {swcat_txt} licenses",
        "On average, what does one {swcat_txt} software seat cost us per year?",
    ], "SELECT ROUND(AVG(l.seat_cost_usd), 2) FROM licenses l JOIN software s ON l.software_id = s.id "
       "WHERE s.category = '{swcat}'",
        lambda C: C.swcat),

    T("tickets_per_category_year_priority", "train", [
        "Break down the {priority} priority tickets opened in {year} by category.",
        "How many {priority} tickets were opened in {year} in each category? Largest first.",
        "{priority}-priority tickets per category for {year}",
        "For {year}, count {priority} priority tickets by category, sorted from most to fewest.",
    ], "SELECT category, COUNT(*) AS ticket_count FROM tickets WHERE strftime('%Y', opened_at) = '{year}' "
       "AND priority = '{priority}' GROUP BY category ORDER BY ticket_count DESC",
        lambda C: prod(C.year, C.priority)),

    T("dev_status_breakdown_type_year", "train", [
        "Of the {dtypes} purchased in {year}, how many are in each status?",
        "Break down {dtypes} bought in {year} by status.",
        "status counts for {year} {dtype_txt} purchases",
        "For {dtypes} we bought in {year}, show how many are in use, spare, in repair and retired.",
    ], "SELECT status, COUNT(*) AS device_count FROM devices WHERE type = '{dtype}' "
       "AND strftime('%Y', purchase_date) = '{year}' GROUP BY status",
        lambda C: prod(C.dtype, C.year)),

    T("purch_vendor_totals_dept_year", "train", [
        "How much did {dept} spend with each vendor in {year}? Highest first.",
        "Show {dept}'s {year} purchase totals per vendor, largest to smallest.",
        "{dept} spend by vendor for {year}",
        "For {year}, list each vendor {dept} bought from and the total amount, sorted by amount descending.",
    ], "SELECT p.vendor, ROUND(SUM(p.amount_usd), 2) AS total_usd FROM purchases p JOIN departments d "
       "ON p.department_id = d.id WHERE d.name = '{dept}' AND strftime('%Y', p.purchased_at) = '{year}' "
       "GROUP BY p.vendor ORDER BY total_usd DESC",
        lambda C: prod(C.dept, C.year)),

    T("emp_headcount_by_dept_location", "train", [
        "How many {who} does each department in {location} have?",
        "For the {location} departments, count {who} per department, biggest first.",
        "{location}: number of {who} by department",
        "Show every department located in {location} with its number of {who}, sorted descending.",
    ], "SELECT d.name, COUNT(*) AS headcount FROM employees e JOIN departments d ON e.department_id = d.id "
       "WHERE d.location = '{location}'{cond} GROUP BY d.name ORDER BY headcount DESC",
        lambda C: prod(C.location, ACTIVE_E)),

    T("lic_seats_per_sw_dept", "train", [
        "How many active seats of each software product does {dept} have?",
        "For {dept}, count the active licenses per software product, most first.",
        "{dept} active license seats by software",
        "Which software does {dept} use and how many active seats of each?",
    ], "SELECT s.name, COUNT(*) AS seats FROM licenses l JOIN software s ON l.software_id = s.id "
       "JOIN employees e ON l.employee_id = e.id JOIN departments d ON e.department_id = d.id "
       "WHERE d.name = '{dept}' AND l.end_date IS NULL GROUP BY s.name ORDER BY seats DESC",
        lambda C: C.dept),

    T("having_dept_tickets_year", "train", [
        "Which departments opened more than {n} tickets in {year}?",
        "List departments with over {n} tickets opened during {year}, with their counts.",
        "depts that filed > {n} tickets in {year}",
        "In {year}, which departments raised more than {n} help-desk tickets, and how many?",
    ], "SELECT d.name, COUNT(*) AS ticket_count FROM tickets t JOIN employees e ON t.opened_by = e.id "
       "JOIN departments d ON e.department_id = d.id WHERE strftime('%Y', t.opened_at) = '{year}' "
       "GROUP BY d.name HAVING COUNT(*) > {n}",
        lambda C: prod(C.year, n_([10, 20, 30, 50, 75]))),

    T("having_emp_devices_dept", "train", [
        "Which people in {dept} have more than {n} devices assigned?",
        "List {dept} employees holding over {n} devices, with their device counts.",
        "who in {dept} has > {n} devices?",
        "Find employees of {dept} with more than {n} assigned devices, most devices first.",
    ], "SELECT e.first_name, e.last_name, COUNT(*) AS device_count FROM devices dv JOIN employees e "
       "ON dv.assigned_to = e.id JOIN departments d ON e.department_id = d.id WHERE d.name = '{dept}' "
       "GROUP BY e.id, e.first_name, e.last_name HAVING COUNT(*) > {n} ORDER BY device_count DESC",
        lambda C: prod(C.dept, n_([2, 3])), max_rows=80),

    T("top_n_expensive_devices", "train", [
        "List the {n} most expensive {dtypes}.",
        "What are the top {n} {dtypes} by cost? Show asset tag, model and cost.",
        "{n} priciest {dtypes}",
        "Show the asset tags, models and costs of our {n} costliest {dtypes}.",
    ], "SELECT asset_tag, model, cost_usd FROM devices WHERE type = '{dtype}' ORDER BY cost_usd DESC LIMIT {n}",
        lambda C: prod(C.dtype, n_([3, 5, 10]))),

    T("top_n_depts_spend_year", "train", [
        "Which {n} departments spent the most on purchases in {year}?",
        "Top {n} departments by total purchase spend in {year}.",
        "{year}: {n} biggest-spending departments",
        "Rank departments by {year} purchase spend and show the top {n} with their totals.",
    ], "SELECT d.name, ROUND(SUM(p.amount_usd), 2) AS total_usd FROM purchases p JOIN departments d "
       "ON p.department_id = d.id WHERE strftime('%Y', p.purchased_at) = '{year}' GROUP BY d.name "
       "ORDER BY total_usd DESC LIMIT {n}",
        lambda C: prod(C.year, n_([3, 5]))),

    T("newest_hires_dept", "train", [
        "Who are the {n} most recent hires in {dept}?",
        "List the {n} newest {dept} employees with their hire dates.",
        "latest {n} people hired into {dept}",
        "Show the last {n} people {dept} hired, newest first.",
    ], "SELECT e.first_name, e.last_name, e.hire_date FROM employees e JOIN departments d ON e.department_id = d.id "
       "WHERE d.name = '{dept}' ORDER BY e.hire_date DESC LIMIT {n}",
        lambda C: prod(C.dept, n_([3, 5]))),

    T("top_software_cost", "train", [
        "Which {n} software products cost us the most in active seat fees?",
        "Top {n} software by total annual cost of active licenses.",
        "{n} most expensive software products by active seat cost",
        "Rank software by the summed seat cost of active licenses; show the top {n}.",
    ], "SELECT s.name, ROUND(SUM(l.seat_cost_usd), 2) AS total_cost FROM licenses l JOIN software s "
       "ON l.software_id = s.id WHERE l.end_date IS NULL GROUP BY s.name ORDER BY total_cost DESC LIMIT {n}",
        lambda C: n_(range(2, 11))),

    T("slowest_tickets_priority", "train", [
        "Which {n} {priority} priority tickets took the longest to resolve?",
        "List the {n} slowest-resolved {priority} tickets with category, opened and resolved times.",
        "{n} longest {priority}-priority tickets by resolution time",
        "Show the {priority} tickets with the longest time between opening and resolution, top {n}.",
    ], "SELECT id, category, opened_at, resolved_at FROM tickets WHERE priority = '{priority}' "
       "AND resolved_at IS NOT NULL ORDER BY julianday(resolved_at) - julianday(opened_at) DESC LIMIT {n}",
        lambda C: prod(C.priority, n_([3, 5, 10]))),

    T("tickets_month_year", "train", [
        "How many tickets were opened in {month_name} {year}?",
        "Count the tickets created during {month_name} {year}.",
        "ticket count for {ym}",
        "What was the number of new tickets in {month_name} of {year}?",
    ], "SELECT COUNT(*) FROM tickets WHERE strftime('%Y-%m', opened_at) = '{ym}'",
        lambda C: C.month),

    T("purchases_in_range", "train", [
        "List all purchases made between {d1_txt} and {d2_txt}.",
        "Show the purchases from {d1} to {d2} with date, vendor, item and amount.",
        "purchases dated {d1} through {d2}",
        "What did we buy between {d1_txt} and {d2_txt}? Oldest first.",
    ], "SELECT purchased_at, vendor, item, amount_usd FROM purchases WHERE purchased_at BETWEEN '{d1}' AND '{d2}' "
       "ORDER BY purchased_at",
        lambda C: C.month),

    T("lic_ended_sw_year", "train", [
        "How many {software} licenses ended in {year}?",
        "Count the {software} seats whose end date falls in {year}.",
        "number of {software} licenses that expired during {year}",
        "In {year}, how many {software} licenses came to an end?",
    ], "SELECT COUNT(*) FROM licenses l JOIN software s ON l.software_id = s.id WHERE s.name = '{software}' "
       "AND strftime('%Y', l.end_date) = '{year}'",
        lambda C: prod(C.software, C.year)),

    T("dev_bought_type_year", "train", [
        "How many {dtypes} did we buy in {year}?",
        "Count the {dtypes} purchased during {year}.",
        "{dtype_txt} purchases in {year}: how many?",
        "What number of {dtypes} were bought in {year}?",
    ], "SELECT COUNT(*) FROM devices WHERE type = '{dtype}' AND strftime('%Y', purchase_date) = '{year}'",
        lambda C: prod(C.dtype, C.year)),

    T("emp_hired_before_dept", "train", [
        "How many current {dept} employees were hired before {year}?",
        "Count active {dept} staff whose hire date is earlier than {year}.",
        "active people in {dept} hired prior to {year}",
        "Of the people still working in {dept}, how many started before {year}?",
    ], "SELECT COUNT(*) FROM employees e JOIN departments d ON e.department_id = d.id WHERE d.name = '{dept}' "
       "AND e.is_active = 1 AND e.hire_date < '{year}-01-01'",
        lambda C: prod(C.dept, [y for y in C.year if y["year"] != "2019"])),

    T("tickets_unresolved_before_date", "train", [
        "How many tickets opened before {date_txt} are still unresolved?",
        "Count unresolved tickets that were opened prior to {date}.",
        "unresolved tickets opened before {date}",
        "How many tickets from before {date_txt} still have no resolution date?",
    ], "SELECT COUNT(*) FROM tickets WHERE resolved_at IS NULL AND opened_at < '{date}'",
        lambda C: C.first_of_month),

    T("distinct_vendors_dept", "train", [
        "Which vendors has {dept} bought from?",
        "List the distinct vendors on {dept}'s purchases.",
        "vendors used by {dept}",
        "From which suppliers has the {dept} department made purchases? Alphabetical please.",
    ], "SELECT DISTINCT p.vendor FROM purchases p JOIN departments d ON p.department_id = d.id "
       "WHERE d.name = '{dept}' ORDER BY p.vendor",
        lambda C: C.dept),

    T("distinct_models_type_status", "train", [
        "What different {dtype_txt} models are {dstatus_txt}?",
        "List the distinct models of {dtypes} with status {dstatus}.",
        "unique {dtype_txt} models that are {dstatus_txt}",
        "Which {dtype_txt} models show up among devices that are {dstatus_txt}?",
    ], "SELECT DISTINCT model FROM devices WHERE type = '{dtype}' AND status = '{dstatus}' ORDER BY model",
        lambda C: prod(C.dtype, C.dstatus)),

    T("distinct_titles_dept", "train", [
        "What job titles exist in {dept}?",
        "List the distinct titles held by {dept} employees.",
        "unique job titles in the {dept} department",
        "Which different roles are there in {dept}?",
    ], "SELECT DISTINCT e.title FROM employees e JOIN departments d ON e.department_id = d.id "
       "WHERE d.name = '{dept}' ORDER BY e.title",
        lambda C: C.dept),

    T("dev_unassigned_type_year", "train", [
        "How many {dtypes} bought in {year} are not assigned to anyone?",
        "Count the unassigned {dtypes} purchased in {year}.",
        "{year} {dtypes} with no assignee",
        "Of the {dtypes} we purchased in {year}, how many have nobody assigned?",
    ], "SELECT COUNT(*) FROM devices WHERE type = '{dtype}' AND assigned_to IS NULL "
       "AND strftime('%Y', purchase_date) = '{year}'",
        lambda C: prod(C.dtype, C.year)),

    T("tickets_no_device_category_year", "train", [
        "How many {category} tickets opened in {year} have no device linked?",
        "Count {year} {category} tickets without a device.",
        "{category} tickets in {year} where device_id is missing",
        "In {year}, how many {category} tickets were not tied to any device?",
    ], "SELECT COUNT(*) FROM tickets WHERE category = '{category}' AND device_id IS NULL "
       "AND strftime('%Y', opened_at) = '{year}'",
        lambda C: prod(C.category, C.year)),

    T("active_licenses_sw", "train", [
        "How many {software} licenses are still active?",
        "Count the active {software} seats.",
        "number of {software} licenses with no end date",
        "How many people currently hold an active {software} license?",
    ], "SELECT COUNT(*) FROM licenses l JOIN software s ON l.software_id = s.id WHERE s.name = '{software}' "
       "AND l.end_date IS NULL",
        lambda C: C.software),

    T("emp_missing_sw_dept", "train", [
        "Which current {dept} employees don't have an active {software} license?",
        "List active people in {dept} without a {software} seat.",
        "{dept} staff missing {software}",
        "Who in {dept} (active employees only) lacks an active {software} license?",
    ], "SELECT first_name, last_name FROM employees WHERE is_active = 1 AND department_id = "
       "(SELECT id FROM departments WHERE name = '{dept}') AND id NOT IN (SELECT l.employee_id FROM licenses l "
       "JOIN software s ON l.software_id = s.id WHERE s.name = '{software}' AND l.end_date IS NULL)",
        lambda C: C.dept_sw_common, max_rows=60),

    T("tickets_dept_priority", "train", [
        "How many {priority} priority tickets were opened by people in {dept}?",
        "Count the {priority} tickets raised by {dept} employees.",
        "{priority} tickets from {dept}: how many?",
        "What number of {priority}-priority tickets came from the {dept} department?",
    ], "SELECT COUNT(*) FROM tickets t JOIN employees e ON t.opened_by = e.id JOIN departments d "
       "ON e.department_id = d.id WHERE d.name = '{dept}' AND t.priority = '{priority}'",
        lambda C: prod(C.dept, C.priority)),

    T("devices_dept_type", "train", [
        "How many {dtypes} are assigned to people in {dept}?",
        "Count the {dtypes} held by {dept} employees.",
        "{dtypes} assigned in {dept}",
        "What's the number of {dtypes} assigned to members of the {dept} team?",
    ], "SELECT COUNT(*) FROM devices dv JOIN employees e ON dv.assigned_to = e.id JOIN departments d "
       "ON e.department_id = d.id WHERE d.name = '{dept}' AND dv.type = '{dtype}'",
        lambda C: prod(C.dept, C.dtype)),

    T("tickets_weekend_year", "train", [
        "How many {txt}tickets were opened on a weekend in {year}?",
        "Count {txt}tickets opened on Saturdays or Sundays during {year}.",
        "weekend {txt}tickets in {year}",
        "In {year}, how many {txt}tickets were created on a Saturday or Sunday?",
    ], "SELECT COUNT(*) FROM tickets WHERE strftime('%Y', opened_at) = '{year}' "
       "AND strftime('%w', opened_at) IN ('0', '6'){cond}",
        lambda C: prod(C.year, opt("", [{"cond": f" AND priority = '{p}'", "txt": f"{p} priority "}
                                        for p in ("low", "medium", "high", "critical")]))),

    T("count_distinct_vendors_dept_year", "train", [
        "How many different vendors did {dept} buy from in {year}?",
        "Count the distinct vendors on {dept}'s {year} purchases.",
        "number of unique vendors {dept} used in {year}",
        "From how many separate suppliers did {dept} purchase in {year}?",
    ], "SELECT COUNT(DISTINCT p.vendor) FROM purchases p JOIN departments d ON p.department_id = d.id "
       "WHERE d.name = '{dept}' AND strftime('%Y', p.purchased_at) = '{year}'",
        lambda C: prod(C.dept, C.year)),

    # ----------------------------------------------------------- validation
    T("purch_max_vendor", "validation", [
        "What was the largest single purchase from {vendor}{txt}?",
        "Biggest order amount with {vendor}{txt}?",
        "max purchase amount for vendor {vendor}{txt}",
        "How much was our most expensive {vendor} purchase{txt}?",
    ], "SELECT MAX(amount_usd) FROM purchases WHERE vendor = '{vendor}'{cond}",
        lambda C: prod(C.pvendor, opt("", [{"cond": f" AND strftime('%Y', purchased_at) = '{y}'", "txt": f" in {y}"}
                                           for y in ("2021", "2023", "2025")]))),

    T("hires_per_year_dept", "validation", [
        "How many people did {dept} hire each year?",
        "Show the number of {dept} hires per year, in year order.",
        "{dept} hiring by year",
        "Year by year, how many employees joined {dept}?",
    ], "SELECT strftime('%Y', e.hire_date) AS year, COUNT(*) AS hires FROM employees e JOIN departments d "
       "ON e.department_id = d.id WHERE d.name = '{dept}' GROUP BY year ORDER BY year",
        lambda C: C.dept),

    T("unresolved_tickets_priority_category", "validation", [
        "Which {priority} priority {category} tickets have not been resolved yet?",
        "List unresolved {category} tickets with {priority} priority: id, status and when opened.",
        "{priority} {category} tickets with no resolved_at",
        "Show the {category} tickets of {priority} priority that are still waiting for a resolution, oldest first.",
    ], "SELECT id, status, opened_at FROM tickets WHERE priority = '{priority}' AND category = '{category}' "
       "AND resolved_at IS NULL ORDER BY opened_at",
        lambda C: prod(C.priority, C.category)),

    T("ticket_device_type_year", "validation", [
        "How many tickets about {dtypes} were opened in {year}?",
        "Count {year} tickets linked to a {dtype_txt}.",
        "{dtype_txt}-related tickets in {year}",
        "In {year}, how many tickets involved one of our {dtypes}?",
    ], "SELECT COUNT(*) FROM tickets t JOIN devices dv ON t.device_id = dv.id WHERE dv.type = '{dtype}' "
       "AND strftime('%Y', t.opened_at) = '{year}'",
        lambda C: prod(C.dtype, C.year)),

    T("having_sw_seats", "validation", [
        "Which software products have more than {n} active seats?",
        "List software with over {n} active licenses and the seat counts, largest first.",
        "software with > {n} active seats",
        "Find the products where we hold more than {n} active licenses.",
    ], "SELECT s.name, COUNT(*) AS seats FROM licenses l JOIN software s ON l.software_id = s.id "
       "WHERE l.end_date IS NULL GROUP BY s.name HAVING COUNT(*) > {n} ORDER BY seats DESC",
        lambda C: n_([20, 30, 40, 50, 75, 100, 120, 150, 200, 250, 500])),

    T("sw_vendor_seat_count", "validation", [
        "How many active seats do we have across all {vendor} products?",
        "Count active licenses for software sold by {vendor}.",
        "{vendor} active license total",
        "Across every {vendor} product, how many licenses are still active?",
    ], "SELECT COUNT(*) FROM licenses l JOIN software s ON l.software_id = s.id WHERE s.vendor = '{vendor}' "
       "AND l.end_date IS NULL",
        lambda C: C.swvendor),

    T("purch_count_vendor_year", "validation", [
        "How many orders did we place with {vendor} in {year}?",
        "Count the purchases from {vendor} during {year}.",
        "{vendor} purchase count {year}",
        "In {year}, how many times did we buy from {vendor}?",
    ], "SELECT COUNT(*) FROM purchases WHERE vendor = '{vendor}' AND strftime('%Y', purchased_at) = '{year}'",
        lambda C: prod(C.pvendor, C.year)),

    # ----------------------------------------------------------------- test
    T("lic_cost_dept", "test", [
        "What does {dept} pay per year for its active software seats?",
        "Total yearly license spend for the {dept} department (active licenses only)?",
        "annual software seat cost, {dept}, current licenses",
        "Add up the seat cost of all active licenses held by {dept} staff.",
    ], "SELECT ROUND(SUM(l.seat_cost_usd), 2) FROM licenses l JOIN employees e ON l.employee_id = e.id "
       "JOIN departments d ON e.department_id = d.id WHERE d.name = '{dept}' AND l.end_date IS NULL",
        lambda C: C.dept),

    T("having_vendor_spend_year", "test", [
        "Which vendors received more than ${n} from us in {year}?",
        "In {year}, list the suppliers whose purchases totaled above {n} dollars, biggest first.",
        "vendors with {year} spend over {n}",
        "Show every vendor we paid more than ${n} in total during {year}, with the amount.",
    ], "SELECT vendor, ROUND(SUM(amount_usd), 2) AS total_usd FROM purchases WHERE strftime('%Y', purchased_at) = '{year}' "
       "GROUP BY vendor HAVING SUM(amount_usd) > {n} ORDER BY total_usd DESC",
        lambda C: prod(C.year, n_([25000, 50000, 100000, 150000]))),

    T("top_n_ticket_filers_year", "test", [
        "Who were the {n} biggest ticket filers in {year}?",
        "Name the {n} employees that raised the most tickets during {year}, with their totals.",
        "top {n} requesters by ticket volume, {year}",
        "In {year}, which {n} people submitted the largest number of help-desk tickets?",
    ], "SELECT e.first_name, e.last_name, COUNT(*) AS ticket_count FROM tickets t JOIN employees e "
       "ON t.opened_by = e.id WHERE strftime('%Y', t.opened_at) = '{year}' GROUP BY e.id, e.first_name, e.last_name "
       "ORDER BY ticket_count DESC LIMIT {n}",
        lambda C: prod(C.year, n_([3, 5, 10]))),

    T("tickets_per_month_year", "test", [
        "Give me a month-by-month count of {txt}tickets for {year}.",
        "What did monthly {txt}ticket volume look like across {year}?",
        "{year} {txt}tickets per month",
        "For each month of {year}, how many {txt}tickets came in?",
    ], "SELECT strftime('%m', opened_at) AS month, COUNT(*) AS ticket_count FROM tickets "
       "WHERE strftime('%Y', opened_at) = '{year}'{cond} GROUP BY month ORDER BY month",
        lambda C: prod(C.year, opt("", [{"cond": f" AND category = '{c['category']}'", "txt": f"{c['category']} "}
                                        for c in C.category]))),

    T("count_distinct_emp_tickets_year", "test", [
        "How many different employees opened at least one {txt}ticket in {year}?",
        "In {year}, how many distinct people filed {txt}tickets?",
        "unique {txt}ticket openers in {year}",
        "What number of individual staff members raised a {txt}ticket during {year}?",
    ], "SELECT COUNT(DISTINCT opened_by) FROM tickets WHERE strftime('%Y', opened_at) = '{year}'{cond}",
        lambda C: prod(C.year, opt("", [{"cond": f" AND priority = '{p}'", "txt": f"{p} priority "}
                                        for p in ("low", "medium", "high", "critical")]))),

    T("emp_no_devices_dept", "test", [
        "Which active {dept} staff{txt} have no devices at all?",
        "Find current employees in {dept}{txt} who have not been given any device.",
        "{dept} people{txt} with zero assigned equipment",
        "List the {dept} employees{txt} (still employed) that nobody has issued a device to.",
    ], "SELECT e.first_name, e.last_name FROM employees e JOIN departments d ON e.department_id = d.id "
       "LEFT JOIN devices dv ON dv.assigned_to = e.id WHERE d.name = '{dept}' AND e.is_active = 1 "
       "AND dv.id IS NULL{cond}",
        lambda C: prod(C.dept, opt("", [{"cond": f" AND e.hire_date >= '{y}-01-01'", "txt": f" hired since {y}"}
                                        for y in ("2024", "2025")])), max_rows=60),

    T("tickets_resolved_same_day", "test", [
        "How many {priority} priority {category} tickets got resolved the same day they were opened?",
        "Count {category} tickets of {priority} priority closed out on their opening date.",
        "same-day resolutions: {priority} {category} tickets",
        "For {priority}-priority {category} issues, how many were fixed on the day they came in?",
    ], "SELECT COUNT(*) FROM tickets WHERE category = '{category}' AND priority = '{priority}' "
       "AND date(resolved_at) = date(opened_at)",
        lambda C: prod(C.category, C.priority)),

    T("emp_with_sw_dept", "test", [
        "Who in {dept} holds an active {software} license?",
        "Give the names of {dept} employees that currently have a {software} seat.",
        "{software} seat holders in {dept}",
        "Which members of the {dept} team are licensed for {software} right now?",
    ], "SELECT e.first_name, e.last_name FROM employees e JOIN departments d ON e.department_id = d.id "
       "JOIN licenses l ON l.employee_id = e.id JOIN software s ON l.software_id = s.id "
       "WHERE d.name = '{dept}' AND s.name = '{software}' AND l.end_date IS NULL",
        lambda C: C.dept_sw_minor, max_rows=60),

    T("dev_min_purchase_date_model", "test", [
        "When did we buy our first {model}?",
        "What is the earliest purchase date of any {model}?",
        "first {model} purchase date",
        "On which date was the oldest {model} in our inventory bought?",
    ], "SELECT MIN(purchase_date) FROM devices WHERE model = '{model}'",
        lambda C: C.model),

    T("avg_device_cost_per_dept_type", "test", [
        "For assigned {dtypes}{txt}, what's the average cost per department?",
        "Average price of the {dtypes}{txt} each department has been given, highest first.",
        "dept-level mean {dtype_txt} cost{txt}",
        "By department, how much did the assigned {dtypes}{txt} cost on average?",
    ], "SELECT d.name, ROUND(AVG(dv.cost_usd), 2) AS avg_cost FROM devices dv JOIN employees e "
       "ON dv.assigned_to = e.id JOIN departments d ON e.department_id = d.id WHERE dv.type = '{dtype}'{cond} "
       "GROUP BY d.name ORDER BY avg_cost DESC",
        lambda C: prod(C.dtype, opt("", [{"cond": f" AND dv.purchase_date >= '{y}-01-01'", "txt": f" bought since {y}"}
                                         for y in ("2023", "2024", "2025")]))),

    T("purch_quarter_dept", "test", [
        "What did {dept} spend in Q{q} {year}?",
        "Total purchases for {dept} in the {qth} quarter of {year}?",
        "{dept} Q{q}-{year} purchase total",
        "How much money went to purchases for {dept} during quarter {q} of {year}?",
    ], "SELECT ROUND(SUM(p.amount_usd), 2) FROM purchases p JOIN departments d ON p.department_id = d.id "
       "WHERE d.name = '{dept}' AND p.purchased_at BETWEEN '{d1}' AND '{d2}'",
        lambda C: prod(C.dept, C.quarter)),

    T("having_model_tickets", "test", [
        "Which device models have had more than {n} {txt}tickets?",
        "List models with over {n} linked {txt}tickets, most first.",
        "models with > {n} {txt}tickets against them",
        "Find the device models that generated more than {n} {txt}tickets, and how many each.",
    ], "SELECT dv.model, COUNT(*) AS ticket_count FROM tickets t JOIN devices dv ON t.device_id = dv.id{cond} "
       "GROUP BY dv.model HAVING COUNT(*) > {n} ORDER BY ticket_count DESC",
        lambda C: prod(n_([5, 10, 20, 30, 40, 50]), opt("", [{"cond": " WHERE t.category = 'hardware'", "txt": "hardware "},
                                                           {"cond": " WHERE t.category = 'mobile'", "txt": "mobile "}]))),

    T("tickets_avg_resolution_dept", "test", [
        "What was the average time to resolve tickets from {dept} in {year}, in days?",
        "Mean days-to-resolution for {year} tickets opened by {dept} staff?",
        "{dept} {year} tickets: avg resolution days",
        "For tickets raised by {dept} during {year}, how many days did resolution take on average?",
    ], "SELECT ROUND(AVG(julianday(t.resolved_at) - julianday(t.opened_at)), 2) FROM tickets t JOIN employees e "
       "ON t.opened_by = e.id JOIN departments d ON e.department_id = d.id WHERE d.name = '{dept}' "
       "AND strftime('%Y', t.opened_at) = '{year}' AND t.resolved_at IS NOT NULL",
        lambda C: prod(C.dept, C.year)),

    T("emp_band_breakdown_dept", "test", [
        "Break down {dept}'s current staff by salary band.",
        "How are active {dept} employees spread across pay bands?",
        "{dept} active headcount per band",
        "For each salary band, how many people work in {dept} today?",
    ], "SELECT e.salary_band, COUNT(*) AS headcount FROM employees e JOIN departments d ON e.department_id = d.id "
       "WHERE d.name = '{dept}' AND e.is_active = 1 GROUP BY e.salary_band ORDER BY e.salary_band",
        lambda C: C.dept),
]


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------

def _norm(q: str) -> str:
    return " ".join(q.lower().split())


def _run(con, sql, max_rows):
    """Return 'ok', 'zero' or None (error / empty / too many rows)."""
    try:
        rows = con.execute(sql).fetchmany((max_rows or 500) + 1)
    except sqlite3.Error:
        return None
    if not rows or len(rows) > (max_rows or 500):
        return None
    if all(v is None for r in rows for v in r):
        return None
    if len(rows) == 1 and len(rows[0]) == 1 and rows[0][0] == 0:
        return "zero"
    return "ok"


# How people write the same thing: names shortened or lower-cased, everyday words for status values, greetings,
# no question mark. Each question gets some of these at random (fixed seed), so the model learns the meaning,
# not one spelling.
ALIASES = {
    "Warehouse & Logistics": ["warehouse & logistics", "the warehouse", "logistics", "Warehouse and Logistics"],
    "Customer Support": ["customer support", "support", "the support team"],
    "Store Operations": ["store operations", "store ops", "the stores"],
    "Human Resources": ["HR", "human resources"],
    "Engineering": ["engineering", "the engineering team"],
    "Marketing": ["marketing"], "Design": ["design", "the design team"], "Finance": ["finance"],
    "Product": ["the product team"], "Procurement": ["procurement", "purchasing"], "Legal": ["legal"],
    "Sales": ["sales", "the sales team"], "IT": ["the IT team"],
    "Microsoft 365": ["M365", "Office 365"], "Power BI Pro": ["Power BI"], "Zoom Workplace": ["Zoom"],
    "Salesforce Sales Cloud": ["Salesforce", "Sales Cloud"], "Tableau Creator": ["Tableau"],
    "Zendesk Suite": ["Zendesk"], "Adobe Creative Cloud": ["Creative Cloud", "Adobe CC"],
    "Adobe Acrobat Pro": ["Acrobat"], "GitHub Enterprise": ["GitHub"], "JetBrains All Products": ["JetBrains"],
    "Jira Software": ["Jira"], "Workday HCM": ["Workday"], "DocuSign eSignature": ["DocuSign"],
    "1Password Business": ["1Password"], "ServiceNow ITSM": ["ServiceNow"], "Manhattan WMS": ["Manhattan"],
    "Slack Business+": ["Slack"],
    "in repair": ["being repaired", "being fixed", "out for repair", "in the repair shop"],
    "spare": ["unused", "sitting spare", "in storage"],
    "in use": ["in use", "deployed", "being used"],
    "retired": ["decommissioned", "retired", "taken out of service"],
    "in progress": ["being worked on", "in progress"],
    "open": ["open", "new and untouched"],
    "resolved": ["resolved", "solved"],
    "current employees": ["active employees", "current staff", "people still employed", "active staff"],
    "former employees": ["ex-employees", "people who left", "former staff", "leavers"],
    "laptops": ["notebooks", "laptop computers"], "phones": ["mobile phones", "cell phones", "smartphones"],
    "monitors": ["screens", "displays"], "desktops": ["desktop PCs", "desktop computers"],
    "tablets": ["tablet devices", "iPads and tablets"],
}
OPENERS = ["Can you tell me ", "Quick question: ", "I need to know ", "Please find out ", "Hey, ", "Do you know "]


def vary_wording(question: str, slot: dict, rng: random.Random) -> str:
    """`question` with some of its slot values written as people type them (ALIASES), sometimes in lower case,
    without the final question mark, or after an opener."""
    for value in sorted({v for k, v in slot.items() if k not in ("cond", "agg")}, key=lambda v: (-len(v), v)):
        if value in ALIASES and value in question and rng.random() < 0.5:
            question = question.replace(value, rng.choice(ALIASES[value]), 1)
    roll = rng.random()
    if roll < 0.15:
        first = question.split()[0]
        question = rng.choice(OPENERS) + (first[0].lower() + first[1:] if first[1:].islower() else first) \
            + question[len(first):]
    elif roll < 0.35:
        question = question.lower()
    if rng.random() < 0.3:
        question = question.rstrip("?.")
    return question


def generate(con, rng):
    C = Ctx(con)
    pairs, seen = [], set()
    for t in TEMPLATES:
        cands = t.slots(C)
        for c in cands:
            for k, v in c.items():
                assert k in ("cond", "agg") or "'" not in v, (t.id, v)
        rng.shuffle(cands)
        out, zeros, used = [], 0, 0
        for rnd in range(3):                 # extra rounds reuse slots with another phrasing
            for _i, slot in enumerate(cands):
                if len(out) >= PAIRS_PER_TEMPLATE[t.split]:
                    break
                sql = t.sql.format(**slot)
                status = _run(con, sql, t.max_rows)
                if status is None or (status == "zero" and zeros >= 1):
                    continue
                phrasing = (used + rnd) % len(t.questions)
                q = vary_wording(t.questions[phrasing].format(**slot), slot, rng)
                if _norm(q) in seen:
                    continue
                used += 1
                seen.add(_norm(q))
                zeros += status == "zero"
                out.append({"template": t.id, "split": t.split, "question": q, "sql": sql, "phrasing": phrasing})
        if len(out) < PAIRS_PER_TEMPLATE[t.split]:
            print(f"warning: {t.id} produced only {len(out)} pairs", file=sys.stderr)
        pairs.extend(out)
    return pairs


def held_out_phrasing(t) -> int:
    """The phrasing of a train template that goes to test: the one least like the template's other phrasings
    (smallest highest difflib similarity, placeholders included), so its questions are not near-copies."""
    def closest(i):
        return max(difflib.SequenceMatcher(None, t.questions[i].lower(), q.lower()).ratio()
                   for j, q in enumerate(t.questions) if j != i)
    return min(range(len(t.questions)), key=lambda i: (closest(i), i))


def sql_shape(sql: str) -> str:
    """The query with its values blanked: two queries share a shape when only department, year, ... differ."""
    return re.sub(r"\b\d+(\.\d+)?\b", "0", re.sub(r"'[^']*'", "?", sql))


def is_composed(p) -> bool:
    return p["template"].startswith(COMPOSED_PREFIX)


def assign_splits(pairs):
    """Final split and test part of every pair (see the module docstring)."""
    held = {t.id: held_out_phrasing(t) for t in TEMPLATES if t.split == "train"}
    core = {t.id for t in TEMPLATES if t.split == "core"}
    for p in pairs:
        if p["split"] == "core" or is_composed(p):  # core: few slot values, every phrasing trains
            p["split"] = "train"
            continue
        if p["split"] == "train" and p["phrasing"] == held[p["template"]]:
            p["split"], p["part"] = "test", "new_wording"
        elif p["split"] == "test":
            p["part"] = "new_shape"
    # A slot reused with another phrasing can give a train pair the same query as a held-out one: drop it from
    # train, so no test answer appears in training word for word.
    test_sql = {p["sql"] for p in pairs if p["split"] == "test"}
    pairs = [p for p in pairs if not (p["split"] == "train" and p["sql"] in test_sql and p["template"] not in core)]
    return drop_composed_overlap(pairs)


def drop_composed_overlap(pairs):
    """Composed pairs (compose.py) train only, and only where they add no held-out item to training: none has the
    query shape of a validation or new-shape test template, or a question like a validation or test question."""
    overlaps = held_out_overlap(pairs)
    kept = [p for p in pairs if not (is_composed(p) and overlaps(p))]
    print(f"dropped {len(pairs) - len(kept)} composed pairs that overlap held-out items", file=sys.stderr)
    return kept


def held_out_overlap(pairs):
    """A test of one pair: True when it has the query shape of a validation or new-shape test template of `pairs`,
    or a question like one of their validation or test questions."""
    held_shapes = {sql_shape(p["sql"]) for p in pairs if p["split"] == "validation" or p.get("part") == "new_shape"}
    like_held = near_copy_of([_norm(p["question"]) for p in pairs if p["split"] in ("validation", "test")])

    def overlaps(p):
        return sql_shape(p["sql"]) in held_shapes or like_held(_norm(p["question"]))

    return overlaps


DECONTAMINATE = 0.85  # difflib ratio from which a generated question counts as a copy of an independent one


def near_copy_of(others):
    """A test of one text: True when its difflib ratio to one of `others` reaches DECONTAMINATE. Each of `others`
    is indexed once (difflib indexes the second sequence), and the quick ratios, upper bounds of ratio(), skip most
    exact comparisons."""
    matchers = [difflib.SequenceMatcher(None, "", other) for other in others]

    def test(text):
        for matcher in matchers:
            matcher.set_seq1(text)
            if matcher.real_quick_ratio() >= DECONTAMINATE and matcher.quick_ratio() >= DECONTAMINATE \
                    and matcher.ratio() >= DECONTAMINATE:
                return True
        return False

    return test


def decontaminate(pairs):
    """Drop generated pairs whose question nearly copies a question of the independent evaluation set
    (independent.jsonl, written from the schema alone): that set must measure questions nobody templated. Only
    its questions are read, to exclude them; nothing here is generated from it."""
    path = os.path.join(HERE, "independent.jsonl")
    if not os.path.exists(path):
        return pairs
    with open(path, encoding="utf-8") as f:
        copies = near_copy_of([json.loads(line)["question"].lower() for line in f if line.strip()])
    kept = [p for p in pairs if not copies(p["question"].lower())]
    print(f"dropped {len(pairs) - len(kept)} pairs that nearly copy an independent question", file=sys.stderr)
    return kept


MORE_COMPOSED = 4  # train_more.jsonl: this many times compose.py's default number of pairs per table


def more_composed(con, pairs):
    """Pairs for `train_more.jsonl`, which only `python -m course_lib train-longer` adds to train.jsonl: composed
    questions drawn again with another seed and MORE_COMPOSED times the quota per table, minus every question
    already in `pairs`, and filtered like the first draw (no copy of an independent question, no held-out query
    shape or question, no test query)."""
    import compose

    quota = {table: MORE_COMPOSED * n for table, n in compose.DEFAULT_PER_TABLE.items()}
    seen = {_norm(p["question"]) for p in pairs}
    test_sql = {p["sql"] for p in pairs if p["split"] == "test"}
    more = [p for p in compose.composed_pairs(con, random.Random(f"{SEED}-compose-more"), quota)
            if _norm(p["question"]) not in seen and p["sql"] not in test_sql]
    overlaps = held_out_overlap(pairs)
    kept = [p for p in decontaminate(more) if not overlaps(p)]
    print(f"train_more: dropped {len(more) - len(kept)} pairs that copy or overlap held-out items", file=sys.stderr)
    for p in kept:
        p["split"] = "train_more"
    return kept


def to_record(p):
    record = {"messages": [{"role": "system", "content": SYSTEM_PROMPT},
                           {"role": "user", "content": p["question"]},
                           {"role": "assistant", "content": p["sql"]}],
              "template": p["template"]}
    if "part" in p:
        record["part"] = p["part"]
    return record


def main(out_dir=HERE) -> int:
    db_path = os.path.join(out_dir, "it.sqlite")
    build_db.build_database(db_path)
    with open(os.path.join(out_dir, "schema.txt"), "w", encoding="utf-8") as fh:  # what course_lib reads for prompts
        fh.write(build_db.schema_description() + "\n")
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        import compose  # builds on this module's slot values and wording helpers

        pairs = generate(con, random.Random(SEED))
        seen = {_norm(p["question"]) for p in pairs}
        pairs += [p for p in compose.composed_pairs(con, random.Random(f"{SEED}-compose"))
                  if _norm(p["question"]) not in seen]
        pairs = assign_splits(decontaminate(pairs))
        pairs += more_composed(con, pairs)
    finally:
        con.close()
    counts = {}
    for split in ("train", "validation", "test", "train_more"):
        rows = [p for p in pairs if p["split"] == split]
        random.Random(f"{SEED}-{split}").shuffle(rows)
        tmp = os.path.join(out_dir, f".{split}.jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for p in rows:
                f.write(json.dumps(to_record(p), ensure_ascii=False) + "\n")
        os.replace(tmp, os.path.join(out_dir, f"{split}.jsonl"))
        counts[split] = (len(rows), len({p["template"] for p in rows}))
    for split, (n, k) in counts.items():
        print(f"{split:10s} {n:4d} pairs from {k:2d} templates")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
