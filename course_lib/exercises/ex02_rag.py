"""Exercises of 02_rag: a chunker, retrieval metrics, rank fusion, tuning chunks, a year filter, grounded messages.

Metric, chunker and filter checks run your function against the reference on cases drawn afresh at every check
(ties, empty lists, several k, random years), with the course's own versions swapped out; the tuning and filter checks
measure retrieval on the course's evaluation set with the configured embedding model; the grounded-messages check
builds messages for real questions and passages drawn afresh each time and sends them to the configured model.
"""

from __future__ import annotations

import functools
import math
import random

from ..checks import FunctionCheck, Incorrect, ThresholdCheck, bind, is_number
from ..checks.kinds import Measure
from ..chunking import chunk_fixed, load_documents, split_words
from ..datasets import load_questions
from ..rag_metrics import evaluate_retriever, reciprocal_rank
from ..rag_metrics import recall_at_k as course_recall_at_k
from ..retrieval import DenseRetriever, reciprocal_rank_fusion, year_filter
from .ex02_grounded import GroundedPrompt

RECALL_TARGET = 0.90  # q5: dense recall@k the learner's chunking must reach, with k <= MAX_K
MAX_K = 5
YEAR_RECALL_TARGET = 0.80  # q6: recall@1 on the plan-year questions with the learner's filter
MAX_CHUNK_WORDS = 180  # the embedding model reads at most 256 word pieces (~190 words); longer chunks get cut
GROUNDED_CASES = 2  # q7: real questions, with passages from the knowledge base, drawn afresh on every check
WORDS = ["frames", "lenses", "$175", "copay", "24", "months", "|", "Tier", "Family", "$9.85", "dental", "plan",
         "2026", "covered", "(in-network)", "allowance", "x-ray", "every", "year", "—"]


@functools.cache
def _dense(size: int, overlap: int) -> DenseRetriever:
    """A dense retriever over fixed chunks, built once per (size, overlap) in this kernel: embedding takes a while."""
    return DenseRetriever(chunk_fixed(load_documents(), size, overlap))


AGREEMENT_CASES = [([list("cbd"), list("bd")], 1), ([list("nsm"), list("knmf")], 2), ([list("jbhsa"), list("apb")], 5),
                   ([list("grlmti"), list("lmfkhogjintdsr")], 60),  # q4: found by search, ranks from 0 reorder them
                   ([list("aefb"), list("ghib")], 1)]  # ...and k = 60 in place of k = 1 reorders this one


def _ids(rng: random.Random, pool: str, n: int) -> list[str]:
    return [rng.choice(pool) for _ in range(n)]


class ChunkWords(FunctionCheck):
    """Write a fixed-size chunker with overlap that loses nothing"""

    variables = ["chunk_words"]
    signature = "(text, size, overlap) -> list of strings"
    references = (split_words, chunk_fixed)
    hints = [
        "Split into words with `text.split()`. Windows start at 0, size - overlap, 2 * (size - overlap), ...",
        "Stop once a window reaches the last word, otherwise the final window is a useless copy of the tail of the "
        "one before it.",
        "An empty text gives an empty list.",
    ]
    solution_code = """
    def chunk_words(text, size, overlap):
        words = text.split()
        chunks = []
        for start in range(0, len(words), size - overlap):
            chunks.append(" ".join(words[start:start + size]))
            if start + size >= len(words):
                break
        return chunks
    """
    advice = "Glue the chunks back together (dropping the overlaps) and compare with the words of the text."

    def cases(self, rng):
        cases = [("an empty text", ("", 5, 1)), ("spaces only", ("  \n ", 3, 0)),
                 ("a window's step past the last word", ("one two three four five six", 4, 2))]
        for _ in range(40):
            size = rng.choice([1, 2, 3, 5, 7, 10, 25, 60])
            overlap = rng.randrange(size)
            n = rng.choice([size, size + 1, size - overlap, size + (size - overlap), rng.randrange(0, 4 * size + 3)])
            text = rng.choice([" ", "  ", "\n"]).join(_ids(rng, WORDS, n)) if n else ""
            kind = "a text of exactly one window" if n == size else (
                "no overlap" if overlap == 0 else "a window's step past the last word" if n % (size - overlap) == 0
                else "random lengths")
            cases.append((kind, (text, size, overlap)))
        return cases

    def judge(self, args, got, expected):
        text, size, overlap = args
        if not isinstance(got, list) or not all(isinstance(c, str) for c in got):
            return "it did not return a list of strings"
        if got == expected:
            return ""
        parts = [c.split() for c in got]
        if any(not p or len(p) > size for p in parts):
            return "a chunk is empty or longer than `size` words"
        if any(a[len(a) - overlap:] != b[:overlap] for a, b in zip(parts, parts[1:], strict=False)):
            return "a chunk does not start with the last `overlap` words of the one before"
        rebuilt = (parts[0] + [w for p in parts[1:] for w in p[overlap:]]) if parts else []
        if rebuilt != text.split():
            return "gluing the chunks back together does not give the words of the text: some are lost or repeated"
        return "an extra chunk after the one holding the last word" if len(got) > len(expected) else \
            "the chunks are not full windows"


class RecallAtK(FunctionCheck):
    """Write recall@k: the share of the relevant passages found in the top k"""

    variables = ["recall_at_k"]
    signature = "(retrieved, relevant, k) -> float"
    references = (course_recall_at_k,)
    hints = ["Recall asks: of everything relevant, how much did the top k find? Divide by the number of relevant "
             "ids, not by k.",
             "Count each relevant id once, even if it was retrieved twice: sets do that.",
             "`top = set(retrieved[:k])`; count the ids of `set(relevant)` that are in `top`, and divide by "
             "`len(set(relevant))`."]
    solution_code = """
    def recall_at_k(retrieved, relevant, k):
        top = set(retrieved[:k])
        return sum(1 for r in set(relevant) if r in top) / len(set(relevant))
    """
    advice = "Of the relevant ids, what share is in the top k?"

    def cases(self, rng):
        cases = [("an empty ranking", ([], {"a"}, 3)), ("repeated ids", (["a", "a", "b"], {"a", "c"}, 2)),
                 ("k longer than the ranking", (["a", "b"], {"b"}, 5)), ("k = 3", (["a", "b", "c"], {"a"}, 3))]
        for _ in range(40):
            retrieved = _ids(rng, "abcdefgh", rng.randrange(0, 9))
            relevant = set(_ids(rng, "abcdefghij", rng.randrange(1, 5)))
            k = rng.choice([1, 2, 3, 5, 10])
            kind = "repeated ids" if len(set(retrieved)) < len(retrieved) else (
                "k longer than the ranking" if k > len(retrieved) else f"k = {k}")
            cases.append((kind, (retrieved, relevant, k)))
        return cases

    def judge(self, args, got, expected):
        retrieved, relevant, k = args
        if not is_number(got):
            return "it did not return a number"
        if math.isclose(got, expected, abs_tol=1e-9):
            return ""
        hits = sum(1 for r in retrieved[:k] if r in relevant)
        if math.isclose(got, hits / k, abs_tol=1e-9) or math.isclose(got, len(set(retrieved[:k]) & relevant) / k):
            return "it divides by k instead of by the number of relevant ids"
        if math.isclose(got, hits / len(relevant), abs_tol=1e-9):
            return "an id retrieved twice is counted twice"
        return "a different share"


class MeanReciprocalRank(FunctionCheck):
    """Write MRR: the mean over questions of 1 / rank of the first relevant result"""

    variables = ["mean_reciprocal_rank"]
    signature = "(runs: list of (retrieved, relevant)) -> float"
    references = (reciprocal_rank,)
    hints = ["Score each question on its own: rank 1 is the top of the list, so a first relevant id in third place "
             "scores 1/3, and a question with no relevant id retrieved scores 0. MRR is the mean of those scores.",
             "For one question, walk the list with `enumerate(retrieved, start=1)`, add 1 / rank at the first "
             "relevant id and stop (`break`); then divide the total by the number of questions."]
    solution_code = """
    def mean_reciprocal_rank(runs):
        total = 0.0
        for retrieved, relevant in runs:
            for rank, item in enumerate(retrieved, start=1):
                if item in relevant:
                    total += 1 / rank
                    break
        return total / len(runs)
    """
    advice = "Is rank 1 the top of the list, and does only the first relevant id count?"

    def cases(self, rng):
        cases = [("a relevant id second", ([(["x", "a"], {"a"})],)), ("several relevant ids retrieved",
                                                                      ([(["a", "b", "c"], {"a", "c"})],))]
        for _ in range(40):
            runs = [(_ids(rng, "abcdefg", rng.randrange(0, 7)), set(_ids(rng, "abcdefgh", rng.randrange(1, 4))))
                    for _ in range(rng.randrange(1, 5))]
            kind = "a question with nothing relevant retrieved" if any(not set(r) & s for r, s in runs) else (
                "several relevant ids retrieved" if any(len(set(r) & s) > 1 for r, s in runs) else "random runs")
            cases.append((kind, (runs,)))
        return cases

    def judge(self, args, got, expected):
        if not is_number(got):
            return "it did not return a number"
        if math.isclose(got, expected, abs_tol=1e-9):
            return ""
        (runs,) = args
        from_zero = [next((1 / (i if i else 1) for i, x in enumerate(r) if x in s), 0) for r, s in runs]
        if math.isclose(got, sum(from_zero) / len(runs), abs_tol=1e-9):
            return "ranks are counted from 0"
        return "a different mean"


class RankFusion(FunctionCheck):
    """Write reciprocal rank fusion: merge several rankings into one"""

    variables = ["fuse"]
    signature = "(rankings, k=60) -> list of ids, best first"
    references = (reciprocal_rank_fusion,)
    hints = ["Each id scores the sum over the rankings it appears in of 1 / (k + rank), rank starting at 1.",
             "Sort the ids by score, highest first: `sorted(scores, key=scores.get, reverse=True)`."]
    solution_code = """
    def fuse(rankings, k=60):
        scores = {}
        for ranking in rankings:
            for rank, item in enumerate(ranking, start=1):
                scores[item] = scores.get(item, 0.0) + 1 / (k + rank)
        return sorted(scores, key=scores.get, reverse=True)
    """
    advice = "Is rank 1 the first position, and does k change the weight of agreement? Ids that tie may come in " \
             "any order."

    @staticmethod
    def scores(rankings, k, first=1):
        scores = {}
        for ranking in rankings:
            for rank, item in enumerate(ranking, start=first):
                scores[item] = scores.get(item, 0.0) + (1 / (k + rank) if k + rank else math.inf)
        return scores

    def cases(self, rng):
        cases = [("no rankings", ([], 60)), ("empty rankings", ([[], []], 60))]
        names = dict(zip("abcdefghijklmnopqrst", rng.sample([f"p{n}" for n in range(100)], 20), strict=True))
        for rankings, k in AGREEMENT_CASES:  # rankings where ranks counted from 0 change the order, ids renamed
            cases.append((f"agreement against position, k = {k}", ([[names[i] for i in r] for r in rankings], k)))
        for _ in range(40):
            pool = "abcdefghi"[:rng.randrange(3, 10)]
            rankings = [rng.sample(pool, rng.randrange(0, len(pool) + 1)) for _ in range(rng.randrange(1, 5))]
            k = rng.choice([1, 2, 5, 60])
            scores = self.scores(rankings, k)
            ties = len(set(scores.values())) < len(scores)
            cases.append(("rankings with ties" if ties else f"k = {k}", (rankings, k)))
        return cases

    def call(self, function, rankings, k):  # k is passed by name, as the lesson's retrievers do
        return super().call(function, rankings, k=k)

    def judge(self, args, got, expected):
        rankings, k = args
        try:
            got = list(got)
        except TypeError:
            return "it did not return a list of ids"
        if sorted(map(str, got)) != sorted(map(str, expected)):
            return "ids are missing or repeated"
        scores = self.scores(rankings, k)
        if all(scores[a] >= scores[b] - 1e-12 for a, b in zip(got, got[1:], strict=False)):
            return ""
        from_zero = self.scores(rankings, k, first=0)
        if all(from_zero[a] >= from_zero[b] - 1e-12 for a, b in zip(got, got[1:], strict=False)):
            return "ranks are counted from 0"
        return "the ids are not in the order of their fused scores"


class TuneChunking(ThresholdCheck):
    """Pick a chunk size, an overlap and k that reach recall 0.90 with dense retrieval"""

    variables = ["chunk_size", "overlap", "k"]
    target, percent = RECALL_TARGET, False
    advice = "Very small chunks lose context, very large ones blur topics: sweep the size as the lesson does."
    hints = [f"Dense retrieval only (no BM25), k at most {MAX_K}, chunks of at most {MAX_CHUNK_WORDS} words.",
             "Very small chunks lose context; very large ones blur several topics into one vector. The lesson's "
             "sweep shows how recall changes with the chunk size.",
             "Some overlap helps answers that straddle two chunks; a quarter of the chunk size is a common start."]
    solution_code = """
    chunk_size = 120
    overlap = 30
    k = 5
    """

    def measure(self, chunk_size, overlap, k):
        for name, value in (("chunk_size", chunk_size), ("overlap", overlap), ("k", k)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise Incorrect(f"`{name}` should be a whole number; got {value!r}.")
        if not 20 <= chunk_size <= MAX_CHUNK_WORDS:
            raise Incorrect(f"chunk_size={chunk_size}: choose 20 to {MAX_CHUNK_WORDS} words; the embedding model "
                            "cuts longer texts off.")
        if not 0 <= overlap < chunk_size:
            raise Incorrect(f"overlap={overlap} must be at least 0 and smaller than chunk_size.")
        if not 1 <= k <= MAX_K:
            raise Incorrect(f"k={k}: choose 1 to {MAX_K}; more passages make longer, costlier prompts.")
        dense = _dense(chunk_size, overlap)
        recall = evaluate_retriever(dense, load_questions(), k=k)[f"recall@{k}"].mean()
        return Measure(recall, f"recall@{k} with {len(dense.chunks)} chunks of {chunk_size} words (overlap "
                               f"{overlap})", praise=f"recall@{k} = {recall:.3f} over {len(dense.chunks)} chunks.")


YEAR_QUESTIONS = ["What was the frame allowance in {y}?", "For the {y} plan year, is LASIK covered?",
                  "how much was the dental deductible in {y}", "In {y}, did the vision plan cover contacts?",
                  "What changed for {y}?"]
PLAIN_QUESTIONS = ["Are eyeglasses covered by my health plan?", "Is the $175 frame allowance every 24 months?",
                   "What does a 3-tier plan cost for 1 employee?", "Who answers questions about dental?",
                   "Do I pay 20% after the deductible?"]


class YearFilter(FunctionCheck):
    """Write a metadata filter that fixes the plan-year questions"""

    variables = ["where_for"]
    signature = "(question) -> filter dict or None"
    references = (year_filter,)
    hints = ["`re.findall(r'\\b20\\d\\d\\b', question)` finds years written in a question.",
             "Return `{'year': 2025}` for a question that names 2025, and None when it names no year, so other "
             "questions are searched as before."]
    solution_code = """
    import re


    def where_for(question):
        years = re.findall(r"\\b(20\\d\\d)\\b", question)
        return {"year": int(years[0])} if years else None
    """
    advice = "A question that names a year gets that year (a number); one that names none gets None."

    def cases(self, rng):
        cases = [("a question that names no year", (q,)) for q in PLAIN_QUESTIONS]
        for _ in range(20):
            year = rng.randrange(2000, 2100)
            cases.append(("a question naming a year other than 2025" if year != 2025 else "a 2025 question",
                          (rng.choice(YEAR_QUESTIONS).format(y=year),)))
        return cases

    def judge(self, args, got, expected):
        if got == expected:
            return ""
        if expected is None:
            return "a filter for a question that names no year"
        if not isinstance(got, dict):
            return "no filter for a question that names a year"
        if str(got.get("year")) == str(expected["year"]) and not isinstance(got.get("year"), int):
            return "the year as text; the chunks' year is a number"
        return "the wrong year, or a filter that is not {'year': <the year named>}"

    def verify_function(self, where_for):
        super().verify_function(where_for)
        questions = load_questions()
        year_qs = [q for q in questions if q["type"] == "year"]
        other_qs = [q for q in questions if q["type"] in ("single", "paraphrase")]
        retriever = _dense(120, 30)

        def recall(qs, where):  # recall@1: is the chunk that comes first from the right plan year?
            return evaluate_retriever(retriever, qs, k=1, where=where)["recall@1"].mean()

        before, after = recall(year_qs, None), recall(year_qs, lambda q: self.call(where_for, q["question"]))
        if after < YEAR_RECALL_TARGET:
            raise Incorrect(f"On the {len(year_qs)} plan-year questions recall@1 went from {before:.3f} to {after:.3f}"
                            f"; the target is {YEAR_RECALL_TARGET:.2f}. Does a 2025 question get a 2025 filter?")
        other_before = recall(other_qs, None)
        other_after = recall(other_qs, lambda q: self.call(where_for, q["question"]))
        if other_after < other_before - 0.01:
            raise Incorrect(f"On questions that name no year recall@1 fell from {other_before:.3f} to "
                            f"{other_after:.3f}; leave those unfiltered (return None).")
        self.praise = f"right on every generated question; plan-year questions: recall@1 {before:.3f} -> {after:.3f}."


bind(globals(), "02_rag", [ChunkWords, RecallAtK, MeanReciprocalRank, RankFusion, TuneChunking, YearFilter,
                           GroundedPrompt])
__all__ += ["RECALL_TARGET", "MAX_K", "MAX_CHUNK_WORDS", "YEAR_RECALL_TARGET"]  # noqa: F821 - bind() made __all__
