"""The conformance report: versioned JSON, merged across devices, diffed across versions.

A report holds one *run* per device fingerprint. A run records the device facts
(and whether its fingerprint was detected or overridden, for fleets simulated on
one machine), package and engine versions, the tolerance table used, the columns
(target@precision, with availability), every case (model and inputs digests,
oracle) and one result per case and available column. The layout is pinned by
``report.schema.json`` shipped beside this module.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path

from facade.cache import atomic_write
from facade.conformance.verdicts import ERROR, FAIL, LOWER, PASS, CaseResult
from facade.errors import FacadeError, format_message
from facade.tolerances import CLASSES, Tolerances

SCHEMA = "facade.conformance.report"
VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
#: Set to give a run another device fingerprint than the detected one (fleets simulated on one machine).
FINGERPRINT_ENV = "FACADE_CONFORMANCE_FINGERPRINT"
_PACKAGES = ("facade-runtime", "numpy", "onnx")


class ReportError(FacadeError):
    """A report file is missing, not JSON, of another schema version, or does not validate."""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def engine_versions() -> dict[str, str | None]:
    """Each registered engine's package version, read from metadata (no engine is imported)."""
    from facade.adapters import registry

    dists = metadata.packages_distributions()
    found = {}
    for engine in registry.engines():
        adapter = registry.get_adapter(engine)
        modules = adapter.modules if adapter is not None else ()
        names = [d for m in modules for d in dists.get(m, [])]
        found[engine] = _version(names[0]) if names else (_version("facade-runtime") if engine == "native" else None)
    return found


def new_run(fingerprint: str | None, seed: int, tolerances: Tolerances) -> dict:
    """An empty run for this device; ``fingerprint`` (or $FACADE_CONFORMANCE_FINGERPRINT) overrides the detected one."""
    from facade.devices import devices

    facts = devices()
    override = fingerprint or os.environ.get(FINGERPRINT_ENV) or None
    return {
        "device": {"fingerprint": override or facts.fingerprint,
                   "fingerprint_source": "override" if override else "detected",
                   "detected_fingerprint": facts.fingerprint, "facts": json.loads(json.dumps(facts.to_dict()))},
        "packages": {"python": platform.python_version(), **{p: _version(p) for p in _PACKAGES}},
        "engines": engine_versions(),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "wall_s": 0.0, "seed": seed, "tolerances": tolerances.to_dict(),
        "columns": [], "cases": [], "skipped": [], "results": [],
    }


def validate(data: object, where: str = "report") -> None:
    """Check ``data`` against the shipped JSON Schema.

    Raises:
        ReportError: it does not validate (the message gives the first problem and its path).
    """
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if error is not None:
        path = "/".join(map(str, error.absolute_path)) or "(top level)"
        raise ReportError(format_message("Report does not match its schema", where=where,
                                         received=f"{path}: {error.message[:300]}",
                                         expected=f"{SCHEMA} version {VERSION}"))


class Report:
    """Runs from one or more devices. Truthy when no result failed or errored."""

    def __init__(self, data: dict):
        self.runs: list[dict] = list(data["runs"])

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "version": VERSION, "runs": self.runs}

    def results(self) -> Iterator[tuple[str, CaseResult]]:
        """(device fingerprint, result) for every result of every run."""
        for run in self.runs:
            for r in run["results"]:
                yield run["device"]["fingerprint"], CaseResult.from_dict(r)

    def __bool__(self) -> bool:
        return not any(r.verdict in (FAIL, ERROR) for _, r in self.results())

    def save(self, path: str | os.PathLike) -> Path:
        """Write the report as JSON, atomically."""
        return atomic_write(Path(path), (json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n").encode(),
                            shared=True)

    @classmethod
    def from_dict(cls, data: object, where: str = "report") -> Report:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("version") != VERSION:
            got = (data.get("schema"), data.get("version")) if isinstance(data, dict) else type(data).__name__
            raise ReportError(format_message("Not a conformance report of a version this facade reads",
                                             where=where, received=got, expected=(SCHEMA, VERSION)))
        validate(data, where)
        return cls(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Report:
        """Read and validate a report file.

        Raises:
            ReportError: missing, not JSON, another schema version, or invalid.
        """
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ReportError(format_message("Report cannot be read", where=str(path), received=str(e),
                                             expected="a JSON report written by facade conformance run")) from e
        return cls.from_dict(data, str(path))


def _merge_runs(a: dict, b: dict) -> dict:
    """Two runs of one fingerprint: union of columns and cases; ``b``'s results win."""
    merged = dict(b)
    merged["columns"] = list({(c["target"], c["precision"]): c for c in [*a["columns"], *b["columns"]]}.values())
    merged["cases"] = list({c["id"]: c for c in [*a["cases"], *b["cases"]]}.values())
    merged["skipped"] = list({s["id"]: s for s in [*a["skipped"], *b["skipped"]]}.values())
    key = lambda r: (r["case"], r["target"], r["precision"])  # noqa: E731
    merged["results"] = list({key(r): r for r in [*a["results"], *b["results"]]}.values())
    merged["wall_s"] = a["wall_s"] + b["wall_s"]
    return merged


def merge(reports: Sequence[Report]) -> Report:
    """One report with one run per device fingerprint (runs of the same fingerprint are joined)."""
    by_fp: dict[str, dict] = {}
    for report in reports:
        for run in report.runs:
            fp = run["device"]["fingerprint"]
            by_fp[fp] = _merge_runs(by_fp[fp], run) if fp in by_fp else run
    return Report({"runs": list(by_fp.values())})


def _rank(r: CaseResult) -> int:
    """Lower is better: pass, then each lower precision class, then anything that did not pass."""
    if r.verdict == PASS:
        return 0
    if r.verdict == LOWER:
        return 1 + CLASSES.index(r.lower_precision or CLASSES[-1])
    return len(CLASSES) + 1


def diff(old: Report, new: Report) -> dict[str, list[dict]]:
    """Results whose verdict got worse (``regressions``) or better (``improvements``) between two reports."""
    before = {(fp, r.case, r.target, r.precision): r for fp, r in old.results()}
    found: dict[str, list[dict]] = {"regressions": [], "improvements": []}
    for fp, r in new.results():
        prev = before.get((fp, r.case, r.target, r.precision))
        if prev is None or _rank(prev) == _rank(r):
            continue
        row = {"device": fp, "case": r.case, "target": r.target, "precision": r.precision,
               "old": describe(prev), "new": describe(r)}
        found["regressions" if _rank(r) > _rank(prev) else "improvements"].append(row)
    return found


def describe(r: CaseResult) -> str:
    """A verdict in words: ``pass``, ``pass-at-lower-precision (fp16)``, ``error (SIGABRT)``, ..."""
    if r.verdict == LOWER:
        return f"{LOWER} ({r.lower_precision})"
    if r.verdict == ERROR and r.signal:
        return f"{ERROR} ({r.signal})"
    return r.verdict

