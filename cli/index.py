"""``chronorag index INPUT... --store DIR``: read, split, date, embed and store documents."""

from __future__ import annotations

import json
from typing import Any

import typer

from chronorag.cli._common import console, err_console, fail


def _open(
    engine: str,
    store: str,
    no_embed: bool,
    index_type: str | None,
    backend: str,
    quantize: str,
    device: str | None,
    max_seq_length: int | None,
) -> tuple[Any, Any, Any]:
    """The embedder (local engine), the embedder spec (Ray's model actors build it) and the open store."""
    from chronorag.indexers.backend import open_store
    from chronorag.indexers.onnx_embedder import ingestion_embedder

    if no_embed:
        return None, None, open_store(store, index_type=index_type)
    if engine == "ray":
        from chronorag.indexers.ray_ingest import EmbedderSpec
        from chronorag.models import embedding_model_id

        # The driver does not load the model: the actors do, and the store checks their vectors' dimension.
        spec = EmbedderSpec(backend, quantize, device, max_seq_length)
        return None, spec, open_store(store, embedding_model=embedding_model_id(), index_type=index_type)
    embed, model_id, dim, description = ingestion_embedder(backend, quantize, device, max_seq_length)
    err_console.print(f"embedding with {description}")
    return embed, None, open_store(store, embedding_model=model_id, embedding_dim=dim, index_type=index_type)


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command(
        "index", help="Index documents (JSONL, CSV, .txt/.md folders, TimeQA, RealTimeQA) into a store."
    )
    def index(
        inputs: list[str] = typer.Argument(..., help="Files or folders to index."),
        store: str = typer.Option(
            ...,
            "--store",
            "-s",
            help="The store (created when missing): a folder, or a Milvus URI (milvus:///path/file.db "
            "for Milvus Lite, http://host:19530 for a server, ?collection=NAME; token in "
            "CHRONORAG_MILVUS_TOKEN).",
        ),
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
            "auto",
            "--backend",
            help="auto, openvino, onnx or torch. auto: torch on a GPU, else openvino when installed, else "
            "torch fp32; every backend gives the same model's vectors.",
        ),
        quantize: str = typer.Option(
            "auto",
            "--quantize",
            help="auto (openvino: int8 where the CPU has it and nncf is installed, else bf16 where the "
            "CPU has it, else f32; onnx: int8; torch: none), none (fp32), int8 (every backend) or bf16 "
            "(openvino).",
        ),
        max_seq_length: int = typer.Option(
            None, "--max-seq-length", help="Passage token limit for embedding (default 256)."
        ),
        no_embed: bool = typer.Option(
            False, "--no-embed", help="Store passages without vectors (BM25 only)."
        ),
        engine: str = typer.Option(
            "local",
            "--engine",
            help="local (this process) or ray (Ray Data: read/split/date on CPU actors, embed on model "
            "actors, GPU ones where the cluster has GPUs).",
        ),
        address: str = typer.Option(
            None,
            "--address",
            help="With --engine ray: the Ray cluster (ray://host:10001 or auto); none: local.",
        ),
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        from chronorag.indexers import StoreError
        from chronorag.models import ModelNotInstalledError, configure_threads

        if engine not in ("local", "ray"):
            raise fail(f"--engine must be local or ray, not {engine!r}")
        configure_threads()
        try:
            embed, spec, target = _open(
                engine, store, no_embed, index_type, backend, quantize, device, max_seq_length
            )
        except (StoreError, ModelNotInstalledError, ValueError, ImportError) as exc:
            raise fail(str(exc)) from exc
        options = {"fmt": fmt, "batch_passages": batch_size, "target_words": passage_words, "limit": limit}
        try:
            if engine == "ray":
                from chronorag.indexers.ray_ingest import RayIngestError, ray_ingest

                try:
                    report = ray_ingest(
                        inputs, target, spec, progress=not no_progress, address=address, **options
                    )
                except RayIngestError as exc:
                    raise fail(str(exc)) from exc
            else:
                from chronorag.indexers.ingest import ingest

                report = ingest(inputs, target, embed, progress=not no_progress, **options)
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
