"""Haystack YAML in and out: ``dumps`` a built pipeline, ``load`` it back in any process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from haystack import Pipeline

from chronorag.indexers.backend import STORE_TYPES, store_dict
from chronorag.pipeline.builder import STORE_ENV

ALLOWED_MODULES = ["chronorag.*"]
_EXPANDER_TYPE = "chronorag.rankers.event_expander.EventExpander"


def dumps(pipeline: Pipeline) -> str:
    """
    The pipeline as Haystack YAML (store path as given, devices `auto`, models `default`).

    :param pipeline: the pipeline.
    :returns: the YAML text.
    """
    return pipeline.dumps()


def load(yaml_text_or_path: str | os.PathLike[str], store_path: str | None = None) -> Pipeline:
    """
    Rebuild a pipeline from its YAML, allowing only `chronorag.*` (and Haystack's own) modules.

    :param yaml_text_or_path: YAML text, or the path of a YAML file.
    :param store_path: a store (folder or Milvus URI) replacing the one in the YAML; `None` reads
        `CHRONORAG_STORE` and, when that is unset too, keeps the YAML's.
    :returns: the pipeline (not warmed up).
    :raises FileNotFoundError: when given a path that does not exist.
    :raises haystack.core.errors.DeserializationError: on YAML naming modules outside the allow-list.
    """
    text = _read(yaml_text_or_path)
    data = yaml.safe_load(text)
    store = store_path or os.environ.get(STORE_ENV)
    if store:
        _replace_store(data, str(store))
    return Pipeline.from_dict(data, allowed_modules=ALLOWED_MODULES)


def _read(yaml_text_or_path: str | os.PathLike[str]) -> str:
    if isinstance(yaml_text_or_path, os.PathLike):
        return Path(yaml_text_or_path).read_text(encoding="utf-8")
    text = str(yaml_text_or_path)
    # YAML of a pipeline always spans lines; a single line is a file name.
    if "\n" not in text.strip():
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"pipeline YAML file {text!r} does not exist")
        return path.read_text(encoding="utf-8")
    return text


def _replace_store(data: dict[str, Any], store: str) -> None:
    """Point every store (and the event expander's store index) of the pipeline at `store`: a folder or
    a Milvus URI, whichever backend the YAML named (a store of the same backend keeps its other settings)."""
    replacement = store_dict(store)
    for component in (data.get("components") or {}).values():
        params = component.get("init_parameters") or {}
        for key, value in params.items():
            if isinstance(value, dict) and value.get("type") in STORE_TYPES:
                if value["type"] == replacement["type"]:
                    value.setdefault("init_parameters", {}).update(replacement["init_parameters"])
                else:
                    params[key] = {**replacement, "init_parameters": dict(replacement["init_parameters"])}
        if component.get("type") == _EXPANDER_TYPE and params.get("store_path"):
            params["store_path"] = store
