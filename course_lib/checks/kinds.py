"""The kinds of question an exercise declares, after learntools' FunctionProblem and EqualityCheckProblem: a
function run against the reference on cases drawn at check time, a value compared with a measured one, a choice,
and a score held against a target. The checking code lives here once. Taught in 00_setup."""

from __future__ import annotations

import copy
import math
import random
import secrets
import sys
from collections import Counter
from dataclasses import dataclass

from .core import Incorrect, Question
from .guards import ITEM, copied, fill, holds_item


def fresh_rng() -> random.Random:
    """A generator seeded at check time: no learner can know the cases in advance."""
    return random.Random(secrets.randbits(64))


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Callable(Question):
    """A question whose one variable is a function: refuses anything else with the declared signature."""

    signature = "a function"  # e.g. "(text, size, overlap) -> list of strings"

    def verify(self, function):
        if not callable(function):
            raise Incorrect(f"`{self.variables[0]}` should be a function {self.signature}; got "
                            f"{type(function).__name__}.")
        self.verify_function(function)

    def verify_function(self, function) -> None:
        raise NotImplementedError


class FunctionCheck(Callable):
    """The learner's function against the reference solution on cases generated at check time (edge cases and ties
    among them). Feedback names the kinds of case that failed and how many, never an expected value."""

    advice = ""  # one sentence after the count: what to look at

    def cases(self, rng: random.Random) -> list[tuple[str, tuple]]:
        """(kind of case, arguments) pairs, drawn with `rng`; fixed edge cases may be among them."""
        raise NotImplementedError

    def judge(self, args: tuple, got, expected) -> str:
        """'' when `got` is right, else the kind of mistake (without the expected value)."""
        return "" if got == expected else "a different result"

    def reference(self):
        """The reference solution's function, run from the solution code (the ground truth, kept once)."""
        scope = dict(vars(sys.modules[type(self).__module__]))
        return self.run_solution(scope)[self.variables[0]]

    def verify_function(self, function):
        reference, cases = self.reference(), self.cases(fresh_rng())
        failed: Counter = Counter()
        mistakes: Counter = Counter()
        for kind, args in cases:
            got = self.call(function, *copy.deepcopy(args))
            problem = self.judge(args, got, reference(*copy.deepcopy(args)))
            if problem:
                failed[kind] += 1
                mistakes[problem] += 1
        if failed:
            kinds = "; ".join(f"{kind}: {n}" for kind, n in failed.most_common())
            mistake = mistakes.most_common(1)[0][0]
            raise Incorrect(f"`{self.variables[0]}` was wrong on {sum(failed.values())} of {len(cases)} cases drawn "
                            f"for this check ({kinds}). The commonest mistake: {mistake}. {self.advice}".strip())
        self.praise = f"right on all {len(cases)} cases drawn for this check, edge cases included."


class EqualityCheck(Question):
    """A number compared with the one the check measures itself, within a relative tolerance; near misses that a
    learner plausibly makes are named."""

    tolerance = 0.0  # relative: 0.1 accepts 10% either way
    unit = ""  # how the value is shown, e.g. "$"

    def expected(self):
        raise NotImplementedError

    def near_misses(self, expected) -> list[tuple[float, str]]:
        """(value a known mistake gives, what the mistake is)."""
        return []

    def close(self, value, target) -> bool:
        return abs(value - target) <= self.tolerance * abs(target)

    def verify(self, value):
        if not is_number(value) or (self.tolerance == 0 and not isinstance(value, int)):
            kind = "a whole number" if self.tolerance == 0 else "a number"
            raise Incorrect(f"`{self.variables[0]}` should be {kind}; got {value!r}.")
        expected = self.expected()
        if self.close(value, expected):
            self.praise = self.praised(expected)
            return
        for miss, why in self.near_misses(expected):
            if self.close(value, miss):
                raise Incorrect(why)
        allowed = f"more than {self.tolerance:.0%} away from" if self.tolerance else "not"
        raise Incorrect(f"{self.unit}{value:,} is {allowed} what the check measures. {self.advice}")

    advice = ""

    def praised(self, expected) -> str:
        return ""


class ChoiceCheck(Question):
    """One choice per key, each from `options`; a key may accept several. One verdict per submission: it never says
    which or how many choices are off, so single changes cannot search the answers out."""

    options: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    advice = ""

    def accepted(self, key) -> tuple[str, ...]:
        raise NotImplementedError

    def verify(self, choices):
        if not isinstance(choices, dict):
            raise Incorrect(f"`{self.variables[0]}` should be a dict with one choice per key, "
                            f"like {{{self.keys[0]!r}: {self.options[0]!r}, ...}}.")
        missing = [k for k in self.keys if k not in choices]
        if missing:
            raise Incorrect(f"Make a choice for every key; missing: {', '.join(map(str, missing))}.")
        odd = [v for v in choices.values() if v not in self.options]
        if odd:
            raise Incorrect(f"{odd[0]!r} is not one of {', '.join(map(repr, self.options))}.")
        if any(choices[k] not in self.accepted(k) for k in self.keys):
            raise Incorrect(f"Not every choice fits its case yet. {self.advice}".strip())
        self.praise = self.praised(choices)

    def praised(self, choices) -> str:
        return ""


@dataclass
class Measure:
    """A score held against a target, with what to say either way (never an item's expected value)."""

    score: float
    what: str  # e.g. "accuracy on the 50 dev reviews"
    detail: str = ""  # more on how it went: counts by kind
    praise: str = ""


class ThresholdCheck(Question):
    """A prompt, pipeline or function scored on a set, against a target. Subclasses declare `target` and
    `measure(*values)`; the verdict and its wording live here."""

    target = 0.0
    advice = ""  # what to try when below the target
    percent = True

    def measure(self, *values) -> Measure:
        raise NotImplementedError

    def shown(self, value: float) -> str:
        return f"{value:.0%}" if self.percent else f"{value:.3f}"

    def verify(self, *values):
        result = self.measure(*values)
        if result.score < self.target:
            detail = f" {result.detail}" if result.detail else ""
            raise Incorrect(f"The {result.what} is {self.shown(result.score)}; the target is "
                            f"{self.shown(self.target)}.{detail} {self.advice}".strip())
        self.praise = result.praise or f"{self.shown(result.score)} {result.what}."


class PromptCheck(ThresholdCheck):
    """A prompt function scored on a set it never sees: it is called once, blind (the item's text is ITEM), and
    the check puts each scored item where ITEM stands. No scored or held-out item may appear in any turn."""

    item_key = "text"  # the field of an item that the prompt carries
    copy_run, copy_share = 6, 0.4  # a copy: this many words in a row of an item, or this share of its word triples
    guarded: dict = {}  # split name -> its items, that the prompt may not hold

    def blind(self, function):
        """The learner's prompt for an item it cannot see; checked for shape and for copies."""
        if not callable(function):
            raise Incorrect(f"`{self.variables[0]}` should be a function {self.signature}.")
        template = self.call(function, self.blind_argument())
        if not (isinstance(template, str) or (isinstance(template, list) and template and all(
                isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") for m in template))):
            raise Incorrect(f"`{self.variables[0]}` returned a {type(template).__name__}; return chat messages, a "
                            "list of {'role': ..., 'content': ...} dicts.")
        problem = holds_item(template)
        if problem:
            raise Incorrect(f"Checked on an item it cannot see, your function's messages are off: {problem}.")
        whole = "\n".join(m["content"] for m in template) if isinstance(template, list) else template
        for split, items in self.guarded_items().items():
            copies = copied(whole, items, self.item_key, self.copy_run, self.copy_share)
            if copies:
                raise Incorrect(f"Your prompt holds {len(copies)} item(s) of the {split} split, whole or in part, in "
                                f"its turns. {self.guarded_why(split)} Take examples from the practice data only.")
        return template

    signature = "from an item to chat messages"

    def blind_argument(self):
        return {self.item_key: ITEM}

    def guarded_items(self) -> dict:
        return {}

    def guarded_why(self, split: str) -> str:
        return "A score on items the prompt has already answered proves nothing."

    @staticmethod
    def fill(template, text: str):
        return fill(template, text)
