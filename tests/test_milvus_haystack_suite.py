"""Haystack's own DocumentStore test suites, run against MilvusStore on a real Milvus Lite file."""

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

pytest.importorskip("pymilvus")
from chronorag.indexers.milvus import MilvusStore  # noqa: E402

pytestmark = pytest.mark.milvus


@pytest.fixture(scope="module")
def milvus_file(tmp_path_factory) -> str:
    # One Milvus Lite file for the module (starting its server is the slow part); one collection per test.
    return str(tmp_path_factory.mktemp("milvus") / "suite.db")


class TestMilvusStoreSuite(DocumentStoreBaseTests):
    @pytest.fixture
    def document_store(self, milvus_file, request) -> MilvusStore:
        # The suite's fixtures carry 768-d random embeddings.
        name = "t" + str(abs(hash(request.node.nodeid)))
        store = MilvusStore(f"milvus://{milvus_file}", collection=name, embedding_dim=768)
        yield store
        store.close()

    def test_write_documents(self, document_store: MilvusStore) -> None:
        # Default policy (NONE) behaves as FAIL, like Haystack's in-memory store.
        doc = Document(content="test doc")
        assert document_store.write_documents([doc]) == 1
        with pytest.raises(DuplicateDocumentError):
            document_store.write_documents([doc])
        assert document_store.filter_documents() == [doc]

    def test_documents_survive_reopen(self, document_store: MilvusStore, filterable_docs) -> None:
        document_store.write_documents(filterable_docs)
        document_store.close()
        reopened = MilvusStore(document_store.uri, collection=document_store.collection)
        assert reopened.filter_documents() == filterable_docs
        reopened.close()


class TestMilvusStoreExtendedSuite(
    TestMilvusStoreSuite,
    DocumentStoreBaseExtendedTests,
    CountDocumentsByFilterTest,
    CountUniqueMetadataByFilterTest,
    GetMetadataFieldsInfoTest,
    GetMetadataFieldMinMaxTest,
    GetMetadataFieldUniqueValuesTest,
):
    """Haystack's extended suite (delete_all/delete_by_filter/update_by_filter) and its metadata tests."""
