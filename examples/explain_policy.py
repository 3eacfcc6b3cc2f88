"""How an ops policy changes where a model runs, without touching the app's code.

Run: python examples/explain_policy.py
"""

from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import facade

POLICY = Path(__file__).with_name("ops_policy.toml")


def conv_relu() -> bytes:
    """A tiny model whose graph name, conv_relu, matches the policy's "small-models-in-house" rule."""
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
        "conv_relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def main() -> None:
    model = conv_relu()
    with facade.Session(model) as plain:
        print(f"without a policy: {plain.target}")
    with facade.Session(model, policy=POLICY) as steered:
        print(f"with {POLICY.name}: {steered.target}")
        print()
        print(steered.explain())


if __name__ == "__main__":
    main()
