"""Check a chat fine-tuning file before training on it: every bad line reported as file:line. Taught in 03.

Training data is OpenAI's chat fine-tuning format: one JSON object per line with a `messages` list of `system`,
`user` and `assistant` messages, the last one being the answer to learn. The validator reports malformed JSON,
wrong structure or roles, empty or over-long examples, duplicates and test items (or near-copies) leaked into
training, each with what to do about it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..datasets import DataError, answer_of, question_of
from .tokens import default_token_counter, training_text

ROLES = ("system", "user", "assistant")
MAX_EXAMPLE_TOKENS = 512  # longest example (prompt + answer, in tokens) the validator accepts by default
NEAR_COPY = 0.9  # question similarity (difflib ratio, 0..1) from which a training item counts as a copy of a test item
ISSUE_KINDS = {  # what the validator reports, and what to do about each
    "malformed_json": "the line is not valid JSON; fix the quoting or delete the line",
    "bad_structure": "the line needs {\"messages\": [...]} with role/content objects",
    "wrong_role": "roles are system (optional, first), then user and assistant taking turns, ending with assistant",
    "empty_content": "every message needs non-empty text",
    "too_long": "the example has more tokens than the limit; shorten it or raise max_tokens",
    "duplicate": "the same example appears earlier; delete one copy",
    "test_leak": "a test item (or a near-copy) is in the training data; delete it, or scores on test are inflated",
}



@dataclass
class Issue:
    """One problem on one line of a training file."""

    file: str
    line: int  # 1-based line number in the file
    kind: str  # one of ISSUE_KINDS
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.message}"


@dataclass
class ValidationReport:
    """What the validator found in one training file: the usable examples and every problem, by line."""

    file: str
    lines: int  # non-blank lines read
    examples: list[dict]  # the lines without problems, in file order
    issues: list[Issue]
    example_lines: list[int] = field(default_factory=list)  # line number of each usable example

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def bad_lines(self) -> list[int]:
        return sorted({i.line for i in self.issues})

    def counts(self) -> dict[str, int]:
        """Number of issues of each kind."""
        return dict(Counter(i.kind for i in self.issues))

    def __repr__(self) -> str:
        head = (f"{self.file}: {self.lines} lines, {len(self.examples)} usable, "
                f"{len(self.bad_lines)} with problems")
        if self.ok:
            return head + " — ready to train."
        shown = [f"  {i}" for i in self.issues[:30]]
        more = [f"  … and {len(self.issues) - 30} more"] if len(self.issues) > 30 else []
        return "\n".join([head + ":", *shown, *more])

    def _repr_html_(self) -> str:
        import html

        colour = "#1a7f37" if self.ok else "#cf222e"
        rows = "".join(f"<tr><td>{i.line}</td><td>{i.kind}</td><td>{html.escape(i.message)}</td></tr>"
                       for i in self.issues[:30])
        table = (f"<table><tr><th>line</th><th>problem</th><th>details</th></tr>{rows}</table>" if rows else "")
        head = html.escape(repr(self).splitlines()[0])
        return f'<div style="border-left:4px solid {colour};padding:2px 8px"><b>{head}</b>{table}</div>'

    def error(self) -> DataError:
        """A DataError listing the bad lines and what to do, as the trainer raises it."""
        return DataError(f"{self!r}\nFix these lines (each says what is wrong), or pass allow_bad_lines=True to "
                         "train on the usable lines only.")


def normal_text(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _structure_problem(obj) -> tuple[str, str] | None:
    """(kind, message) for the first structural problem of one parsed line, else None."""
    if not isinstance(obj, dict) or not isinstance(obj.get("messages"), list) or not obj["messages"]:
        return "bad_structure", 'expected an object with a non-empty "messages" list'
    messages = obj["messages"]
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            return "bad_structure", f"messages[{i}] must be an object with 'role' and 'content'"
        if m["role"] not in ROLES:
            return "wrong_role", f"messages[{i}] has role {m['role']!r}; use system, user or assistant"
        if not isinstance(m["content"], str):
            return "bad_structure", f"messages[{i}].content must be a string"
    roles = [m["role"] for m in messages]
    turns = roles[1:] if roles[0] == "system" else roles
    if "system" in turns:
        return "wrong_role", "a system message may only come first"
    if not turns or turns[-1] != "assistant":
        return "wrong_role", "the last message must be the assistant's answer (the text the model learns)"
    expected = ["user", "assistant"] * len(turns)
    if turns != expected[:len(turns)]:
        return "wrong_role", f"roles go {' → '.join(roles)}; user and assistant must take turns, user first"
    for i, m in enumerate(messages):
        if not m["content"].strip():
            return "empty_content", f"messages[{i}] ({m['role']}) has empty content"
    return None


def validate_lines(lines: list[str], file: str = "<lines>", holdout: list[dict] = (), count_tokens=None,
                   max_tokens: int = MAX_EXAMPLE_TOKENS, near_copy: float = NEAR_COPY) -> ValidationReport:
    """Check each line of a chat fine-tuning file: JSON, structure, roles, empty content, length, duplicates and
    leakage of `holdout` (test) items. Returns a report naming every bad line. Taught in 03_fine_tuning.

    `count_tokens(text) -> int` measures length (default: the local model's tokenizer); `near_copy` is the
    question similarity (0..1) from which a training item counts as a copy of a holdout item.
    """
    if count_tokens is None:
        count_tokens = default_token_counter()
    held_questions = {normal_text(question_of(h)): h for h in holdout}
    held_answers = {" ".join(answer_of(h).split()) for h in holdout}
    seen: dict[str, int] = {}
    examples, example_lines, issues = [], [], []
    read = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        read += 1

        def flag(kind: str, message: str, number=number) -> None:
            issues.append(Issue(file, number, kind, message))

        try:
            obj = json.loads(line)
        except ValueError as exc:
            flag("malformed_json", f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        problem = _structure_problem(obj)
        if problem:
            flag(*problem)
            continue
        key = json.dumps([[m["role"], " ".join(m["content"].split())] for m in obj["messages"]])
        if key in seen:
            flag("duplicate", f"same messages as line {seen[key]}")
            continue
        seen[key] = number
        n_tokens = count_tokens(training_text(obj))
        if n_tokens > max_tokens:
            flag("too_long", f"{n_tokens} tokens; the limit is {max_tokens}")
            continue
        if held_questions or held_answers:
            leak = _leak(obj, held_questions, held_answers, near_copy)
            if leak:
                flag("test_leak", leak)
                continue
        examples.append(obj)
        example_lines.append(number)
    return ValidationReport(file, read, examples, issues, example_lines)


def _leak(example: dict, held_questions: dict, held_answers: set, near_copy: float) -> str | None:
    question = normal_text(question_of(example))
    if question in held_questions:
        return f"the question is a test question: {question_of(held_questions[question])!r}"
    if " ".join(answer_of(example).split()) in held_answers:
        return "the answer is a test item's answer, word for word"
    matcher = difflib.SequenceMatcher(b=question, autojunk=False)
    for other, item in held_questions.items():
        matcher.set_seq1(other)
        if matcher.real_quick_ratio() >= near_copy and matcher.quick_ratio() >= near_copy \
                and matcher.ratio() >= near_copy:
            return f"the question is a near-copy ({matcher.ratio():.0%} similar) of test question " \
                   f"{question_of(item)!r}"
    return None


def validate_training_file(path: str | Path, holdout: list[dict] = (), count_tokens=None,
                           max_tokens: int = MAX_EXAMPLE_TOKENS) -> ValidationReport:
    """Validate a JSONL training file line by line (see `validate_lines`). Taught in 03_fine_tuning."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No training file at {path}.")
    lines = path.read_text(encoding="utf-8").splitlines()
    return validate_lines(lines, str(path), holdout, count_tokens, max_tokens)


def load_training_examples(data, holdout: list[dict] = (), allow_bad_lines: bool = False, count_tokens=None,
                           max_tokens: int = MAX_EXAMPLE_TOKENS) -> list[dict]:
    """Training examples from a JSONL path or a list of examples, validated first. A file with bad lines is
    refused (DataError naming each file:line) unless `allow_bad_lines=True`, which skips them. Taught in 03."""
    if isinstance(data, (str, Path)):
        report = validate_training_file(data, holdout, count_tokens, max_tokens)
    else:
        lines = [json.dumps(e) for e in data]
        report = validate_lines(lines, "<examples>", holdout, count_tokens, max_tokens)
    if not report.ok and not allow_bad_lines:
        raise report.error()
    if not report.examples:
        raise DataError(f"{report.file} has no usable examples.")
    return report.examples
