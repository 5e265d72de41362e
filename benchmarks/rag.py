"""Retrieval quality and speed of lesson 02's default pipeline on the benefits evaluation set. Prints JSON with --json.

    python benchmarks/rag.py --json

recall_at_5, mrr, ndcg_at_10: the default pipeline (120-word chunks with 30 words of overlap, dense + BM25 fused
    by reciprocal rank fusion, compound questions also searched part by part, plan-year filter) over the course's
    answerable evaluation questions (see rag_metrics).
independent_recall_at_5, independent_mrr, independent_multi_recall_at_5: the same on the independent questions
    (load_questions("independent"), worded as employees word them), overall and on the compound ones.
embed_chunks_per_s: chunks embedded per second by the bundled all-MiniLM-L6-v2 on this machine's CPU.
query_p50_ms: median time to embed one question and search (dense + BM25 + fusion + filter), over all questions.
index_build_s: building the exact FAISS index from the embeddings (embedding excluded).
Run it alone: another model process on the same cores (a test run, another benchmark) slows both far more
than twice, and every timing here with it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()

    from course_lib.chunking import chunk_fixed, load_documents, load_questions
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
    independent = evaluate_retriever(retriever, load_questions("independent"), k=5)

    times = []
    for q in questions:
        started = time.perf_counter()
        retriever.search(q["question"], k=5)
        times.append((time.perf_counter() - started) * 1000)
    result = {
        "recall_at_5": summary["recall@5"],
        "mrr": summary["mrr"],
        "ndcg_at_10": summary["ndcg@10"],
        "independent_recall_at_5": round(float(independent["recall@5"].mean()), 3),
        "independent_mrr": round(float(independent["rr"].mean()), 3),
        "independent_multi_recall_at_5": round(float(independent.query("type == 'multi'")["recall@5"].mean()), 3),
        "embed_chunks_per_s": round(len(chunks) / dense.embed_seconds, 1),
        "query_p50_ms": round(statistics.median(times), 2),
        "index_build_s": round(dense.build_seconds, 4),
        "chunks": len(chunks),
        "questions": len(questions),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
