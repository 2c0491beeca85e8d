"""Haystack's own DocumentStore test suite, run against ChronoDocumentStore on real files."""

from __future__ import annotations

import pytest
from haystack import Document
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.testing.document_store import (
    CountDocumentsByFilterTest,
    CountUniqueMetadataByFilterTest,
    DocumentStoreBaseExtendedTests,
    DocumentStoreBaseTests,
    GetMetadataFieldMinMaxTest,
    GetMetadataFieldsInfoTest,
    GetMetadataFieldUniqueValuesTest,
)

from chronorag.indexers import ChronoDocumentStore


class TestChronoDocumentStoreSuite(DocumentStoreBaseTests):
    @pytest.fixture
    def document_store(self, tmp_path) -> ChronoDocumentStore:
        # The suite's fixtures carry 768-d random embeddings.
        store = ChronoDocumentStore(str(tmp_path / "store"), embedding_dim=768, save_every_s=0)
        yield store
        store.close()

    def test_write_documents(self, document_store: ChronoDocumentStore) -> None:
        # Default policy (NONE) behaves as FAIL, like Haystack's in-memory store.
        doc = Document(content="test doc")
        assert document_store.write_documents([doc]) == 1
        with pytest.raises(DuplicateDocumentError):
            document_store.write_documents([doc])
        assert document_store.filter_documents() == [doc]

    def test_documents_survive_reopen(self, document_store: ChronoDocumentStore, filterable_docs) -> None:
        document_store.write_documents(filterable_docs)
        document_store.close()
        reopened = ChronoDocumentStore(document_store.path)
        assert reopened.filter_documents() == filterable_docs
        reopened.close()


class TestChronoDocumentStoreExtendedSuite(
    TestChronoDocumentStoreSuite,
    DocumentStoreBaseExtendedTests,
    CountDocumentsByFilterTest,
    CountUniqueMetadataByFilterTest,
    GetMetadataFieldsInfoTest,
    GetMetadataFieldMinMaxTest,
    GetMetadataFieldUniqueValuesTest,
):
    """Haystack's extended suite (delete_all/delete_by_filter/update_by_filter) and its metadata tests."""
