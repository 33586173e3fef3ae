"""A near-zero-cost ONNX model with level 4's output shape, for measuring the feed path.

float32 input [N, 3, S, S] -> AveragePool (S/8)x(S/8), stride S/8 -> 1x1 Conv to 320 channels
-> output [N, 320, 8, 8]. A few thousand multiply-adds per image: everything the benchmark
measures is the work around the model. Weights are fixed (seed 0), so runs are comparable.

    python null_model.py OUT.onnx [SIZE]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(size: int) -> onnx.ModelProto:
    pool = size // 8
    weights = np.random.default_rng(0).standard_normal((320, 3, 1, 1)).astype(np.float32)
    bias = np.zeros(320, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[pool, pool], strides=[pool, pool]),
            helper.make_node("Conv", ["pooled", "weight", "bias"], ["features"]),
        ],
        "null-level4",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 320, 8, 8])],
        [numpy_helper.from_array(weights, "weight"), numpy_helper.from_array(bias, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tessera-bench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    out = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    onnx.save(build(size), out)
