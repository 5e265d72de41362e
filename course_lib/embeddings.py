"""Sentence embeddings through the client: the bundled all-MiniLM-L6-v2, or a provider's embedding model. Taught in 02.

Every provider embeds with the same call, `client.embeddings.create(model=..., input=[...])`; on the local default the
in-process API answers it with the bundled model (`runtime.encoder`), so nothing here depends on the provider. When
chat goes to a hosted provider and no embedding model is set, the bundled model still embeds, through a local client.
"""

from __future__ import annotations

import functools

import numpy as np
from tqdm.auto import tqdm

from .config import LOCAL_EMBEDDING_MODEL, Settings, load_settings
from .llm import get_client, local_client


class Embedder:
    """Embeds texts with the configured embedding model, in batches of `batch_size` texts per request.

    Taught in 02_rag. `Embedder().encode(["Are eyeglasses covered?"])` gives an (n, dim) float32 array whose
    rows have unit length (so a dot product is the cosine similarity), whichever provider is configured.
    """

    def __init__(self, settings: Settings | None = None, client=None, batch_size: int = 64):
        self.settings = settings or load_settings()
        self.model = self.settings.embedding_model
        # The bundled model is served by the in-process API, also when chat goes to a hosted provider.
        bundled = self.model == LOCAL_EMBEDDING_MODEL and not self.settings.is_local
        self.client = local_client(self.settings) if bundled else (client or get_client(self.settings))
        self.batch_size = batch_size

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        rows: list[list[float]] = []
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, disable=not progress, desc="embedding", leave=False):
            response = self.client.embeddings.create(model=self.model, input=texts[start:start + self.batch_size])
            rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)

    @functools.cached_property
    def dimension(self) -> int:
        """Length of each embedding vector (asked of the model once, then remembered)."""
        return int(self.encode(["dimension probe"]).shape[1])
