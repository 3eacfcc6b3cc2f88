"""The app developer's one call: build a small model, run it where facade routes it, see why.

Run: python examples/quickstart.py
"""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import facade

# A tiny image classifier built in code (any .onnx file path works the same way).
rng = np.random.default_rng(0)
graph = helper.make_graph(
    [
        helper.make_node("Conv", ["image", "w"], ["features"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["features"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Softmax", ["flat"], ["probs"], axis=1),
    ],
    "quickstart",
    [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 8])],
    [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w")],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8

# The one call: routed to the best target on this machine.
with facade.Session(model) as sess:
    image = rng.standard_normal((1, 3, 32, 32)).astype(np.float32)
    probs = sess.run({"image": image})["probs"]
    print(f"ran on {sess.target} ({sess.precision}); top class {int(probs.argmax())}, p={probs.max():.3f}")
    print(sess.explain())
