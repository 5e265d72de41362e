"""Prompt engineering by measurement: templates, parsers, the evaluation runner, structured output, rubric checks,
an LLM judge and a cost meter. Taught in 01_prompt_engineering.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable

from .datasets import load_prices
from .llm import chat_many
from .pricing import request_cost

LABELS = ("positive", "negative")  # the two sentiment labels of the review data set


# ------------------------------------------------------------------------------------------------------------
# Templates
# ------------------------------------------------------------------------------------------------------------

def few_shot_prompt(text: str, examples: list[dict] = (), instruction: str = "",
                    template: str = "{text}") -> list[dict]:
    """Chat messages for in-context learning: an optional instruction (system), each worked example as a user turn
    with the right answer as the assistant's turn, then the new item as the last user turn. Taught in 01.

    `template` formats every user turn; the answer turns hold just the example's label."""
    messages = [{"role": "system", "content": instruction.strip()}] if instruction.strip() else []
    for e in examples:
        messages += [{"role": "user", "content": template.format(text=e["text"])},
                     {"role": "assistant", "content": e["label"]}]
    messages.append({"role": "user", "content": template.format(text=text)})
    return messages


def delimit(text: str, tag: str = "review") -> str:
    """Wrap untrusted text in XML-style tags, removing any copy of those tags inside it. Taught in 01."""
    cleaned = text
    while f"<{tag}>" in cleaned or f"</{tag}>" in cleaned:  # repeat: removing one tag can join the pieces of another
        cleaned = cleaned.replace(f"<{tag}>", "").replace(f"</{tag}>", "")
    return f"<{tag}>\n{cleaned}\n</{tag}>"


def parse_label(text: str, labels: tuple[str, ...] = LABELS) -> str | None:
    """The label a completion starts with (' Positive.' -> 'positive'), or None if it starts with anything else."""
    match = re.match(r"""\s*["'(\[]*([A-Za-z]+)""", text or "")
    if not match:
        return None
    first = match.group(1).lower()
    return first if first in labels else None


# ------------------------------------------------------------------------------------------------------------
# The evaluation runner
# ------------------------------------------------------------------------------------------------------------

@dataclass
class Evaluation:
    """The scores of one prompt variant on an evaluation set, with every answer kept for inspection."""

    name: str
    accuracy: float  # share of items whose parsed answer equals the expected one
    valid_rate: float  # share of answers the parser could read at all
    prompt_tokens: float  # mean per request
    completion_tokens: float  # mean per request
    latency_s: float  # mean seconds per request (a batch's time shared among its requests)
    answers: list = field(default_factory=list, repr=False)  # (item, raw text, parsed) per item
    expected: Callable[[dict], object] = field(default=lambda item: item["label"], repr=False)  # right answer

    def row(self) -> dict:
        return {"variant": self.name, "accuracy": round(self.accuracy, 3), "valid": round(self.valid_rate, 3),
                "prompt_tokens": round(self.prompt_tokens, 1), "completion_tokens": round(self.completion_tokens, 1),
                "latency_s": round(self.latency_s, 3)}

    def mistakes(self) -> list[tuple[dict, str, object]]:
        """(item, raw answer, parsed answer) for every item whose parsed answer differs from its expected one."""
        return [(item, raw, parsed) for item, raw, parsed in self.answers if parsed != self.expected(item)]


def evaluate_prompt(client, model: str, name: str, build: Callable[[dict], list[dict]], items: list[dict],
                    parse: Callable[[str], object] = parse_label, expected: Callable[[dict], object] | None = None,
                    max_tokens: int = 3, stop: list[str] | None = None, progress: bool = True,
                    meter: CostMeter | None = None) -> Evaluation:
    """Score one prompt variant: `build(item)` gives the chat messages for one item. Taught in 01.

    Runs at temperature 0, many requests at once (`llm.chat_many`). `expected(item)` defaults to item["label"].
    A plain string from `build` is sent as one user message.
    """

    expected = expected or (lambda item: item["label"])
    hidden = ("label", "expected")  # the answer never reaches the prompt builder, so it cannot leak into a prompt
    prompts = [build({k: v for k, v in item.items() if k not in hidden}) for item in items]
    conversations = [[{"role": "user", "content": p}] if isinstance(p, str) else p for p in prompts]
    answers = chat_many(client, model, conversations, max_tokens=max_tokens, temperature=0.0,
                        stop=stop if stop is not None else ["\n"], progress=progress, desc=name)
    parsed = [parse(a.text) for a in answers]
    if meter is not None:
        for a in answers:
            meter.add(a.prompt_tokens, a.completion_tokens)
    n = max(len(items), 1)
    return Evaluation(
        name=name,
        accuracy=sum(p == expected(item) for p, item in zip(parsed, items, strict=True)) / n,
        valid_rate=sum(p is not None for p in parsed) / n,
        prompt_tokens=sum(a.prompt_tokens for a in answers) / n,
        completion_tokens=sum(a.completion_tokens for a in answers) / n,
        latency_s=sum(a.latency_s for a in answers) / n,
        answers=list(zip(items, [a.text for a in answers], parsed, strict=True)),
        expected=expected,
    )


def compare_prompts(client, model: str, variants: dict[str, Callable], items: list[dict], **kwargs):
    """Run every variant over the same items; returns (a pandas table, {name: Evaluation}). Taught in 01."""
    import pandas as pd

    results = {name: evaluate_prompt(client, model, name, build, items, **kwargs) for name, build in variants.items()}
    return pd.DataFrame([r.row() for r in results.values()]).set_index("variant"), results


# ------------------------------------------------------------------------------------------------------------
# Structured output
# ------------------------------------------------------------------------------------------------------------

def parse_json_object(text: str) -> tuple[dict | None, str]:
    """The first JSON object in `text`, or (None, why not). Tolerates text around it and ```json fences."""
    text = (text or "").strip()
    start = text.find("{")
    if start < 0:
        return None, "no '{' in the answer"
    depth, in_string, escaped = 0, False, False
    for i, ch in enumerate(text[start:], start=start):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                try:
                    value = json.loads(text[start:i + 1])
                except ValueError as exc:
                    return None, f"invalid JSON: {exc.msg} at character {exc.pos}"
                return value, ""
    return None, "the JSON object is never closed"


def validate(value, schema: dict) -> str:
    """'' when `value` matches the JSON schema, else the first problem in one line."""
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the object"
        return f"{where}: {exc.message}"
    return ""


@dataclass
class StructuredAnswer:
    value: dict | None  # the parsed, schema-valid object, or None
    error: str  # '' when valid, else why the last attempt failed
    attempts: int  # requests made (1 + retries used)
    raw: str  # the last raw answer


def ask_for_json(client, model: str, messages: list[dict], schema: dict, retries: int = 1, max_tokens: int = 80,
                 stop: list[str] | None = None) -> StructuredAnswer:
    """Ask for JSON, parse and validate it; on failure show the model its answer and the error, and ask again.
    Taught in 01."""
    current, raw, error = list(messages), "", ""
    for attempt in range(1, retries + 2):
        raw = client.chat.completions.create(model=model, messages=current, max_tokens=max_tokens, temperature=0,
                                             stop=stop or None).choices[0].message.content or ""
        value, error = parse_json_object(raw)
        if value is not None:
            error = validate(value, schema)
            if not error:
                return StructuredAnswer(value, "", attempt, raw)
        current = [*messages, {"role": "assistant", "content": raw.strip()},
                   {"role": "user", "content": f"That answer is not valid ({error}). Reply with the corrected JSON "
                                               "object only."}]
    return StructuredAnswer(None, error, retries + 1, raw)


# ------------------------------------------------------------------------------------------------------------
# Judging generated copy
# ------------------------------------------------------------------------------------------------------------

def rubric_check(description: str, product: dict, guide: dict) -> dict:
    """Programmatic checks of a product description against the brand guide. Taught in 01.

    Returns a dict of named booleans plus 'score' (share passed). Checks are strict and explainable: facts
    mentioned (at least two of the product's facts, matched on their key words), banned phrases absent, length
    within the guide's limits, no exclamation marks, the product named.
    """
    text = description.lower()
    words = re.findall(r"[\w'-]+", description)
    mentioned = [f for f in product["facts"] if _mentions(text, f)]
    checks = {
        "names_product": product["name"].lower() in text or product["name"].lower().replace("fernleaf ", "") in text,
        "two_facts": len(mentioned) >= 2,
        "no_banned_phrases": not any(b in text for b in guide["banned_phrases"]),
        "length_ok": guide["length_words"]["min"] <= len(words) <= guide["length_words"]["max"],
        "no_exclamation": "!" not in description,
    }
    checks["score"] = sum(checks.values()) / len(checks)
    checks["facts_found"] = mentioned
    return checks


_STOP = {"the", "a", "an", "and", "or", "of", "with", "for", "from", "to", "in", "on", "made", "by", "is", "it"}


def _mentions(text: str, fact: str) -> bool:
    """A fact counts as mentioned when most of its content words (at least two) appear in the text."""
    keys = [w for w in re.findall(r"[a-z0-9]+", fact.lower()) if w not in _STOP and len(w) > 2]
    hits = sum(w in text for w in keys)
    return hits >= max(2, round(0.6 * len(keys)))


JUDGE_SCHEMA = {"type": "object", "required": ["verdict", "reason"], "additionalProperties": False,
                "properties": {"verdict": {"enum": ["pass", "fail"]}, "reason": {"type": "string", "maxLength": 300}}}


def llm_judge(client, model: str, description: str, product: dict, guide: dict) -> StructuredAnswer:
    """Ask a (stronger) chat model whether a description follows the brand guide; the verdict is parsed strictly
    against JUDGE_SCHEMA, so a rambling or malformed judgement counts as no verdict. Taught in 01."""
    rules = "\n".join(f"- {r}" for r in guide["tone"])
    messages = [
        {"role": "system", "content": "You review marketing copy against a brand guide. Reply with one JSON object "
                                      '{"verdict": "pass" | "fail", "reason": "<one sentence>"} and nothing else.'},
        {"role": "user", "content": f"Brand rules:\n{rules}\nNever say: {', '.join(guide['banned_phrases'])}.\n"
                                    f"Product facts: {'; '.join(product['facts'])}.\n\n"
                                    f"<description>\n{description}\n</description>"},
    ]
    raw = client.chat.completions.create(model=model, messages=messages, temperature=0, max_tokens=120)
    text = raw.choices[0].message.content or ""
    value, error = parse_json_object(text)
    if value is not None:
        error = validate(value, JUDGE_SCHEMA)
    return StructuredAnswer(value if not error else None, error, 1, text)


# ------------------------------------------------------------------------------------------------------------
# Tokens and money
# ------------------------------------------------------------------------------------------------------------

class CostMeter:
    """Counts the tokens of every call and prices them at a hosted model's published rate. Taught in 01.

        meter = CostMeter()
        meter.track(client.chat.completions.create(...))   # returns the response unchanged
        meter.cost("gpt-4o-mini")                           # USD for the same tokens on that model
    """

    def __init__(self, prices: dict | None = None):
        self.prices = prices or load_prices()
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.requests += 1
        self.prompt_tokens += int(prompt_tokens)
        self.completion_tokens += int(completion_tokens)

    def track(self, response):
        """Count a response's usage (a Completion or ChatCompletion) and return the response."""
        usage = getattr(response, "usage", None)
        if usage is not None:
            self.add(usage.prompt_tokens, usage.completion_tokens)
        return response

    def cost(self, model: str) -> float:
        """USD the counted tokens would cost on `model` at the shipped price table's rates."""
        return request_cost(model, self.prompt_tokens, self.completion_tokens, self.prices)

    def table(self):
        """The same tokens priced on every model of the price table, as a DataFrame."""
        import pandas as pd

        rows = [{"model": m, "usd": round(self.cost(m), 6), "usd_per_1k_requests":
                 round(1000 * self.cost(m) / max(self.requests, 1), 4)} for m in self.prices["models"]]
        return pd.DataFrame(rows).set_index("model")

    def __repr__(self) -> str:
        return (f"CostMeter({self.requests} requests, {self.prompt_tokens} prompt + {self.completion_tokens} "
                f"completion tokens; prices as of {self.prices['as_of']})")
