"""The corpus's one list of models: what each is, which builder makes it, and how it was made.

Why a table of dotted paths rather than imported functions: the tests and
``benchmarks/corpus.py`` read this list (names, families, tags) without importing
torch or transformers; only a build imports a builder's module, in a child process
(see :mod:`tests.corpus.store`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Tags, one per way a user makes a model (an entry has every tag that applies).
TAGS = {
    "torch-legacy": "torch.onnx.export(..., dynamo=False), the TorchScript exporter",
    "dynamo": "torch.onnx.export(..., dynamo=True), the torch.export + onnxscript exporter",
    "transformers": "a transformers model, random-init from its config (never from_pretrained)",
    "helper": "onnx.helper.make_model at the installed onnx's default IR version",
    "external-data": "weights saved in a side file next to the .onnx",
    "qdq": "int8 QDQ by onnxruntime.quantization.quantize_static, seeded calibration",
    "int8-dynamic": "int8 weights by onnxruntime.quantization.quantize_dynamic (MatMulInteger)",
    "batch": "batch size above 1",
    "old-opset": "legacy export at an opset below 17, as older tutorials and pipelines pin it",
    "new-opset": "legacy export above opset 17, where an operator needs it (AffineGrid: 20)",
    "dynamic": "symbolic input axes (batch, sequence), as exported with dynamic_axes",
}


@dataclass(frozen=True)
class CorpusEntry:
    """One corpus model: ``builder`` is ``"module:function"`` under ``tests.corpus.builders``,
    called as ``function(out_dir, **options)``; it writes ``out_dir/model.onnx`` and returns
    ``(feeds, oracle)`` (see :mod:`tests.corpus.builders.common`)."""

    name: str
    family: str
    builder: str
    tags: tuple[str, ...]
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.tags) - set(TAGS)
        if unknown:
            raise ValueError(f"corpus entry {self.name}: unknown tags {sorted(unknown)}. Expected: {sorted(TAGS)}")

    def has(self, tag: str) -> bool:
        """Whether the entry carries ``tag``."""
        return tag in self.tags


def _e(name: str, family: str, builder: str, *tags: str, **options) -> CorpusEntry:
    return CorpusEntry(name, family, builder, tuple(tags), options)


_TEXT = "text"
_VISION = "vision"
_AUDIO = "audio"
_HELPER = "helper"
_QDQ = "qdq"
_CUSTOM = "custom"

ENTRIES: tuple[CorpusEntry, ...] = (
    # transformers encoders and decoders (int64 ids and attention masks)
    _e("bert", "bert", f"{_TEXT}:bert", "transformers", "torch-legacy", "batch", exporter="legacy"),
    _e("bert_dynamo", "bert", f"{_TEXT}:bert", "transformers", "dynamo", "batch", exporter="dynamo"),
    _e("bert_dynamic_axes", "bert", f"{_TEXT}:bert", "transformers", "torch-legacy", "batch", "dynamic",
       exporter="legacy", dynamic=True),
    _e("distilbert", "distilbert", f"{_TEXT}:distilbert", "transformers", "torch-legacy", "batch", exporter="legacy"),
    _e("gpt2", "gpt2", f"{_TEXT}:gpt2", "transformers", "torch-legacy", "batch", exporter="legacy"),
    _e("gpt2_opset14", "gpt2", f"{_TEXT}:gpt2", "transformers", "torch-legacy", "batch", "old-opset",
       exporter="legacy", opset=14),
    _e("gpt2_dynamo", "gpt2", f"{_TEXT}:gpt2", "transformers", "dynamo", "batch", exporter="dynamo"),
    _e("vit", "vit", f"{_VISION}:vit", "transformers", "torch-legacy", "batch", exporter="legacy"),
    _e("vit_dynamo", "vit", f"{_VISION}:vit", "transformers", "dynamo", "batch", exporter="dynamo"),
    _e("whisper_encoder", "whisper", f"{_AUDIO}:whisper_encoder", "transformers", "torch-legacy", exporter="legacy"),
    _e("whisper_encoder_dynamo", "whisper", f"{_AUDIO}:whisper_encoder", "transformers", "dynamo",
       exporter="dynamo"),
    _e("t5_encoder", "t5", f"{_TEXT}:t5_encoder", "transformers", "torch-legacy", "batch", exporter="legacy"),
    _e("clip_text", "clip", f"{_TEXT}:clip_text", "transformers", "torch-legacy", "batch", exporter="legacy"),
    _e("mobilevit", "mobilevit", f"{_VISION}:mobilevit", "transformers", "torch-legacy", exporter="legacy"),
    _e("swin", "swin", f"{_VISION}:swin", "transformers", "torch-legacy", exporter="legacy"),
    _e("wav2vec2", "wav2vec2", f"{_AUDIO}:wav2vec2", "transformers", "torch-legacy", "batch", exporter="legacy"),
    # recurrent text models at batch > 1
    _e("lstm_text", "lstm", f"{_TEXT}:lstm_text", "torch-legacy", "batch", exporter="legacy"),
    _e("gru_text", "gru", f"{_TEXT}:gru_text", "torch-legacy", "batch", exporter="legacy"),
    _e("gru_text_int32", "gru", f"{_TEXT}:gru_text", "torch-legacy", "batch", exporter="legacy", int32=True),
    _e("lstm_text_dynamo", "lstm", f"{_TEXT}:lstm_text", "dynamo", "batch", exporter="dynamo"),
    _e("transformer_encoder", "transformer", f"{_TEXT}:transformer_encoder", "torch-legacy", "batch",
       exporter="legacy"),
    _e("transformer_encoder_bool_mask", "transformer", f"{_TEXT}:transformer_encoder", "torch-legacy", "batch",
       exporter="legacy", bool_mask=True),
    # CNNs written here (no torchvision)
    _e("mobilenet_v3", "mobilenetv3", f"{_VISION}:mobilenet_v3", "torch-legacy", exporter="legacy"),
    _e("mobilenet_v3_opset13", "mobilenetv3", f"{_VISION}:mobilenet_v3", "torch-legacy", "old-opset",
       exporter="legacy", opset=13),
    _e("mobilenet_v3_dynamo", "mobilenetv3", f"{_VISION}:mobilenet_v3", "dynamo", exporter="dynamo"),
    _e("efficientnet", "efficientnet", f"{_VISION}:efficientnet", "torch-legacy", "batch", exporter="legacy"),
    _e("convnext", "convnext", f"{_VISION}:convnext", "torch-legacy", exporter="legacy"),
    _e("convnext_dynamo", "convnext", f"{_VISION}:convnext", "dynamo", exporter="dynamo"),
    _e("resnet", "resnet", f"{_VISION}:resnet", "torch-legacy", "batch", exporter="legacy"),
    _e("resnet_dynamic_batch", "resnet", f"{_VISION}:resnet", "torch-legacy", "batch", "dynamic",
       exporter="legacy", dynamic=True),
    _e("unet", "unet", f"{_VISION}:unet", "torch-legacy", exporter="legacy"),
    _e("unet_opset11", "unet", f"{_VISION}:unet", "torch-legacy", "old-opset", exporter="legacy", opset=11),
    _e("yolo", "detection", f"{_VISION}:yolo", "torch-legacy", exporter="legacy"),
    _e("yolo_dynamo", "detection", f"{_VISION}:yolo", "dynamo", exporter="dynamo"),
    _e("espcn", "super-resolution", f"{_VISION}:espcn", "torch-legacy", "batch", exporter="legacy"),
    _e("detect_topk", "detection", f"{_VISION}:detect_topk", "torch-legacy", exporter="legacy"),
    _e("resnet_external", "resnet", f"{_VISION}:resnet", "torch-legacy", "external-data", "batch",
       exporter="legacy", external=True),
    # hand-written torch: scripted control flow, einsum/SDPA attention, grid_sample
    _e("scripted_loop", "control-flow", f"{_CUSTOM}:scripted_loop", "torch-legacy", "batch", exporter="legacy"),
    _e("llama_block", "llama", f"{_CUSTOM}:einsum_attention", "torch-legacy", "batch", exporter="legacy"),
    _e("llama_block_dynamo", "llama", f"{_CUSTOM}:einsum_attention", "dynamo", "batch", exporter="dynamo"),
    _e("spatial_transformer", "stn", f"{_CUSTOM}:spatial_transformer", "torch-legacy", "batch", "new-opset",
       exporter="legacy", opset=20),
    _e("pyramid_outputs", "pyramid", f"{_CUSTOM}:pyramid_outputs", "torch-legacy", "batch", exporter="legacy"),
    # onnx.helper models at the installed onnx's default IR version
    _e("helper_mlp", "mlp", f"{_HELPER}:mlp", "helper", "batch"),
    _e("helper_cnn", "cnn", f"{_HELPER}:cnn", "helper", "batch"),
    _e("helper_nms", "detection", f"{_HELPER}:nms_head", "helper"),
    _e("helper_tensor_ops", "tensor-ops", f"{_HELPER}:tensor_ops", "helper", "batch"),
    _e("helper_external", "mlp", f"{_HELPER}:mlp", "helper", "external-data", "batch", external=True),
    # int8 QDQ made by onnxruntime.quantization
    _e("qdq_resnet", "resnet", f"{_QDQ}:qdq_resnet", "qdq", "torch-legacy", "batch"),
    _e("qdq_mobilenet_v3", "mobilenetv3", f"{_QDQ}:qdq_mobilenet_v3", "qdq", "torch-legacy"),
    _e("int8_dynamic_bert", "bert", f"{_QDQ}:dynamic_int8_bert", "int8-dynamic", "transformers", "torch-legacy",
       "batch"),
    _e("qdq_helper_mlp", "mlp", f"{_QDQ}:qdq_helper_mlp", "qdq", "helper", "batch"),
)

_BY_NAME = {e.name: e for e in ENTRIES}
if len(_BY_NAME) != len(ENTRIES):
    raise RuntimeError("tests.corpus.registry: two entries share a name")


def names() -> list[str]:
    """Every entry's name, in registry order."""
    return [e.name for e in ENTRIES]


def lookup(name: str) -> CorpusEntry:
    """The entry called ``name``; KeyError lists the known names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no corpus model {name!r}. Available: {', '.join(_BY_NAME)}") from None


def select(patterns: list[str] | None) -> list[CorpusEntry]:
    """Entries whose name, family or a tag equals one of ``patterns`` (all entries when None)."""
    if not patterns:
        return list(ENTRIES)
    chosen = [e for e in ENTRIES if any(p in (e.name, e.family, *e.tags) for p in patterns)]
    unknown = [p for p in patterns if not any(p in (e.name, e.family, *e.tags) for e in ENTRIES)]
    if unknown:
        raise KeyError(f"no corpus model, family or tag {unknown}. Available: {', '.join(_BY_NAME)}")
    return chosen
