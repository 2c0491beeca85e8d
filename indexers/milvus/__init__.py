"""chronorag's store on Milvus (Milvus Lite on a file, or a Milvus server): ``MilvusStore``.

``pymilvus`` (and ``milvus-lite`` for local files) come with the ``milvus`` extra.
"""

from chronorag.indexers.milvus.store import (
    DEFAULT_COLLECTION,
    TOKEN_ENV,
    MilvusStore,
    is_milvus_location,
    parse_location,
)

__all__ = ["DEFAULT_COLLECTION", "TOKEN_ENV", "MilvusStore", "is_milvus_location", "parse_location"]
