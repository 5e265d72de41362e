"""Retrieval metrics over the evaluation questions: recall@k, MRR, nDCG@k. Taught in 02_rag.

A question lists the passages ("doc_id#section") that answer it. For `multi` questions every listed passage is
needed; for the others the listed passages are alternatives (the same fact repeated in several places), and
any one of them is enough. So each question has one or more *needs*, and each need is a set of passages:

    needs(q) == [{"vision-2026#eyeglasses", "faq-2026#glasses"}]     # single: one need, two ways to meet it
    needs(q) == [{"a#x"}, {"b#y"}]                                  # multi: two needs

A retrieved chunk meets a need when it overlaps one of the need's passages.
"""

from __future__ import annotations

import math

import pandas as pd


def needs(question: dict) -> list[set[str]]:
    """What a question needs retrieved: one set of alternatives, or (for multi) one set per passage."""
    passages = question["passages"]
    if not passages:
        return []
    if question.get("type") == "multi":
        return [{p} for p in passages]
    return [set(passages)]


def _met_at(retrieved: list[set[str]] | list[tuple[str, ...]], need: set[str]) -> int | None:
    """1-based rank of the first retrieved item meeting the need, or None."""
    for rank, passages in enumerate(retrieved, start=1):
        if need & set(passages):
            return rank
    return None


def recall_at_k(retrieved: list, question_needs: list[set[str]], k: int) -> float:
    """Share of the question's needs met by the top k retrieved items (each item: the passages it covers)."""
    if not question_needs:
        raise ValueError("recall is undefined for a question with no passages (an unanswerable one); skip it.")
    top = retrieved[:k]
    return sum(_met_at(top, need) is not None for need in question_needs) / len(question_needs)


def reciprocal_rank(retrieved: list, question_needs: list[set[str]]) -> float:
    """1 / rank of the first retrieved item that meets any need; 0 when none does."""
    ranks = [r for r in (_met_at(retrieved, need) for need in question_needs) if r is not None]
    return 1.0 / min(ranks) if ranks else 0.0


def ndcg_at_k(retrieved: list, question_needs: list[set[str]], k: int) -> float:
    """Normalised discounted cumulative gain: each need met scores 1 / log2(rank + 1), at its first rank only;
    divided by the best possible score (every need met at the top ranks)."""
    gains = [r for r in (_met_at(retrieved[:k], need) for need in question_needs) if r is not None]
    dcg = sum(1.0 / math.log2(rank + 1) for rank in gains)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(question_needs), k) + 1))
    return dcg / ideal if ideal else 0.0


def evaluate_retriever(retriever, questions: list[dict], k: int = 5, ndcg_k: int = 10, where=None) -> pd.DataFrame:
    """One row per answerable question: recall@k, reciprocal rank and nDCG, plus the question's type.

    where: None, a fixed filter dict, or a function question -> filter dict.
    """
    rows = []
    depth = max(k, ndcg_k)
    for q in questions:
        q_needs = needs(q)
        if not q_needs:
            continue
        filt = where(q) if callable(where) else where
        hits = retriever.search(q["question"], k=depth, where=filt)
        retrieved = [h.chunk.passages for h in hits]
        rows.append({"id": q["id"], "type": q["type"], f"recall@{k}": recall_at_k(retrieved, q_needs, k),
                     "rr": reciprocal_rank(retrieved, q_needs),
                     f"ndcg@{ndcg_k}": ndcg_at_k(retrieved, q_needs, ndcg_k)})
    return pd.DataFrame(rows)


def summarize(results: pd.DataFrame) -> dict:
    """Means of the metric columns (rr becomes mrr), rounded to three places."""
    summary = {}
    for column in results.columns:
        if column in ("id", "type"):
            continue
        summary["mrr" if column == "rr" else column] = round(float(results[column].mean()), 3)
    return summary
