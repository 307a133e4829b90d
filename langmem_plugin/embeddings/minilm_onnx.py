"""The MiniLM forward pass as an ONNX graph run by ONNX Runtime (onnxruntime and onnx, in the `local` extra).

No model hub is reachable, so the graph is built here with the `onnx` helper API from the same
rearranged weights the numpy encoder uses. The weights are handed to ONNX Runtime as in-memory
initializers (no 90 MB protobuf copy); it packs them once for its GEMM kernels, which is why a
query's small products run about twice as fast as with OpenBLAS, which packs them on every call.
Each session runs on one thread: MiniLMEmbeddings spreads batches over cores itself.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import onnxruntime
from onnx import TensorProto, helper, numpy_helper

from .minilm_weights import EncoderLayer, EncoderWeights

OPSET = 20  # Gelu (exact, erf-based) became a standard operator in opset 20


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list = []
        self.constants: list[TensorProto] = []
        self.initializers: dict[str, np.ndarray] = {}

    def weight(self, name: str, value: np.ndarray) -> str:
        """A model weight, passed to ONNX Runtime in memory."""
        self.initializers[name] = np.ascontiguousarray(value)
        return name

    def constant(self, name: str, value: np.ndarray) -> str:
        """A small constant stored in the graph: shapes and axes must be readable while it is optimised."""
        self.constants.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, *inputs: str, **attributes) -> str:
        """A node with one output, named in the returned string."""
        return self.op_outputs(op_type, *inputs, outputs=1, **attributes)[0]

    def op_outputs(self, op_type: str, *inputs: str, outputs: int, **attributes) -> list[str]:
        names = [f"{op_type}_{len(self.nodes)}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attributes))
        return names

    def initializer_protos(self) -> list[TensorProto]:
        """The constants, and declarations of the weights whose data ONNX Runtime takes from
        `initializers` (add_external_initializers)."""
        protos = list(self.constants)
        for name, value in self.initializers.items():
            tensor = TensorProto(
                name=name, data_type=helper.np_dtype_to_tensor_dtype(value.dtype), dims=value.shape
            )
            tensor.data_location = TensorProto.EXTERNAL
            tensor.external_data.add(key="location", value="in-memory")
            protos.append(tensor)
        return protos


def build_graph(weights: EncoderWeights) -> tuple[bytes, dict[str, np.ndarray]]:
    """The serialized model (weights left out) and the initializers it expects."""
    g = _GraphBuilder()
    heads, width = weights.heads, weights.width
    eps = float(weights.eps)
    one = g.constant("one", np.array([1], dtype=np.int64))
    zero = g.constant("zero", np.array([0], dtype=np.int64))
    last = g.constant("last", np.array([-1], dtype=np.int64))
    qkv_shape = g.constant("qkv_shape", np.array([0, 0, 3, heads, width // heads], dtype=np.int64))
    hidden_shape = g.constant("hidden_shape", np.array([0, 0, width], dtype=np.int64))

    length = g.op("Slice", g.op("Shape", "input_ids"), one, g.constant("two", np.array([2], dtype=np.int64)))
    positions = g.op(
        "Slice", g.weight("position_embeddings", weights.position_embeddings), zero, length, zero
    )
    hidden = g.op(
        "Add", g.op("Gather", g.weight("word_embeddings", weights.word_embeddings), "input_ids"), positions
    )
    hidden = g.op(
        "LayerNormalization",
        hidden,
        g.weight("embedding_norm_weight", weights.embedding_norm_weight),
        g.weight("embedding_norm_bias", weights.embedding_norm_bias),
        epsilon=eps,
    )
    padding = g.op("Sub", g.constant("one_float", np.array(1.0, dtype=np.float32)), "attention_mask")
    attention_bias = g.op(
        "Unsqueeze",
        g.op("Mul", padding, g.constant("minus_large", np.array(-1e9, dtype=np.float32))),
        g.constant("head_and_query_axes", np.array([1, 2], dtype=np.int64)),
    )

    def dense(x: str, w: dict[str, str], name: str) -> str:
        return g.op("Add", g.op("MatMul", x, w[name + "_weight"]), w[name + "_bias"])

    for index, layer in enumerate(weights.layers):
        w = {f.name: g.weight(f"layer{index}.{f.name}", getattr(layer, f.name)) for f in fields(EncoderLayer)}

        qkv = g.op("Transpose", g.op("Reshape", dense(hidden, w, "qkv"), qkv_shape), perm=[2, 0, 3, 1, 4])
        query, key, value = (
            g.op("Squeeze", part, zero)
            for part in g.op_outputs("Split", qkv, axis=0, num_outputs=3, outputs=3)
        )
        scores = g.op("Add", g.op("MatMul", query, g.op("Transpose", key, perm=[0, 1, 3, 2])), attention_bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), value)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), hidden_shape)
        attended = g.op("Add", dense(context, w, "attention_output"), hidden)
        hidden = g.op(
            "LayerNormalization", attended, w["attention_norm_weight"], w["attention_norm_bias"], epsilon=eps
        )
        output = g.op("Add", dense(g.op("Gelu", dense(hidden, w, "intermediate")), w, "output"), hidden)
        hidden = g.op(
            "LayerNormalization", output, w["output_norm_weight"], w["output_norm_bias"], epsilon=eps
        )

    summed = g.op(
        "ReduceSum", g.op("Mul", hidden, g.op("Unsqueeze", "attention_mask", last)), one, keepdims=0
    )
    pooled = g.op("Div", summed, g.op("ReduceSum", "attention_mask", one, keepdims=1))
    norm = g.op(
        "Max",
        g.op("ReduceL2", pooled, last, keepdims=1),
        g.constant("min_norm", np.array(1e-12, dtype=np.float32)),
    )
    vectors = g.op("Div", pooled, norm)

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info(vectors, TensorProto.FLOAT, ["batch", width])],
        g.initializer_protos(),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9  # the newest every supported onnxruntime (>= 1.17) reads
    return model.SerializeToString(), g.initializers


class OnnxEncoder:
    """The MiniLM encoder on ONNX Runtime's CPU provider, one thread per call."""

    def __init__(self, weights: EncoderWeights):
        model, initializers = build_graph(weights)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # ONNX Runtime reads these buffers in place: keep them alive as long as the session.
        self._initializers = initializers
        options.add_external_initializers(
            list(initializers),
            [onnxruntime.OrtValue.ortvalue_from_numpy(value) for value in initializers.values()],
        )
        self._session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
