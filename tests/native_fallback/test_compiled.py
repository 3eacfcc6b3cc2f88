"""The runtime C compiler: cached atomically, honest when it cannot build, off on request, and vmath exact enough."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from facade.native_fallback import compiled
from facade.native_fallback.compiled import build

VMATH = build.Path(compiled.__file__).with_name("vmath.h")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACADE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "native-kernels"


def _source(tmp_path, body: str, name: str = "probe"):
    path = tmp_path / "src" / f"{name}.c"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f'#include "{VMATH}"\n{body}\n')
    return path


def test_every_kernel_source_compiles_here():
    """CI has gcc: a source that failed to compile would silently mean numpy everywhere, so say it here."""
    found = compiled.status()
    assert found, "no C sources found beside compiled/__init__.py"
    for name, state in found.items():
        assert state.startswith("compiled "), f"{name}.c: {state}"


def test_object_is_cached_by_content_and_left_whole(tmp_path, cache, monkeypatch):
    src = _source(tmp_path, "void twice(const float *x, float *y, long n) { for (long i = 0; i < n; i++) y[i] = 2 * x[i]; }")
    first = build.shared_object(src)
    assert first.parent == cache and first.is_file()
    assert [p.name for p in cache.iterdir()] == [first.name], "a temporary file was left in the cache"
    monkeypatch.setattr(build.subprocess, "run", lambda *a, **k: pytest.fail("recompiled a cached source"))
    assert build.shared_object(src) == first
    src.write_text(src.read_text() + "\n/* changed */\n")
    monkeypatch.undo()
    monkeypatch.setenv("FACADE_CACHE_DIR", str(cache.parent))
    assert build.shared_object(src) != first, "a changed source reused the old object"
    lib = ctypes.CDLL(str(first))
    x, y = np.arange(5, dtype=np.float32), np.empty(5, np.float32)
    lib.twice(ctypes.c_void_p(compiled.ptr(x)), ctypes.c_void_p(compiled.ptr(y)), ctypes.c_int64(5))
    np.testing.assert_array_equal(y, 2 * x)


def test_a_source_that_does_not_compile_is_named_with_the_compiler_message(tmp_path, cache):
    src = _source(tmp_path, "void broken(void) { this is not C; }", "broken")
    with pytest.raises(build.BuildError, match=r"broken\.c.*(error|expected)"):
        build.shared_object(src)
    assert not any(cache.iterdir()), "a failed build left a file in the cache"


def test_without_a_compiler_the_reason_is_given(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    build.compiler.cache_clear()
    try:
        with pytest.raises(build.BuildError, match="does not run"):
            build.shared_object(_source(tmp_path, "void f(void) {}"))
    finally:
        build.compiler.cache_clear()


def test_numpy_switch_turns_every_library_off(monkeypatch):
    monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    assert not compiled.enabled()
    for name in compiled.status():
        assert compiled.library(name, {}) is None
        assert compiled.status()[name] == f"off: {compiled.ENV_VAR}=numpy"


def test_v_expf_is_within_a_few_ulp_and_passes_nan_and_infinities(tmp_path, cache):
    src = _source(tmp_path, "void expv(const float *x, float *y, long n) "
                            "{ for (long i = 0; i < n; i++) y[i] = v_expf(x[i]); }", "expv")
    lib = ctypes.CDLL(str(build.shared_object(src)))
    x = np.concatenate([np.linspace(-110, 110, 400_001, dtype=np.float32),
                        np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 88.72, -87.3], np.float32)])
    y = np.empty_like(x)
    lib.expv(ctypes.c_void_p(compiled.ptr(x)), ctypes.c_void_p(compiled.ptr(y)), ctypes.c_int64(x.size))
    ref = np.exp(x.astype(np.float64))
    normal = (ref > np.finfo(np.float32).tiny) & (ref < np.finfo(np.float32).max)
    ulp = np.abs(y[normal] - ref[normal]) / np.spacing(ref[normal].astype(np.float32))
    assert ulp.max() <= 6, ulp.max()
    assert np.isnan(y[-7]) and y[-6] == np.inf and y[-5] == 0 and y[-4] == 1 and y[-3] == 1
    assert np.all(y[np.isfinite(x) & (ref >= np.finfo(np.float32).max)] == np.inf)
    assert np.all(np.abs(y[x < -87.4] - ref[x < -87.4]) < 1e-37)


def test_summary_names_the_compiler_or_why_numpy_alone(tmp_path, monkeypatch):
    assert compiled.summary().startswith("numpy and C kernels for this CPU (")
    monkeypatch.setenv(compiled.ENV_VAR, "numpy")
    assert compiled.summary() == f"numpy kernels only ({compiled.ENV_VAR}=numpy)"
    monkeypatch.delenv(compiled.ENV_VAR)
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    build.compiler.cache_clear()
    try:
        assert compiled.summary().startswith("numpy kernels only: the C compiler")
    finally:
        build.compiler.cache_clear()


@pytest.mark.parametrize("make", [lambda: np.arange(6, dtype=np.float32), lambda: np.zeros((4, 3), np.float32)[1:],
                                  lambda: np.zeros(0, np.float32), lambda: np.ones(3, np.float32)[None],
                                  lambda: np.zeros((4, 6), np.float32)[:, 1:4]])
def test_ptr_is_the_data_address(make):
    a = make()
    assert compiled.ptr(a) == a.ctypes.data
    a.flags.writeable = False
    assert compiled.ptr(a) == a.ctypes.data


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape", [(1, 14, 14, 576), (3, 4096 * 5 + 1), (7,), (2, 0, 5)])
def test_empty_starts_a_large_array_on_a_cache_line(shape, dtype):
    """Every large array starts on a 64-byte boundary (not one in four, as malloc's 16-byte alignment
    gives); a small one is plain np.empty. Either is C-contiguous, writable, of the shape and dtype asked."""
    arrays = [compiled.empty(shape, dtype) for _ in range(8)]
    for a in arrays:
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
        a[...] = 3
        assert (a == 3).all()
        if a.nbytes >= compiled.ALIGN_MIN_BYTES:
            assert a.ctypes.data % 64 == 0


def test_aligned_copies_any_layout_onto_a_cache_line(rng):
    w = rng.standard_normal((5, 3, 7)).astype(np.float32).transpose(2, 0, 1)
    for source in (w, w[::2], w.astype(np.float64), w[0, 0, :1]):
        a = compiled.aligned(source)
        assert a.ctypes.data % 64 == 0 and a.flags.c_contiguous and a.dtype == np.float32
        np.testing.assert_array_equal(a, source.astype(np.float32))
