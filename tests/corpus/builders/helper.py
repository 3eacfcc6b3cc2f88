"""Models written with ``onnx.helper`` the way its documentation shows, at the installed onnx's
default IR version (never pinned: that default is what users' files carry).

Oracles: a float64 numpy computation where the model is plain algebra, else ONNX's
own reference evaluator (``onnx.reference``), which implements the spec operator by
operator and shares no code with any engine under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from tests.corpus.builders.common import MODEL_FILE, Arrays, externalize

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _save(graph: onnx.GraphProto, out_dir: Path, opset: int | None, external: bool = False) -> onnx.ModelProto:
    """make_model (opset ``None``: the installed onnx's default opset too), check, save."""
    kwargs = {} if opset is None else {"opset_imports": [helper.make_opsetid("", opset)]}
    model = helper.make_model(graph, producer_name="corpus", **kwargs)
    onnx.checker.check_model(model, full_check=True)
    onnx.save_model(model, str(out_dir / MODEL_FILE))
    if external:
        externalize(out_dir / MODEL_FILE)
    return model


def _reference(model: onnx.ModelProto, feeds: Arrays) -> Arrays:
    names = [o.name for o in model.graph.output]
    return dict(zip(names, ReferenceEvaluator(model).run(None, feeds), strict=True))


def mlp(out_dir: Path, external: bool = False, opset: int | None = None) -> tuple[Arrays, Arrays]:
    """MatMul/Add/Relu/MatMul/Add/Softmax; float64 numpy oracle. ``opset=None`` keeps every onnx
    default (IR version and opset), the file ``helper.make_model(graph)`` writes."""
    rng = np.random.default_rng(30)
    w1 = rng.standard_normal((20, 32)).astype(np.float32) * 0.3
    b1 = rng.standard_normal(32).astype(np.float32) * 0.1
    w2 = rng.standard_normal((32, 6)).astype(np.float32) * 0.3
    b2 = rng.standard_normal(6).astype(np.float32) * 0.1
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h"]), helper.make_node("MatMul", ["h", "w2"], ["z0"]),
             helper.make_node("Add", ["z0", "b2"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", F, [4, 20])],
                              [helper.make_tensor_value_info("logits", F, [4, 6]),
                               helper.make_tensor_value_info("probs", F, [4, 6])],
                              [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"),
                                                                          (b2, "b2"))])
    _save(graph, out_dir, opset, external)
    x = rng.standard_normal((4, 20)).astype(np.float32)
    h = np.maximum(x.astype(np.float64) @ w1 + b1, 0.0)
    logits = h @ w2 + b2
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return {"x": x}, {"logits": logits, "probs": e / e.sum(axis=-1, keepdims=True)}


def cnn(out_dir: Path) -> tuple[Arrays, Arrays]:
    """Conv/BatchNormalization/Relu/MaxPool, a grouped strided Conv, GlobalAveragePool, Flatten, Gemm at batch 2."""
    rng = np.random.default_rng(31)

    def t(name: str, *shape: int, scale: float = 0.3) -> onnx.TensorProto:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [t("w1", 8, 3, 3, 3), t("b1", 8), t("gamma", 8, scale=0.2), t("beta", 8, scale=0.2), t("mean", 8),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype(np.float32), "var"),
             t("w2", 16, 2, 3, 3), t("wfc", 5, 16), t("bfc", 5)]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "gamma", "beta", "mean", "var"], ["bn"], epsilon=1e-5),
             helper.make_node("Relu", ["bn"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "w2"], ["c2"], group=4, strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "wfc", "bfc"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", F, [2, 3, 16, 16])],
                              [helper.make_tensor_value_info("logits", F, [2, 5])], inits)
    model = _save(graph, out_dir, 21)
    feeds = {"x": rng.standard_normal((2, 3, 16, 16)).astype(np.float32)}
    return feeds, _reference(model, feeds)


def nms_head(out_dir: Path) -> tuple[Arrays, Arrays]:
    """Detection post-processing: TopK over the best class score, Gather of those boxes, and
    NonMaxSuppression whose selected indices Gather the kept boxes."""
    rng = np.random.default_rng(32)
    n = 40
    centers = rng.uniform(0.1, 0.9, (n, 2))
    sizes = rng.uniform(0.05, 0.3, (n, 2))
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)[None].astype(np.float32)
    scores = rng.uniform(0.0, 1.0, (1, 3, n)).astype(np.float32)
    consts = [numpy_helper.from_array(np.array([8], np.int64), "k"),
              numpy_helper.from_array(np.array([6], np.int64), "max_per_class"),
              numpy_helper.from_array(np.array([0.4], np.float32), "iou"),
              numpy_helper.from_array(np.array([0.2], np.float32), "score_min"),
              numpy_helper.from_array(np.array(2, np.int64), "box_col"),
              numpy_helper.from_array(np.array(0, np.int64), "zero")]
    nodes = [helper.make_node("ReduceMax", ["scores"], ["best3"], axes=[1], keepdims=0),
             helper.make_node("TopK", ["best3", "k"], ["top_scores", "top_idx"], axis=1),
             helper.make_node("Gather", ["boxes", "zero"], ["boxes0"], axis=0),
             helper.make_node("Gather", ["boxes0", "top_idx"], ["top_boxes"], axis=0),
             helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_per_class", "iou", "score_min"],
                              ["selected"]),
             helper.make_node("Gather", ["selected", "box_col"], ["kept_idx"], axis=1),
             helper.make_node("Gather", ["boxes0", "kept_idx"], ["kept_boxes"], axis=0)]
    graph = helper.make_graph(
        nodes, "nms_head",
        [helper.make_tensor_value_info("boxes", F, [1, n, 4]), helper.make_tensor_value_info("scores", F, [1, 3, n])],
        [helper.make_tensor_value_info("top_scores", F, [1, 8]), helper.make_tensor_value_info("top_boxes", F,
                                                                                               [1, 8, 4]),
         helper.make_tensor_value_info("selected", I64, ["kept", 3]),
         helper.make_tensor_value_info("kept_boxes", F, ["kept", 4])], consts)
    # ReduceMax takes its axes as an attribute up to opset 17.
    model = _save(graph, out_dir, 17)
    feeds = {"boxes": boxes, "scores": scores}
    return feeds, _reference(model, feeds)


def tensor_ops(out_dir: Path) -> tuple[Arrays, Arrays]:
    """The shape plumbing exported graphs are full of: Shape/Gather/Unsqueeze/Concat feeding Reshape,
    Flatten at axis 2, Transpose, Slice, Expand, Where on a Cast mask, Erf-GELU, CumSum, ReduceMean."""
    rng = np.random.default_rng(33)
    c = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
         (("i0", 0), ("i1", 1), ("m1", [-1]), ("ax0", [0]), ("s_start", [1]), ("s_end", [7]), ("s_axes", [2]),
          ("red_axes", [2]))]
    c += [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in
          (("half", 0.5), ("one", 1.0), ("rsqrt2", 1 / np.sqrt(2)), ("neg", -1e4))]
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "i0"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "ax0"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "m1"], ["flat_shape"], axis=0),
        helper.make_node("Reshape", ["x", "flat_shape"], ["flat"]),                 # [2, 24]
        helper.make_node("Flatten", ["x"], ["flat2"], axis=2),                      # [6, 8]
        helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),               # [2, 8, 3]
        helper.make_node("Slice", ["x", "s_start", "s_end", "s_axes"], ["xs"]),     # [2, 3, 6]
        helper.make_node("Mul", ["xs", "rsqrt2"], ["g0"]),
        helper.make_node("Erf", ["g0"], ["g1"]),
        helper.make_node("Add", ["g1", "one"], ["g2"]),
        helper.make_node("Mul", ["xs", "g2"], ["g3"]),
        helper.make_node("Mul", ["g3", "half"], ["gelu"]),
        helper.make_node("Cast", ["mask"], ["maskf"], to=F),
        helper.make_node("Unsqueeze", ["maskf", "s_start"], ["mask3"]),             # [2, 1, 8]
        helper.make_node("Expand", ["mask3", "shape"], ["maskx"]),                  # [2, 3, 8]
        helper.make_node("Cast", ["maskx"], ["maskb"], to=TensorProto.BOOL),
        helper.make_node("Where", ["maskb", "x", "neg"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["attn"], axis=-1),
        helper.make_node("CumSum", ["x", "i1"], ["cums"]),
        helper.make_node("ReduceMean", ["x", "red_axes"], ["mean"], keepdims=1),
    ]
    graph = helper.make_graph(
        nodes, "tensor_ops",
        [helper.make_tensor_value_info("x", F, [2, 3, 8]), helper.make_tensor_value_info("mask", I64, [2, 8])],
        [helper.make_tensor_value_info(n, F, s) for n, s in (("flat", [2, 24]), ("flat2", [6, 8]),
                                                             ("xt", [2, 8, 3]), ("gelu", [2, 3, 6]),
                                                             ("attn", [2, 3, 8]), ("cums", [2, 3, 8]),
                                                             ("mean", [2, 3, 1]))], c)
    model = _save(graph, out_dir, 21)
    mask = np.ones((2, 8), np.int64)
    mask[1, 5:] = 0
    feeds = {"x": rng.standard_normal((2, 3, 8)).astype(np.float32), "mask": mask}
    return feeds, _reference(model, feeds)
