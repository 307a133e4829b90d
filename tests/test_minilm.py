import importlib.util
import json
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from langmem_plugin.config import MemoryConfig
from langmem_plugin.embeddings import MiniLMEmbeddings
from langmem_plugin.embeddings.minilm import length_buckets
from langmem_plugin.errors import ConfigurationError
from langmem_plugin.builder import default_embeddings

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())
TEXTS_OF_MIXED_LENGTH = [
    "short",
    "a considerably longer sentence that needs padding in a batch",
    "mid length text",
    "",
    "x",
    "When did Caroline go to the LGBTQ support group, and who came along with her that evening?",
] * 3


ONNX_INSTALLED = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime"))
RUNTIMES = ["numpy", pytest.param("onnx", marks=pytest.mark.skipif(not ONNX_INSTALLED, reason="onnxruntime / onnx are not installed"))]


@pytest.fixture(scope="module", params=RUNTIMES)
def embedder(request) -> MiniLMEmbeddings:
    return MiniLMEmbeddings(runtime=request.param)


def test_matches_sentence_transformers_reference(embedder):
    """Vectors recorded from sentence-transformers + torch for the same weights (tests/data)."""
    reference = np.asarray(REFERENCE["vectors"], dtype=np.float32)
    together = embedder.embed_array(REFERENCE["texts"])
    alone = np.stack([embedder.embed_array([text])[0] for text in REFERENCE["texts"]])
    assert together.shape == reference.shape == (6, 384)
    assert together.dtype == np.float32
    assert np.abs(together - reference).max() < 1e-5
    assert np.abs(alone - reference).max() < 1e-5


def test_the_requested_runtime_runs(embedder, request):
    assert embedder.runtime == request.node.callspec.params["embedder"]


def test_dimensions_come_from_the_model(minilm):
    assert minilm.dimensions == 384
    assert len(minilm.embed_query("hello")) == 384


def test_batching_and_padding_do_not_change_vectors(embedder):
    together = embedder.embed_array(TEXTS_OF_MIXED_LENGTH)
    alone = np.stack([embedder.embed_array([text])[0] for text in TEXTS_OF_MIXED_LENGTH])
    assert np.abs(together - alone).max() < 1e-5


@pytest.mark.parametrize("threads, batch_size", [(1, 64), (1, 4), (3, 4)], ids=["one-batch", "batches", "threads"])
def test_every_text_lands_in_its_own_row(embedder, threads, batch_size):
    """One padded batch, several length-sorted batches, or batches on several threads: same rows."""
    alone = np.stack([embedder.embed_array([text])[0] for text in TEXTS_OF_MIXED_LENGTH])
    configured = MiniLMEmbeddings(runtime=embedder.runtime, threads=threads, batch_size=batch_size)
    assert np.abs(configured.embed_array(TEXTS_OF_MIXED_LENGTH) - alone).max() < 1e-5


def test_no_texts_give_an_empty_matrix(embedder):
    assert embedder.embed_array([]).shape == (0, 384)
    assert embedder.embed_documents([]) == []


def test_semantics_rank_paraphrase_above_unrelated(minilm):
    query, paraphrase, unrelated = minilm.embed_array(
        ["I love pizza", "Pizza is my favourite food", "The stock market crashed"]
    )
    assert query @ paraphrase > 0.6 > query @ unrelated


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_the_numpy_runtime_leaves_blas_threads_as_it_found_them():
    """It holds BLAS at one thread while it runs, from any number of threads at once, then restores it."""
    embedder = MiniLMEmbeddings(runtime="numpy", threads=2, batch_size=2)
    before = _blas_threads()
    workers = [threading.Thread(target=embedder.embed_array, args=(TEXTS_OF_MIXED_LENGTH,)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert _blas_threads() == before


def test_onnx_runtime_missing_falls_back_to_numpy_unless_asked_for(monkeypatch):
    monkeypatch.setitem(sys.modules, "langmem_plugin.embeddings.minilm_onnx", None)  # import fails
    assert MiniLMEmbeddings(runtime="auto").runtime == "numpy"
    with pytest.raises(ConfigurationError, match=r"langmem-plugin\[local\]"):
        MiniLMEmbeddings(runtime="onnx")


@pytest.mark.parametrize("settings", [{"runtime": "torch"}, {"batch_size": 0}, {"threads": 0}])
def test_bad_settings_are_configuration_errors(settings):
    with pytest.raises(ConfigurationError):
        MiniLMEmbeddings(**settings)


def test_config_selects_runtime_and_threads():
    config = MemoryConfig.from_dict({"embedder": {"runtime": "numpy", "threads": 1, "batch_size": 8}})
    embedder = default_embeddings(config)
    assert (embedder.runtime, embedder.threads, embedder.batch_size) == ("numpy", 1, 8)
    with pytest.raises(ConfigurationError):
        MemoryConfig.from_env({"LANGMEM_EMBEDDER__RUNTIME": "torch"})


def test_length_buckets_bound_padding_and_size_and_keep_every_text_once():
    lengths = [12, 80, 13, 11, 95, 30, 31, 12, 29, 14]
    buckets = length_buckets(lengths, size=3)
    assert sorted(i for bucket in buckets for i in bucket) == list(range(len(lengths)))
    for bucket in buckets:
        longest, real = max(lengths[i] for i in bucket), sum(lengths[i] for i in bucket)
        assert len(bucket) <= 3 and longest * len(bucket) <= 1.25 * real
    assert [sorted(lengths[i] for i in bucket) for bucket in buckets] == [[11, 12, 12], [13, 14], [29, 30, 31], [80, 95]]
