"""``chronorag index INPUT... --store DIR``: read, split, date, embed and store documents."""

from __future__ import annotations

import json

import typer

from chronorag.cli._common import console, err_console, fail


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
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar."),
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        from chronorag.indexers import ChronoDocumentStore, StoreError
        from chronorag.indexers.ingest import ingest
        from chronorag.indexers.onnx_embedder import ingestion_embedder
        from chronorag.models import ModelNotInstalledError, configure_threads

        configure_threads()
        try:
            if no_embed:
                embed = None
                target = ChronoDocumentStore(store, index_type=index_type)
            else:
                embedder = ingestion_embedder(backend, quantize, device, max_seq_length)
                embed, model_id, dim, description = embedder
                err_console.print(f"embedding with {description}")
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
