"""Errors raised by the store; each message says what is wrong and how to repair it."""

from __future__ import annotations


class StoreError(RuntimeError):
    """Base class of the store's errors."""


class StoreCorruptError(StoreError):
    """The store's files disagree or cannot be read; ``chronorag store rebuild DIR`` repairs the index."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"store {path!r} is corrupt or inconsistent: {problem}. "
            f"Run `chronorag store check {path}` for details and `chronorag store rebuild {path}` to rebuild "
            "the vector index from the vectors kept in store.sqlite."
        )


class StoreMismatchError(StoreError):
    """The store was built with another embedding model or dimension than the one asked for."""


class EmbeddingDimensionError(StoreError, ValueError):
    """A document's embedding has another dimension than the store's."""


class InvalidDocumentError(StoreError, ValueError):
    """A document the store cannot keep (an unaddressable id, NaN in its meta); nothing is written then."""
