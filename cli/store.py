"""``chronorag store info|check|rebuild|recover DIR``: inspect, verify and repair a store."""

from __future__ import annotations

import json
from pathlib import Path
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
    """The store in the folder ``path``, read-only; ``info`` and ``check`` use only the ``ChronoStore``
    interface on it (``rebuild`` repairs the local store's FAISS file, so it is the local store's own)."""
    from chronorag.indexers import ChronoDocumentStore

    return ChronoDocumentStore(path, read_only=True)


def register(app: typer.Typer) -> None:
    """Add the ``store`` command group to the app."""
    store_app = typer.Typer(help="Inspect, check, rebuild or recover a store.", no_args_is_help=True)

    @store_app.command("info", help="Documents, passages, model, dimension, index, device, dates, size.")
    def info(
        path: str = typer.Argument(..., help="The store folder."),
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
        stats["size"] = _human_bytes(stats.pop("size_bytes"))
        for key, value in stats.items():
            console.print(f"[bold]{key:>22}[/]: {value}")

    @store_app.command(
        "check",
        help="Verify store.sqlite, vectors.faiss and that rows and vectors agree. Exits 1 on damage, naming "
        "it and the command that repairs it; an index save still pending is a note, not damage (exit 0).",
    )
    def check(path: str = typer.Argument(..., help="The store folder.")) -> None:
        from chronorag.indexers import StoreError
        from chronorag.indexers.errors import repair_command
        from chronorag.indexers.local_store.maintenance import inspect_store

        try:
            found = inspect_store(path)
        except StoreError as exc:
            raise fail(str(exc), code=1) from exc
        for note in found.notes:
            console.print(f"[bold]note:[/] {note}", soft_wrap=True)
        if found.problems:
            for problem in found.problems:
                console.print(f"[bold red]problem:[/] {problem}", soft_wrap=True)
            console.print(f"repair with: {repair_command(path, found.repair or 'rebuild')}", soft_wrap=True)
            raise typer.Exit(1)
        stats = _open_read_only(path).stats()
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
        from chronorag.indexers.store import rebuild_store

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

    @store_app.command(
        "recover",
        help="Salvage the passages of a damaged store.sqlite into a new one and rebuild the index; the "
        "damaged files are kept in DIR/damaged-<time>/. Run it again to finish an interrupted recovery.",
    )
    def recover(
        path: str = typer.Argument(..., help="The store folder."),
        embedding_model: str = typer.Option(
            None, "--embedding-model", help="The model of the vectors, if the store's settings were lost."
        ),
        embedding_dim: int = typer.Option(
            None, "--embedding-dim", help="The vector dimension, if it was lost with the settings."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    ) -> None:
        from chronorag.indexers import StoreError
        from chronorag.indexers.local_store.recovery import recover_store

        try:
            report = recover_store(path, embedding_model, embedding_dim, progress=progress)
        except StoreError as exc:
            raise fail(str(exc), code=1) from exc
        if as_json:
            print(json.dumps(report.to_dict(), indent=2))
            return
        lost = "unknown" if report.passages_lost is None else str(report.passages_lost)
        console.print(
            f"recovered: {report.passages_saved} passages saved, {lost} lost "
            f"({report.pages_missing} pages missing, {report.cells_lost} records undecodable"
            + (f", {report.passages_rejected} rejected" if report.passages_rejected else "")
            + f"); {report.vectors} vectors indexed at generation {report.generation}",
            soft_wrap=True,
        )
        if report.documents_incomplete:
            console.print(
                f"{report.documents_incomplete} source documents lost passages: run `chronorag index` over "
                "the corpus again to restore them (complete documents are skipped)",
                soft_wrap=True,
            )
        console.print(
            f"the damaged files are in {Path(path) / report.aside}; delete that folder once satisfied",
            soft_wrap=True,
        )

    app.add_typer(store_app, name="store")
