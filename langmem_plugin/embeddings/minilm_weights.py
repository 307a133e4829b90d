"""MiniLM's weights as the encoders use them (minilm.py runs them with numpy, minilm_onnx.py
builds an ONNX graph from them): read from the safetensors file, attention scale folded in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class EncoderLayer:
    """One transformer layer, matrices laid out (in, out) for `x @ weight`."""

    qkv_weight: (
        np.ndarray
    )  # query, key and value fused into one product; query pre-scaled by 1/sqrt(head size)
    qkv_bias: np.ndarray
    attention_output_weight: np.ndarray
    attention_output_bias: np.ndarray
    attention_norm_weight: np.ndarray
    attention_norm_bias: np.ndarray
    intermediate_weight: np.ndarray
    intermediate_bias: np.ndarray
    output_weight: np.ndarray
    output_bias: np.ndarray
    output_norm_weight: np.ndarray
    output_norm_bias: np.ndarray


@dataclass(frozen=True)
class EncoderWeights:
    """The BERT checkpoint rearranged for inference, shared by the numpy and ONNX encoders."""

    word_embeddings: np.ndarray
    position_embeddings: np.ndarray  # token type 0 (the only one sentence embeddings use) folded in
    embedding_norm_weight: np.ndarray
    embedding_norm_bias: np.ndarray
    layers: tuple[EncoderLayer, ...]
    heads: int
    eps: float

    @property
    def width(self) -> int:
        return self.word_embeddings.shape[1]


def load_encoder_weights(directory: Path) -> EncoderWeights:
    from safetensors.numpy import load_file

    config = json.loads((directory / "config.json").read_text())
    raw = load_file(str(directory / "model.safetensors"))
    heads = config["num_attention_heads"]
    scale = np.float32(1.0 / np.sqrt(config["hidden_size"] // heads))

    def matrix(name: str) -> np.ndarray:
        return np.ascontiguousarray(raw[name + ".weight"].T, dtype=np.float32)

    layers = []
    for index in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{index}."
        query, key, value = (p + f"attention.self.{part}" for part in ("query", "key", "value"))
        layers.append(
            EncoderLayer(
                qkv_weight=np.concatenate([matrix(query) * scale, matrix(key), matrix(value)], axis=1),
                qkv_bias=np.concatenate(
                    [raw[query + ".bias"] * scale, raw[key + ".bias"], raw[value + ".bias"]]
                ),
                attention_output_weight=matrix(p + "attention.output.dense"),
                attention_output_bias=raw[p + "attention.output.dense.bias"],
                attention_norm_weight=raw[p + "attention.output.LayerNorm.weight"],
                attention_norm_bias=raw[p + "attention.output.LayerNorm.bias"],
                intermediate_weight=matrix(p + "intermediate.dense"),
                intermediate_bias=raw[p + "intermediate.dense.bias"],
                output_weight=matrix(p + "output.dense"),
                output_bias=raw[p + "output.dense.bias"],
                output_norm_weight=raw[p + "output.LayerNorm.weight"],
                output_norm_bias=raw[p + "output.LayerNorm.bias"],
            )
        )
    return EncoderWeights(
        word_embeddings=raw["embeddings.word_embeddings.weight"],
        position_embeddings=raw["embeddings.position_embeddings.weight"]
        + raw["embeddings.token_type_embeddings.weight"][0],
        embedding_norm_weight=raw["embeddings.LayerNorm.weight"],
        embedding_norm_bias=raw["embeddings.LayerNorm.bias"],
        layers=tuple(layers),
        heads=heads,
        eps=config["layer_norm_eps"],
    )
