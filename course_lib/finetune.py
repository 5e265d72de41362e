"""Supervised fine-tuning on a CPU: check the data, count its tokens and price, train a LoRA adapter, save it,
serve it. Taught in 03_fine_tuning.

    report = validate_training_file("train.jsonl", holdout=test)          # every bad line, as file:line
    result = train_lora("train.jsonl", validation, TrainConfig(steps=180))  # refuses a file with bad lines
    folder = save_adapter(result, "adapters/sql")                          # atomic: all or nothing
    engine.register_adapter("ft:gemma-3-270m:sql", folder)                  # now a model name for the client

Training data is OpenAI's chat fine-tuning format: one JSON object per line with a `messages` list of `system`,
`user` and `assistant` messages, the last one being the answer to learn. The trainer renders the messages exactly
as the local engine renders a chat request (`local.render_chat`), so the adapter is trained on the text it will
be served with, and computes the loss on the answer tokens only.

Why a small loop of our own rather than transformers' `Trainer`: on a CPU, the 262,144-token output layer costs
more than the whole decoder body, and `Trainer` computes it at every position of every sequence. Here:
- the output layer runs only on the answer positions, the only ones the loss reads;
- LoRA adapts the top `lora_layers` decoder layers; the frozen layers below run once per example, and their
  output is replayed every epoch (exact);
- the training softmax covers the tokens of the data plus `output_sample` random tokens standing for the rest of
  the vocabulary (sampled softmax, Jean et al. 2015); validation loss is always computed exactly.
The lesson measures what each choice saves.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import random
import re
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .datasets import DATA, DataError
from .weights import file_sha256

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


# --------------------------------------------------------------------------------------------------------------
# Data: load, validate, count
# --------------------------------------------------------------------------------------------------------------

SQL_SPLITS = ("train", "validation", "test", "independent", "train_more")  # independent: written from the schema
# alone; train_more: more composed pairs, which only train-longer adds to train


def itdb_path(split: str) -> Path:
    """Path of one split (train, validation, test or independent) of the NL-to-SQL pairs. Taught in 03_fine_tuning."""
    if split not in SQL_SPLITS:
        raise DataError(f"The NL-to-SQL data has no split {split!r}; choose one of {', '.join(SQL_SPLITS)}.")
    return DATA / "itdb" / f"{split}.jsonl"


def load_sql_pairs(split: str) -> list[dict]:
    """The NL-to-SQL examples of one split, in chat fine-tuning format (course_lib/data/itdb/README.md). The
    independent set (questions and gold SQL written from the schema and the database only, by someone who never saw
    the generator) is stored as question/sql/part/note lines and returned in the same chat format, with its
    `part` (simple, medium, hard) and its `note` as the template."""
    from .datasets import read_jsonl

    rows = read_jsonl(itdb_path(split))
    return question_lines_as_pairs(rows) if split == "independent" else rows


def question_lines_as_pairs(rows: list[dict]) -> list[dict]:
    """Evaluation lines written by hand (question, sql, part, note) in the chat format of the generated pairs, with
    the training system message, their `part` and their `note` as the template."""
    from .sql import SYSTEM_PROMPT

    return [{"messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": r["question"]},
                          {"role": "assistant", "content": r["sql"]}], "template": r["note"], "part": r["part"]}
            for r in rows]


def longer_training_pairs() -> list[dict]:
    """What train-longer trains on: the pairs of LONGER_TRAIN_SPLITS, in order."""
    return [pair for split in LONGER_TRAIN_SPLITS for pair in load_sql_pairs(split)]


def question_of(example: dict) -> str:
    """The last user message of a chat example."""
    return next(m["content"] for m in reversed(example["messages"]) if m["role"] == "user")


def answer_of(example: dict) -> str:
    """The final assistant message of a chat example: the answer the model learns."""
    return example["messages"][-1]["content"]


def per_template(items: list[dict], n: int = 1) -> list[dict]:
    """The first `n` items of each template, in file order: a small evaluation set that still covers every kind of
    question. Taught in 03_fine_tuning."""
    taken: Counter = Counter()
    chosen = []
    for item in items:
        if taken[item.get("template")] < n:
            taken[item.get("template")] += 1
            chosen.append(item)
    return chosen


def few_shot_examples(train: list[dict], k: int = 4) -> list[dict]:
    """`k` worked examples for a few-shot prompt: one from each of the first `k` templates in the training file."""
    return per_template(train, 1)[:k]


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


def _normal_text(text: str) -> str:
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
    held_questions = {_normal_text(question_of(h)): h for h in holdout}
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
    question = _normal_text(question_of(example))
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


_TOKENIZER = None


def load_tokenizer():
    """The local model's tokenizer alone (no weights loaded), for counting tokens."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from .config import load_settings
        from .weights import ensure_converted_weights
        from .weights import load_tokenizer as load_converted_tokenizer

        _TOKENIZER = load_converted_tokenizer(ensure_converted_weights(load_settings().cache_dir))
    return _TOKENIZER


def default_token_counter():
    """count_tokens(text) with the local model's tokenizer."""
    tokenizer = load_tokenizer()
    return lambda text: len(tokenizer(text, add_special_tokens=True).input_ids)


def split_example(example: dict) -> tuple[str, str]:
    """(prompt, answer) as the model reads them: the chat rendered as the local engine renders a request, and the
    final assistant message after a space. Taught in 03_fine_tuning."""
    from .local import render_chat

    prompt, _ = render_chat(example["messages"][:-1])
    return prompt, " " + answer_of(example)


def training_text(example: dict) -> str:
    """The whole text of one example as the model is trained on it."""
    prompt, answer = split_example(example)
    return prompt + answer


def token_stats(examples: list[dict], tokenizer=None) -> dict:
    """Token counts of a training set: examples, total, per example, and the answer tokens the loss is on."""
    tokenizer = tokenizer or load_tokenizer()
    totals, answers = [], []
    for e in examples:
        prompt, answer = split_example(e)
        p = len(tokenizer(prompt, add_special_tokens=True).input_ids)
        a = len(tokenizer(answer, add_special_tokens=False).input_ids) + 1  # + the end-of-text token
        totals.append(p + a)
        answers.append(a)
    return {"examples": len(examples), "tokens": sum(totals), "answer_tokens": sum(answers),
            "mean_tokens": round(sum(totals) / max(1, len(totals)), 1), "max_tokens": max(totals, default=0)}


def estimate_training_cost(tokens_per_epoch: int, epochs: int = 3, model: str = "gpt-4o-mini",
                           prices: dict | None = None) -> dict:
    """What a hosted fine-tuning job would cost: billed tokens = tokens in the file × epochs, at the dated price
    per 1M training tokens in the course's price table. Taught in 03_fine_tuning."""
    from .datasets import load_prices

    prices = prices or load_prices()
    table = prices.get("fine_tuning", {})
    if model not in table:
        raise KeyError(f"No fine-tuning price for {model!r}; the table has {', '.join(table)}.")
    rate = table[model]["training_per_1m_tokens"]
    trained = tokens_per_epoch * epochs
    return {"model": model, "epochs": epochs, "trained_tokens": trained, "usd_per_1m": rate,
            "usd": trained * rate / 1_000_000, "as_of": prices.get("as_of", "?")}


# --------------------------------------------------------------------------------------------------------------
# Bad data, on purpose
# --------------------------------------------------------------------------------------------------------------

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
    words = _normal_text(question_of(example).replace("_", " ")).split()
    sql = answer_of(example)
    missing = []
    for value in re.findall(r"'([^']*)'", sql):
        if value.startswith("%") or re.fullmatch(r"\d{1,2}", value):
            continue
        if re.fullmatch(r"\d{4}-\d\d(-\d\d)?.*", value):  # a date or a month: its year must be in the question
            needed = [value[:4]]
        else:
            needed = _normal_text(value.replace("%", " ").replace("_", " ")).split()
        needed += EVERYDAY_WORDS.get(value, [])
        if not any(any(w.startswith(n) for w in words) for n in needed):
            missing.append(value)
    question = question_of(example).lower().replace("$", "")
    for number in re.findall(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])", re.sub(r"'[^']*'", "''", sql)):
        if number not in PLAIN_NUMBERS and not any(re.search(rf"(?<![\d.,]){re.escape(form)}(?![\d,])", question)
                                                   for form in number_forms(number)):
            missing.append(number)
    return missing


# --------------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------------

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")  # every linear layer
ADAPTERS_DIR = "adapters"  # folder under the cache dir for cached adapters


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one LoRA run. Taught in 03_fine_tuning."""

    steps: int = 40  # optimizer steps; each reads batch_size examples
    batch_size: int = 8  # examples per step
    learning_rate: float = 1e-3  # peak AdamW learning rate (LoRA takes far higher rates than full fine-tuning)
    warmup_steps: int = 4  # steps of linear warm-up before the cosine decay to zero
    rank: int = 16  # LoRA rank r: each adapted matrix learns a rank-r update
    alpha: int = 32  # LoRA scale: the update is multiplied by alpha / rank
    dropout: float = 0.0  # LoRA dropout (short runs do not overfit enough to need it)
    target_modules: tuple[str, ...] = ALL_LINEAR  # which linear layers get an adapter
    lora_layers: int = 6  # adapt only the top N of the 18 decoder layers (0: all); the frozen rest runs once
    output_sample: int = 4096  # training softmax over the data's tokens + N random ones (0: all 262,144, exact)
    eval_every: int = 10  # steps between validation measurements (0: only at the end)
    eval_examples: int = 16  # validation examples measured each time (the loss is a forward pass, not generation)
    max_example_tokens: int = MAX_EXAMPLE_TOKENS  # longer examples are refused (prompts with passages need more)
    seed: int = 0  # adapter initialisation and batch order
    precision: str = "auto"  # fp32 | bf16 (autocast; fast only where the CPU has bf16 units) | auto

    def resolved_precision(self) -> str:
        if self.precision != "auto":
            return self.precision
        import torch

        return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


LESSON_CONFIG = TrainConfig(steps=130, learning_rate=2e-3, eval_every=13)  # 03_fine_tuning: about half a pass over
# the 2,035 training pairs; the validation loss measured 10 times (about a second each) so the curve shows its shape
LONGER_CONFIG = TrainConfig(steps=4160, learning_rate=2e-3, eval_every=416)  # the lesson's run with 32 times the
# steps, on train.jsonl and train_more.jsonl (about 5 passes over their 6,846 pairs, an hour on 2 cores):
# `python -m course_lib train-longer`
LONGER_TRAIN_SPLITS = ("train", "train_more")  # what train-longer trains on
LONGER_ADAPTER = DATA / "itdb" / "adapter-longer"  # where that command writes its adapter; lesson 03 loads it


@dataclass
class TrainResult:
    """A finished run: the model with its adapter, the loss history and the speed."""

    model: object  # the peft model (base + LoRA adapter), or None when loaded from the cache
    config: TrainConfig
    history: list[dict]  # one row per step: step, train_loss, and val_loss / val_token_accuracy where measured
    seconds: float  # wall time of the training loop
    tokens: int  # tokens read (prompt and answer)
    answer_tokens: int  # tokens the loss was computed on
    examples: int  # training examples available
    adapter_dir: Path | None = None  # where the adapter is saved, once saved

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def final_val_loss(self) -> float | None:
        measured = [h["val_loss"] for h in self.history if h.get("val_loss") is not None]
        return measured[-1] if measured else None

    @property
    def final_val_token_accuracy(self) -> float | None:
        measured = [h["val_token_accuracy"] for h in self.history if h.get("val_token_accuracy") is not None]
        return measured[-1] if measured else None

    def __repr__(self) -> str:
        return (f"TrainResult({self.config.steps} steps × {self.config.batch_size} examples in {self.seconds:.0f} s, "
                f"{self.tokens_per_s:.0f} tokens/s, final validation loss {self.final_val_loss}, "
                f"adapter_dir={str(self.adapter_dir) if self.adapter_dir else None})")


def encode_example(example: dict, tokenizer) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids): the prompt with its start token, the answer followed by the end-of-text token."""
    prompt, answer = split_example(example)
    prompt_ids = tokenizer(prompt, add_special_tokens=True).input_ids
    answer_ids = tokenizer(answer, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    return prompt_ids, answer_ids


def make_batch(encoded: list[tuple[list[int], list[int]]], pad_id: int):
    """Right-padded input ids, attention mask and labels; labels are -100 (ignored) except on answer tokens."""
    width = max(len(p) + len(a) for p, a in encoded)
    ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(encoded), width), dtype=torch.long)
    labels = torch.full((len(encoded), width), -100, dtype=torch.long)
    for row, (p, a) in enumerate(encoded):
        n = len(p) + len(a)
        ids[row, :n] = torch.tensor(p + a)
        mask[row, :n] = 1
        labels[row, len(p):n] = torch.tensor(a)
    return ids, mask, labels


class _Replay(torch.nn.Module):
    """Stands in for a frozen bottom layer: the first returns the saved hidden states, the others pass them on."""

    def __init__(self, hidden=None):
        super().__init__()
        self.hidden = hidden

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states if self.hidden is None else self.hidden


class _Stop(Exception):
    pass


def _sampled_logits(hidden, weight, wanted, tokens, n: int, generator):
    """Logits over `tokens` plus `n` uniformly drawn tokens, the drawn ones raised by log(vocabulary / n) so that
    together they stand for the whole rest of the vocabulary; `wanted` re-indexed into that list."""
    vocabulary = weight.shape[0]
    drawn = torch.randint(vocabulary, (n,), generator=generator)
    candidates = torch.cat([tokens, drawn])
    logits = hidden @ weight[candidates].T
    correction = torch.zeros(len(candidates), dtype=logits.dtype)
    correction[len(tokens):] = math.log(vocabulary / n)
    position = torch.searchsorted(tokens, wanted)  # `tokens` is sorted and holds every wanted token
    return logits + correction, position


def frozen_bottom_states(model, first: int, input_ids, attention_mask):
    """The hidden states entering decoder layer `first`: what the frozen layers below it compute (no gradient)."""

    body = (model.get_base_model() if hasattr(model, "get_base_model") else model).model
    captured = {}

    def grab(module, args, kwargs):
        captured["hidden"] = args[0] if args else kwargs["hidden_states"]
        raise _Stop  # the layers above are not needed now

    handle = body.layers[first].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.no_grad():
            body(input_ids=input_ids, attention_mask=attention_mask)
    except _Stop:
        pass
    finally:
        handle.remove()
    return captured["hidden"]


def answer_loss(model, input_ids, attention_mask, labels, bf16: bool = False, start: tuple | None = None,
                sample: tuple | None = None):
    """Mean cross-entropy on the answer tokens, and how many of them the model predicts right (greedy).

    The key to CPU speed: the decoder body runs on every position, but the 262k-token output layer only on the
    positions whose next token is an answer token. With `start=(layer, hidden)`, the frozen layers below `layer`
    are not run: `hidden` is what they compute (see `frozen_bottom_states`). With `sample=(tokens, n, generator)`
    the softmax runs over `tokens` (every token of the training data) and `n` random others standing for the rest
    of the vocabulary (sampled softmax). Returns (loss tensor, answer tokens, correct predictions).
    """
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = causal_lm.model
    saved = None
    if start is not None and start[0] > 0:
        first, hidden = start
        saved = list(body.layers[:first])
        for i in range(first):
            body.layers[i] = _Replay(hidden if i == 0 else None)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            targets = labels[:, 1:]
            keep = targets != -100  # position t predicts token t+1: keep positions whose next token is an answer
            wanted = targets[keep]
            if sample is None:
                logits = causal_lm.lm_head(out[:, :-1][keep])
            else:
                logits, wanted = _sampled_logits(out[:, :-1][keep], causal_lm.lm_head.weight, wanted, *sample)
    finally:
        if saved is not None:
            for i, layer in enumerate(saved):
                body.layers[i] = layer
    logits = logits.float()
    loss = torch.nn.functional.cross_entropy(logits, wanted)
    correct = int((logits.argmax(-1) == wanted).sum())
    return loss, int(keep.sum()), correct


def _validation_scores(model, encoded, pad_id: int, bf16: bool, first: int = 0,
                       batch_size: int = 8) -> tuple[float, float]:
    """Loss and next-token accuracy on validation answers: exact (the whole output layer), no gradient."""
    total_loss = total_tokens = total_correct = 0
    model.eval()
    with torch.no_grad():
        for i in range(0, len(encoded), batch_size):
            rows = list(range(i, min(i + batch_size, len(encoded))))
            ids, mask, labels = make_batch([encoded[r] for r in rows], pad_id)
            start = (first, _pad_states(_bottom_states(model, first, encoded, rows, pad_id), ids.shape[1])) \
                if first else None
            loss, n, correct = answer_loss(model, ids, mask, labels, bf16=bf16, start=start)
            total_loss += float(loss) * n
            total_tokens += n
            total_correct += correct
    model.train()
    return total_loss / total_tokens, total_correct / total_tokens


def batch_order(encoded: list, batch_size: int, steps: int, seed: int = 0) -> list[list[int]]:
    """Which examples each step reads: shuffled passes over the data (epochs); within a pass, examples of similar
    length share a batch, so little of each batch is padding (padding costs as much compute as text)."""
    rng = random.Random(seed)
    batches: list[list[int]] = []
    while len(batches) < steps:
        order = list(range(len(encoded)))
        rng.shuffle(order)
        epoch = []
        for start in range(0, len(order), batch_size * 8):  # sort windows of 8 batches by length
            window = sorted(order[start:start + batch_size * 8], key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
            epoch += [window[k:k + batch_size] for k in range(0, len(window), batch_size)]
        rng.shuffle(epoch)
        batches += [b for b in epoch if len(b) == batch_size] or epoch  # drop a short last batch unless it is all
    return batches[:steps]


_BOTTOM: dict[tuple, torch.Tensor] = {}  # (first adapted layer, dtype, token ids) -> hidden states entering it
BOTTOM_LIMIT = 6000  # cached examples kept in memory (about 150 MB); runs in one process share them


def _bottom_states(model, first: int, encoded: list, wanted: list[int], pad_id: int, batch_size: int = 16) -> list:
    """The hidden states the frozen layers below `first` compute for the examples `wanted` (indices into
    `encoded`): computed the first time an example is used, then reused by every later epoch and run."""
    dtype = str(next(model.parameters()).dtype)
    keys = [(first, dtype, tuple(encoded[i][0] + encoded[i][1])) for i in wanted]
    missing = sorted({i for i, k in zip(wanted, keys, strict=True) if k not in _BOTTOM},
                     key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
    for k in range(0, len(missing), batch_size):
        chunk = missing[k:k + batch_size]
        ids, mask, _ = make_batch([encoded[i] for i in chunk], pad_id)
        hidden = frozen_bottom_states(model, first, ids, mask)
        for row, i in enumerate(chunk):
            _BOTTOM[(first, dtype, tuple(encoded[i][0] + encoded[i][1]))] = hidden[row, :int(mask[row].sum())].clone()
    states = [_BOTTOM[k] for k in keys]
    while len(_BOTTOM) > BOTTOM_LIMIT:  # forget the oldest
        _BOTTOM.pop(next(iter(_BOTTOM)))
    return states


def _pad_states(states: list, width: int):
    out = torch.zeros(len(states), width, states[0].shape[-1], dtype=states[0].dtype)
    for row, h in enumerate(states):
        out[row, :h.shape[0]] = h
    return out


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to zero at the last step."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def train_lora(train, validation: list[dict], config: TrainConfig = TrainConfig(), monitor=None,
               holdout: list[dict] = (), allow_bad_lines: bool = False, progress: bool = True,
               stop_after: int = 0) -> TrainResult:
    """Train a LoRA adapter on the bundled Gemma 3 270M, on the CPU. Taught in 03_fine_tuning.

    `train` is a JSONL path or a list of chat examples; it is validated first and refused if a line is bad (unless
    `allow_bad_lines=True`, which skips bad lines). `monitor` (e.g. widgets.TrainingMonitor) is told the losses as
    they come; without one, a tqdm bar shows progress. Nothing is saved: call `save_adapter` with the result.
    `stop_after=N` runs only the first N steps of the configured run (same batches and learning rates), to check a
    recorded run's beginning (tests/test_finetune_training.py does this for `train-longer`'s adapter).
    """
    from peft import LoraConfig, get_peft_model

    from .config import load_settings
    from .weights import load_training_model

    if config.steps < 1 or config.batch_size < 1:
        raise ValueError("steps and batch_size must be at least 1.")
    examples = load_training_examples(train, holdout=holdout, allow_bad_lines=allow_bad_lines,
                                      max_tokens=config.max_example_tokens)
    base, tokenizer = load_training_model(load_settings().cache_dir)
    bf16 = config.resolved_precision() == "bf16"
    if not bf16:
        base = base.float()  # without native bf16 units, fp32 runs several times faster on a CPU
    torch.manual_seed(config.seed)
    n_layers = base.config.num_hidden_layers
    first = n_layers - config.lora_layers if 0 < config.lora_layers < n_layers else 0  # lowest adapted layer
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=list(config.target_modules), task_type="CAUSAL_LM",
                      layers_to_transform=list(range(first, n_layers)) if first else None,
                      layers_pattern="layers" if first else None)
    model = get_peft_model(base, lora)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)

    encoded = [encode_example(e, tokenizer) for e in examples]
    val_encoded = [encode_example(e, tokenizer) for e in validation[:config.eval_examples]]
    pad_id = tokenizer.pad_token_id
    batches = batch_order(encoded, config.batch_size, config.steps, config.seed)
    if stop_after:
        batches = batches[:stop_after]
    if monitor is not None:
        monitor.start(len(batches))
    started = time.perf_counter()  # the frozen layers' one pass counts as training time
    sample = None
    if config.output_sample:
        data_tokens = torch.tensor(sorted({t for p, a in encoded for t in p + a}))  # every token the data uses
        sample = (data_tokens, config.output_sample, torch.Generator().manual_seed(config.seed))
    history: list[dict] = []
    tokens = answer_tokens = 0
    bar = None
    if monitor is None and progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(batches), desc="LoRA training", leave=False)
    for step, batch_ids in enumerate(batches):
        input_ids, mask, labels = make_batch([encoded[i] for i in batch_ids], pad_id)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, config)
        start = None
        if first:  # the frozen layers' output, computed on first use of each example
            start = (first, _pad_states(_bottom_states(model, first, encoded, batch_ids, pad_id), input_ids.shape[1]))
        loss, n_answer, _ = answer_loss(model, input_ids, mask, labels, bf16=bf16, start=start, sample=sample)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
        answer_tokens += n_answer
        row = {"step": step + 1, "train_loss": float(loss.detach()), "seconds": time.perf_counter() - started,
               "tokens": tokens}
        last = step + 1 == len(batches)
        if val_encoded and (last or (config.eval_every and (step + 1) % config.eval_every == 0)):
            row["val_loss"], row["val_token_accuracy"] = _validation_scores(model, val_encoded, pad_id, bf16, first)
        history.append(row)
        if monitor is not None:
            monitor.update(**row)
        if bar is not None:
            bar.set_postfix(loss=f"{row['train_loss']:.3f}")
            bar.update(1)
    seconds = time.perf_counter() - started
    if bar is not None:
        bar.close()
    if monitor is not None:
        monitor.finish()
    model.eval()
    return TrainResult(model, config, history, seconds, tokens, answer_tokens, len(examples))


# --------------------------------------------------------------------------------------------------------------
# Saving, caching and serving adapters
# --------------------------------------------------------------------------------------------------------------

TRAINING_RECORD = "training.json"  # written into an adapter folder beside the weights: config, history, speed


def save_adapter(result: TrainResult, folder: str | Path) -> Path:
    """Save the LoRA adapter (a few MB) atomically: written to a temporary folder, then moved into place, so a
    crash leaves the previous adapter (if any) intact, never a half-written one. Taught in 03_fine_tuning."""
    folder = Path(folder)
    if result.model is None:
        raise ValueError("This result was loaded from the cache; its adapter is already saved at "
                         f"{result.adapter_dir}.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    result.model.save_pretrained(tmp)
    record = {"config": asdict(result.config), "history": result.history, "seconds": result.seconds,
              "tokens": result.tokens, "answer_tokens": result.answer_tokens, "examples": result.examples}
    (tmp / TRAINING_RECORD).write_text(json.dumps(record, indent=1))
    old = folder.parent / f".{folder.name}.old-{os.getpid()}"
    if folder.exists():
        os.replace(folder, old)  # keep the previous adapter until the new one is in place
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    result.adapter_dir = folder
    return folder


def load_training_record(folder: str | Path) -> TrainResult:
    """The TrainResult (without the model) of an adapter saved by `save_adapter`."""
    folder = Path(folder)
    record = json.loads((folder / TRAINING_RECORD).read_text())
    config = dict(record["config"])
    config["target_modules"] = tuple(config["target_modules"])
    return TrainResult(None, TrainConfig(**config), record["history"], record["seconds"], record["tokens"],
                       record["answer_tokens"], record["examples"], folder)


def cache_key(examples: list[dict], config: TrainConfig, validation: list[dict] = ()) -> str:
    """A hash of everything that decides an adapter: the training data, the validation items measured, the
    hyperparameters, the base weights, this trainer's code and the versions of torch, transformers and peft (so a
    changed trainer or library never reuses an old run)."""
    from importlib.metadata import version

    from .config import load_settings
    from .weights import CONVERTED_DIR_NAME, MANIFEST_NAME

    digest = hashlib.sha256()
    digest.update(json.dumps([e["messages"] for e in examples], sort_keys=True).encode())
    digest.update(json.dumps([e["messages"] for e in validation[:config.eval_examples]], sort_keys=True).encode())
    digest.update(json.dumps(asdict(config), sort_keys=True).encode())
    digest.update(Path(__file__).read_bytes())
    digest.update(" ".join(version(package) for package in ("torch", "transformers", "peft")).encode())
    manifest = load_settings().cache_dir / CONVERTED_DIR_NAME / MANIFEST_NAME
    if manifest.is_file():
        digest.update(manifest.read_bytes())
    return digest.hexdigest()[:16]


def cached_adapter_dir(name: str, train, validation: list[dict], config: TrainConfig,
                       cache_dir: str | Path | None = None) -> Path:
    """Where `train_or_reuse` keeps the adapter of this data and configuration: `<cache>/adapters/<name>-<hash>`.
    Lesson 03 saves its run there, so that lesson 04 and the exercises reuse it instead of training again."""
    if cache_dir is None:
        from .config import load_settings

        cache_dir = load_settings().cache_dir
    examples = train if isinstance(train, list) else load_training_examples(train)
    return Path(cache_dir) / ADAPTERS_DIR / f"{name}-{cache_key(examples, config, validation)}"


def is_saved_adapter(folder: str | Path) -> bool:
    folder = Path(folder)
    return (folder / TRAINING_RECORD).is_file() and (folder / "adapter_config.json").is_file()


def train_or_reuse(name: str, train, validation: list[dict], config: TrainConfig = TrainConfig(),
                   monitor=None, holdout: list[dict] = (), allow_bad_lines: bool = False,
                   cache_dir: str | Path | None = None, progress: bool = True, retrain: bool = False) -> TrainResult:
    """`train_lora` + `save_adapter` under `cached_adapter_dir(...)`, or the saved adapter when the same data,
    hyperparameters, trainer code and libraries were trained before: a rerun of lesson 03, lesson 04 and the
    exercises reuse the lesson's runs. The loaded result has `model=None` and the recorded history, time and
    speed; a `monitor` shows the recorded curve. `retrain=True` trains again and replaces the saved adapter.
    Taught in 03_fine_tuning."""
    examples = load_training_examples(train, holdout=holdout, allow_bad_lines=allow_bad_lines,
                                      max_tokens=config.max_example_tokens)
    folder = cached_adapter_dir(name, examples, validation, config, cache_dir)
    if is_saved_adapter(folder) and not retrain:
        result = load_training_record(folder)
        if monitor is not None:
            monitor.replay(result.history, config.steps)
        return result
    result = train_lora(examples, validation, config, monitor=monitor, progress=progress)
    save_adapter(result, folder)
    return result


PROVENANCE = "provenance.json"  # beside the longer run's adapter: the command, the data files' hashes, the config


def train_longer(folder: str | Path = LONGER_ADAPTER, progress: bool = True) -> TrainResult:
    """`python -m course_lib train-longer`: lesson 03's run with LONGER_CONFIG's steps, on train.jsonl plus the
    composed pairs of train_more.jsonl, saved to `folder` with a provenance record (the command, the SHA-256 of the
    data files and of the weights). Lesson 03 loads the adapter to show what more data and compute buy;
    tests/test_finetune_training.py checks that the record matches today's data and configuration and that the
    first steps retrain to the recorded losses."""
    from importlib.metadata import version

    validation, test = load_sql_pairs("validation"), load_sql_pairs("test")
    result = train_lora(longer_training_pairs(), validation, LONGER_CONFIG, holdout=test, progress=progress)
    folder = save_adapter(result, folder)
    record = {"command": "python -m course_lib train-longer",  # the configuration is in training.json
              "data": {split: file_sha256(itdb_path(split)) for split in (*LONGER_TRAIN_SPLITS, "validation", "test")},
              "weights": file_sha256(folder / "adapter_model.safetensors"),
              "libraries": {package: version(package) for package in ("torch", "transformers", "peft")}}
    (folder / PROVENANCE).write_text(json.dumps(record, indent=1) + "\n")
    (folder / "README.md").unlink(missing_ok=True)  # peft's empty model card
    return result


# --------------------------------------------------------------------------------------------------------------
# The hosted path: the same JSONL on OpenAI or Azure OpenAI
# --------------------------------------------------------------------------------------------------------------

HOSTED_BASE_MODEL = "gpt-4o-mini-2024-07-18"  # a base model both OpenAI and Azure OpenAI fine-tune
FINISHED = ("succeeded", "failed", "cancelled")  # job states that end the wait


def upload_ready_copy(examples: list[dict], path: str | Path) -> Path:
    """Write examples as JSONL with only the `messages` field (services reject extra fields such as `template`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        for e in examples:
            fh.write(json.dumps({"messages": e["messages"]}, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def _wait_until_processed(client, uploaded, poll_s: float, log, timeout_s: float = 600.0):
    """Azure (and sometimes OpenAI) only accept a training file for a job once the service has processed it."""
    deadline = time.monotonic() + timeout_s
    while getattr(uploaded, "status", "processed") not in ("processed", "error") and time.monotonic() < deadline:
        time.sleep(min(poll_s, 5.0))
        uploaded = client.files.retrieve(uploaded.id)
    if getattr(uploaded, "status", "processed") == "error":
        raise DataError(f"The service rejected file {uploaded.id}: {getattr(uploaded, 'status_details', '')}")
    return uploaded


def hosted_fine_tune(client, train: list[dict], validation: list[dict], base_model: str = HOSTED_BASE_MODEL,
                     suffix: str = "sql", epochs: int = 3, folder: str | Path | None = None, wait: bool = True,
                     poll_s: float = 30.0, timeout_s: float = 3 * 3600, log=print):
    """Fine-tune a hosted model through the real SDK: upload the files, create the job, follow its events, and
    return the finished job (its `fine_tuned_model` is the new model name). Taught in 03_fine_tuning.

    The same call works for OpenAI and Azure OpenAI (`client` from `llm.setup()`); on Azure, deploy the resulting
    model before calling it. Costs money: see `estimate_training_cost` first.
    """
    import tempfile

    folder = Path(folder or tempfile.mkdtemp(prefix="course-ft-"))
    uploads = []
    for name, rows in (("train.jsonl", train), ("validation.jsonl", validation)):
        path = upload_ready_copy(rows, folder / name)
        with open(path, "rb") as fh:
            uploaded = client.files.create(file=fh, purpose="fine-tune")
        log(f"uploaded {name}: file id {uploaded.id} ({len(rows)} examples)")
        uploads.append(_wait_until_processed(client, uploaded, poll_s, log))
    job = client.fine_tuning.jobs.create(
        model=base_model, training_file=uploads[0].id, validation_file=uploads[1].id, suffix=suffix,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}})
    log(f"created job {job.id} on {base_model}: status {job.status}")
    if not wait:
        return job
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while job.status not in FINISHED and time.monotonic() < deadline:
        time.sleep(poll_s)
        job = client.fine_tuning.jobs.retrieve(job.id)
        events = client.fine_tuning.jobs.list_events(fine_tuning_job_id=job.id, limit=20).data
        for event in reversed(events):
            if event.id not in seen:
                seen.add(event.id)
                log(f"  {event.message}")
    log(f"job {job.id}: {job.status}; fine-tuned model: {job.fine_tuned_model}")
    return job
