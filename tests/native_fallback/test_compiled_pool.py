"""compiled/pool.c, the C thread pool of GEMM convolutions: every piece exactly once over many jobs,
two Python threads on one pool, a forked child (no workers there), the spin setting, and a pool that
can not start its C side."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest
from conftest import make_model
from onnx import helper

from facade import native_fallback
from facade.errors import ArgumentError
from facade.native_fallback import threads
from facade.native_fallback.compiled import blas

pytestmark = pytest.mark.skipif(not threads.c_pool_available() or not isinstance(blas.sgemm(), tuple),
                                reason="no C pool or no BLAS address here: convolutions take the Python pool")


def _conv_model(rng, c: int = 32, m: int = 96, hw: int = 20, batch: int = 1):
    """A 3x3 convolution with a bias and a Relu: a piece run twice would add its bias twice."""
    x = rng.standard_normal((batch, c, hw, hw)).astype(np.float32)
    inits = {"w": rng.standard_normal((m, c, 3, 3)).astype(np.float32), "b": rng.standard_normal(m).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["h"], pads=[1] * 4), helper.make_node("Relu", ["h"], ["y"])]
    return make_model(nodes, {"x": x}, ["y"], inits), {"x": x}


def _finishes(fn, seconds: float = 60.0) -> None:
    """Run ``fn`` on a thread and fail (instead of hanging the suite) if a lost piece deadlocks it."""
    error: list[BaseException] = []
    t = threading.Thread(target=lambda: _catch(fn, error), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "a C pool job never finished (a piece was lost)"
    if error:
        raise error[0]


def _catch(fn, error: list) -> None:
    try:
        fn()
    except BaseException as e:  # handed to the test thread
        error.append(e)


@pytest.fixture
def many_pieces(monkeypatch):
    """Every convolution cut into as many pieces as its threads allow (one row block each)."""
    monkeypatch.setattr(threads, "MIN_PIECE", dict.fromkeys(threads.MIN_PIECE, 1))


def test_every_piece_runs_once_over_many_jobs(rng, many_pieces) -> None:
    model, feeds = _conv_model(rng)
    expected = native_fallback.compile(model, threads=1).run(feeds)["y"]
    prog = native_fallback.compile(model, threads=4)

    def repeat() -> None:
        for _ in range(200):
            np.testing.assert_allclose(prog.run(feeds)["y"], expected, rtol=1e-5, atol=1e-5)
    _finishes(repeat)


@pytest.mark.parametrize(("batch", "hw", "pool_threads"), [(1, 3, 7), (5, 20, 3)], ids=["fewer", "more"])
def test_every_piece_runs_once_with_fewer_or_more_pieces_than_threads(batch, hw, pool_threads, rng,
                                                                      many_pieces) -> None:
    """pool.c gives thread k its share of a job's pieces: with fewer pieces than threads (three output rows
    at seven threads) the threads past them take none, and the caller finishes any a late worker left; with
    more (five images at three threads) each share holds several. Every piece still runs once a job."""
    model, feeds = _conv_model(rng, hw=hw, batch=batch)
    expected = native_fallback.compile(model, threads=1).run(feeds)["y"]
    prog = native_fallback.compile(model, threads=pool_threads)

    def repeat() -> None:
        for _ in range(200):
            np.testing.assert_allclose(prog.run(feeds)["y"], expected, rtol=1e-5, atol=1e-5)
    _finishes(repeat)


def test_two_python_threads_share_one_pool(rng, many_pieces) -> None:
    model, feeds = _conv_model(rng)
    expected = native_fallback.compile(model, threads=1).run(feeds)["y"]
    prog = native_fallback.compile(model, threads=3)
    answers: list[np.ndarray] = []

    def both() -> None:
        def worker() -> None:
            for _ in range(50):
                answers.append(prog.run(feeds)["y"])
        ts = [threading.Thread(target=worker) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    _finishes(both)
    assert len(answers) == 100
    for y in answers:
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def _child(model_bytes: bytes, x: np.ndarray, queue) -> None:
    import onnx
    prog = native_fallback.compile(onnx.load_from_string(model_bytes), threads=2)
    queue.put(prog.run({"x": x})["y"])


def test_a_forked_child_runs_the_pool_s_jobs_itself(rng, many_pieces) -> None:
    model, feeds = _conv_model(rng)
    prog = native_fallback.compile(model, threads=2)
    expected = prog.run(feeds)["y"]  # the parent's C pool exists (and has workers) before the fork
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(model.SerializeToString(), feeds["x"], queue))
    child.start()
    got = queue.get(timeout=60)
    child.join(10)
    assert child.exitcode == 0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("raw", "ns"), [("", threads.SPIN_NS), ("0", 0), ("50", 50_000), ("2.5", 2500)])
def test_the_spin_setting(raw, ns, monkeypatch) -> None:
    monkeypatch.setenv(threads.SPIN_ENV, raw)
    assert threads.spin_ns() == ns


@pytest.mark.parametrize("raw", ["fast", "-1", "nan", "inf"])
def test_a_bad_spin_setting_is_refused_with_what_was_found(raw, monkeypatch) -> None:
    monkeypatch.setenv(threads.SPIN_ENV, raw)
    with pytest.raises(ArgumentError, match=threads.SPIN_ENV) as e:
        threads.spin_ns()
    assert raw in str(e.value)


def test_a_pool_that_never_spins_gives_the_same_answer(rng, monkeypatch, many_pieces) -> None:
    model, feeds = _conv_model(rng)
    expected = native_fallback.compile(model, threads=1).run(feeds)["y"]
    monkeypatch.setenv(threads.SPIN_ENV, "0")  # read as the 7-thread pool's C side is made
    prog = native_fallback.compile(model, threads=7)
    _finishes(lambda: np.testing.assert_allclose(prog.run(feeds)["y"], expected, rtol=1e-5, atol=1e-5))


def test_a_program_that_splits_nothing_leaves_the_workers_asleep(rng, many_pieces) -> None:
    """After a split job the next program start wakes the workers (they spin through its run); once a run
    gives them nothing, later starts leave them asleep: the process's CPU time then tracks the caller's
    wall time instead of adding a spinning core per worker (measured over 0.3 s of back-to-back runs)."""
    import time

    model, feeds = _conv_model(rng)
    prog = native_fallback.compile(model, threads=3)
    prog.run(feeds)  # the C side exists and its workers have had a job
    x = rng.standard_normal((4, 4)).astype(np.float32)
    tiny = native_fallback.compile(make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": x}, ["y"]), threads=3)
    deadline = time.perf_counter() + 0.05
    while time.perf_counter() < deadline:  # the start after the job wakes them; they sleep 10 ms later
        tiny.run({"x": x})
    time.sleep(0.05)
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() < wall + 0.3:
        tiny.run({"x": x})
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert cpu < 1.5 * wall, f"{cpu:.2f} s of CPU in {wall:.2f} s: idle workers kept spinning"
