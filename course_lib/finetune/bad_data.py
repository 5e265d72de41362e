"""Bad training data, on purpose: answers swapped between examples, and values a query invents. Taught in 03.

A baseline only catches a regression if someone measures it: lesson 03 trains on a corrupted copy of its data and
measures the drop, and checks generated SQL for values the question never named (`ungrounded_values`).
"""

from __future__ import annotations

import json
import random
import re

from ..datasets import answer_of, question_of
from .validation import normal_text


def corrupt_answers(examples: list[dict], share: float = 0.4, seed: int = 0) -> tuple[list[dict], list[int]]:
    """A copy of `examples` in which `share` of the answers are swapped for another example's answer: valid SQL,
    valid JSON, the wrong query for its question — what a careless export or a shifted join produces. Returns the
    copy and the indices changed. Taught in 03_fine_tuning."""
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(examples)), round(share * len(examples))))
    answers = [answer_of(examples[i]) for i in chosen]
    donors = answers[1:] + answers[:1]  # each chosen example gets the next chosen one's answer
    corrupted = [json.loads(json.dumps(e)) for e in examples]
    for index, donor in zip(chosen, donors, strict=True):
        corrupted[index]["messages"][-1]["content"] = donor
    return corrupted, [i for i, d in zip(chosen, donors, strict=True) if d != answer_of(examples[i])]


EVERYDAY_WORDS = {  # words people use for some of the IT database's values (see ungrounded_values)
    "repair": ["fix", "broken"], "in_use": ["deployed", "used", "active"], "spare": ["unused", "storage", "available"],
    "retired": ["decommission", "taken"], "in_progress": ["worked", "working"], "resolved": ["solved"],
    "open": ["new"], "monitor": ["screen", "display"], "laptop": ["notebook"], "phone": ["mobile", "cell", "smart"],
    "desktop": ["pc"], "tablet": ["ipad"], "Human Resources": ["hr"], "Procurement": ["purchasing"],
    "Microsoft 365": ["m365", "office"], "Amazon Web Services": ["aws"],
}
PLAIN_NUMBERS = {"0", "1", "2", "24"}  # numbers SQL uses for itself: is_active flags, ROUND(…, 2), hours per day


def number_forms(number: str) -> set[str]:
    """How a question may write a number of the SQL: 50000 as "50000", "50,000", "50k"; 1500 as "1.5k"."""
    forms = {number}
    if float(number).is_integer():
        n = int(float(number))
        forms |= {str(n), f"{n:,}"}
        if n >= 1000 and n % 100 == 0:
            forms.add(f"{n / 1000:g}k")
    return forms


def ungrounded_values(example: dict) -> list[str]:
    """The quoted values in an SQL answer that its question never mentions ('Legal' in a question about Sales).
    A cheap content check: a format validator passes a wrong answer that is well-formed. Taught in 03_fine_tuning.

    Skipped: strftime formats ('%Y') and short numeric codes ('0' for Sunday). A date counts as mentioned when its
    year is; other values when one of their words starts a word of the question ('laptop' in "laptops",
    'Customer Support' in "support") or one of the words people use for it does (EVERYDAY_WORDS: 'repair' in
    "being fixed"). Numbers outside quotes (a threshold, a LIMIT) count when the question writes them in one of
    their forms ("$50k" for 50000); SQL's own small numbers (PLAIN_NUMBERS) are skipped.
    """
    words = normal_text(question_of(example).replace("_", " ")).split()
    sql = answer_of(example)
    missing = []
    for value in re.findall(r"'([^']*)'", sql):
        if value.startswith("%") or re.fullmatch(r"\d{1,2}", value):
            continue
        if re.fullmatch(r"\d{4}-\d\d(-\d\d)?.*", value):  # a date or a month: its year must be in the question
            needed = [value[:4]]
        else:
            needed = normal_text(value.replace("%", " ").replace("_", " ")).split()
        needed += EVERYDAY_WORDS.get(value, [])
        if not any(any(w.startswith(n) for w in words) for n in needed):
            missing.append(value)
    question = question_of(example).lower().replace("$", "")
    for number in re.findall(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])", re.sub(r"'[^']*'", "''", sql)):
        if number not in PLAIN_NUMBERS and not any(re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d,])", question)
                                                   for form in number_forms(number)):
            missing.append(number)
    return missing
