"""The outside-model corpus: models made the way users make them (torch's two exporters,
transformers configs, onnx.helper at its defaults, external data, QDQ int8), each with
seeded feeds and the oracle outputs of the framework that made it.

``registry`` lists the entries, ``store`` builds and caches them, ``compare`` scores
an engine's outputs against the oracle.
"""
