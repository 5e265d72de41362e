"""Retrieval quality and speed of lesson 02's default pipeline on every benefits question set. Writes
benchmarks/results/rag.json.

    python benchmarks/rag.py

recall_at_5, mrr, ndcg_at_10: the default pipeline (120-word chunks with 30 words of overlap, dense + BM25 fused
    by reciprocal rank fusion, compound questions also searched part by part, plan-year filter) over the course's
    answerable evaluation questions (see rag_metrics).
independent_*, lay_dev_*, lay_reserve_*: recall@5 and MRR, overall and on the compound questions, on the
    independent questions (load_questions("independent")) and on the two halves of the questions in employees'
    everyday words (load_questions("lay"): dev to choose techniques on, reserve to choose nothing).
embed_chunks_per_s: chunks embedded per second by the bundled all-MiniLM-L6-v2 on this machine's CPU.
query_p50_ms: median time to embed one question and search (dense + BM25 + fusion + filter), over all questions.
index_build_s: building the exact FAISS index from the embeddings (embedding excluded).
Run it alone: another model process on the same cores (a test run, another benchmark) slows both far more
than twice, and every timing here with it.
"""

from __future__ import annotations

import argparse
import statistics
import time

from record import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()

    from course_lib.chunking import chunk_fixed, load_documents
    from course_lib.datasets import load_questions
    from course_lib.embeddings import Embedder
    from course_lib.rag_metrics import evaluate_retriever, summarize
    from course_lib.retrieval import DEFAULT_CHUNK_WORDS, DEFAULT_OVERLAP_WORDS, default_retriever

    questions = load_questions()
    chunks = chunk_fixed(load_documents(), DEFAULT_CHUNK_WORDS, DEFAULT_OVERLAP_WORDS)
    embedder = Embedder()
    embedder.encode(["warm up the model once, so loading is not counted as embedding"])
    retriever = default_retriever(chunks, embedder)
    dense = retriever.inner.inner.dense  # FilteredRetriever(MultiQuestionRetriever(HybridRetriever(dense, bm25)))
    summary = summarize(evaluate_retriever(retriever, questions, k=5, ndcg_k=10))
    others = {"independent": load_questions("independent"),
              "lay_dev": [q for q in load_questions("lay") if q["split"] == "dev"],
              "lay_reserve": [q for q in load_questions("lay") if q["split"] == "reserve"]}
    scored = {name: evaluate_retriever(retriever, items, k=5) for name, items in others.items()}

    times = []
    for q in questions:
        started = time.perf_counter()
        retriever.search(q["question"], k=5)
        times.append((time.perf_counter() - started) * 1000)
    result = {
        "recall_at_5": summary["recall@5"],
        "mrr": summary["mrr"],
        "ndcg_at_10": summary["ndcg@10"],
        **{f"{name}_{metric}": round(float(table[column].mean()), 3) for name, table in scored.items()
           for metric, column in (("recall_at_5", "recall@5"), ("mrr", "rr"))},
        **{f"{name}_multi_recall_at_5": round(float(table.query("type == 'multi'")["recall@5"].mean()), 3)
           for name, table in scored.items()},
        "embed_chunks_per_s": round(len(chunks) / dense.embed_seconds, 1),
        "query_p50_ms": round(statistics.median(times), 2),
        "index_build_s": round(dense.build_seconds, 4),
        "chunks": len(chunks),
        "questions": len(questions),
        **{f"{name}_questions": len(items) for name, items in others.items()},
    }
    for key, value in result.items():
        print(f"{key:>32}: {value}")
    print("wrote", write_result("rag", result))


if __name__ == "__main__":
    main()
