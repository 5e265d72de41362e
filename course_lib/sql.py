"""The Fernleaf Home IT database, read-only, and execution accuracy for text-to-SQL. Taught in 03_fine_tuning.

    from course_lib.sql import run_query, execution_match, extract_sql
    run_query("SELECT COUNT(*) FROM employees")                   # QueryResult(columns=[...], rows=[(1200,)])
    execution_match(predicted_sql, gold_sql)                      # True when both return the same rows

**Execution accuracy** scores generated SQL by what it returns, not by how it is spelled: two queries that differ
in aliases, spacing or join order but return the same rows are equally right. Results are compared as multisets
(a duplicate row counts twice), in order only when the gold query has an ORDER BY. Column names are ignored; the
order of columns is not. Floats are compared to two decimals (money in dollars, durations in days).

Generated queries are untrusted: they run on a read-only connection (`mode=ro` and `PRAGMA query_only`) with a
time limit, so a model cannot change the database or hang the notebook.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .datasets import DATA, SQL_SYSTEM_PROMPT, question_of, schema_text
from .llm import chat_many

DB_PATH = DATA / "itdb" / "it.sqlite"  # Fernleaf Home's IT database (course_lib/data/itdb/README.md)
QUERY_TIME_LIMIT_S = 2.0  # seconds a query may run before it is interrupted
MAX_ROWS = 10_000  # rows a query may return; a generated cross join would otherwise fill memory
FLOAT_DECIMALS = 2  # floats are compared after rounding to this many decimals


class SQLError(ValueError):
    """A query failed: a syntax error, an unknown table or column, a write attempt, or the time limit."""


@dataclass
class QueryResult:
    """The columns and rows a query returned."""

    columns: list[str]
    rows: list[tuple]


def connect(db: str | Path = DB_PATH) -> sqlite3.Connection:
    """A read-only connection to the database (the file cannot be changed through it). Taught in 03."""
    path = Path(db)
    if not path.is_file():
        raise FileNotFoundError(f"No database at {path}; rebuild it with `python course_lib/data/itdb/make_pairs.py`.")
    con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, check_same_thread=False)
    con.execute("PRAGMA query_only = ON")
    return con


def _connection(db: str | Path) -> sqlite3.Connection:
    return _connection_to(str(Path(db).resolve()))


@functools.cache
def _connection_to(path: str) -> sqlite3.Connection:
    """One read-only connection per database file and process."""
    return connect(path)


def run_query(sql: str, db: str | Path = DB_PATH, time_limit_s: float = QUERY_TIME_LIMIT_S,
              max_rows: int = MAX_ROWS) -> QueryResult:
    """Run one SELECT read-only with a time limit; raises SQLError saying what went wrong. Taught in 03."""
    if not isinstance(sql, str) or not sql.strip():
        raise SQLError("The query is empty.")
    con = _connection(db)
    deadline = time.monotonic() + time_limit_s
    con.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)  # non-zero return aborts the query
    try:
        cursor = con.execute(sql)
        rows = cursor.fetchmany(max_rows + 1)
    except sqlite3.Warning as exc:  # e.g. two statements in one string
        raise SQLError(f"{exc}") from None
    except sqlite3.Error as exc:
        if "interrupted" in str(exc):
            raise SQLError(f"The query ran longer than {time_limit_s:g} s and was stopped.") from None
        if "readonly" in str(exc) or "read-only" in str(exc):
            raise SQLError("The query tried to change the database; only SELECT queries may run.") from None
        raise SQLError(str(exc)) from None
    finally:
        con.set_progress_handler(None, 0)
    if len(rows) > max_rows:
        raise SQLError(f"The query returned more than {max_rows:,} rows.")
    columns = [d[0] for d in cursor.description or []]
    return QueryResult(columns, [tuple(r) for r in rows])


def is_valid_sql(sql: str, db: str | Path = DB_PATH) -> bool:
    """True when the query runs on the database without an error. Taught in 03_fine_tuning."""
    try:
        run_query(sql, db)
    except SQLError:
        return False
    return True


_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


def _normal(value):
    if isinstance(value, float):
        value = round(value, FLOAT_DECIMALS)
        return int(value) if value.is_integer() else value
    return value


def results_match(predicted: list[tuple], gold: list[tuple], ordered: bool) -> bool:
    """Same rows: as lists when `ordered`, else as multisets (a duplicate row counts twice). Taught in 03."""
    predicted = [tuple(_normal(v) for v in row) for row in predicted]
    gold = [tuple(_normal(v) for v in row) for row in gold]
    if ordered:
        return predicted == gold
    return Counter(predicted) == Counter(gold)


def execution_match(predicted_sql: str, gold_sql: str, db: str | Path = DB_PATH) -> bool:
    """Execution accuracy for one item: the predicted query returns the gold query's rows. Taught in 03.

    A predicted query that fails (syntax error, unknown column, time limit) does not match. Row order counts
    only when the gold query has an ORDER BY.
    """
    gold = run_query(gold_sql, db)  # a gold query that fails is a bug in the data set: let it raise
    try:
        predicted = run_query(predicted_sql, db)
    except SQLError:
        return False
    return results_match(predicted.rows, gold.rows, ordered=bool(_ORDER_BY.search(gold_sql)))


_FENCE = re.compile(r"```(?:sql|sqlite)?\s*(.*?)(?:```|$)", re.IGNORECASE | re.DOTALL)
_START = re.compile(r"\b(SELECT|WITH)\b", re.IGNORECASE)


def extract_sql(text: str) -> str:
    """The SQL query in a model's answer: inside a ```sql fence if there is one, from the first SELECT or WITH to
    the first semicolon or blank line. Returns "" when the answer holds no query. Taught in 03_fine_tuning."""
    text = text or ""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start = _START.search(text)
    if not start:
        return ""
    sql = text[start.start():]
    sql = re.split(r";|\n\s*\n", sql, maxsplit=1)[0]
    return " ".join(sql.split())


# --------------------------------------------------------------------------------------------------------------
# Evaluating a model that writes SQL
# --------------------------------------------------------------------------------------------------------------

ANSWER_MAX_TOKENS = 128  # longest answer generated (the longest gold query has under 100 tokens)


def prompt_messages(question: str, examples: list[dict] = (), schema: bool = True) -> list[dict]:
    """Chat messages asking for one query: the short system message, the schema (optional), worked examples as
    earlier turns (few-shot), then the question. Taught in 03_fine_tuning."""
    system = SQL_SYSTEM_PROMPT + (f"\n\n{schema_text()}" if schema else "")
    messages = [{"role": "system", "content": system}]
    for e in examples:
        messages += [m for m in e["messages"] if m["role"] != "system"]
    return messages + [{"role": "user", "content": question}]


class SimilarExamples:
    """The training pairs whose questions read most like a new question, found by embedding: retrieval over a
    training set, so that a prompt can show worked examples of the same kind as the question. Taught in 04.

        similar = SimilarExamples(load_sql_pairs("train"), Embedder(settings), k=2)
        prompt_messages(question, similar(question), schema=False)
    """

    def __init__(self, pairs: list[dict], embedder, k: int = 2, progress: bool = False):
        self.pairs, self.embedder, self.k = pairs, embedder, k
        self.vectors = embedder.encode([question_of(p) for p in pairs], progress=progress)  # unit rows: cosine = dot

    def __call__(self, question: str) -> list[dict]:
        """The k most similar pairs, the most similar last (nearest to the question in the prompt)."""
        scores = self.vectors @ self.embedder.encode([question])[0]
        best = sorted(range(len(self.pairs)), key=lambda i: -scores[i])[: self.k]
        return [self.pairs[i] for i in reversed(best)]


@dataclass
class SQLEvaluation:
    """Scores of one model (or prompt) on NL-to-SQL items, and every answer it gave."""

    name: str
    accuracy: float  # execution accuracy: share of answers whose rows equal the gold rows
    valid_rate: float  # share of answers that run without an error
    prompt_tokens: float  # mean prompt tokens per request
    completion_tokens: float  # mean completion tokens per request
    latency_s: float  # mean seconds per request (a batch's time shared among its requests on the local engine)
    answers: list[dict]  # per item: question, gold, raw answer, sql, valid, correct, template

    def row(self) -> dict:
        return {"execution accuracy": self.accuracy, "valid SQL": self.valid_rate,
                "prompt tokens": self.prompt_tokens, "completion tokens": self.completion_tokens,
                "latency s": self.latency_s}

    def mistakes(self) -> list[dict]:
        return [a for a in self.answers if not a["correct"]]

    def by_part(self, items: list[dict]) -> dict[str, tuple[int, int]]:
        """(right, total) for each part of `items` (the items this evaluation scored, in the same order), in the
        order the parts first appear: {"simple": (6, 26), "medium": (0, 25), ...}."""
        counts: dict[str, tuple[int, int]] = {}
        for answer, item in zip(self.answers, items, strict=True):
            right, total = counts.get(item.get("part", ""), (0, 0))
            counts[item.get("part", "")] = (right + answer["correct"], total + 1)
        return counts

    def by_template(self) -> dict[str, float]:
        """Execution accuracy per template (per query shape)."""
        groups: dict[str, list[bool]] = {}
        for a in self.answers:
            groups.setdefault(a.get("template") or "?", []).append(a["correct"])
        return {t: sum(v) / len(v) for t, v in sorted(groups.items())}

    def __repr__(self) -> str:
        return (f"SQLEvaluation({self.name!r}: execution accuracy {self.accuracy:.0%}, "
                f"valid SQL {self.valid_rate:.0%}, {self.prompt_tokens:.0f} prompt tokens, "
                f"{self.latency_s:.2f} s per request, "
                f"{len(self.answers)} items)")


def evaluate_sql(client, model: str, items: list[dict], build_messages, name: str = "", db: str | Path = DB_PATH,
                 max_tokens: int = ANSWER_MAX_TOKENS, progress: bool = True) -> SQLEvaluation:
    """Ask `model` for a query for every item (chat fine-tuning examples) and score it by execution accuracy, at
    temperature 0. `build_messages(item)` gives the chat messages to send. Every gold query is one line, so the
    answer stops at the end of its first line (a base model keeps writing otherwise); a hosted chat model that
    opens a ```sql block is asked for the query alone by the prompt, and `extract_sql` reads either. Taught in 03."""
    conversations = [build_messages(item) for item in items]
    replies = chat_many(client, model, conversations, max_tokens=max_tokens, stop=["\n"], progress=progress,
                        desc=name or model)
    answers = []
    for item, reply in zip(items, replies, strict=True):
        gold = item["messages"][-1]["content"]
        sql = extract_sql(reply.text)
        valid = bool(sql) and is_valid_sql(sql, db)
        correct = valid and execution_match(sql, gold, db)
        question = next(m["content"] for m in reversed(item["messages"]) if m["role"] == "user")
        answers.append({"question": question, "gold": gold, "answer": reply.text, "sql": sql, "valid": valid,
                        "correct": correct, "template": item.get("template", "")})
    n = max(1, len(items))
    return SQLEvaluation(
        name=name or model,
        accuracy=sum(a["correct"] for a in answers) / n,
        valid_rate=sum(a["valid"] for a in answers) / n,
        prompt_tokens=sum(r.prompt_tokens for r in replies) / n,
        completion_tokens=sum(r.completion_tokens for r in replies) / n,
        latency_s=sum(r.latency_s for r in replies) / n,
        answers=answers,
    )
