"""The app's state: the pipeline and the store it reads, loaded once, and their life cycle.

Loading (model files, FAISS index, warm-up) takes seconds, so it runs in a background thread started
by the lifespan handler: ``/healthz`` answers at once, ``/readyz`` says false until the pipeline is
warm (in every worker, when there are several), and the pipeline routes answer 503 with ``Retry-After``
meanwhile.

A failure to load is logged with its trace, paths and message; clients only learn its kind
(:func:`public_reason`): file system paths and internal error text stay in the server log.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from chronorag.api.documents import DocumentWriter
from chronorag.api.errors import ApiError
from chronorag.api.settings import ApiSettings
from chronorag.api.workers import WorkerGroup
from chronorag.indexers import ChronoStore, FolderLock, StoreCorruptError, StoreMismatchError

logger = logging.getLogger(__name__)
LOAD_LOCK_FILE = "serve.lock"

State = Literal["starting", "ready", "failed", "stopping"]


def public_reason(exc: BaseException) -> str:
    """What a client may learn of a loading failure: its kind, no paths, no internal message.

    :param exc: the failure.
    :returns: a sentence pointing at the server log.
    """
    kinds = (
        (StoreCorruptError, "the store is damaged"),
        (StoreMismatchError, "the store was built with another embedding model"),
        ((FileNotFoundError, NotADirectoryError, PermissionError), "a file the pipeline needs is unreadable"),
    )
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:  # Haystack wraps component errors
        seen.add(id(cause))
        for types, kind in kinds:
            if isinstance(cause, types):
                return f"{kind}; the server log has the details"
        cause = cause.__cause__ or cause.__context__
    return "the pipeline could not be built; the server log has the details"


class ChronoService:
    """Owns the pipeline, the store it reads and the document writer of one app.

    :param store_path: the store folder.
    :param pipeline_source: a pipeline YAML file (or YAML text), or ``None`` to build ``settings.preset``.
    :param settings: the server settings.
    :param group: the server's workers, when it runs several (ready only when all are).
    """

    def __init__(
        self,
        store_path: str,
        pipeline_source: str | None,
        settings: ApiSettings,
        group: WorkerGroup | None = None,
    ) -> None:
        self.store_path = store_path
        self.pipeline_source = pipeline_source
        self.settings = settings
        self.group = group
        self.state: State = "starting"
        self.error: str | None = None  # public_reason() of a loading failure
        self.pipeline: Any = None
        self.store: ChronoStore | None = None
        self.writer: DocumentWriter | None = None
        # Worker processes of one server load one at a time: loading may build and save derived files
        # beside the store (event index, lexical index), which two processes must not write at once.
        self.serialise_loading = False
        self._loader: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------------
    def start_loading(self) -> None:
        """Load and warm up the pipeline in a background thread."""
        self._loader = threading.Thread(target=self._load, name="chronorag-loader", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        from chronorag.api.pipeline_bridge import embedder_for, load_pipeline, store_of, warm_up

        try:
            with self._loading_turn():
                pipeline = load_pipeline(self.pipeline_source, self.store_path, self.settings)
                warm_up(pipeline)
                store = store_of(pipeline)
                # Only built where writes can happen (~200 MB with OpenVINO), and in the loading turn: the
                # first worker exports and calibrates the model into the cache, the others reuse it.
                writes = self.settings.writes_enabled
                embed = embedder_for(store, self.settings.ingest_backend) if writes else None
            self.writer = DocumentWriter(store, embed)
            self.pipeline, self.store = pipeline, store
            if self.state == "starting":
                self.state = "ready"
                if self.group is not None:
                    self.group.mark_ready()
            logger.info("pipeline ready (store %s, %d passages)", self.store_path, store.count_documents())
        except Exception as exc:
            # The server stays up to say (without internals) why on /readyz; the pipeline routes answer 503.
            logger.exception("loading the pipeline over store %s failed", self.store_path)
            self.error = public_reason(exc)
            self.state = "failed"

    @contextlib.contextmanager
    def _loading_turn(self) -> Iterator[None]:
        """Hold ``serve.lock`` in the store folder while loading, when workers share the store."""
        if not self.serialise_loading:
            yield
            return
        folder = Path(self.store_path)
        folder.mkdir(parents=True, exist_ok=True)
        with FolderLock(folder / LOAD_LOCK_FILE).held():
            yield

    def close(self) -> None:
        """Stop: wait for the loader and any write in progress, then save and close the store."""
        self.state = "stopping"
        if self.group is not None:
            self.group.mark_gone()
        if self._loader is not None:
            self._loader.join()
        if self.store is None:
            return
        writer_mutex = self.writer.mutex if self.writer else threading.Lock()
        with writer_mutex:
            self.store.close()
        logger.info("store %s closed", self.store_path)

    # --- access -------------------------------------------------------------------------------
    @property
    def server_state(self) -> State:
        """The server's state as ``/readyz`` reports it: ``ready`` only when every worker is ready.

        :returns: this worker's state, or ``starting`` while it is ready but another worker is not.
        """
        if self.state == "ready" and self.group is not None and not self.group.all_ready():
            return "starting"
        return self.state

    def require_ready(self) -> None:
        """Refuse pipeline work until the pipeline is loaded.

        :raises ApiError: 503 while starting (with ``Retry-After``), failed or stopping.
        """
        if self.state == "ready":
            return
        if self.state == "starting":
            raise ApiError(
                503, "the pipeline is still loading; retry shortly", "warming_up", {"Retry-After": "2"}
            )
        if self.state == "failed":
            raise ApiError(503, f"the pipeline failed to load: {self.error}", "pipeline_unavailable")
        raise ApiError(503, "the server is shutting down", "shutting_down")

    def passages_in_store(self) -> int | None:
        """Passages in the store, or ``None`` before it is open."""
        store = self.store
        if store is None or self.state == "stopping":
            return None
        return store.count_documents()
