"""The engine's pool: every piece runs once, errors reach the caller, split kernels give the serial
result, and BLAS is held at one thread exactly while engine-threaded programs live."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_model
from onnx import helper
from threadpoolctl import threadpool_info

from facade import native_fallback
from facade.native_fallback import threads


def test_pool_runs_every_piece_once_and_reraises() -> None:
    pool = threads.pool(3)
    seen = np.zeros(50, dtype=np.int64)

    def piece(i: int) -> None:
        seen[i] += 1
    pool.map(piece, 50)
    assert (seen == 1).all()

    def fail(i: int) -> None:
        if i == 7:
            raise ValueError("piece 7")
    with pytest.raises(ValueError, match="piece 7"):
        pool.map(fail, 20)


def test_split_is_serial_outside_a_threaded_program() -> None:
    assert threads.split("gemm", 1 << 30) == (None, 1)


def test_ranges_cover_the_total() -> None:
    assert threads.ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert threads.ranges(2, 5) == [(0, 1), (1, 2)]


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_is_held_at_one_thread_while_a_threaded_program_lives(rng) -> None:
    x = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": x}, ["y"])
    before = _blas_threads()
    one, two = native_fallback.compile(model, threads=2), native_fallback.compile(model, threads=4)
    assert all(n == 1 for n in _blas_threads())
    one.close()
    assert all(n == 1 for n in _blas_threads())  # the other program still holds it
    two.close()
    two.close()  # idempotent
    assert _blas_threads() == before


# Every convolution path, a depthwise pair the CPU passes make channels-last, and a strided 1x1.
_CONVS = [dict(c=16, m=24, k=1, s=1, p=0, g=1), dict(c=16, m=24, k=1, s=2, p=0, g=4), dict(c=8, m=48, k=1, s=1, p=0, g=1),
          dict(c=16, m=16, k=3, s=1, p=1, g=16), dict(c=16, m=16, k=3, s=2, p=1, g=16),
          dict(c=64, m=64, k=3, s=1, p=1, g=1), dict(c=8, m=12, k=3, s=2, p=1, g=1), dict(c=3, m=8, k=7, s=2, p=3, g=1)]


@pytest.mark.parametrize("p", _CONVS, ids=lambda p: "c{c}m{m}k{k}s{s}g{g}".format(**p))
def test_split_kernels_match_the_serial_program(p: dict, monkeypatch, rng) -> None:
    x = rng.standard_normal((2, p["c"], 17, 17)).astype(np.float32)
    w = rng.standard_normal((p["m"], p["c"] // p["g"], p["k"], p["k"])).astype(np.float32)
    b = rng.standard_normal(p["m"]).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["h"], strides=[p["s"]] * 2, pads=[p["p"]] * 4, group=p["g"]),
             helper.make_node("Relu", ["h"], ["y"])]
    model = make_model(nodes, {"x": x}, ["y"], {"w": w, "b": b})
    serial = native_fallback.compile(model).run({"x": x})["y"]
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))  # split even tiny kernels
    prog = native_fallback.compile(model, threads=3)
    np.testing.assert_allclose(prog.run({"x": x})["y"], serial, rtol=1e-4, atol=1e-4)  # BLAS sums in other orders
    prog.close()


def test_split_block_matches_the_serial_program(monkeypatch, rng) -> None:
    """An expansion, its depthwise reader (fused by the CPU passes) and a max pool, split in pieces."""
    x = rng.standard_normal((1, 8, 21, 21)).astype(np.float32)
    inits = {"w1": rng.standard_normal((32, 8, 1, 1)).astype(np.float32),
             "w2": rng.standard_normal((32, 1, 3, 3)).astype(np.float32),
             "b1": rng.standard_normal(32).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["e"]), helper.make_node("Relu", ["e"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["d"], group=32, pads=[1] * 4),
             helper.make_node("MaxPool", ["d"], ["y"], kernel_shape=[3, 3], strides=[2, 2])]
    model = make_model(nodes, {"x": x}, ["y"], inits)
    serial = native_fallback.compile(model).run({"x": x})["y"]
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))
    prog = native_fallback.compile(model, threads=4)
    assert any(s.node.op_type == "PointwiseDepthwise" for s in prog.steps)
    np.testing.assert_allclose(prog.run({"x": x})["y"], serial, rtol=1e-4, atol=1e-4)
    prog.close()


def test_c_split_cuts_a_piece_per_thread_within_the_units() -> None:
    assert threads.c_split("c_gemm", 1 << 40) == (threads.pool(1), 1)  # outside a program: the caller alone
    previous = threads.running(threads.pool(3))
    try:
        big = threads.MIN_PIECE["c_gemm"] * 1000
        assert threads.c_split("c_gemm", big)[1] == 3
        assert threads.c_split("c_gemm", big, units=2)[1] == 2
        assert threads.c_split("c_gemm", threads.MIN_PIECE["c_gemm"] - 1)[1] == 1
    finally:
        threads.running(previous)
