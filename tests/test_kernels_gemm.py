"""roformer_np's own float32 GEMM (csrc/rnp_gemm*.c): each micro-kernel against ``ops.linear`` (the
oracle) and against the BLAS path, packed weights, the kernel switch and thread-count invariance.

Tolerance: float32 with a K-term FMA chain per element: ``|y - exact| <= 1e-5 (|x| @ |w|.T + |b|)`` elementwise,
``exact`` the float64 product of the same float32 inputs -- a bound on the rounding of any summation order
that also holds for the float32 reference (checked too), so the test fails on a wrong term, not on order.
"""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roformer_np import ops
from roformer_np.backend import get_kernels, native_available

pytestmark = pytest.mark.skipif(not native_available(), reason="the native extension is not built")

HYP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL = 1e-5


@pytest.fixture(scope="module")
def native():
    from roformer_np._native import kernels

    return kernels


def micro_kernels() -> list[str]:
    if not native_available():
        return []
    from roformer_np._native import kernels

    return [k for k in ("avx512", "avx2") if kernels._gemm_cpu_supports(k)]


def check_product(y, x, w, b, what: str) -> None:
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    exact = x64 @ w64.T + (0.0 if b is None else b.astype(np.float64))
    bound = RTOL * (np.abs(x64) @ np.abs(w64).T + (0.0 if b is None else np.abs(b.astype(np.float64)))) + 1e-30
    assert y.shape == exact.shape and y.dtype == np.float32, what
    excess = np.abs(y.astype(np.float64) - exact) / bound
    where = np.unravel_index(excess.argmax(), excess.shape)
    assert excess.max() <= 1.0, f"{what}: error {excess.max():.2f}x the bound at {where}"


@st.composite
def problems(draw):
    """Shapes with tails in every direction: M from 1 (GEMV), N not a multiple of 32 (or 16), K across the
    256-wide K-block boundary; a bias or none; x contiguous or a strided view."""
    m = draw(st.one_of(st.just(1), st.integers(1, 40)))
    n = draw(st.one_of(st.integers(1, 70), st.sampled_from([31, 32, 33, 64, 95])))
    k = draw(st.one_of(st.integers(1, 40), st.integers(250, 530), st.sampled_from([255, 256, 257, 512])))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    layout = draw(st.sampled_from(["c", "cols", "fortran"]))
    base = rng.standard_normal((m, 2 * k) if layout == "cols" else (m, k)).astype(np.float32)
    x = base[:, ::2] if layout == "cols" else (np.asfortranarray(base) if layout == "fortran" else base)
    w = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32) if draw(st.booleans()) else None
    return x, w, b


@pytest.mark.parametrize("kernel", micro_kernels())
@HYP
@given(problems())
def test_micro_kernel_against_reference_and_blas(native, kernel, problem) -> None:
    x, w, b = problem
    y = native._gemm_forced(x, w, b, kernel)  # w plain: packed slice by slice on the fly
    check_product(y, x, w, b, f"{kernel} plain")
    packed = native.pack_weight(w)
    assert np.array_equal(native._gemm_forced(x, packed, b, kernel), y), "packed and plain weights differ"
    check_product(ops.linear(x, w, b), x, w, b, "the float32 reference itself")
    previous = native._get_gemm_kernel()
    try:
        native._set_gemm_kernel("blas")
        blas = get_kernels("native").linear(x, w, b)
    finally:
        native._set_gemm_kernel(previous)
    check_product(blas, x, w, b, "BLAS path")
    scale = np.abs(x).astype(np.float64) @ np.abs(w).T.astype(np.float64) + 1e-30
    assert (np.abs(y.astype(np.float64) - blas) / scale).max() <= 2 * RTOL, f"{kernel} vs BLAS"


@HYP
@given(problems())
def test_kernels_and_row_counts_give_the_same_bits(native, problem) -> None:
    """Each element is one FMA chain over k in K-block order: the same bits on AVX-512 and AVX2, and for a
    row alone (M = 1) as inside any block of rows."""
    x, w, b = problem
    kernels = micro_kernels()
    ys = [native._gemm_forced(x, w, b, k) for k in kernels]
    for other, name in zip(ys[1:], kernels[1:]):
        assert np.array_equal(other, ys[0]), f"{name} differs from {kernels[0]}"
    packed = native.pack_weight(w)
    for kernel in kernels:  # a row alone takes its own paths (packed panels streamed, plain rows read in place)
        for weight, layout in ((w, "plain"), (packed, "packed")):
            last = native._gemm_forced(x[-1:], weight, b, kernel)
            assert np.array_equal(last, ys[0][-1:]), f"{kernel} {layout}: a row alone differs from it in a block"


@pytest.mark.parametrize("kernel", micro_kernels())
@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu", "silu", "tanh", "sigmoid", "quick_gelu"])
def test_activation_in_the_write_out(native, kernel, act) -> None:
    from roformer_np.activations import get_activation

    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((37, 300)).astype(np.float32), rng.standard_normal((45, 300)).astype(np.float32)
    b = rng.standard_normal(45).astype(np.float32)
    y = native._gemm_forced(x, w, b, kernel, native.ACT_CODES[act])
    pre = native._gemm_forced(x, w, b, kernel)
    ref = get_activation(act)(pre)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5, err_msg=f"{act} on {kernel}")  # as test_kernels


def test_packed_weight_round_trip(native) -> None:
    rng = np.random.default_rng(1)
    for n, k in [(1, 1), (31, 5), (32, 300), (33, 7), (70, 1)]:
        w = rng.standard_normal((n, k)).astype(np.float32)
        p = native.pack_weight(w)
        assert p.shape == (n, k) and p.dtype == np.float32 and p.ndim == 2 and len(p) == n
        assert p.panels.shape == ((n + 31) // 32, k, 32)
        assert np.array_equal(p.unpack(), w) and np.array_equal(np.asarray(p), w)
        assert np.array_equal(p.T, w.T) and np.array_equal(p[1:3], w[1:3])
        assert np.array_equal(pickle.loads(pickle.dumps(p)).unpack(), w)
        assert not p.panels[:, :, n % 32 or 32:][-1].any(), "padding columns must be zero"
    with pytest.raises(ValueError, match="2-D"):
        native.pack_weight(np.ones(3, dtype=np.float32))


def _panels_by_numpy(w: np.ndarray) -> np.ndarray:
    """The panel layout by definition: panels[p, kk, j] = w[32 p + j, kk], zero beyond n."""
    n, k = w.shape
    padded = np.zeros(((n + 31) // 32 * 32, k), dtype=w.dtype)
    padded[:n] = w
    return padded.reshape(padded.shape[0] // 32, 32, k).transpose(0, 2, 1)


@HYP
@given(n=st.integers(1, 80), k=st.integers(1, 70))
def test_packed_panels_have_the_documented_layout(native, n, k) -> None:
    """Packing transposes in 16 x 16 (AVX-512) or 8 x 8 (AVX2) register tiles plus ragged edges: every n, k."""
    w = np.random.default_rng(n * 100 + k).standard_normal((n, k)).astype(np.float32)
    p = native.pack_weight(w)
    assert np.array_equal(p.panels, _panels_by_numpy(w))
    assert np.array_equal(p.unpack(), w)


@HYP
@given(rows=st.lists(st.sampled_from([0, 1, 5, 31, 32, 64, 96]), min_size=1, max_size=4), k=st.integers(0, 40))
def test_pack_weight_rows_equals_packing_the_concatenation(native, rows, k) -> None:
    """Parts packed straight into their panels (all but the last a multiple of 32 rows), else concatenated."""
    rng = np.random.default_rng(sum(rows) * 41 + k)
    parts = [rng.standard_normal((r, k)).astype(np.float32) for r in rows]
    got = native.pack_weight_rows(parts)
    whole = np.concatenate(parts)
    assert got.shape == whole.shape and np.array_equal(got.panels, _panels_by_numpy(whole))
    assert np.array_equal(got.unpack(), whole)


def test_pack_weight_rows_refuses_mismatched_parts(native) -> None:
    for parts in ([], [np.ones((32, 3)), np.ones((32, 4))], [np.ones(3)]):
        with pytest.raises(ValueError, match="pack_weight_rows: parts must be"):
            native.pack_weight_rows(parts)


def test_large_panels_layout_and_pages(native) -> None:
    """A weight above the huge-page threshold gets its own page-aligned mapping (roformer_np.pages); same bytes."""
    w = np.random.default_rng(3).standard_normal((1000, 1200)).astype(np.float32)  # 4.6 MB
    p = native.pack_weight(w)
    assert p.panels.ctypes.data % 4096 == 0 and p.panels.flags.c_contiguous and p.panels.flags.writeable
    assert np.array_equal(p.panels, _panels_by_numpy(w)) and np.array_equal(p.unpack(), w)


def test_public_kernels_take_packed_weights(native) -> None:
    """linear / output_layer_norm / feed_forward on a PackedWeight equal the same calls on the array."""
    K = get_kernels("native")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 9, 64)).astype(np.float32)
    w1, b1 = rng.standard_normal((100, 64)).astype(np.float32), rng.standard_normal(100).astype(np.float32)
    w2, b2 = rng.standard_normal((64, 100)).astype(np.float32), rng.standard_normal(64).astype(np.float32)
    g, be = rng.standard_normal(64).astype(np.float32), rng.standard_normal(64).astype(np.float32)
    p1, p2 = native.pack_weight(w1), native.pack_weight(w2)
    assert np.array_equal(K.linear(x, p1, b1), K.linear(x, w1, b1))
    h = K.linear(x, w1)
    assert np.array_equal(K.output_layer_norm(h, p2, b2, x, g, be, 1e-12),
                          K.output_layer_norm(h, w2, b2, x, g, be, 1e-12))
    assert np.array_equal(K.feed_forward(x, p1, b1, p2, b2, g, be, 1e-12, "gelu"),
                          K.feed_forward(x, w1, b1, w2, b2, g, be, 1e-12, "gelu"))
    # the reference path reads a PackedWeight through its array form
    np.testing.assert_allclose(ops.linear(x, p1, b1), ops.linear(x, w1, b1), rtol=1e-6, atol=1e-6)
    # float64 inputs with a packed float32 weight: computed in float64, as with the array
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(K.linear(x64, p1, b1), ops.linear(x64, w1.astype(np.float64), b1), rtol=1e-12)


def test_one_and_two_threads_give_the_same_bits(native) -> None:
    """Tiles are handed out dynamically, but each element's reduction order is fixed by the shape."""
    from roformer_np.threads import thread_limit

    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((77, 700)).astype(np.float32), rng.standard_normal((300, 700)).astype(np.float32)
    p = native.pack_weight(w)
    small = native._get_small_work()
    native._set_small_work(0)  # parallelise even small products
    try:
        with thread_limit(1):
            one = [native._gemm_forced(x, p, None, k) for k in micro_kernels()]
        with thread_limit(2):
            two = [native._gemm_forced(x, p, None, k) for k in micro_kernels()]
    finally:
        native._set_small_work(small)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


def test_concurrent_calls_from_python_threads(native) -> None:
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal((50, 300)).astype(np.float32) for _ in range(4)]
    p = native.pack_weight(rng.standard_normal((200, 300)).astype(np.float32))
    K = get_kernels("native")
    expected = [K.linear(x, p) for x in xs]
    results: dict[int, list] = {}

    def work(i: int) -> None:
        results[i] = [K.linear(xs[i], p) for _ in range(10)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        assert all(np.array_equal(r, expected[i]) for r in results[i])


@pytest.mark.parametrize("kernel", micro_kernels())
@HYP
@given(problems())
def test_public_linear_gives_a_row_alone_its_bits_in_a_block(native, kernel, problem) -> None:
    """What the server's batching relies on: ``linear`` itself (not only the driver) sends a row alone to a
    micro-kernel path with the bits of a block of rows, for plain and packed weights, on each micro-kernel."""
    from roformer_np import threads

    x, w, b = problem
    previous = threads.gemm_kernel()
    try:
        threads.set_gemm_kernel(kernel)
        for weight, layout in ((w, "plain"), (native.pack_weight(w), "packed")):
            block = native.linear(x, weight, b)
            for i in (0, len(x) - 1):
                alone = native.linear(x[i : i + 1], weight, b)
                assert np.array_equal(alone, block[i : i + 1]), f"{kernel} {layout}: row {i} alone differs"
    finally:
        threads.set_gemm_kernel(previous)


def test_kernel_switch(native) -> None:
    from roformer_np import threads

    previous = threads.gemm_kernel()
    try:
        for name in micro_kernels() + ["blas"]:
            assert threads.set_gemm_kernel(name) == name and threads.gemm_kernel() == name
        assert threads.set_gemm_kernel("auto") == (micro_kernels() or ["blas"])[0]
        with pytest.raises(ValueError, match="gemm kernel must be one of"):
            threads.set_gemm_kernel("sse")
    finally:
        threads.set_gemm_kernel(previous)


def test_requested_kernel_from_the_environment(monkeypatch) -> None:
    from roformer_np import threads

    monkeypatch.setenv(threads.ENV_GEMM, " AVX2 ")
    assert threads.requested_gemm_kernel() == "avx2"
    monkeypatch.setenv(threads.ENV_GEMM, "")
    assert threads.requested_gemm_kernel() == "auto"
    monkeypatch.setenv(threads.ENV_GEMM, "fast")
    with pytest.raises(ValueError, match="ROFORMER_NP_GEMM"):
        threads.requested_gemm_kernel()


def test_show_config_names_the_kernel(capsys) -> None:
    from roformer_np import show_config, threads

    info = show_config()
    assert info["gemm_kernel"] == threads.gemm_kernel()
    assert f"GEMM kernel         : {threads.gemm_kernel()} " in capsys.readouterr().out


def test_model_forward_is_bit_identical_on_one_and_two_threads(native) -> None:
    """The whole forward (GEMM tiles on the task pool, attention and norms on OpenMP) gives the same bits."""
    from conftest import random_weights, tiny_config

    from roformer_np import RoFormerModel
    from roformer_np.threads import thread_limit

    config = tiny_config(hidden_size=96, intermediate_size=200, num_attention_heads=3)
    model = RoFormerModel(config, random_weights(config, 6), backend="native")
    ids = np.random.default_rng(6).integers(0, config.vocab_size, (3, 29))
    small = native._get_small_work()
    native._set_small_work(0)
    try:
        with thread_limit(1):
            one = model(input_ids=ids).last_hidden_state
        with thread_limit(2):
            two = [model(input_ids=ids).last_hidden_state for _ in range(5)]
    finally:
        native._set_small_work(small)
    assert all(np.array_equal(one, t) for t in two)


def test_results_do_not_depend_on_how_idle_workers_wait(native) -> None:
    """The task pool's workers spin, then yield, then sleep between jobs (csrc/rnp_pool.c): whichever of
    those a worker is in when a job arrives, the tiles are the same and so are the bits."""
    from roformer_np import thread_limit

    rng = np.random.default_rng(5)
    w = native.pack_weight(rng.standard_normal((200, 96)).astype(np.float32))
    xs = [rng.standard_normal((m, 96)).astype(np.float32) for m in (1, 7, 64)]
    before = native._pool_wait_us()
    try:
        with thread_limit(2):
            want = [native.linear(x, w) for x in xs]
            for spin, yield_ in ((0, 0), (0, 5000), (5000, 0)):
                assert native._pool_wait_us(spin, yield_) == (spin, yield_)
                for x, y in zip(xs, want):
                    time.sleep(0.002)  # the worker past its spin (and its yield phase, in the first setting)
                    assert np.array_equal(native.linear(x, w), y)
    finally:
        native._pool_wait_us(*before)
    assert native._pool_wait_us() == before
