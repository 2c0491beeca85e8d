"""``chronorag train-expander``: train the event expander's cross-attention on RealTimeQA 2022."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from chronorag.cli._common import console, fail


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command(
        "train-expander", help="Train the event expander's cross-attention (RealTimeQA, week split)."
    )
    def train_expander(
        data: Path = typer.Option(Path("../shared/data"), "--data", help="Folder holding realtimeqa/."),
        out: Path = typer.Option(..., "--out", help="Output folder for expander.pt and metrics.json."),
        epochs: int = typer.Option(8, "--epochs", min=1),
        batch_size: int = typer.Option(32, "--batch-size", min=2),
        lr: float = typer.Option(5e-4, "--lr"),
        top_events: int = typer.Option(8, "--top-events", min=1),
        hard_negatives: int = typer.Option(8, "--hard-negatives", min=1),
        dev_fraction: float = typer.Option(0.25, "--dev-fraction", min=0.05, max=0.9),
        passages_per_article: int = typer.Option(3, "--passages-per-article", min=1),
        cache: Path | None = typer.Option(
            None, "--cache", help="Embedding cache folder (default: OUT/cache)."
        ),
        device: str = typer.Option("auto", "--device", help="auto (GPU when present), cpu or cuda."),
    ) -> None:
        from chronorag.models import configure_threads, get_sentence_transformer
        from chronorag.rankers.train_expander import TrainConfig, prepare, train

        if not (data / "realtimeqa").is_dir():
            raise fail(f"{data / 'realtimeqa'} does not exist (give --data, the folder holding realtimeqa/)")
        configure_threads()
        encoder = get_sentence_transformer(device=None if device == "auto" else device)
        with console.status("embedding questions, passages and events..."):
            prepared = prepare(data, encoder, cache or out / "cache", passages_per_article)
        config = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            top_events=top_events,
            hard_negatives=hard_negatives,
            dev_fraction=dev_fraction,
        )
        try:
            metrics = train(prepared, out, config, device=device)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        shown = {key: value for key, value in metrics.items() if key != "loss_history"}
        console.print_json(json.dumps(shown))
        console.print(f"weights: {out / 'expander.pt'}  (EventExpander(weights_path=...))")
