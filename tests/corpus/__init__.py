"""The outside-model corpus: models made the way users make them (torch's two exporters,
transformers configs, onnx.helper at its defaults, external data, QDQ and dynamic int8), each
with seeded feeds and the oracle outputs of the framework that made it.

``registry`` lists the entries, ``store`` builds and caches them (``$FACADE_CORPUS_DIR``,
default ``~/.cache/facade/corpus``), ``compare`` scores an engine's outputs against the oracle,
``run`` goes through ``facade.Session``. By hand::

    .venv/bin/python -m tests.corpus.build [NAME|FAMILY|TAG ...] [--prune]   # warm the cache
    .venv/bin/python -m pytest tests/corpus -q                               # ORT, native, routing
    .venv/bin/python benchmarks/corpus.py --markdown                         # every target
"""
