"""Exercises of 03_fine_tuning: repair a training file, find leaked test items, price a hosted job, mask the loss,
pick hyperparameters under a step budget, write execution accuracy, catch wrong answers before training.

Checks run the course's own validator, database and trainer; the one that trains (q5) reuses a cached adapter when
the same configuration was trained before.
"""

from __future__ import annotations

import json
from collections import Counter

from ..checks import (
    Callable,
    EqualityCheck,
    FunctionCheck,
    Incorrect,
    Measure,
    Question,
    ThresholdCheck,
    bind,
    fresh_rng,
)
from ..datasets import load_sql_pairs
from ..finetune import (
    TrainConfig,
    corrupt_answers,
    encode_example,
    estimate_training_cost,
    token_stats,
    train_or_reuse,
    ungrounded_values,
    validate_lines,
)
from ..finetune.validation import _leak
from ..sql import SQLError, execution_match, results_match, run_query  # noqa: F401 - the reference solution uses them
from .ex03_files import _contaminate, broken_training_lines, contaminated_training_set  # noqa: F401 - the notebook's

STEP_BUDGET = 12  # q5: most optimizer steps allowed
BATCH_BUDGET = 4  # q5: most examples per step
TARGET_TOKEN_ACCURACY = 0.65  # q5: validation next-token accuracy on SQL answers to reach (2026-12-02: rate 1e-5
# as given 0.46, 1e-4 0.55, the reference 2e-3 0.71)
EPOCHS = 3  # q3: epochs of the hosted job
RESTATED = [str.upper, str.lower, lambda q: q.rstrip("?.") + "?", lambda q: q.rstrip("?.")]  # q7: how a question
# may be said, case and end punctuation only (a value's words stay as they are)
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


class FindLeaks(Callable):
    """Find the test items hidden in a training set"""

    variables = ["find_leaks"]
    signature = "(train, test) -> list of positions in train"
    references = (_leak,)
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

    def verify_function(self, find_leaks):
        test, rng = load_sql_pairs("test"), fresh_rng()
        missed, wrong, total = Counter(), 0, 0
        for _ in range(2):  # seeds drawn now: the planted positions cannot be known in advance
            train, planted, kinds = _contaminate(rng.randrange(2**32))
            got = self.call(find_leaks, train, test)
            try:
                got = {int(i) for i in got}
            except (TypeError, ValueError):
                raise Incorrect("find_leaks should return a list of integer positions.") from None
            missed.update(kind for p, kind in zip(planted, kinds, strict=True) if p not in got)
            wrong, total = wrong + len(got - set(planted)), total + len(planted)
        if missed:
            kinds = "; ".join(f"copies {kind}: {n}" for kind, n in missed.most_common())
            raise Incorrect(f"On two contaminated sets drawn for this check you missed {sum(missed.values())} of "
                            f"{total} leaks ({kinds}). Some copies were edited slightly.")
        if wrong:
            raise Incorrect(f"On two contaminated sets drawn for this check {wrong} of the positions you returned are "
                            "not test items; your rule is too loose.")
        self.praise = "every leak found on two contaminated sets drawn for this check, no false alarm."


class HostedCost(EqualityCheck):
    """Price the same job on a hosted fine-tuning service"""

    variables = ["cost_usd"]
    tolerance, unit = 0.05, "$"
    advice = ("Count the tokens of the whole training file, multiply by the epochs and by the price per 1M training "
              "tokens.")
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

    def expected(self):
        self.tokens = token_stats(load_sql_pairs("train"))["tokens"]
        return estimate_training_cost(self.tokens, EPOCHS, "gpt-4o-mini")["usd"]

    def near_misses(self, expected):
        return [(expected / EPOCHS, f"That is the price of one epoch; the job runs {EPOCHS}.")]

    def praised(self, expected):
        return f"about ${expected:.2f} for {EPOCHS} epochs of {self.tokens:,} tokens."


class AnswerLabels(FunctionCheck):
    """Write the labels that put the loss on the answer only"""

    variables = ["answer_labels"]
    signature = "(prompt_ids, answer_ids) -> list of labels"
    references = (encode_example,)
    hints = [
        "A causal language model's labels are its input ids; a label of -100 is ignored by the loss.",
        "Return `[-100] * len(prompt_ids) + list(answer_ids)`: one label per input token.",
    ]
    solution_code = """
    def answer_labels(prompt_ids, answer_ids):
        return [-100] * len(prompt_ids) + list(answer_ids)
    """
    advice = "One label per input token: -100 on every prompt token, then the answer's ids."

    def cases(self, rng):
        cases = [("a one-token prompt", ([2], [7, 1])), ("an empty answer", ([2, 5, 6], []))]
        for _ in range(30):
            prompt = [rng.randrange(3, 50000) for _ in range(rng.randrange(1, 12))]
            answer = [rng.randrange(3, 50000) for _ in range(rng.randrange(1, 8))]
            cases.append(("a prompt longer than the answer" if len(prompt) > len(answer) else "random lengths",
                          (prompt, answer)))
        return cases

    def judge(self, args, got, expected):
        prompt, answer = args
        try:
            got = list(got)
        except TypeError:
            return "it did not return a list"
        if got == expected:
            return ""
        if len(got) != len(prompt) + len(answer):
            return "not one label per input token (prompt and answer)"
        if got[:len(prompt)] != [-100] * len(prompt):
            return "a prompt token is not labelled -100, so the loss counts it"
        return "the answer's labels are not its ids"


class StepBudget(ThresholdCheck):
    """Pick hyperparameters that reach the target within the step budget"""

    variables = ["config"]
    target, advice = TARGET_TOKEN_ACCURACY, "Change the learning rate."
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

    def measure(self, config):
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
        return Measure(reached, f"share of validation SQL tokens predicted after {config.steps} steps",
                       praise=f"{reached:.0%} of validation SQL tokens right after {config.steps} steps "
                              f"({run.seconds:.0f} s).")


class ExecutionAccuracy(FunctionCheck):
    """Write execution accuracy: do two queries return the same rows?"""

    variables = ["execution_match"]
    signature = "(predicted_sql, gold_sql) -> True or False"
    references = (execution_match, results_match)
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
    edge_cases = [
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

    advice = "Compare the rows the two queries return: as a multiset, or in order when the gold query sorts them."

    def cases(self, rng):
        cases = [(why, (predicted, gold)) for predicted, gold, _, why in self.edge_cases]
        golds = [e["messages"][-1]["content"].strip().rstrip(";") for e in rng.sample(load_sql_pairs("train"), 12)]
        for gold in golds:
            other = rng.choice(golds)
            cases += [("the same query", (gold, gold)),
                      ("the rows reordered", (f"SELECT * FROM ({gold}) ORDER BY 1 DESC", gold)),
                      ("duplicate rows dropped", (f"SELECT DISTINCT * FROM ({gold})", gold)),
                      ("another question's query", (other, gold)),
                      ("a query that fails", (gold.replace("SELECT", "SELEC", 1), gold))]
        return cases

    def judge(self, args, got, expected):
        if isinstance(got, bool) and got == expected:
            return ""
        if not isinstance(got, bool):
            return "it did not return True or False"
        return "True for different answers" if got else "False for the same answer"


class CatchWrongAnswers(ThresholdCheck):
    """Catch wrong answers in training data before they become a regression"""

    variables = ["looks_wrong"]
    references = (ungrounded_values,)
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
    # share of swapped answers caught (the reference: 71-80% over 60 draws of the swapped set, made at check time; an
    # answer that names no value, such as SELECT COUNT(*) FROM tickets, cannot be caught this way); share of flagged
    # lines really swapped (99%)
    target, MIN_PRECISION = 0.65, 0.9

    def measure(self, looks_wrong):
        if not callable(looks_wrong):
            raise Incorrect("`looks_wrong` should be a function: example -> True when its answer looks wrong.")
        seed = fresh_rng().randrange(2**32)  # drawn now: which answers are swapped cannot be known in advance
        corrupted, changed = corrupt_answers(load_sql_pairs("train"), share=0.3, seed=seed)
        rng = fresh_rng()  # each question said a little differently: a table of the split's lines finds nothing
        for example in corrupted:
            example["messages"][1]["content"] = rng.choice(RESTATED)(example["messages"][1]["content"])
        flagged = {i for i, e in enumerate(corrupted) if self.call(looks_wrong, e)}
        caught = len(flagged & set(changed))
        precision = caught / len(flagged) if flagged else 0.0
        if caught >= self.target * len(changed) and precision < self.MIN_PRECISION:
            raise Incorrect(f"{len(flagged) - caught} of the {len(flagged)} lines you flag are fine "
                            f"({precision:.0%} precision); a reviewer would drown. Reach {self.MIN_PRECISION:.0%}.")
        return Measure(caught / len(changed), f"share of swapped answers flagged ({caught} of {len(changed)})",
                       praise=f"{caught / len(changed):.0%} of swapped answers caught at {precision:.0%} precision.")


bind(globals(), "03_fine_tuning",
     [FixTrainingFile, FindLeaks, HostedCost, AnswerLabels, StepBudget, ExecutionAccuracy, CatchWrongAnswers])
__all__ += ["broken_training_lines", "contaminated_training_set", "STEP_BUDGET", "BATCH_BUDGET",  # noqa: F821
            "TARGET_TOKEN_ACCURACY"]
