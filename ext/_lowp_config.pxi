# Which low-precision micro-kernels are in force: the AVX-512 dot-product instructions (vdpbf16ps for bf16
# weights, vpdpbusd for int8) or the widening kernels (the same numbers from plain FMAs / vpmaddubsw), chosen
# like the float32 GEMM (ROFORMER_NP_LOWP = auto | dot | widen, applied by roformer_np.threads).
# Included by kernels.pyx after _packed_gemm.pxi.

cdef extern from "csrc/rnp_lowp.h":
    int RNP_DOT_BF16
    int RNP_DOT_VNNI
    int RNP_I8_MAX_K
    int rnp_lowp_cpu_supports(int dot) noexcept nogil

LOWP_CHOICES = ("auto", "dot", "widen")

cdef bint _lowp_dot_bf16 = rnp_lowp_cpu_supports(RNP_DOT_BF16)
cdef bint _lowp_dot_i8 = rnp_lowp_cpu_supports(RNP_DOT_VNNI)
cdef str _lowp_choice = "auto"


def _set_lowp(str name):
    """``"auto"`` (dot instructions where the CPU has them), ``"dot"`` (required: ValueError when the CPU
    has neither AVX512_BF16 nor AVX512_VNNI) or ``"widen"``. Returns the name in force."""
    global _lowp_dot_bf16, _lowp_dot_i8, _lowp_choice
    if name not in LOWP_CHOICES:
        raise ValueError(f"ROFORMER_NP_LOWP must be one of {LOWP_CHOICES}, got {name!r}")
    bf16, vnni = rnp_lowp_cpu_supports(RNP_DOT_BF16), rnp_lowp_cpu_supports(RNP_DOT_VNNI)
    if name == "dot" and not (bf16 or vnni):
        raise ValueError("ROFORMER_NP_LOWP='dot': this CPU has neither AVX512_BF16 nor AVX512_VNNI")
    _lowp_dot_bf16 = bf16 and name != "widen"
    _lowp_dot_i8 = vnni and name != "widen"
    _lowp_choice = name
    return name


def _get_lowp():
    """What the low-precision GEMMs use now: {"choice", "bf16", "int8"} with the instruction names."""
    avx512 = _gemm_kernel == RNP_GEMM_AVX512
    return {
        "choice": _lowp_choice,
        "bf16": "vdpbf16ps" if (_lowp_dot_bf16 and avx512) else "widening FMA",
        "int8": "vpdpbusd" if (_lowp_dot_i8 and avx512) else "vpmaddubsw (AVX2)",
    }
