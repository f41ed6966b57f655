# Cython declarations of the C helpers in csrc/ (one header per job, all static: they compile into the
# module that cimports this file):
#   rnp_common.h     the OpenMP shim, the target_clones dispatch macro, the per-thread workspace
#   rnp_vmath.h      float32 exp/erf/tanh polynomials and the activations (bias + activation loops)
#   rnp_transpose.h  16 x 16 tiled transposes (AVX-512 in registers where the CPU has it)
#   rnp_rows.h       row kernels: residual + LayerNorm / RMS norm, softmax
#   rnp_attn.h       attention helpers: rotary rotation, keys / values packed into GEMM panels, one query
#
# Why hand-written exp/erf/tanh: without -ffast-math GCC will not call glibc's vector libm, and the scalar
# expf/erff calls would cost more than the GEMMs they follow (softmax over [T, S], GELU over [T, F]).
# The polynomials are accurate to a few float32 ulps (exp ~1 ulp, erf <= 4.5e-7 absolute), well inside the
# kernels' stated tolerance. float64 keeps libm (exact to the reference's last bits).
# Every reduction uses a fixed number of lanes in a fixed order: results never depend on thread count.

cdef extern from "csrc/rnp_transpose.h":
    pass

cdef extern from "csrc/rnp_rows.h":
    bint RNP_HAVE_OPENMP
    const size_t RNP_WS_MAX
    void *rnp_workspace(int slot, size_t nbytes) noexcept nogil
    void rnp_ws_release(void *p, size_t nbytes) noexcept nogil
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    float rnp_actf(float v, int code) noexcept nogil
    void rnp_bias_act_f32(float *y, const float *bias, int n, int code) noexcept nogil
    void rnp_sbias_act_f32(float *y, float b, int n, int code) noexcept nogil
    void rnp_transpose_f32(float *dst, long ldd, const float *src, long lds, int rows, int cols) noexcept nogil
    void rnp_transpose_f64(double *dst, long ldd, const double *src, long lds, int rows, int cols) noexcept nogil
    void rnp_add_ln_row_f32(float *y, const float *bias, const float *res, const float *w, const float *b,
                            int n, float eps) noexcept nogil
    void rnp_add_rms_row_f32(float *y, const float *bias, const float *res, int n, float eps) noexcept nogil
    void rnp_softmax_row_f32(float *s, const float *mask, int n, float scale, int use_hm, float hm) noexcept nogil

cdef extern from "csrc/rnp_attn.h":
    void rnp_rotate_rows_f32(float *dst, const float *src, long lds, int rows, int half, const float *sn,
                             const float *cs) noexcept nogil
    void rnp_attn_pack_keys(float *dst, const float *k, long lds, int S, int D, const float *sn, const float *cs,
                            float *tmp) noexcept nogil
    void rnp_attn_pack_values(float *dst, const float *v, long lds, int S, int D, const float *sn,
                              const float *cs, float *tmp) noexcept nogil
    int rnp_attn_q1_scores(float *scores, const float *q, const float *k, long ldk, int S, int D) noexcept nogil
    int rnp_attn_q1_values(float *out, const float *p, const float *v, long ldv, int S, int D) noexcept nogil
