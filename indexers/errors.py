"""Errors raised by the store; each message says what is wrong and how to repair it."""

from __future__ import annotations


class StoreError(RuntimeError):
    """Base class of the store's errors."""


class StoreCorruptError(StoreError):
    """The store's files disagree or cannot be read. ``repair`` names the command that repairs it:
    ``chronorag store rebuild DIR`` when the vector index is damaged (it is rebuilt from the vectors kept
    in store.sqlite), ``chronorag store recover DIR`` when store.sqlite itself is (its rows are salvaged
    into a new file)."""

    def __init__(self, path: str, problem: str, repair: str = "rebuild") -> None:
        self.path = path
        self.problem = problem
        self.repair = repair
        advice = repair_advice(path, repair)
        super().__init__(f"store {path!r} is corrupt or inconsistent: {problem}. {advice}")


def repair_command(path: str, repair: str) -> str:
    """:returns: the command that repairs the store in ``path`` (``repair``: ``rebuild`` or ``recover``)."""
    return f"chronorag store {repair} {path}"


def repair_advice(path: str, repair: str) -> str:
    """:returns: a sentence naming the command that repairs the store and what it does."""
    if repair == "recover":
        return (
            f"Run `{repair_command(path, 'recover')}` to salvage its passages into a new store.sqlite and "
            "rebuild the index (the damaged files are kept aside)."
        )
    return (
        f"Run `chronorag store check {path}` for details and `{repair_command(path, 'rebuild')}` to rebuild "
        "the vector index from the vectors kept in store.sqlite."
    )


class StoreMismatchError(StoreError):
    """The store was built with another embedding model or dimension than the one asked for."""


class EmbeddingDimensionError(StoreError, ValueError):
    """A document's embedding has another dimension than the store's."""


class InvalidDocumentError(StoreError, ValueError):
    """A document the store cannot keep (an unaddressable id, NaN in its meta); nothing is written then."""
