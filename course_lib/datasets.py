"""Every loader of the data the course ships in course_lib/data/ (each folder has a README saying how it was made).

One module reads the data so that a learner finds any data set by its loader's name, and so that nothing else
opens the data folder: prompting sets (01), benefit documents' questions (02), the IT database's question/SQL pairs
and schema (03), lesson 04's mixed requests, and the dated price table.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from .runtime.chat_format import last_user_message

DATA = Path(__file__).resolve().parent / "data"  # course_lib/data


class DataError(ValueError):
    """A shipped or learner-supplied data file is malformed; the message names the file and line."""


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON Lines file; a bad line raises DataError naming the file and the line number."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg}); fix or delete that line.") \
                    from None
    return rows


def _check_split(split: str | None, allowed: tuple[str, ...], name: str) -> None:
    if split is not None and split not in allowed:
        raise DataError(f"{name} has no split {split!r}; choose one of {', '.join(allowed)}.")


def load_reviews(split: str | None = None) -> list[dict]:
    """Fernleaf Home customer reviews labelled positive/negative; split is fewshot, dev or test. Taught in 01."""
    _check_split(split, ("fewshot", "dev", "test"), "reviews.jsonl")
    rows = read_jsonl(DATA / "prompting" / "reviews.jsonl")
    return [r for r in rows if split is None or r["split"] == split]


def load_products() -> list[dict]:
    """The eight products of Fernleaf Home's green line, with the facts a description must mention. Taught in 01."""
    return json.loads((DATA / "prompting" / "products.json").read_text(encoding="utf-8"))


def load_brand_guide() -> dict:
    """Fernleaf Home's tone rules, banned phrases and length limits for product copy. Taught in 01."""
    return json.loads((DATA / "prompting" / "brand_guide.json").read_text(encoding="utf-8"))


def load_brand_copy(split: str) -> list[dict]:
    """Made-up Fernleaf products for teaching the brand voice: 'train' (90, each with a description in the voice)
    or 'eval' (30 others, facts only, some of kinds the training set never shows). Taught in 04."""
    _check_split(split, ("train", "eval"), "brand_copy")
    return json.loads((DATA / "brand_copy" / f"products_{split}.json").read_text(encoding="utf-8"))


def load_support_messages(split: str | None = None) -> list[dict]:
    """Support messages with the fields a model should extract from each; split is dev or test. Taught in 01."""
    _check_split(split, ("dev", "test"), "extraction.jsonl")
    rows = read_jsonl(DATA / "prompting" / "extraction.jsonl")
    return [r for r in rows if split is None or r["split"] == split]


def load_prices() -> dict:
    """Dated hosted-model prices (USD per 1M tokens) with their source. Taught in 01 and 03."""
    return json.loads((DATA / "prompting" / "model_prices.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------------------------
# Benefit questions (02_rag): the documents themselves are read by chunking.load_documents
# --------------------------------------------------------------------------------------------------------------

BENEFITS = DATA / "benefits"
QUESTION_SETS = {"course": "questions.jsonl", "independent": "independent.jsonl", "lay": "lay_questions.jsonl",
                 "grounded-train": "grounded_train.jsonl"}


def load_questions(which: str = "course") -> list[dict]:
    """Evaluation questions: question, reference answer, passages, type, plan, year.

    "course": the 106 questions written with the documents (single, paraphrase, multi, year, unanswerable);
    "independent": 50 questions worded as employees word them, written by someone who saw only the documents
    (see data/benefits/independent_README.md); used to check that retrieval holds beyond the course's questions.
    "lay": 98 questions in employees' everyday words (lay terms, family words, comparisons, answers in two
    sections), half `split: "dev"` to choose techniques on, half "reserve" to choose nothing
    (data/benefits/lay_questions_README.md).
    "grounded-train": not for evaluation: 213 questions (183 answerable from one section, 30 not answerable) that
    lesson 04 trains its grounded answerer on; none repeats an evaluation question
    (data/benefits/grounded_train_README.md)."""
    if which not in QUESTION_SETS:
        raise ValueError(f"load_questions({which!r}): choose one of {', '.join(QUESTION_SETS)}.")
    return read_jsonl(BENEFITS / QUESTION_SETS[which])


# --------------------------------------------------------------------------------------------------------------
# The IT database's question/SQL pairs and schema (03_fine_tuning)
# --------------------------------------------------------------------------------------------------------------

SQL_SYSTEM_PROMPT = ("You translate questions about Fernleaf Home's IT database into a single SQLite query; "
                     "answer with the SQL only.")  # the system message of every pair in course_lib/data/itdb
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
    rows = read_jsonl(itdb_path(split))
    return question_lines_as_pairs(rows) if split == "independent" else rows


def question_lines_as_pairs(rows: list[dict]) -> list[dict]:
    """Evaluation lines written by hand (question, sql, part, note) in the chat format of the generated pairs, with
    the training system message, their `part` and their `note` as the template."""
    return [{"messages": [{"role": "system", "content": SQL_SYSTEM_PROMPT}, {"role": "user", "content": r["question"]},
                          {"role": "assistant", "content": r["sql"]}], "template": r["note"], "part": r["part"]}
            for r in rows]


def question_of(example: dict) -> str:
    """The last user message of a chat example."""
    return last_user_message(example["messages"])


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


def schema_text() -> str:
    """About 200 words describing every table and column of the IT database, for prompts. Taught in 03.
    (Written by the data's generator into data/itdb/schema.txt; a test checks it is current.)"""
    return (DATA / "itdb" / "schema.txt").read_text(encoding="utf-8").rstrip("\n")


# --------------------------------------------------------------------------------------------------------------
# Lesson 04's mixed requests
# --------------------------------------------------------------------------------------------------------------

ROUTES = ("policy", "data", "writing")  # where lesson 04's assistant sends a request
REQUEST_SPLITS = ("eval", "dev", "examples")
REQUESTS = DATA / "assistant" / "requests.jsonl"


def load_requests(split: str | None = None, path: str | Path = REQUESTS) -> list[dict]:
    """The mixed requests of lesson 04 (course_lib/data/assistant/README.md), optionally one split."""
    if split is not None and split not in REQUEST_SPLITS:
        raise DataError(f"Unknown split {split!r} for {Path(path).name}; choose one of {', '.join(REQUEST_SPLITS)}.")
    rows = read_jsonl(path)
    for number, row in enumerate(rows, start=1):
        if row.get("route") not in ROUTES or not row.get("request"):
            raise DataError(f"{path}:{number}: each request needs a non-empty 'request' and a 'route' among "
                            f"{', '.join(ROUTES)}.")
    return [r for r in rows if split is None or r["split"] == split]
