"""The native kernels with bf16 / int8 weights (ext/_lowp_gemm.pxi): every public kernel that takes a linear
weight (linear, qkv_projection, output_layer_norm, feed_forward, and embed with low-precision word embeddings)
gives the NumPy reference's numbers (roformer_np.lowp) for packed weights and plain containers alike, on every
kernel path this CPU runs, and hands the weights to the reference on the BLAS path instead of multiplying
dequantized floats.

Tolerances: bf16 -- the reference multiplies the same bf16-rounded inputs in float32 with BLAS, so they agree
to float32 round-off (``1e-5 * |x| @ |w|.T``); int8 -- the integer sums are exact on both sides, so only the
float32 epilogue (scales, bias, activation, norm) can differ: 1e-5 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from roformer_np import lowp, ops
from roformer_np.backend import native_available

pytestmark = pytest.mark.skipif(not native_available(), reason="the native extension is not built")


@pytest.fixture(scope="module")
def native():
    from roformer_np._native import kernels

    return kernels


def paths(native) -> list[tuple[str, str]]:
    """(GEMM kernel, low-precision choice) pairs this CPU runs, the BLAS path (reference) included."""
    out = [("blas", "auto")]
    for kernel in ("avx512", "avx2"):
        if native._gemm_cpu_supports(kernel):
            out.append((kernel, "widen"))
            if kernel == "avx512":
                for choice in ("dot", "amx"):
                    try:
                        native._set_lowp(choice)
                        out.append((kernel, choice))
                    except ValueError:
                        pass
                    finally:
                        native._set_lowp("auto")
    return out


@pytest.fixture
def on_path(native, request):
    kernel, lowp_choice = request.param
    before_k, before_l = native._get_gemm_kernel(), native._get_lowp()["choice"]
    native._set_gemm_kernel(kernel)
    native._set_lowp(lowp_choice)
    yield kernel, lowp_choice
    native._set_gemm_kernel(before_k)
    native._set_lowp(before_l)


def all_paths():
    if not native_available():
        return []
    from roformer_np._native import kernels

    return paths(kernels)


def weights(native, w: np.ndarray, precision: str):
    """The plain container and its packed form."""
    plain = lowp.convert(w, precision)
    packed = native.pack_bf16(plain.bits) if precision == "bfloat16" else native.pack_int8(plain.q, plain.scale)
    return plain, packed


def close(y, ref, x, w, what: str, rtol: float = 1e-5) -> None:
    bound = rtol * (np.abs(x.astype(np.float64)).reshape(-1, x.shape[-1]) @ np.abs(np.asarray(w, np.float64)).T)
    bound = bound.reshape(ref.shape) + rtol * np.abs(ref) + 1e-30
    excess = (np.abs(y.astype(np.float64) - ref) / bound).max()
    assert y.dtype == np.float32 and y.shape == ref.shape, what
    assert excess <= 1.0, f"{what}: error {excess:.2f}x the bound"


@pytest.mark.parametrize("on_path", all_paths(), indirect=True, ids=lambda p: "-".join(p))
@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
@pytest.mark.parametrize("m,n,k", [(1, 40, 64), (7, 33, 70), (130, 97, 301), (3, 1, 5)])
def test_linear_matches_the_reference(native, on_path, precision, m, n, k) -> None:
    rng = np.random.default_rng(m * 1000 + n + k)
    x = rng.standard_normal((m, k), dtype=np.float32)
    w = rng.standard_normal((n, k), dtype=np.float32)
    b = rng.standard_normal(n, dtype=np.float32)
    plain, packed = weights(native, w, precision)
    ref = lowp.linear(x, plain, b).astype(np.float64)
    for weight, layout in ((plain, "plain"), (packed, "packed")):
        y = native.linear(x, weight, b)
        close(y, ref, x, plain.unpack(), f"{precision} {layout} {on_path}")
        # our kernels (not BLAS under the reference): a row alone has its bits in a block, so a request batched
        # with others sees the same logits -- except bf16 on AMX, whose lone row runs vdpbf16ps's row kernel
        if on_path[0] != "blas" and not (precision == "bfloat16" and on_path[1] == "amx"):
            assert np.array_equal(native.linear(x[-1:], weight, b), y[-1:]), f"{layout}: row alone differs"
    if not (precision == "bfloat16" and on_path[1] == "amx"):  # AMX runs packed bf16 weights in its own order
        assert np.array_equal(native.linear(x, plain, b), native.linear(x, packed, b)), "plain and packed differ"


@pytest.mark.parametrize("on_path", all_paths(), indirect=True, ids=lambda p: "-".join(p))
@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_fused_kernels_match_the_reference(native, on_path, precision) -> None:
    rng = np.random.default_rng(7)
    b_, t, c, f, heads = 2, 9, 48, 96, 4
    x = rng.standard_normal((b_, t, c), dtype=np.float32)
    w_qkv, w_o = rng.standard_normal((3 * c, c), dtype=np.float32), rng.standard_normal((c, c), dtype=np.float32)
    w_in, w_out = rng.standard_normal((f, c), dtype=np.float32), rng.standard_normal((c, f), dtype=np.float32)
    b_qkv, b_o = rng.standard_normal(3 * c, dtype=np.float32), rng.standard_normal(c, dtype=np.float32)
    b_in, b_out = rng.standard_normal(f, dtype=np.float32), rng.standard_normal(c, dtype=np.float32)
    g, beta = rng.standard_normal(c, dtype=np.float32), rng.standard_normal(c, dtype=np.float32)
    for layout in (0, 1):  # plain containers, packed
        qkv, o, wi, wo = (weights(native, w, precision)[layout] for w in (w_qkv, w_o, w_in, w_out))
        for got, want in zip(native.qkv_projection(x, qkv, b_qkv, heads), ops.qkv_projection(x, qkv, b_qkv, heads)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
        got = native.output_layer_norm(x, o, b_o, x, g, beta, 1e-12)
        want = ops.output_layer_norm(x, o, b_o, x, g, beta, 1e-12)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        for act in ("gelu", "relu", "silu"):
            got = native.feed_forward(x, wi, b_in, wo, b_out, g, beta, 1e-12, act)
            want = ops.feed_forward(x, wi, b_in, wo, b_out, g, beta, 1e-12, act)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{precision} {layout} {act}")


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
def test_embed_gathers_rows_of_low_precision_tables(native, precision) -> None:
    rng = np.random.default_rng(3)
    table = rng.standard_normal((50, 16), dtype=np.float32)
    plain = lowp.convert(table, precision)
    tt = rng.standard_normal((2, 16), dtype=np.float32)
    ids = rng.integers(0, 50, (2, 5))
    got = native.embed(ids, np.zeros_like(ids), plain, tt, None, None, 1e-6)
    want = ops.embed(ids, np.zeros_like(ids), plain.unpack(), tt, None, None, 1e-6)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_the_blas_path_never_multiplies_dequantized_floats(native) -> None:
    """On ROFORMER_NP_GEMM=blas a bf16 weight still rounds the activations (the reference emulation): the
    result differs from a float32 product of the widened weight, and equals the reference's."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 64), dtype=np.float32)
    plain, packed = weights(native, rng.standard_normal((24, 64), dtype=np.float32), "bfloat16")
    before = native._get_gemm_kernel()
    native._set_gemm_kernel("blas")
    try:
        for weight in (plain, packed):
            y = native.linear(x, weight)
            assert np.array_equal(y, lowp.linear(x, plain))
            assert not np.allclose(y, x @ plain.unpack().T, rtol=1e-6, atol=0)
    finally:
        native._set_gemm_kernel(before)


def test_show_config_names_the_low_precision_instructions(capsys) -> None:
    from roformer_np import show_config

    show_config()
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("bf16 / int8 weights"))
    assert "ROFORMER_NP_LOWP" in line


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
@pytest.mark.parametrize("n", [5, 32, 1000, 1031])
def test_pack_blockwise_is_packing_the_whole(native, monkeypatch, precision, n) -> None:
    """lowp.pack_blockwise (the word embeddings' load: converted and packed a block of 32-row panels at a time)
    gives the very panels (and scales, column sums) of converting and packing the whole matrix at once."""
    from roformer_np.backend import pack_lowp

    monkeypatch.setattr(lowp, "BLOCK_ELEMENTS", 64 * 24)  # blocks of 64 rows of k = 24
    w = np.random.default_rng(n).standard_normal((n, 24), dtype=np.float32)
    whole = pack_lowp(lowp.convert(w, precision))
    for source in (w, lowp.convert(w, precision)):  # a float matrix, or a saved low-precision one
        blocks = lowp.pack_blockwise(source, precision, pack_lowp)
        assert type(blocks) is type(whole) and blocks.shape == whole.shape
        assert np.array_equal(blocks.panels, whole.panels)
        if precision == "int8":
            assert np.array_equal(blocks.colsum, whole.colsum) and np.array_equal(blocks.scale, whole.scale)


def test_low_precision_models_hold_their_word_embeddings_packed(native) -> None:
    """On the micro-kernels the word embeddings of a bf16 / int8 model are packed (the tied LM head streams the
    panels; embedding rows are gathered from them) and give the reference's logits."""
    from roformer_np import RoFormerForMaskedLM
    from roformer_np.model import runs_lowp_kernels
    from roformer_np.pipelines.factory import demo_model_dir

    path = demo_model_dir("fill-mask")
    ids = np.array([[101, 300, 103, 500, 102]])
    for precision in ("bfloat16", "int8"):
        kwargs = {"dtype": "bfloat16"} if precision == "bfloat16" else {"quantize": "int8"}
        packed = runs_lowp_kernels()
        model = RoFormerForMaskedLM.from_pretrained(path, **kwargs)
        table = model.roformer.params.word_embeddings
        plain = isinstance(table, (lowp.BF16Weight, lowp.Int8Weight))
        assert lowp.is_lowp(table) and plain != packed, (type(table), packed)
        reference = RoFormerForMaskedLM.from_pretrained(path, backend="numpy", **kwargs)
        out, want = model(input_ids=ids).logits, reference(input_ids=ids).logits
        if precision == "bfloat16":
            # Each GEMM agrees with the reference to float32 round-off, but the next GEMM rounds its input to
            # bf16, and a sum one ulp apart can round to the neighbouring bf16 (2^-8 relative) there: through
            # this trained model's layers that shows as ~1e-3 in its logits (measured 8.4e-4 on vdpbf16ps, AMX
            # and the widening kernels alike), far below the bf16 model's own distance from float32 (1e-2).
            np.testing.assert_allclose(out, want, rtol=0, atol=3e-3)
        else:
            np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_the_low_precision_choice_and_what_it_names(native, monkeypatch) -> None:
    """ROFORMER_NP_LOWP / set_lowp_kernels: auto takes AMX where the CPU offers it, else the dot instructions;
    amx and dot are refused (ValueError) where the CPU lacks them; an unknown name is refused too."""
    from roformer_np import threads

    before = threads.lowp_kernels()["choice"]
    avx512 = native._gemm_cpu_supports("avx512") and native._get_gemm_kernel() == "avx512"
    try:
        threads.set_lowp_kernels("auto")
        auto = threads.lowp_kernels()
        if avx512 and native._amx_cpu_supports():
            assert auto["bf16"].startswith("AMX tdpbf16ps") and auto["int8"].startswith("AMX tdpbusd")
        elif avx512 and native._bf16_dot_cpu_supports():
            assert auto["bf16"] == "vdpbf16ps"
        if native._amx_cpu_supports():
            assert threads.set_lowp_kernels("amx") == "amx"
            threads.set_lowp_kernels("dot")
            assert "AMX" not in threads.lowp_kernels()["bf16"] + threads.lowp_kernels()["int8"]
        else:
            with pytest.raises(ValueError, match="ROFORMER_NP_LOWP='amx'"):
                threads.set_lowp_kernels("amx")
        threads.set_lowp_kernels("widen")
        assert threads.lowp_kernels()["bf16"] == "widening FMA"
        with pytest.raises(ValueError, match="must be one of"):
            threads.set_lowp_kernels("tiles")
        monkeypatch.setenv("ROFORMER_NP_LOWP", "AMX ")
        assert threads.requested_lowp_kernels() == "amx"
        monkeypatch.setenv("ROFORMER_NP_LOWP", "vnni")
        with pytest.raises(ValueError, match="ROFORMER_NP_LOWP must be one of"):
            threads.requested_lowp_kernels()
    finally:
        threads.set_lowp_kernels(before)
