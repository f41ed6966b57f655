/* The AVX-512 bf16-weight micro-kernels: 12 rows x 32 columns (24 zmm accumulators), per 32-bit word of the
   panel (2 k of 32 columns) two panel loads, then per row either one vdpbf16ps pair (AVX512_BF16: a's word
   broadcast) or, widening on load (AVX-512F), the same two FMAs per element in vdpbf16ps's order -- odd
   element first. The products of two bf16 values are exact in float32, so each step rounds once either way
   and both kernels give the same bits (except that vdpbf16ps treats subnormal inputs and results as zero).
   Compiled for AVX-512 by function attributes only; run where CPUID says so (rnp_lowp_cpu_supports). */
#include "rnp_bf16.h"
#include "rnp_gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define RNP_BF16_DOT __attribute__((target("avx512f,avx512bw,avx512bf16")))
#define RNP_512 __attribute__((target("avx512f")))
#define RNP_INLINE static inline __attribute__((always_inline))

/* masks of the valid columns of the two 16-column halves */
#define RNP_MASKS(nc)                                                                                       \
    const __mmask16 m0 = (nc) >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nc)) - 1u);                   \
    const __mmask16 m1 = (nc) >= 32 ? (__mmask16)0xFFFF : ((nc) > 16 ? (__mmask16)((1u << ((nc) - 16)) - 1u) : 0)

#define RNP_LOAD_C(MR)                                                                                      \
    _Pragma("GCC unroll 12") for (i = 0; i < MR; i++) {                                                     \
        c0[i] = acc ? _mm512_maskz_loadu_ps(m0, c + i * ldc) : _mm512_setzero_ps();                         \
        c1[i] = acc ? _mm512_maskz_loadu_ps(m1, c + i * ldc + 16) : _mm512_setzero_ps();                    \
    }
#define RNP_STORE_C(MR)                                                                                     \
    _Pragma("GCC unroll 12") for (i = 0; i < MR; i++) {                                                     \
        _mm512_mask_storeu_ps(c + i * ldc, m0, c0[i]);                                                      \
        _mm512_mask_storeu_ps(c + i * ldc + 16, m1, c1[i]);                                                 \
    }

/* MR is a constant at every call site: the loops unroll and the accumulators stay in registers. */
RNP_BF16_DOT RNP_INLINE void dot512(const int MR, int kw, const uint32_t *a, long lda, const uint32_t *b, float *c,
                                    long ldc, int nc, int acc) {
    __m512 c0[12], c1[12];
    RNP_MASKS(nc);
    int i, t;
    RNP_LOAD_C(MR)
    for (t = 0; t < kw; t++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (long)t * RNP_NR);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + (long)t * RNP_NR + 16);
#pragma GCC unroll 12
        for (i = 0; i < MR; i++) {
            const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i * lda + t]);
            c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
        }
    }
    RNP_STORE_C(MR)
}

RNP_512 RNP_INLINE void wide512(const int MR, int kw, const float *a, long lda, const uint32_t *b, float *c,
                                long ldc, int nc, int acc) {
    __m512 c0[12], c1[12];
    const __m512i hi = _mm512_set1_epi32((int)0xFFFF0000u);
    RNP_MASKS(nc);
    int i, t;
    RNP_LOAD_C(MR)
    for (t = 0; t < kw; t++) {
        const __m512i w0 = _mm512_loadu_si512(b + (long)t * RNP_NR);
        const __m512i w1 = _mm512_loadu_si512(b + (long)t * RNP_NR + 16);
        const __m512 o0 = _mm512_castsi512_ps(_mm512_and_si512(w0, hi)); /* k = 2t + 1: the upper halves */
        const __m512 o1 = _mm512_castsi512_ps(_mm512_and_si512(w1, hi));
        const __m512 e0 = _mm512_castsi512_ps(_mm512_slli_epi32(w0, 16)); /* k = 2t: the lower halves */
        const __m512 e1 = _mm512_castsi512_ps(_mm512_slli_epi32(w1, 16));
#pragma GCC unroll 12
        for (i = 0; i < MR; i++) {
            const __m512 ao = _mm512_set1_ps(a[i * lda + 2 * t + 1]);
            const __m512 ae = _mm512_set1_ps(a[i * lda + 2 * t]);
            c0[i] = _mm512_fmadd_ps(ao, o0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ao, o1, c1[i]);
            c0[i] = _mm512_fmadd_ps(ae, e0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ae, e1, c1[i]);
        }
    }
    RNP_STORE_C(MR)
}

#define RNP_CASES(F)                                                                                        \
    switch (mr) {                                                                                           \
    F(1) F(2) F(3) F(4) F(5) F(6) F(7) F(8) F(9) F(10) F(11) F(12)                                          \
    default: break;                                                                                         \
    }
#define RNP_DOT(R) case R: dot512(R, kw, a, lda, b, c, ldc, nc, acc); break;
#define RNP_WIDE(R) case R: wide512(R, kw, a, lda, b, c, ldc, nc, acc); break;

RNP_BF16_DOT void rnp_bf16_tile_dot512(int mr, int kw, const uint32_t *a, long lda, const uint32_t *b, float *c,
                                       long ldc, int nc, int acc) {
    RNP_CASES(RNP_DOT)
}

RNP_512 void rnp_bf16_tile_wide512(int mr, int kw, const float *a, long lda, const uint32_t *b, float *c, long ldc,
                                   int nc, int acc) {
    RNP_CASES(RNP_WIDE)
}

/* One row (decoding) against NP whole packed panels over all kw words: 2 * NP independent vdpbf16ps chains
   (vdpbf16ps's latency is long: one panel's two chains would leave the unit idle), each panel one sequential stream, prefetched ahead.
   Per element the same words in the same order as dot512: the same bits. */
RNP_BF16_DOT RNP_INLINE void row_dot512(const int NP, int kw, const uint32_t *a, const uint32_t *b, long pstride,
                                        float *y, int nc) {
    __m512 c[16];
    int q, t;
#pragma GCC unroll 16
    for (q = 0; q < 2 * NP; q++) c[q] = _mm512_setzero_ps();
    for (t = 0; t < kw; t++) {
        const __m512bh at = (__m512bh)_mm512_set1_epi32((int)a[t]);
#pragma GCC unroll 8
        for (q = 0; q < NP; q++) {
            const uint32_t *bq = b + q * pstride + (long)t * RNP_NR;
            _mm_prefetch((const char *)(bq + 64 * RNP_NR), _MM_HINT_T0);
            c[2 * q] = _mm512_dpbf16_ps(c[2 * q], at, (__m512bh)_mm512_loadu_si512(bq));
            c[2 * q + 1] = _mm512_dpbf16_ps(c[2 * q + 1], at, (__m512bh)_mm512_loadu_si512(bq + 16));
        }
    }
#pragma GCC unroll 8
    for (q = 0; q < NP; q++) {
        const int left = nc - q * RNP_NR;
        RNP_MASKS(left > 0 ? left : 0);
        _mm512_mask_storeu_ps(y + q * RNP_NR, m0, c[2 * q]);
        _mm512_mask_storeu_ps(y + q * RNP_NR + 16, m1, c[2 * q + 1]);
    }
}

RNP_BF16_DOT void rnp_bf16_row_dot512(int kw, const uint32_t *a, const uint32_t *bp, long pstride, int np, float *y,
                                      int nc) {
    int p = 0;
    for (; p + 8 <= np; p += 8) row_dot512(8, kw, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
    if (np - p >= 4) {
        row_dot512(4, kw, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
        p += 4;
    }
    if (np - p == 3) row_dot512(3, kw, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
    else if (np - p == 2) row_dot512(2, kw, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
    else if (np - p == 1) row_dot512(1, kw, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
}

#else /* not x86-64 GCC/Clang: never selected (CPUID says no) */
void rnp_bf16_tile_dot512(int mr, int kw, const uint32_t *a, long lda, const uint32_t *b, float *c, long ldc,
                          int nc, int acc) {
    (void)mr; (void)kw; (void)a; (void)lda; (void)b; (void)c; (void)ldc; (void)nc; (void)acc;
}
void rnp_bf16_tile_wide512(int mr, int kw, const float *a, long lda, const uint32_t *b, float *c, long ldc, int nc,
                           int acc) {
    (void)mr; (void)kw; (void)a; (void)lda; (void)b; (void)c; (void)ldc; (void)nc; (void)acc;
}
void rnp_bf16_row_dot512(int kw, const uint32_t *a, const uint32_t *bp, long pstride, int np, float *y, int nc) {
    (void)kw; (void)a; (void)bp; (void)pstride; (void)np; (void)y; (void)nc;
}
#endif
