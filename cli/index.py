"""``chronorag index INPUT... --store DIR``: read, split, date, embed and store documents."""

from __future__ import annotations

import json

import typer

from chronorag.cli._common import console, err_console, fail


def _embedder(backend: str, quantize: str, device: str | None) -> tuple:
    """The embedding function the options ask for: ``(embed, model_id, dimension)``."""
    level = None if quantize in ("none", "", None) else quantize
    if backend == "onnx":
        from chronorag.indexers.onnx_embedder import onnx_embedder

        return onnx_embedder(quantize=level)
    if backend != "torch":
        raise ValueError(f"--backend must be torch or onnx, not {backend!r}")
    from chronorag.indexers.ingest import sentence_transformer_embedder

    return sentence_transformer_embedder(device=device, batch_size=64, quantize=level)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command(
        "index", help="Index documents (JSONL, CSV, .txt/.md folders, TimeQA, RealTimeQA) into a store."
    )
    def index(
        inputs: list[str] = typer.Argument(..., help="Files or folders to index."),
        store: str = typer.Option(..., "--store", "-s", help="The store folder (created when missing)."),
        fmt: str = typer.Option(
            "auto", "--format", "-f", help="auto, jsonl, csv, text, timeqa or realtimeqa."
        ),
        batch_size: int = typer.Option(
            256, "--batch-size", help="Passages per embedding call and transaction."
        ),
        passage_words: int = typer.Option(100, "--passage-words", help="Target passage length in words."),
        limit: int = typer.Option(None, "--limit", help="Index at most this many documents."),
        index_type: str = typer.Option(
            None, "--index-type", help="flat, flat16, ivf or hnsw (default: the store's, flat for a new one)."
        ),
        device: str = typer.Option(None, "--device", help="Torch device for embedding (default: auto)."),
        backend: str = typer.Option(
            "torch",
            "--backend",
            help="torch, or onnx (CPU, onnxruntime; needs `pip install onnxruntime onnx`).",
        ),
        quantize: str = typer.Option(
            "none", "--quantize", help="none or int8 (CPU; faster, slightly lossy)."
        ),
        no_embed: bool = typer.Option(
            False, "--no-embed", help="Store passages without vectors (BM25 only)."
        ),
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        from chronorag.indexers import ChronoDocumentStore, StoreError
        from chronorag.indexers.ingest import ingest
        from chronorag.models import ModelNotInstalledError, configure_threads

        configure_threads()
        try:
            if no_embed:
                embed = None
                target = ChronoDocumentStore(store, index_type=index_type)
            else:
                embed, model_id, dim = _embedder(backend, quantize, device)
                target = ChronoDocumentStore(
                    store, embedding_model=model_id, embedding_dim=dim, index_type=index_type
                )
        except (StoreError, ModelNotInstalledError, ValueError, ImportError) as exc:
            raise fail(str(exc)) from exc
        try:
            report = ingest(
                inputs,
                target,
                embed,
                fmt=fmt,
                batch_passages=batch_size,
                target_words=passage_words,
                limit=limit,
                progress=not no_progress,
            )
        except KeyboardInterrupt:
            target.close()
            err_console.print("interrupted: every document written so far is stored; re-run to continue")
            raise typer.Exit(130) from None
        finally:
            target.close()
        summary = report.to_dict()
        if as_json:
            print(json.dumps(summary, indent=2))
        else:
            console.print(
                f"written {summary['documents_written']} documents ({summary['passages_written']} passages, "
                f"{summary['passages_per_s']} passages/s), unchanged {summary['documents_unchanged']}, "
                f"replaced {summary['documents_replaced']}, rejected {summary['rejected']}"
            )
            for reason, group in summary["rejected_by_reason"].items():
                console.print(f"  rejected [bold]{group['count']}[/] x {reason}")
                for example in group["examples"]:
                    console.print(f"    {example}")
        if report.documents_seen == 0 and report.rejected:
            raise typer.Exit(1)
