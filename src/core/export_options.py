"""The names ``export.projection`` and ``export.embeddings`` accept: shared by the config
checks and the code that exports."""

from __future__ import annotations

PROJECTIONS = ("auto", "tsne", "umap", "pca")


def umap_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("umap") is not None


EMBEDDING_POLICIES = ("auto", "always", "never")
