"""The parts of the one-machine store, ``ChronoDocumentStore`` (``chronorag.indexers.store``), one job each.

* ``lock.py``: :class:`FolderLock`, the cross-process writer lock on ``store.lock``, and
  :class:`WriterPresence`, the shared lock on ``store.writer`` every writable open holds until it closes
  (:func:`writers_present` asks whether a writer is alive).
* ``rows.py``: :class:`RowStore`, the SQLite database (schema, passages to rows and back, the write and
  delete transactions that number generations, reads).
* ``filters.py``: :func:`validate_filters` (``indexers/validation.py``'s checks), :func:`narrowing_sql` and
  :class:`CandidateFilter` (Haystack filters, publication bounds and time windows turned into the rowids a
  search may return).
* ``vectors.py``: :class:`VectorIndex`, the FAISS index (build, load/save with the generation + CRC trailer,
  GPU placement, exact, fp16 and threaded search, position caches).
* ``maintenance.py``: the check (damage with its repair command, notes such as an index save still
  pending), statistics and :func:`rebuild_store` (repair of the vector index).
* ``salvage.py``: :func:`salvage_database`, the rows that survive in a damaged SQLite file, read page by
  page without SQLite (WAL frames included).
* ``recovery.py``: :func:`recover_store` (repair of a damaged ``store.sqlite``: salvage into a new store,
  keep the damaged files aside, swap by repeatable steps).

The facade holds the store's thread lock around every call into a part; the parts take no thread lock, and
take the folder lock only where they save or load the vector file. Parts depend one way:
``lock`` <- ``rows`` <- ``filters``, ``vectors`` <- ``maintenance``; ``salvage`` <- ``recovery`` (which
writes through the facade).
"""
