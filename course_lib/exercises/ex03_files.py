"""03_fine_tuning's practice files: a broken training file drawn for this kernel (q1) and contaminated training
sets (q2), whose planted positions only the check sees."""

from __future__ import annotations

import functools
import json
import random
import secrets

from ..datasets import load_sql_pairs, question_of

FILE_SEED = secrets.randbits(32)  # q1: which training examples this kernel's broken file is made from
EDITS = {"in upper case": str.upper, "in lower case": str.lower,
         "with a space before the question mark": lambda q: q.rstrip("?.") + " ?",
         "with doubled spaces": lambda q: "  " + q.replace(" ", "  "),
         "with its end punctuation changed": lambda q: q[:-1] if q.endswith(("?", ".")) else q + "?",
         "with a word dropped": lambda q: q.replace("the ", "", 1)}


def _copy(example: dict) -> dict:
    return json.loads(json.dumps(example))


@functools.cache
def _file_examples() -> list[dict]:
    """Ten training examples drawn for this kernel: the file is not one that a split can rebuild."""
    return random.Random(FILE_SEED).sample(load_sql_pairs("train"), 10)


def broken_training_lines() -> list[str]:
    """q1's training file: twelve lines, five of them broken in the ways the validator reports."""
    train, test = _file_examples(), load_sql_pairs("test")
    good = [json.dumps({"messages": e["messages"]}) for e in train[:8]]
    missing_brace = good[2][:-1]  # the last closing brace was lost
    wrong_role = json.loads(good[5])
    wrong_role["messages"][2]["role"] = "bot"
    empty = _copy({"messages": train[8]["messages"]})
    empty["messages"][2]["content"] = ""
    leak = {"messages": test[FILE_SEED % len(test)]["messages"]}
    lines = list(good)
    lines[2] = missing_brace
    lines[5] = json.dumps(wrong_role)
    lines += [json.dumps(empty), good[1], json.dumps(leak), json.dumps({"messages": train[9]["messages"]})]
    return lines


def _contaminate(seed: int, size: int = 60, leaks: int = 6) -> tuple[list[dict], list[int], list[str]]:
    """`size` training examples with `leaks` test items slipped in, lightly edited; with their positions and
    edits. The check draws its seeds at check time and keeps the positions to itself."""
    rng = random.Random(seed)
    train, test = load_sql_pairs("train"), load_sql_pairs("test")
    chosen = [_copy(e) for e in rng.sample(train, size - leaks)]
    planted, kinds = [], {}
    for k, item in enumerate(rng.sample(test, leaks)):
        kind = list(EDITS)[(k + seed) % len(EDITS)]
        copy = {"messages": _copy(item)["messages"]}
        copy["messages"][1]["content"] = EDITS[kind](question_of(item))
        position = rng.randrange(len(chosen) + 1)
        chosen.insert(position, copy)
        planted = [p + (p >= position) for p in planted] + [position]
        kinds = {p + (p >= position): v for p, v in kinds.items()} | {position: kind}
    return chosen, sorted(planted), [kinds[p] for p in sorted(planted)]


def contaminated_training_set(seed: int = 0) -> list[dict]:
    """q2: a training set of 60 examples with some test items slipped in, lightly edited, to practise on."""
    return _contaminate(seed)[0]
