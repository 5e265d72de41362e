"""Retrievers over chunks: dense (FAISS), keyword (BM25), hybrid (reciprocal rank fusion), compound questions
part by part, Qdrant. Taught in 02_rag.

Every retriever has the same interface, so the RAG answerer, the metrics and the explorer widget work with any:

    retriever = DenseRetriever(chunks)                  # embeds the chunks, builds an exact FAISS index
    hits = retriever.search("Are eyeglasses covered?", k=5, where={"year": 2026})
    hits[0].chunk.text, hits[0].score

`where` keeps only chunks whose metadata (plan, year, doc_id) equals the given values; a list means "any of".
"""

from __future__ import annotations

import abc
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .chunking import Chunk, chunk_fixed, load_documents
from .embeddings import Embedder
from .files import atomic_path

RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al., 2009): score = sum of 1 / (RRF_K + rank)
YEAR_IN_TEXT = re.compile(r"\b(20[2-3][0-9])\b")


class IndexFileError(RuntimeError):
    """An index file is missing, damaged or built for other data; the message says what to do."""


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    rank: int  # 1 = best


def matches(chunk: Chunk, where: dict | None) -> bool:
    """True when chunk's metadata satisfies every condition in where ({"year": 2026, "plan": ["vision", "all"]})."""
    if not where:
        return True
    for key, wanted in where.items():
        if not hasattr(chunk, key):
            raise KeyError(f"where={where!r}: chunks have no field {key!r}; use plan, year or doc_id.")
        value = getattr(chunk, key)
        if isinstance(wanted, (list, tuple, set)):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def year_filter(question: str) -> dict | None:
    """{"year": 2025} when the question names a plan year, else None: a simple, explicit metadata filter."""
    years = {int(y) for y in YEAR_IN_TEXT.findall(question)}
    return {"year": years.pop()} if len(years) == 1 else None


# -- FAISS ------------------------------------------------------------------------------------------------------
def build_index(vectors: np.ndarray, kind: str = "flat", nlist: int = 64, m: int = 32, ef_search: int = 64):
    """A FAISS inner-product index over unit vectors (inner product = cosine similarity).

    kind: "flat" (exact, compares with every vector), "hnsw" (graph; m links per node, ef_search candidates per
    query) or "ivf" (nlist clusters, trained with k-means; set index.nprobe to search more of them).
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 2 * m
        index.hnsw.efSearch = ef_search
    elif kind == "ivf":
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = max(1, nlist // 16)
    else:
        raise ValueError(f"kind={kind!r}: choose flat, hnsw or ivf.")
    index.add(vectors)
    return index


def save_index(index, path: str | Path) -> Path:
    """Write a FAISS index atomically: a crash mid-write leaves the old file (or none), never half of one."""
    import faiss

    with atomic_path(path) as tmp:
        faiss.write_index(index, str(tmp))
    return Path(path)


def load_index(path: str | Path, expected_size: int | None = None):
    """Read a FAISS index written by save_index; a missing, damaged or mismatched file gets a clear error."""
    import faiss

    path = Path(path)
    if not path.is_file():
        raise IndexFileError(f"{path} does not exist; build the index and save it with save_index() first.")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError:
        raise IndexFileError(f"{path} is not a readable FAISS index (damaged or another format); delete it and "
                          "rebuild it with build_index() and save_index().") from None
    if expected_size is not None and index.ntotal != expected_size:
        raise IndexFileError(f"{path} holds {index.ntotal} vectors but there are {expected_size} chunks; it was "
                          "built for other chunks. Rebuild it.")
    return index


# -- retrievers -------------------------------------------------------------------------------------------------
class Retriever(abc.ABC):
    """The interface every retriever offers: search(question, k, where) -> best-first list of Hits."""

    name = "retriever"

    def __init__(self, chunks: list[Chunk]):
        if not chunks:
            raise ValueError("no chunks to search; chunk some documents first.")
        self.chunks = list(chunks)

    @abc.abstractmethod
    def search(self, query: str, k: int = 5, where: dict | None = None) -> list[Hit]:
        """The k chunks that best match query among those whose metadata satisfies where."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.chunks)} chunks)"


class RankingRetriever(Retriever):
    """A retriever that ranks chunk positions itself: subclasses implement _ranked; filtering is done here."""

    def _candidates(self, where: dict | None) -> np.ndarray | None:
        if not where:
            return None
        return np.array([i for i, c in enumerate(self.chunks) if matches(c, where)], dtype=np.int64)

    def search(self, query: str, k: int = 5, where: dict | None = None) -> list[Hit]:
        candidates = self._candidates(where)
        if candidates is not None and len(candidates) == 0:
            return []
        ranked = self._ranked(query, k, candidates)
        return [Hit(self.chunks[i], float(s), r) for r, (i, s) in enumerate(ranked[:k], start=1)]

    @abc.abstractmethod
    def _ranked(self, query: str, k: int, candidates: np.ndarray | None) -> list[tuple[int, float]]:
        """(chunk position, score) best first, only among candidates when given."""


class DenseRetriever(RankingRetriever):
    """Embeds chunks once and searches a FAISS index by cosine similarity to the embedded question."""

    name = "dense"

    def __init__(self, chunks: list[Chunk], embedder: Embedder | None = None, kind: str = "flat",
                 vectors: np.ndarray | None = None, progress: bool = False, **index_options):
        super().__init__(chunks)
        self.embedder = embedder or Embedder()
        started = time.perf_counter()
        self.vectors = vectors if vectors is not None else self.embedder.encode([c.text for c in self.chunks],
                                                                                progress=progress)
        self.embed_seconds = time.perf_counter() - started
        started = time.perf_counter()
        self.index = build_index(self.vectors, kind=kind, **index_options)
        self.build_seconds = time.perf_counter() - started

    def _ranked(self, query, k, candidates):
        import faiss

        q = self.embedder.encode([query])
        params = None
        if candidates is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(candidates))
        scores, ids = self.index.search(q, k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=False) if i >= 0]


def _bm25_tokenize(texts: list[str], return_ids: bool = True):
    import bm25s

    return bm25s.tokenize(texts, lower=True, stopwords="en", show_progress=False, return_ids=return_ids)


class BM25Retriever(RankingRetriever):
    """Keyword search with BM25 (the bm25s library): rewards chunks that share the question's rarer words."""

    name = "bm25"

    def __init__(self, chunks: list[Chunk]):
        super().__init__(chunks)
        import bm25s

        self.model = bm25s.BM25()
        self.model.index(_bm25_tokenize([c.text for c in self.chunks]), show_progress=False)

    def _ranked(self, query, k, candidates):
        ids = self.model.get_tokens_ids(_bm25_tokenize([query], return_ids=False)[0])
        if not ids:
            return []  # none of the question's words occurs in any chunk
        scores = np.asarray(self.model.get_scores(ids), dtype=np.float32)
        pool = np.arange(len(self.chunks)) if candidates is None else candidates
        order = pool[np.argsort(-scores[pool], kind="stable")]
        return [(int(i), float(scores[i])) for i in order[:k] if scores[i] > 0]


def reciprocal_rank_fusion(rankings: list[list[int]], rrf_k: int = RRF_K) -> list[tuple[int, float]]:
    """Fuse several best-first lists of ids: each id scores sum(1 / (rrf_k + rank)) over the lists it is in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (rrf_k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))


class HybridRetriever(RankingRetriever):
    """Dense and BM25 results fused with reciprocal rank fusion: meaning and exact words both count."""

    name = "hybrid"

    def __init__(self, dense: DenseRetriever, bm25: BM25Retriever, depth: int = 30, rrf_k: int = RRF_K):
        if dense.chunks != bm25.chunks:
            raise ValueError("dense and bm25 retrievers must be built over the same chunks.")
        super().__init__(dense.chunks)
        self.dense, self.bm25, self.depth, self.rrf_k = dense, bm25, depth, rrf_k

    def _ranked(self, query, k, candidates):
        depth = max(self.depth, k)
        lists = [[i for i, _ in r._ranked(query, depth, candidates)] for r in (self.dense, self.bm25)]
        return reciprocal_rank_fusion(lists, self.rrf_k)


QUESTION_WORDS = ("what", "when", "how", "which", "who", "where", "why", "can", "could", "do", "does", "is", "are",
                  "will", "would", "should")
SECOND_QUESTION = re.compile(r",? and (?=(?:" + "|".join(QUESTION_WORDS) + r")\b)", re.IGNORECASE)


def split_question(question: str) -> list[str]:
    """The parts of a compound question, each with the sentences that give its context; [] for a simple one.

    "I'm on the PPO. When does coverage stop, and how long do I have to decide on COBRA?" ->
    ["I'm on the PPO. When does coverage stop", "I'm on the PPO. how long do I have to decide on COBRA?"]
    A part is a sentence ending in "?", or a piece of one after ", and what/when/how/can ...".
    """
    sentences = [s.strip() for s in re.split(r"(?<=[?.!])\s+", question.strip()) if s.strip()]
    asks = [s for s in sentences if s.endswith("?")] or sentences[-1:]
    context = " ".join(s for s in sentences if s not in asks)
    parts = [piece.strip(" ,") for ask in asks for piece in SECOND_QUESTION.split(ask) if piece.strip(" ,")]
    return [f"{context} {part}".strip() for part in parts] if len(parts) > 1 else []


class MultiQuestionRetriever(RankingRetriever):
    """Searches a compound question whole and part by part (`split_question`), then takes turns: the whole
    question's best chunk, each part's best, the whole question's second, and so on. A question that asks two
    things then gets chunks for both into its top k, where one ranking of the whole question favours one part."""

    def __init__(self, inner: RankingRetriever):
        super().__init__(inner.chunks)
        self.inner = inner
        self.name = f"{inner.name}+parts"

    def _ranked(self, query, k, candidates):
        parts = split_question(query)
        if not parts:
            return self.inner._ranked(query, k, candidates)
        depth = max(30, k)
        rankings = [self.inner._ranked(q, depth, candidates) for q in (query, *parts)]
        taken, seen = [], set()
        for rank in range(depth):
            for ranking in rankings:
                if rank < len(ranking) and ranking[rank][0] not in seen:
                    seen.add(ranking[rank][0])
                    taken.append((ranking[rank][0], 1.0 / (rank + 1)))
        return taken


class QdrantRetriever(Retriever):
    """The same dense search in Qdrant, a vector database, here in its embedded local mode (no server).

    path=None keeps the collection in memory; a folder persists it. Point `QdrantClient(url=...)` at a Qdrant
    server (or Qdrant Cloud) and nothing else changes: payload filters run inside the database.
    """

    name = "qdrant"

    def __init__(self, chunks: list[Chunk], embedder: Embedder | None = None, vectors: np.ndarray | None = None,
                 path: str | Path | None = None, collection: str = "benefits", client=None):
        super().__init__(chunks)
        from qdrant_client import QdrantClient, models

        self.models = models
        self.embedder = embedder or Embedder()
        vectors = vectors if vectors is not None else self.embedder.encode([c.text for c in self.chunks])
        self.client = client or (QdrantClient(path=str(path)) if path else QdrantClient(":memory:"))
        self.collection = collection
        if self.client.collection_exists(collection):
            self.client.delete_collection(collection)
        self.client.create_collection(collection, vectors_config=models.VectorParams(
            size=vectors.shape[1], distance=models.Distance.COSINE))
        self.client.upsert(collection, points=[
            models.PointStruct(id=i, vector=v.tolist(),
                               payload={"doc_id": c.doc_id, "plan": c.plan, "year": c.year})
            for i, (c, v) in enumerate(zip(self.chunks, vectors, strict=False))])

    def _filter(self, where: dict | None):
        if not where:
            return None
        m = self.models
        conditions = []
        for key, wanted in where.items():
            match = (m.MatchAny(any=list(wanted)) if isinstance(wanted, (list, tuple, set))
                     else m.MatchValue(value=wanted))
            conditions.append(m.FieldCondition(key=key, match=match))
        return m.Filter(must=conditions)

    def search(self, query: str, k: int = 5, where: dict | None = None) -> list[Hit]:
        q = self.embedder.encode([query])[0]
        points = self.client.query_points(self.collection, query=q.tolist(), limit=k,
                                          query_filter=self._filter(where)).points
        return [Hit(self.chunks[p.id], float(p.score), r) for r, p in enumerate(points, start=1)]


class FilteredRetriever(Retriever):
    """Wraps a retriever and adds a filter worked out from each question (by default: the plan year it names)."""

    def __init__(self, inner: Retriever, make_filter=year_filter):
        super().__init__(inner.chunks)
        self.inner, self.make_filter = inner, make_filter
        self.name = f"{inner.name}+filter"

    def search(self, query: str, k: int = 5, where: dict | None = None) -> list[Hit]:
        return self.inner.search(query, k, {**(self.make_filter(query) or {}), **(where or {})})


DEFAULT_CHUNK_WORDS = 120  # the lesson's default pipeline: measured best trade-off in 02_rag
DEFAULT_OVERLAP_WORDS = 30


def default_retriever(chunks: list[Chunk] | None = None, embedder: Embedder | None = None,
                      progress: bool = False) -> FilteredRetriever:
    """The lesson's default pipeline: 120-word chunks sharing 30 words, dense + BM25 fused by RRF, compound
    questions also searched part by part, and the plan-year filter. Pass chunks to use your own."""
    if chunks is None:

        chunks = chunk_fixed(load_documents(), DEFAULT_CHUNK_WORDS, DEFAULT_OVERLAP_WORDS)
    dense = DenseRetriever(chunks, embedder, progress=progress)
    return FilteredRetriever(MultiQuestionRetriever(HybridRetriever(dense, BM25Retriever(chunks))))
