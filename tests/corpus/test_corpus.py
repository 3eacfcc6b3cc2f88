"""The corpus is what it says: the coverage the issue asks for, each tag true of its file, small models,
and a cache key that changes when what makes the model changes."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest

from tests.corpus import registry, store
from tests.corpus.builders.common import DATA_FILE

MAX_BYTES = 10 * 2**20
#: Operators that make a family what it is, at the graph's top level, in every export of it.
FAMILY_OPS = {"control-flow": {"Loop"}, "llama": {"Einsum"}, "stn": {"AffineGrid", "GridSample"},
              "unet": {"ConvTranspose", "Resize", "Concat"}}
TEXT_FAMILIES = {"bert", "distilbert", "gpt2", "lstm", "gru", "transformer"}

REQUIRED_FAMILIES = {"bert", "distilbert", "gpt2", "vit", "whisper", "lstm", "gru", "mobilenetv3", "efficientnet",
                     "convnext", "unet", "detection"}


def test_coverage():
    assert len(registry.ENTRIES) >= 25
    assert {e.family for e in registry.ENTRIES} >= REQUIRED_FAMILIES
    for tag in registry.TAGS:
        assert any(e.has(tag) for e in registry.ENTRIES), tag


def _ops(model: onnx.ModelProto) -> set[str]:
    return {n.op_type for n in model.graph.node}


@pytest.mark.parametrize("name", registry.names())
def test_entry_is_what_its_tags_say(name, corpus_model):
    entry = corpus_model.entry
    size = sum(p.stat().st_size for p in corpus_model.path.parent.iterdir() if p.name.startswith("model.onnx"))
    assert size < MAX_BYTES
    model = onnx.load(str(corpus_model.path), load_external_data=False)
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert bool(external) == entry.has("external-data")
    assert (corpus_model.path.parent / DATA_FILE).is_file() == entry.has("external-data")
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    quantized = entry.has("qdq") or entry.has("int8-dynamic")  # the quantizer rewrites producer and IR
    if entry.has("helper") and not quantized:
        assert model.ir_version == onnx.IR_VERSION  # onnx's default, never pinned
    if entry.has("dynamo"):
        assert model.producer_name == "pytorch" and opset >= 18
    if entry.has("torch-legacy") and not quantized:
        assert model.producer_name == "pytorch" and (
            opset < 17 if entry.has("old-opset") else opset > 17 if entry.has("new-opset") else opset == 17)
    if entry.has("qdq"):
        assert {"QuantizeLinear", "DequantizeLinear"} <= _ops(model)
    assert FAMILY_OPS.get(entry.family, set()) <= _ops(model)
    if entry.has("int8-dynamic"):
        assert {"DynamicQuantizeLinear", "MatMulInteger"} <= _ops(model)
    if entry.family in TEXT_FAMILIES:  # token ids as a tokenizer hands them over
        assert any(a.dtype.kind == "i" for a in corpus_model.feeds.values())
    symbolic = any(d.dim_param for i in model.graph.input for d in i.type.tensor_type.shape.dim)
    assert symbolic == entry.has("dynamic")
    batch = max(a.shape[0] for a in corpus_model.feeds.values() if a.ndim)
    assert (batch > 1) == entry.has("batch")


@pytest.mark.parametrize("name", registry.names())
def test_oracle_is_not_degenerate(name, corpus_model):
    """An all-zero or constant float output would match any engine that returns zeros: a test that
    cannot fail. (Random-init MobileViT at transformers' std 0.02 did exactly that.)"""
    for out, value in corpus_model.oracle.items():
        if value.dtype.kind != "f" or value.size < 2:
            continue
        peak, spread = float(np.max(np.abs(value))), float(np.std(value.astype(np.float64)))
        assert peak > 1e-6 and spread > 1e-3 * peak, f"{name}: output {out} is constant ({peak=:.3g}, {spread=:.3g})"


def test_key_tracks_options_and_versions(monkeypatch):
    bert = registry.lookup("bert")
    assert store.entry_key(bert) != store.entry_key(registry.lookup("bert_dynamo"))
    assert store.entry_key(bert) == store.entry_key(dataclasses.replace(bert))
    before = store.entry_key(bert)
    monkeypatch.setattr(store, "versions", lambda: {"torch": "0.0"})
    assert store.entry_key(bert) != before


def test_key_tracks_the_builders_used():
    """A QDQ entry's key covers the float model's builder module too."""
    modules: dict = {}
    store._builder_modules(__import__("tests.corpus.builders.qdq", fromlist=["x"]), modules)
    assert {"tests.corpus.builders.vision", "tests.corpus.builders.helper",
            "tests.corpus.builders.common"} <= set(modules)


def test_parallel_builds_make_one_entry(tmp_path, monkeypatch):
    """Two workers asking for the same entry at once: one builds under the lock, both get the same
    complete directory, and no temporary directory is left behind."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv(store.ENV_VAR, str(tmp_path))
    entry = registry.lookup("helper_mlp")
    with ThreadPoolExecutor(2) as pool:
        built = list(pool.map(lambda _: store.build(entry), range(2)))
    assert built[0] == built[1] == store.entry_dir(entry)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([built[0].name, "helper_mlp.lock"])
    model = store.load(entry)
    assert set(model.feeds) == {"x"} and set(model.oracle) == {"logits", "probs"}
    assert model.meta["key"] == built[0].name
