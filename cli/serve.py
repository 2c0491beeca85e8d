"""``chronorag serve --store DIR [--pipeline pipeline.yaml]``: the REST API under uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

from chronorag.cli._common import err_console, fail


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command(
        "serve",
        help="Serve the REST API (/v1/ask, /v1/retrieve, /v1/decompose, /v1/documents, /healthz, /readyz, "
        "/metrics; OpenAPI at /docs). Writes need CHRONORAG_API_KEY.",
    )
    def serve(
        store: str = typer.Option(
            ..., "--store", "-s", help="The store folder (created empty when missing) or a Milvus URI."
        ),
        pipeline: str = typer.Option(
            None, "--pipeline", "-p", help="A pipeline YAML (`chronorag pipeline`); default: build --preset."
        ),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
        port: int = typer.Option(8000, "--port", help="TCP port."),
        preset: str = typer.Option(
            "fast", "--preset", help="fast, accurate or reading (when no --pipeline is given)."
        ),
        generator: str = typer.Option(
            None, "--generator", help="auto, local, openai or extractive (when no --pipeline is given)."
        ),
        insecure_open_writes: bool = typer.Option(
            False,
            "--insecure-open-writes",
            help="Allow document writes without a key when CHRONORAG_API_KEY is unset.",
        ),
        protect_reads: bool = typer.Option(
            False, "--protect-reads", help="Require the API key on read routes too."
        ),
        max_body_mb: float = typer.Option(
            8.0, "--max-body-mb", help="Largest request body accepted, in MiB."
        ),
        ingest_backend: str = typer.Option(
            None,
            "--ingest-backend",
            help="How /v1/documents embeds: auto (the fastest installed, as `chronorag index`), openvino, "
            "onnx or torch (default: CHRONORAG_INGEST_BACKEND, else auto).",
        ),
        header_timeout: float = typer.Option(
            10.0, "--header-timeout", help="Seconds a request line and headers may take to arrive (else 408)."
        ),
        body_timeout: float = typer.Option(
            30.0, "--body-timeout", help="Seconds a request body may take to arrive (else 408)."
        ),
        max_concurrent_requests: int = typer.Option(
            64, "--max-concurrent-requests", help="Requests served at once per worker (more: 503)."
        ),
        max_connections: int = typer.Option(
            512, "--max-connections", help="Open connections per worker past which requests get 503."
        ),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
        workers: int = typer.Option(
            None,
            "--workers",
            min=1,
            help="Worker processes (default: CHRONORAG_API_WORKERS, else 1); one per core.",
        ),
    ) -> None:
        from pydantic import ValidationError

        from chronorag.api.app import create_app
        from chronorag.api.server import serve as run_server
        from chronorag.api.settings import API_KEY_ENV, ApiSettings
        from chronorag.models import configure_threads

        if pipeline is not None and not Path(pipeline).is_file():
            raise fail(f"--pipeline {pipeline!r} is not a file")
        if pipeline is not None and generator is not None:
            raise fail(
                "--generator applies to the built pipeline; edit the YAML given with --pipeline instead"
            )
        try:
            settings = ApiSettings.from_env(
                insecure_open_writes=insecure_open_writes,
                protect_reads=protect_reads,
                preset=preset,
                pipeline_options={"generator": generator} if generator else {},
                max_body_bytes=int(max_body_mb * 1024 * 1024),
                ingest_backend=ingest_backend,
                header_timeout_s=header_timeout,
                body_timeout_s=body_timeout,
                max_concurrent_requests=max_concurrent_requests,
                max_connections=max_connections,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
            )
            raise fail(f"invalid settings: {problems}") from exc
        if not settings.writes_enabled:
            err_console.print(
                f"[yellow]note:[/] {API_KEY_ENV} is not set: document writes are refused "
                "(set it, or pass --insecure-open-writes)"
            )
        configure_threads()
        run_server(
            create_app(pipeline, store, settings), host=host, port=port, log_level=log_level, workers=workers
        )
