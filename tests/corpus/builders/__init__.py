"""Corpus builders: one module per kind of model; each builder writes ``model.onnx`` into a
directory and returns the feeds and the framework's outputs. Heavy imports (torch,
transformers) happen inside the builders, so the registry and the cache key never need them."""
