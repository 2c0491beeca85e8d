"""The parts of the one-machine store, ``ChronoDocumentStore`` (``chronorag.indexers.store``), one job each.

* ``lock.py``: :class:`FolderLock`, the cross-process writer lock on ``store.lock``.
* ``rows.py``: :class:`RowStore`, the SQLite database (schema, passages to rows and back, the write and
  delete transactions that number generations, reads).
* ``filters.py``: :func:`validate_filters` (``indexers/validation.py``'s checks), :func:`narrowing_sql` and
  :class:`CandidateFilter` (Haystack filters, publication bounds and time windows turned into the rowids a
  search may return).
* ``vectors.py``: :class:`VectorIndex`, the FAISS index (build, load/save with the generation + CRC trailer,
  GPU placement, exact, fp16 and threaded search, position caches).
* ``maintenance.py``: consistency check, statistics and :func:`rebuild_store` (repair).

The facade holds the store's thread lock around every call into a part; the parts take no thread lock, and
take the folder lock only where they save or load the vector file. Parts depend one way:
``lock`` <- ``rows`` <- ``filters``, ``vectors`` <- ``maintenance``.
"""
