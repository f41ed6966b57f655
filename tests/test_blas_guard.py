"""The native kernels pin scipy's BLAS to one thread while they run and give it back its thread count after:
also when calls overlap (several Python threads, or a kernel called from inside another's callback).

Before the fix, one module-global guard saved the count on every entry: a call entering while another held
BLAS at 1 saved that 1, and the process kept a single-threaded BLAS for good.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import random_weights, tiny_config
from threadpoolctl import threadpool_limits

from roformer_np import RoFormerModel, activations
from roformer_np.backend import get_kernels, native_available
from roformer_np.threads import scipy_blas_libraries

pytestmark = pytest.mark.skipif(not native_available(), reason="the native extension is not built: no guard")

THREADS = 2  # a count other than the guard's 1, set for each test (restored after it by threadpoolctl)


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in scipy_blas_libraries()]


@pytest.fixture
def two_blas_threads():
    get_kernels("native")  # load the kernels: they receive the BLAS setters on import
    with threadpool_limits(limits=THREADS, user_api="blas"):
        assert blas_threads() and set(blas_threads()) == {THREADS}, blas_threads()
        yield


def test_concurrent_forwards_restore_the_blas_thread_count(two_blas_threads) -> None:
    cfg = tiny_config(hidden_size=64, intermediate_size=128, num_attention_heads=4)
    model = RoFormerModel(cfg, random_weights(cfg), backend="native")
    ids = np.random.default_rng(0).integers(0, cfg.vocab_size, (2, 30))
    expected = model(input_ids=ids)[0]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for _ in range(100):
                np.testing.assert_array_equal(model(input_ids=ids)[0], expected)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors[0]
    assert set(blas_threads()) == {THREADS}, blas_threads()  # before: [1]


def test_overlapping_calls_keep_blas_single_threaded_until_the_last_one_ends(two_blas_threads, monkeypatch) -> None:
    """A kernel called while another is inside its Python callback (a rare activation runs between the two
    GEMMs of feed_forward): BLAS stays at 1 throughout, and the outer call's exit restores the count."""
    K = get_kernels("native")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 8)).astype(np.float32)
    w_in, w_out = rng.normal(size=(12, 8)).astype(np.float32), rng.normal(size=(8, 12)).astype(np.float32)
    seen: list[tuple[str, list[int]]] = []
    mish = activations.ACTIVATIONS["mish"]

    def spying_mish(h):
        seen.append(("outer call running", blas_threads()))
        inner = threading.Thread(target=lambda: K.linear(x, w_in))  # another thread's whole kernel call
        inner.start()
        inner.join()
        K.linear(x, w_in)  # and a nested one on this thread
        seen.append(("after the inner calls", blas_threads()))
        return mish(h)

    monkeypatch.setitem(activations.ACTIVATIONS, "mish", spying_mish)
    out = K.feed_forward(x, w_in, np.zeros(12, np.float32), w_out, np.zeros(8, np.float32),
                         np.ones(8, np.float32), np.zeros(8, np.float32), 1e-12, "mish")
    n = len(blas_threads())
    assert np.isfinite(out).all()
    assert seen == [("outer call running", [1] * n), ("after the inner calls", [1] * n)]
    assert set(blas_threads()) == {THREADS}, blas_threads()


def test_a_failing_callback_still_restores_the_count(two_blas_threads, monkeypatch) -> None:
    K = get_kernels("native")
    x = np.ones((2, 4), np.float32)

    def failing(h):
        raise RuntimeError("boom")

    monkeypatch.setitem(activations.ACTIVATIONS, "mish", failing)
    with pytest.raises(RuntimeError, match="boom"):
        K.feed_forward(x, np.ones((6, 4), np.float32), np.zeros(6, np.float32), np.ones((4, 6), np.float32),
                       np.zeros(4, np.float32), np.ones(4, np.float32), np.zeros(4, np.float32), 1e-12, "mish")
    assert set(blas_threads()) == {THREADS}, blas_threads()
