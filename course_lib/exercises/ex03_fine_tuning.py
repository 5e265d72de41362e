"""Exercises of 03_fine_tuning: repair a training file, find leaked test items, price a hosted job, mask the loss,
pick hyperparameters under a step budget, write execution accuracy, catch wrong answers before training.

Checks run the course's own validator, database and trainer; the one that trains (q5) reuses a cached adapter when
the same configuration was trained before.
"""

from __future__ import annotations

import json
import math
import random

from ..checks import Incorrect, Question, bind
from ..datasets import load_sql_pairs, question_of
from ..finetune import TrainConfig, corrupt_answers, estimate_training_cost, token_stats, train_or_reuse, validate_lines

STEP_BUDGET = 12  # q5: most optimizer steps allowed
BATCH_BUDGET = 4  # q5: most examples per step
TARGET_TOKEN_ACCURACY = 0.65  # q5: validation next-token accuracy on SQL answers to reach (2026-12-02: rate 1e-5
# as given 0.46, 1e-4 0.55, the reference 2e-3 0.71)
EPOCHS = 3  # q3: epochs of the hosted job


def _copy(example: dict) -> dict:
    return json.loads(json.dumps(example))


def broken_training_lines() -> list[str]:
    """q1's training file: twelve lines, five of them broken in the ways the validator reports."""
    train, test = load_sql_pairs("train"), load_sql_pairs("test")
    good = [json.dumps({"messages": e["messages"]}) for e in train[:8]]
    missing_brace = good[2][:-1]  # the last closing brace was lost
    wrong_role = json.loads(good[5])
    wrong_role["messages"][2]["role"] = "bot"
    empty = _copy({"messages": train[8]["messages"]})
    empty["messages"][2]["content"] = ""
    leak = {"messages": test[3]["messages"]}
    lines = list(good)
    lines[2] = missing_brace
    lines[5] = json.dumps(wrong_role)
    lines += [json.dumps(empty), good[1], json.dumps(leak), json.dumps({"messages": train[9]["messages"]})]
    return lines


def contaminated_training_set(seed: int = 0, size: int = 60, leaks: int = 6) -> tuple[list[dict], list[int]]:
    """q2: `size` training examples with `leaks` test items slipped in, lightly edited; returns them and the
    positions of the leaked ones."""
    rng = random.Random(seed)
    train, test = load_sql_pairs("train"), load_sql_pairs("test")
    chosen = [_copy(e) for e in rng.sample(train, size - leaks)]
    edits = [str.upper, str.lower, lambda q: q.rstrip("?.") + " ?", lambda q: "  " + q.replace(" ", "  "),
             lambda q: q[:-1] if q.endswith(("?", ".")) else q + "?", lambda q: q.replace("the ", "", 1)]
    planted = []
    for k, item in enumerate(rng.sample(test, leaks)):
        copy = {"messages": _copy(item)["messages"]}
        copy["messages"][1]["content"] = edits[k % len(edits)](question_of(item))
        position = rng.randrange(len(chosen) + 1)
        chosen.insert(position, copy)
        planted = [p + (p >= position) for p in planted] + [position]
    return chosen, sorted(planted)


class FixTrainingFile(Question):
    """Repair a broken training file until the validator passes"""

    variables = ["fixed_lines"]
    hints = [
        "Run `validate_lines(broken_lines, 'broken.jsonl', holdout=test)` and read the report: each line says what "
        "is wrong.",
        "Repair what can be repaired (a missing brace, a wrong role name) and delete what cannot: an empty answer "
        "(you don't know the right SQL), a duplicate, a test item.",
        "Work on a copy: `fixed_lines = list(broken_lines)`, fix lines by index (line 3 is `fixed_lines[2]`), then "
        "drop the others with a list comprehension.",
    ]
    solution_code = """
    fixed_lines = list(broken_lines)
    fixed_lines[2] = fixed_lines[2] + "}"  # line 3: the closing brace was missing
    fixed_lines[5] = fixed_lines[5].replace('"role": "bot"', '"role": "assistant"')  # line 6: wrong role
    drop = {9, 10, 11}  # line 9: empty answer, line 10: duplicate of line 2, line 11: a test item
    fixed_lines = [line for number, line in enumerate(fixed_lines, start=1) if number not in drop]
    print(validate_lines(fixed_lines, "fixed.jsonl", holdout=test))
    """

    def verify(self, fixed_lines):
        if not isinstance(fixed_lines, list) or not all(isinstance(x, str) for x in fixed_lines):
            raise Incorrect("`fixed_lines` should be a list of strings, one JSON line each (like `broken_lines`).")
        report = validate_lines(fixed_lines, "fixed.jsonl", holdout=load_sql_pairs("test"))
        if not report.ok:
            raise Incorrect(f"The validator still finds problems:\n{report!r}")
        broken = broken_training_lines()
        wanted = {json.dumps(json.loads(line)["messages"]) for line in broken[:2] + broken[3:5] + broken[6:8]
                  + broken[11:]}
        repaired = {json.dumps(json.loads(broken[2] + "}")["messages"])}
        kept = {json.dumps(e["messages"]) for e in report.examples}
        lost = len(wanted - kept)
        if lost:
            raise Incorrect(f"The file is clean, but {lost} good example(s) were deleted; keep every line that was "
                            "fine.")
        if not repaired <= kept or len(kept) < 9:
            raise Incorrect(f"The file is clean with {len(kept)} examples, but two broken lines could be repaired "
                            "rather than deleted (a missing brace, a wrong role name). Repair them.")
        self.praise = f"{len(kept)} clean examples."


class FindLeaks(Question):
    """Find the test items hidden in a training set"""

    variables = ["find_leaks"]
    hints = [
        "Compare each training question with every test question after normalising: lower-case, collapse spaces, "
        "drop punctuation.",
        "`question_of(example)` gives the user's question. Exact matches are not enough: some copies were edited "
        "slightly (case, spacing, punctuation, a dropped word), so measure how similar two questions are.",
        "`difflib.SequenceMatcher(None, a, b).ratio()` gives a similarity from 0 to 1; 0.9 and above is a copy. "
        "Return the positions (indices) of the leaked examples.",
    ]
    solution_code = """
    import difflib


    def normal(text):
        kept = "".join(c if c.isalnum() or c.isspace() else " " for c in text.lower())  # drop punctuation
        return " ".join(kept.split())


    def find_leaks(train, test):
        test_questions = [normal(question_of(t)) for t in test]
        leaked = []
        for i, example in enumerate(train):
            q = normal(question_of(example))
            if any(difflib.SequenceMatcher(None, q, t).ratio() >= 0.9 for t in test_questions):
                leaked.append(i)
        return leaked
    """

    def verify(self, find_leaks):
        if not callable(find_leaks):
            raise Incorrect("`find_leaks` should be a function (train, test) -> list of positions in train.")
        test = load_sql_pairs("test")
        for seed in (0, 1):
            train, planted = contaminated_training_set(seed)
            got = self.call(find_leaks, train, test)
            try:
                got = sorted(int(i) for i in got)
            except (TypeError, ValueError):
                raise Incorrect(f"find_leaks returned {got!r}; return a list of integer positions.") from None
            missed, wrong = sorted(set(planted) - set(got)), sorted(set(got) - set(planted))
            if missed:
                example = question_of(train[missed[0]])
                raise Incorrect(f"On a contaminated set (seed {seed}) you missed {len(missed)} leak(s), e.g. "
                                f"position {missed[0]}: {example!r}. Some copies were edited slightly.")
            if wrong:
                raise Incorrect(f"On a contaminated set (seed {seed}) position {wrong[0]} "
                                f"({question_of(train[wrong[0]])!r}) is not a test item; your rule is too loose.")
        self.praise = "every leak found on two contaminated sets, no false alarm."


class HostedCost(Question):
    """Price the same job on a hosted fine-tuning service"""

    variables = ["cost_usd"]
    hints = [
        "Hosted fine-tuning bills training tokens: the tokens of the whole file, once per epoch.",
        "`token_stats` counts the tokens of a list of training examples (with Gemma's tokenizer: an estimate for "
        "another model's); the price per 1M training tokens is in `load_prices()['fine_tuning']`.",
        "Take `token_stats(train)['tokens']`, multiply by the epochs (3) and by "
        "`load_prices()['fine_tuning']['gpt-4o-mini']['training_per_1m_tokens']`, then divide by 1,000,000.",
    ]
    solution_code = """
    tokens = token_stats(train)["tokens"]
    price = load_prices()["fine_tuning"]["gpt-4o-mini"]["training_per_1m_tokens"]
    cost_usd = tokens * 3 * price / 1_000_000
    """

    def verify(self, cost_usd):
        if isinstance(cost_usd, bool) or not isinstance(cost_usd, (int, float)) or not math.isfinite(cost_usd):
            raise Incorrect(f"`cost_usd` should be a number of dollars; got {cost_usd!r}.")
        tokens = token_stats(load_sql_pairs("train"))["tokens"]
        expected = estimate_training_cost(tokens, EPOCHS, "gpt-4o-mini")["usd"]
        if abs(cost_usd - expected) <= 0.05 * expected:
            self.praise = f"about ${expected:.2f} for {EPOCHS} epochs of {tokens:,} tokens."
            return
        if abs(cost_usd * EPOCHS - expected) <= 0.05 * expected:
            raise Incorrect(f"${cost_usd:.2f} is the price of one epoch; the job runs {EPOCHS}.")
        raise Incorrect(f"${cost_usd:.2f} is more than 5% away from the estimate. Count the tokens of the whole "
                        "training file, multiply by the epochs and by the price per 1M training tokens.")


class AnswerLabels(Question):
    """Write the labels that put the loss on the answer only"""

    variables = ["answer_labels"]
    hints = [
        "A causal language model's labels are its input ids; a label of -100 is ignored by the loss.",
        "Return `[-100] * len(prompt_ids) + list(answer_ids)`: one label per input token.",
    ]
    solution_code = """
    def answer_labels(prompt_ids, answer_ids):
        return [-100] * len(prompt_ids) + list(answer_ids)
    """
    cases = [([2, 10, 11], [20, 21, 1]), ([2], [1]), ([2, 5, 6, 7, 8], [30])]

    def verify(self, answer_labels):
        if not callable(answer_labels):
            raise Incorrect("`answer_labels` should be a function (prompt_ids, answer_ids) -> list of labels.")
        for prompt_ids, answer_ids in self.cases:
            got = self.call(answer_labels, prompt_ids, answer_ids)
            expected = [-100] * len(prompt_ids) + answer_ids
            if list(got) != expected:
                raise Incorrect(f"answer_labels({prompt_ids}, {answer_ids}) returned {list(got)}; expected "
                                f"{expected}: one label per input token, -100 on every prompt token.")


class StepBudget(Question):
    """Pick hyperparameters that reach the target within the step budget"""

    variables = ["config"]
    hints = [
        f"The budget: at most {STEP_BUDGET} steps of at most {BATCH_BUDGET} examples. With so few steps, the "
        "learning rate decides almost everything.",
        "Full fine-tuning uses rates around 1e-5; LoRA updates are small low-rank matrices that start at zero and "
        "take rates 10 to 100 times higher.",
        f"Try `TrainConfig(steps={STEP_BUDGET}, batch_size={BATCH_BUDGET}, learning_rate=2e-3, warmup_steps=2)`: a "
        "short warm-up leaves more steps at the full rate.",
    ]
    solution_code = f"""
    config = TrainConfig(steps={STEP_BUDGET}, batch_size={BATCH_BUDGET}, learning_rate=2e-3, warmup_steps=2)
    """

    def verify(self, config):
        if not isinstance(config, TrainConfig):
            raise Incorrect("`config` should be a TrainConfig(...).")
        if config.steps > STEP_BUDGET or config.batch_size > BATCH_BUDGET:
            raise Incorrect(f"That run reads {config.steps} × {config.batch_size} examples; the budget is at most "
                            f"{STEP_BUDGET} steps of at most {BATCH_BUDGET} examples.")
        if not 0 < config.learning_rate < 1:
            raise Incorrect(f"learning_rate={config.learning_rate} cannot train anything; try values between 1e-6 "
                            "and 1e-2.")
        run = train_or_reuse("exercise-q5", load_sql_pairs("train"), load_sql_pairs("validation"), config)
        reached = run.final_val_token_accuracy
        if reached < TARGET_TOKEN_ACCURACY:
            raise Incorrect(f"After {config.steps} steps the model predicts {reached:.0%} of the validation SQL "
                            f"tokens; the target is {TARGET_TOKEN_ACCURACY:.0%}. Change the learning rate.")
        self.praise = f"{reached:.0%} of validation SQL tokens right after {config.steps} steps ({run.seconds:.0f} s)."


class ExecutionAccuracy(Question):
    """Write execution accuracy: do two queries return the same rows?"""

    variables = ["execution_match"]
    hints = [
        "`run_query(sql).rows` gives a list of tuples; a predicted query that raises SQLError is simply wrong.",
        "Without ORDER BY in the gold query, row order means nothing: compare `Counter(rows)` (a multiset: a row "
        "that appears twice must appear twice).",
        "With ORDER BY in the gold query, compare the lists as they are. Test with `'ORDER BY' in gold_sql.upper()`.",
    ]
    solution_code = """
    from collections import Counter


    def execution_match(predicted_sql, gold_sql):
        gold = run_query(gold_sql).rows
        try:
            predicted = run_query(predicted_sql).rows
        except SQLError:
            return False
        if "ORDER BY" in gold_sql.upper():
            return predicted == gold
        return Counter(predicted) == Counter(gold)
    """
    cases = [
        ("SELECT name FROM departments ORDER BY name DESC", "SELECT name FROM departments", True,
         "row order does not matter when the gold query has no ORDER BY"),
        ("SELECT name FROM departments ORDER BY name DESC", "SELECT name FROM departments ORDER BY name", False,
         "with ORDER BY in the gold query, the order is part of the answer"),
        ("SELECT location FROM departments", "SELECT DISTINCT location FROM departments", False,
         "duplicate rows count: 13 rows are not the same answer as 4 distinct ones"),
        ("SELECT COUNT(*) AS n FROM employees", "SELECT COUNT(*) FROM employees", True,
         "column names do not matter, only the values"),
        ("SELECT nme FROM departments", "SELECT name FROM departments", False,
         "a query that fails to run is wrong (return False, don't raise)"),
        ("SELECT name FROM departments WHERE location = 'Reno'", "SELECT name FROM departments", False,
         "different rows"),
        ("SELECT d.name FROM departments d ORDER BY d.name", "SELECT name FROM departments ORDER BY name", True,
         "the same rows in the same order, written differently"),
    ]

    def verify(self, execution_match):
        if not callable(execution_match):
            raise Incorrect("`execution_match` should be a function (predicted_sql, gold_sql) -> True or False.")
        for predicted, gold, expected, why in self.cases:
            got = self.call(execution_match, predicted, gold)
            if bool(got) != expected:
                raise Incorrect(f"execution_match({predicted!r}, {gold!r}) returned {got!r}; expected {expected}: "
                                f"{why}.")


class CatchWrongAnswers(Question):
    """Catch wrong answers in training data before they become a regression"""

    variables = ["looks_wrong"]
    hints = [
        "A swapped answer is valid SQL for another question: it names a department, year or vendor that the "
        "question never mentions. Look at the quoted values in the SQL (`re.findall(r\"'([^']*)'\", sql)`).",
        "Skip format strings such as '%Y' and one- or two-character codes; compare lower-case, with '_' as a space; "
        "for a date such as '2024-01-01', look for its year.",
        "A word that the question uses in the plural ('laptops' for 'laptop') still counts: a substring test on the "
        "lower-cased question handles it.",
        "People shorten names and use everyday words: 'support' for Customer Support, 'being fixed' for the status "
        "'repair'. Count a value as mentioned when one of its words appears, or one of the words "
        "`EVERYDAY_WORDS[value]` lists (from course_lib.finetune).",
    ]
    solution_code = """
    import re

    from course_lib.finetune import EVERYDAY_WORDS


    def looks_wrong(example):
        question = question_of(example).lower().replace("_", " ")
        sql = example["messages"][-1]["content"]
        for value in re.findall(r"'([^']*)'", sql):
            if value.startswith("%") or len(value) <= 2:
                continue
            if re.fullmatch(r"\\d{4}-\\d\\d(-\\d\\d)?", value):
                words = [value[:4]]
            else:
                words = value.lower().replace("_", " ").strip("%").split() + EVERYDAY_WORDS.get(value, [])
            if not any(word in question for word in words):
                return True
        return False
    """
    # share of swapped answers caught (the reference: 73%; an answer that names no value, such as
    # SELECT COUNT(*) FROM tickets, cannot be caught this way); share of flagged lines really swapped (99%)
    MIN_RECALL, MIN_PRECISION = 0.7, 0.9

    def verify(self, looks_wrong):
        if not callable(looks_wrong):
            raise Incorrect("`looks_wrong` should be a function: example -> True when its answer looks wrong.")
        corrupted, changed = corrupt_answers(load_sql_pairs("train"), share=0.3, seed=5)
        flagged = {i for i, e in enumerate(corrupted) if self.call(looks_wrong, e)}
        caught = len(flagged & set(changed))
        recall = caught / len(changed)
        precision = caught / len(flagged) if flagged else 0.0
        if recall < self.MIN_RECALL:
            raise Incorrect(f"Your check flags {caught} of the {len(changed)} swapped answers ({recall:.0%}); catch "
                            f"at least {self.MIN_RECALL:.0%}.")
        if precision < self.MIN_PRECISION:
            raise Incorrect(f"{len(flagged) - caught} of the {len(flagged)} lines you flag are fine "
                            f"({precision:.0%} precision); a reviewer would drown. Reach {self.MIN_PRECISION:.0%}.")
        self.praise = f"{recall:.0%} of swapped answers caught at {precision:.0%} precision."


bind(globals(), "03_fine_tuning",
     [FixTrainingFile, FindLeaks, HostedCost, AnswerLabels, StepBudget, ExecutionAccuracy, CatchWrongAnswers])
__all__ += ["broken_training_lines", "contaminated_training_set", "STEP_BUDGET", "BATCH_BUDGET",  # noqa: F821
            "TARGET_TOKEN_ACCURACY"]
