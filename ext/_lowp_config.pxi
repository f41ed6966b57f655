# Which low-precision micro-kernels are in force: AMX tiles (tdpbf16ps / tdpbusd, packed weights), the
# AVX-512 dot-product instructions (vdpbf16ps for bf16 weights, vpdpbusd for int8) or the widening kernels
# (the same numbers from plain FMAs / vpmaddubsw), chosen like the float32 GEMM
# (ROFORMER_NP_LOWP = auto | amx | dot | widen, applied by roformer_np.threads).
# Included by kernels.pyx after _packed_gemm.pxi.

cdef extern from "csrc/rnp_lowp.h":
    int RNP_DOT_BF16
    int RNP_DOT_VNNI
    int RNP_DOT_AMX
    int RNP_LOWP_WIDEN
    int RNP_LOWP_DOT
    int RNP_LOWP_AMX
    int RNP_I8_MAX_K
    int rnp_lowp_cpu_supports(int dot) noexcept nogil

LOWP_CHOICES = ("auto", "amx", "dot", "widen")


cdef int _lowp_mode(bint dot_ok, bint amx_ok, str name):
    """The C kernels' `dot` argument (RNP_LOWP_*) for a choice, given what the CPU has."""
    if name == "widen" or not dot_ok:
        return RNP_LOWP_WIDEN
    if amx_ok and name in ("auto", "amx"):
        return RNP_LOWP_AMX
    return RNP_LOWP_DOT


cdef int _lowp_bf16 = _lowp_mode(rnp_lowp_cpu_supports(RNP_DOT_BF16), rnp_lowp_cpu_supports(RNP_DOT_AMX), "auto")
cdef int _lowp_i8 = _lowp_mode(rnp_lowp_cpu_supports(RNP_DOT_VNNI), rnp_lowp_cpu_supports(RNP_DOT_AMX), "auto")
cdef str _lowp_choice = "auto"


def _set_lowp(str name):
    """``"auto"`` (AMX, else the dot instructions, where the CPU has them), ``"amx"`` (required: ValueError
    without AMX), ``"dot"`` (vdpbf16ps / vpdpbusd, required: ValueError when the CPU has neither
    AVX512_BF16 nor AVX512_VNNI) or ``"widen"``. Returns the name in force."""
    global _lowp_bf16, _lowp_i8, _lowp_choice
    if name not in LOWP_CHOICES:
        raise ValueError(f"ROFORMER_NP_LOWP must be one of {LOWP_CHOICES}, got {name!r}")
    bf16, vnni = rnp_lowp_cpu_supports(RNP_DOT_BF16), rnp_lowp_cpu_supports(RNP_DOT_VNNI)
    amx = rnp_lowp_cpu_supports(RNP_DOT_AMX)
    if name == "dot" and not (bf16 or vnni):
        raise ValueError("ROFORMER_NP_LOWP='dot': this CPU has neither AVX512_BF16 nor AVX512_VNNI")
    if name == "amx" and not amx:
        raise ValueError("ROFORMER_NP_LOWP='amx': this CPU (or this kernel) offers no AMX-BF16 / AMX-INT8 tiles")
    _lowp_bf16 = _lowp_mode(bf16, amx, name)
    _lowp_i8 = _lowp_mode(vnni, amx, name)
    _lowp_choice = name
    return name


cdef str _lowp_name(int mode, str amx, str dot, str wide):
    if _gemm_kernel != RNP_GEMM_AVX512 or mode == RNP_LOWP_WIDEN:
        return wide
    return amx if mode == RNP_LOWP_AMX else dot


def _get_lowp():
    """What the low-precision GEMMs use now: {"choice", "bf16", "int8"} with the instruction names."""
    return {
        "choice": _lowp_choice,
        "bf16": _lowp_name(_lowp_bf16, "AMX tdpbf16ps (packed weights; vdpbf16ps otherwise)", "vdpbf16ps",
                           "widening FMA"),
        "int8": _lowp_name(_lowp_i8, "AMX tdpbusd (packed weights; vpdpbusd otherwise)", "vpdpbusd",
                           "vpmaddubsw (AVX2)"),
    }


cdef int _forced_dot(object dot, int code_k, int dot_kind, str hook) except -1:
    """A test hook's ``dot`` (False: widening kernel, True: vdpbf16ps / vpdpbusd, "amx": AMX tiles for a packed
    weight) as the C kernels' argument; ValueError when this CPU cannot run it."""
    if dot is False or dot is True:
        if dot and (code_k != RNP_GEMM_AVX512 or not rnp_lowp_cpu_supports(dot_kind)):
            need = "AVX512_BF16" if dot_kind == RNP_DOT_BF16 else "AVX512_VNNI"
            raise ValueError(f"{hook}: dot=True needs the avx512 kernel on a CPU with {need}")
        return RNP_LOWP_DOT if dot else RNP_LOWP_WIDEN
    if dot == "amx":
        if code_k != RNP_GEMM_AVX512 or not rnp_lowp_cpu_supports(RNP_DOT_AMX):
            raise ValueError(f"{hook}: dot='amx' needs the avx512 kernel on a CPU with AMX tiles")
        return RNP_LOWP_AMX
    raise ValueError(f"{hook}: dot must be True, False or 'amx', got {dot!r}")


def _amx_cpu_supports():
    """Whether the AMX low-precision kernels run here (CPUID and the kernel's grant): the tests' paths."""
    return bool(rnp_lowp_cpu_supports(RNP_DOT_AMX))
