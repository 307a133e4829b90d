import json
from pathlib import Path

import numpy as np

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())


def test_matches_sentence_transformers_reference(minilm):
    """Vectors recorded from sentence-transformers + torch for the same weights (tests/data)."""
    vectors = minilm.embed_array(REFERENCE["texts"])
    reference = np.asarray(REFERENCE["vectors"], dtype=np.float32)
    assert vectors.shape == reference.shape == (6, 384)
    assert np.abs(vectors - reference).max() < 1e-4


def test_dimensions_come_from_the_model(minilm):
    assert minilm.dimensions == 384
    assert len(minilm.embed_query("hello")) == 384


def test_batching_and_padding_do_not_change_vectors(minilm):
    texts = ["short", "a considerably longer sentence that needs padding in a batch", "mid length text"]
    together = minilm.embed_array(texts)
    alone = np.stack([minilm.embed_array([t])[0] for t in texts])
    assert np.abs(together - alone).max() < 1e-5


def test_semantics_rank_paraphrase_above_unrelated(minilm):
    query, paraphrase, unrelated = minilm.embed_array(
        ["I love pizza", "Pizza is my favourite food", "The stock market crashed"]
    )
    assert query @ paraphrase > 0.6 > query @ unrelated
