"""``chronorag store info|check|rebuild DIR``: inspect, verify and repair a store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from chronorag.cli._common import console, fail

if TYPE_CHECKING:
    from chronorag.indexers import ChronoStore


def _human_bytes(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{size} B"
        size /= 1024
    return f"{size} B"


def _open_read_only(path: str) -> ChronoStore:
    """The store at ``path`` (a folder or a Milvus URI), read-only; ``info`` and ``check`` use only the
    ``ChronoStore`` interface on it (``rebuild`` repairs the local store's FAISS file, so it is the local
    store's own)."""
    from chronorag.indexers.backend import open_store

    return open_store(path, read_only=True)


def register(app: typer.Typer) -> None:
    """Add the ``store`` command group to the app."""
    store_app = typer.Typer(help="Inspect, check or rebuild a store.", no_args_is_help=True)

    @store_app.command("info", help="Documents, passages, model, dimension, index, device, dates, size.")
    def info(
        path: str = typer.Argument(..., help="The store folder or Milvus URI."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        from chronorag.indexers import StoreError

        try:
            store = _open_read_only(path)
        except StoreError as exc:
            raise fail(str(exc)) from exc
        stats = store.stats()
        if as_json:
            print(json.dumps(stats, indent=2))
            return
        size = stats.pop("size_bytes", None)
        if size is not None:
            stats["size"] = _human_bytes(size)
        for key, value in stats.items():
            console.print(f"[bold]{key:>22}[/]: {value}")

    @store_app.command("check", help="Verify that rows and vectors agree; exits 1 and says what is wrong.")
    def check(path: str = typer.Argument(..., help="The store folder or Milvus URI.")) -> None:
        from chronorag.indexers import StoreError

        try:
            store = _open_read_only(path)
            problems = store.check()
        except StoreError as exc:
            raise fail(str(exc), code=1) from exc
        if problems:
            for problem in problems:
                console.print(f"[bold red]problem:[/] {problem}")
            from chronorag.indexers.backend import is_milvus_location

            if not is_milvus_location(path):
                console.print(f"repair with: chronorag store rebuild {path}")
            raise typer.Exit(1)
        stats = store.stats()
        console.print(
            f"ok: {stats['passages']} passages, {stats['vectors']} vectors, generation {stats['generation']}"
        )

    @store_app.command("rebuild", help="Rebuild the vector index from the vectors kept in SQLite.")
    def rebuild(
        path: str = typer.Argument(..., help="The store folder."),
        index_type: str = typer.Option(
            None, "--index-type", help="flat, flat16, ivf or hnsw (default: as recorded)."
        ),
    ) -> None:
        from chronorag.indexers import StoreError
        from chronorag.indexers.backend import is_milvus_location
        from chronorag.indexers.store import rebuild_store

        if is_milvus_location(path):
            raise fail(f"{path} is a Milvus store: Milvus keeps its own index; nothing to rebuild", code=1)
        try:
            store = rebuild_store(path, index_type=index_type)
            problems = store.check()
        except (StoreError, ValueError) as exc:
            raise fail(str(exc), code=1) from exc
        if problems:
            raise fail("; ".join(problems), code=1)
        stats = store.stats()
        store.close()
        console.print(f"rebuilt: {stats['vectors']} vectors in a {stats['index_type']} index")

    app.add_typer(store_app, name="store")
