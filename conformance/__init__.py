"""Conformance: comparison metrics, case sources, the model x target runner, reports."""
