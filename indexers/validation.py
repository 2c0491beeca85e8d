"""What the store accepts: document ids, metadata values and filters, each refused with the reason.

Every write path (``ChronoDocumentStore.write_batch``, so ``chronorag index``, the REST API and Python
users alike) and every filtered read go through these checks:

* **ids** (the passage id and ``meta["doc_id"]``, the address of ``GET|DELETE /v1/documents/{id}``) must
  be non-empty strings without control characters (C0, DEL, C1) or unpaired surrogates, and without
  leading or trailing whitespace: such an id could be written but not addressed again (a URL path
  cannot carry a newline; a stripped id would name another document), so it is refused, never altered.
* **metadata** must be JSON: string keys, finite numbers (``NaN``/``Infinity`` have no JSON form and
  compare unequal to themselves) and strings without unpaired surrogates (they cannot be encoded as
  UTF-8 when the passage is read back). Embeddings must be finite too.
* **filters** follow Haystack's grammar, checked against what the store can apply before any row is
  read: the fields the store knows (``id``, ``content``, the ``meta`` keys ingestion sets, see
  :data:`PASSAGE_META_FIELDS`) accept only the operators and value types that fit their values; any
  other ``meta.<name>`` is the client's own and may hold anything, so :func:`document_matches` turns a
  comparison its stored value cannot take part in (a list compared with ``>``) into a ``FilterError``
  naming the field and operator instead of a ``TypeError``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import numpy as np
from haystack import Document
from haystack.errors import FilterError
from haystack.utils.filters import document_matches_filter

from chronorag.indexers.errors import InvalidDocumentError
from chronorag.temporal import meta as meta_keys

# Kinds of value a field holds: "text", "date" (ISO date string), "number", "list" (of objects), "any".
TEXT, DATE, NUMBER, LIST, ANY = "text", "date", "number", "list", "any"

# The meta keys ingestion sets on every passage (docs/ARCHITECTURE.md), with the kind of value each holds.
PASSAGE_META_FIELDS: dict[str, str] = {
    "title": TEXT,
    "doc_id": TEXT,
    "passage_index": NUMBER,
    "para": NUMBER,
    "chunk": NUMBER,
    meta_keys.DATE: DATE,
    meta_keys.DATE_SOURCE: TEXT,
    meta_keys.DATE_CONFIDENCE: NUMBER,
    meta_keys.TIME_SPANS: LIST,
    meta_keys.SPANS_VERSION_KEY: NUMBER,
}
_DOCUMENT_FIELDS = {"id": TEXT, "content": TEXT}
# Document attributes the store does not keep in a filterable form.
_UNFILTERABLE = frozenset({"embedding", "sparse_embedding", "blob", "score"})

EQUALITY = ("==", "!=")
ORDERING = (">", ">=", "<", "<=")
MEMBERSHIP = ("in", "not in")
COMPARISON_OPERATORS = EQUALITY + ORDERING + MEMBERSHIP
LOGICAL_OPERATORS = ("AND", "OR", "NOT")
_OPERATORS_OF = {
    TEXT: EQUALITY + MEMBERSHIP,
    DATE: COMPARISON_OPERATORS,
    NUMBER: COMPARISON_OPERATORS,
    LIST: EQUALITY,
    ANY: COMPARISON_OPERATORS,
}
_WHY_NOT = {
    TEXT: "it holds text, which compares only with ==, !=, in and not in",
    LIST: "it holds a list of time spans; restrict time with the question's constraint "
    "(or search's time_window), not with a filter",
}

# C0 controls, DEL, C1 controls, and surrogates (which only occur unpaired in a Python str).
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


# --- ids, text and metadata -------------------------------------------------------------------------
def id_problem(value: Any, what: str = "id") -> str | None:
    """Why ``value`` cannot be a document or passage id, or ``None`` when it can.

    :param value: the id.
    :param what: how to name it in the reason.
    :returns: the reason, or ``None``.
    """
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    if not value.strip():
        return f"{what} is empty"
    bad = _CONTROL_OR_SURROGATE.search(value)
    if bad is not None:
        return (
            f"{what} {value!r} contains the control character {_describe(bad.group())} at position "
            f"{bad.start()}; ids are addressed in URLs, so they may not hold control characters"
        )
    if value != value.strip():
        return (
            f"{what} {value!r} has leading or trailing whitespace; ids are kept exactly as given, "
            "so remove it (nothing is stripped silently)"
        )
    return None


def text_problem(value: Any, what: str) -> str | None:
    """Why a text (content, title) cannot be stored, or ``None``: only unpaired surrogates are refused.

    :param value: the text (``None`` is fine).
    :param what: how to name it in the reason.
    :returns: the reason, or ``None``.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    bad = _SURROGATE.search(value)
    if bad is not None:
        return f"{what} contains an unpaired surrogate {_describe(bad.group())} at position {bad.start()}"
    return None


def meta_problem(meta: Any) -> str | None:
    """Why a metadata dict cannot be stored as JSON, or ``None``.

    Walks nested dicts and lists iteratively (a deeply nested value cannot exhaust the stack).

    :param meta: the metadata.
    :returns: the reason naming the offending key path, or ``None``.
    """
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return f"meta must be a dict, not {type(meta).__name__}"
    for path, value in _walk(meta, "meta"):
        problem = _value_problem(value)
        if problem is not None:
            return f"{path} {problem}"
    return None


def _walk(root: dict, prefix: str) -> Iterator[tuple[str, Any]]:
    stack: list[tuple[str, Any]] = [(prefix, root)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    yield f"{path}[{key!r}]", _NonStringKey(key)
                    continue
                stack.append((f"{path}.{key}", item))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
        else:
            yield path, value


class _NonStringKey:
    def __init__(self, key: Any) -> None:
        self.key = key


def _value_problem(value: Any) -> str | None:
    if isinstance(value, _NonStringKey):
        return f"is a key of type {type(value.key).__name__}; JSON keys are strings"
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return (
            f"is {float(value)!r}; NaN and Infinity have no JSON form and never compare equal: "
            "send null or a finite number"
        )
    if isinstance(value, np.ndarray) and value.dtype.kind in "fc" and not np.isfinite(value).all():
        return "holds NaN or Infinity; send finite numbers"
    if isinstance(value, str) and _SURROGATE.search(value):
        return "contains an unpaired surrogate, which cannot be encoded as UTF-8"
    return None


def _describe(char: str) -> str:
    return f"U+{ord(char):04X}"


def document_problem(document: Document) -> str | None:
    """Why a Haystack document cannot be written to the store, or ``None``.

    :param document: the document.
    :returns: the reason (naming the document), or ``None``.
    """
    problem = id_problem(document.id)
    meta = document.meta or {}
    if problem is None and meta.get("doc_id") is not None:
        problem = id_problem(meta["doc_id"], "meta.doc_id")
    problem = problem or text_problem(document.content, "content") or meta_problem(meta)
    if problem is None and document.embedding is not None:
        vector = np.asarray(document.embedding, dtype=np.float64)
        if not np.isfinite(vector).all():
            problem = "the embedding holds NaN or Infinity"
    if problem is None:
        return None
    return problem if id_problem(document.id) else f"document {document.id!r}: {problem}"


def source_problem(doc_id: Any, title: Any, text: Any, meta: Any) -> str | None:
    """Why a source document (before splitting) cannot be indexed, or ``None``: what ingestion and the REST
    API check per document, so one bad record is rejected with its reason and the rest are written.

    :param doc_id: its id (passages get ``<id>#<n>``).
    :param title: its title.
    :param text: its text.
    :param meta: its metadata.
    :returns: the reason, or ``None``.
    """
    return (
        id_problem(doc_id) or text_problem(title, "title") or text_problem(text, "text") or meta_problem(meta)
    )


def check_documents(documents: list[Document]) -> None:
    """Refuse a batch that holds a document the store cannot keep (nothing is written then).

    :param documents: the batch.
    :raises InvalidDocumentError: naming the first bad document and the reason.
    """
    for position, document in enumerate(documents):
        problem = document_problem(document)
        if problem is not None:
            raise InvalidDocumentError(f"documents[{position}]: {problem}")


# --- filters ------------------------------------------------------------------------------------------
def field_kind(field: str) -> str:
    """The kind of value a filter field holds in this store.

    :param field: ``id``, ``content``, ``meta.<name>[.<sub>...]`` or a legacy bare meta name.
    :returns: ``text``, ``date``, ``number``, ``list`` or ``any``.
    :raises FilterError: saying why the store cannot filter on the field.
    """
    if field in _DOCUMENT_FIELDS:
        return _DOCUMENT_FIELDS[field]
    if field in _UNFILTERABLE or field.split(".")[0] in _UNFILTERABLE:
        raise FilterError("the store filters on id, content and meta.<name> only")
    parts = field.split(".")
    if parts[0] != "meta":
        parts = ["meta", *parts]  # Haystack reads a bare name as a meta key (legacy filters)
    if len(parts) < 2 or any(not part for part in parts):
        raise FilterError("the field is not id, content or meta.<name>")
    known = PASSAGE_META_FIELDS.get(parts[1])
    if known is None:
        return ANY
    if len(parts) > 2:
        raise FilterError(f"meta.{parts[1]} holds a {known} value, which has no sub-field {parts[2]!r}")
    return known


def check_filters(filters: Any) -> None:
    """Check Haystack filters against what the store can apply, before any row is read.

    :param filters: Haystack filters.
    :raises FilterError: naming the field and operator of the first condition that cannot apply, and why.
    """
    stack: list[tuple[Any, str]] = [(filters, "filters")]
    while stack:
        node, where = stack.pop()
        if not isinstance(node, dict):
            raise FilterError(f"{where} must be a dict, not {type(node).__name__}")
        if "field" in node:
            _check_condition(node, where)
            continue
        if "operator" not in node:
            raise FilterError(f"'operator' key missing in {where}")
        if "conditions" not in node:
            raise FilterError(f"'conditions' key missing in {where}")
        operator = node["operator"]
        if operator not in LOGICAL_OPERATORS:
            raise FilterError(
                f"{where}: unknown logical operator {operator!r}; use one of {list(LOGICAL_OPERATORS)}"
            )
        conditions = node["conditions"]
        if not isinstance(conditions, list):
            raise FilterError(f"{where}: 'conditions' of {operator} must be a list")
        stack.extend((item, f"{where}.conditions[{i}]") for i, item in enumerate(conditions))


def _check_condition(condition: dict[str, Any], where: str) -> None:
    for key in ("operator", "value"):
        if key not in condition:
            raise FilterError(f"'{key}' key missing in {where}")
    field, operator, value = condition["field"], condition["operator"], condition["value"]
    if not isinstance(field, str):
        raise FilterError(f"{where}: 'field' must be a string, not {type(field).__name__}")
    if not isinstance(operator, str) or operator not in COMPARISON_OPERATORS:
        raise FilterError(
            f"field {field!r}: unknown comparison operator {operator!r}; "
            f"use one of {list(COMPARISON_OPERATORS)}"
        )
    try:
        kind = field_kind(field)
    except FilterError as exc:
        raise FilterError(f"field {field!r} with operator {operator!r}: {exc}") from exc
    if operator not in _OPERATORS_OF[kind]:
        raise FilterError(f"field {field!r} with operator {operator!r}: {_WHY_NOT[kind]}")
    problem = _filter_value_problem(kind, operator, value)
    if problem is not None:
        raise FilterError(f"field {field!r} with operator {operator!r}: {problem}")


def _filter_value_problem(kind: str, operator: str, value: Any) -> str | None:
    if operator in MEMBERSHIP:
        if not isinstance(value, list):
            return f"the value must be a list, not {_type_name(value)}"
        for item in value:
            problem = _equality_value_problem(kind, item)
            if problem is not None:
                return f"list item {item!r}: {problem}"
        return None
    if operator in ORDERING:
        return _ordering_value_problem(kind, value)
    return _equality_value_problem(kind, value)


def _equality_value_problem(kind: str, value: Any) -> str | None:
    non_finite = _non_finite(value)
    if non_finite is not None:
        return non_finite
    if value is None or kind == ANY:
        return None
    if kind == TEXT and not isinstance(value, str):
        return f"the field holds text; {_type_name(value)} {value!r} never equals it"
    if kind == NUMBER and not _is_number(value):
        return f"the field holds numbers; {_type_name(value)} {value!r} never equals one"
    if kind == DATE and not (isinstance(value, datetime) or _is_iso_date(value)):
        return f"the field holds ISO dates (YYYY-MM-DD); {value!r} is not one"
    if kind == LIST and not isinstance(value, list):
        return f"the field holds a list; {_type_name(value)} {value!r} never equals it"
    return None


def _ordering_value_problem(kind: str, value: Any) -> str | None:
    non_finite = _non_finite(value)
    if non_finite is not None:
        return non_finite
    if value is None:
        return None  # Haystack's rule: an ordering with null matches nothing
    number, iso = _is_number(value), isinstance(value, datetime) or _is_iso_date(value)
    if kind == NUMBER and not number:
        return f"the field holds numbers; compare it with a number, not {_type_name(value)} {value!r}"
    if kind == DATE and not iso:
        return f"the field holds ISO dates; compare it with an ISO date such as '2015-06-30', not {value!r}"
    if not (number or iso):
        return (
            f"ordering needs a number or an ISO date such as '2015-06-30', not {_type_name(value)} {value!r}"
        )
    return None


def _non_finite(value: Any) -> str | None:
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return f"{float(value)!r} compares with nothing; use a finite number"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 10:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, date):
        return "a date object (use an ISO string)"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), f"a {type(value).__name__}")


def document_matches(filters: dict[str, Any], document: Document) -> bool:
    """Haystack's ``document_matches_filter``, with a comparison the stored value cannot take part in
    reported as a ``FilterError`` naming the field and operator (not a ``TypeError``).

    :param filters: filters already checked by :func:`check_filters`.
    :param document: the document.
    :returns: whether the document matches.
    :raises FilterError: when a condition cannot be applied to this document's value.
    """
    if "field" not in filters:
        conditions = filters["conditions"]
        if filters["operator"] == "OR":
            return any(document_matches(c, document) for c in conditions)
        matched = all(document_matches(c, document) for c in conditions)
        return not matched if filters["operator"] == "NOT" else matched
    try:
        return document_matches_filter(filters, document)
    except (TypeError, ValueError, OverflowError, FilterError) as exc:
        field, operator = filters.get("field"), filters.get("operator")
        raise FilterError(
            f"field {field!r} with operator {operator!r} cannot be applied to the value stored in "
            f"passage {document.id!r}: {exc}"
        ) from exc
