/* The AVX-512F micro-kernel: 12 rows x 32 columns of accumulators (24 zmm), two panel loads and one
   broadcast per k -- 24 FMAs per 14 loads. Compiled for AVX-512 by a function attribute only: the package is
   built for the baseline x86-64 and this code runs only where CPUID reports AVX-512F (rnp_gemm.c). */
#include "rnp_gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define RNP_512 __attribute__((target("avx512f")))

/* MR is a constant at every call site below: the loops unroll and the accumulators live in registers. */
RNP_512 static inline __attribute__((always_inline)) void tile512(const int MR, int kc, const float *a, long lda,
                                                                  const float *b, long ldb, float *c, long ldc,
                                                                  int nc, int acc) {
    __m512 c0[12], c1[12];
    const __mmask16 m0 = nc >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nc) - 1u);
    const __mmask16 m1 = nc >= 32 ? (__mmask16)0xFFFF : (nc > 16 ? (__mmask16)((1u << (nc - 16)) - 1u) : 0);
    int i, kk;
#pragma GCC unroll 12
    for (i = 0; i < MR; i++) {
        if (acc) {
            c0[i] = _mm512_maskz_loadu_ps(m0, c + i * ldc);
            c1[i] = _mm512_maskz_loadu_ps(m1, c + i * ldc + 16);
        } else {
            c0[i] = _mm512_setzero_ps();
            c1[i] = _mm512_setzero_ps();
        }
    }
    for (kk = 0; kk < kc; kk++) {
        const __m512 b0 = _mm512_loadu_ps(b + (long)kk * ldb);
        const __m512 b1 = _mm512_loadu_ps(b + (long)kk * ldb + 16);
#pragma GCC unroll 12
        for (i = 0; i < MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i * lda + kk]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
    }
#pragma GCC unroll 12
    for (i = 0; i < MR; i++) {
        _mm512_mask_storeu_ps(c + i * ldc, m0, c0[i]);
        _mm512_mask_storeu_ps(c + i * ldc + 16, m1, c1[i]);
    }
}

#define RNP_CASE(R) case R: tile512(R, kc, a, lda, b, ldb, c, ldc, nc, acc); break;

RNP_512 void rnp_tile_avx512(int mr, int kc, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                             int nc, int acc) {
    switch (mr) {
    RNP_CASE(1) RNP_CASE(2) RNP_CASE(3) RNP_CASE(4) RNP_CASE(5) RNP_CASE(6)
    RNP_CASE(7) RNP_CASE(8) RNP_CASE(9) RNP_CASE(10) RNP_CASE(11) RNP_CASE(12)
    default: break;
    }
}
#undef RNP_CASE

/* One row (decoding): y[0, 0:32*NP) = a[0, 0:k] @ NP whole panels of pstride floats each, over the whole of k.
   Each element's FMA chain is the tile kernel's (acc = 0, then k in order), so the bits are the same; NP
   panels at once give 2 * NP independent chains, and each panel is one sequential stream, prefetched ahead. */
RNP_512 static inline __attribute__((always_inline)) void row512(const int NP, int k, const float *a,
                                                                 const float *b, long pstride, float *y, int nc) {
    __m512 c[8];
    int q, kk;
#pragma GCC unroll 8
    for (q = 0; q < 2 * NP; q++) c[q] = _mm512_setzero_ps();
    for (kk = 0; kk < k; kk++) {
        const __m512 ak = _mm512_set1_ps(a[kk]);
#pragma GCC unroll 4
        for (q = 0; q < NP; q++) {
            const float *bq = b + q * pstride + (long)kk * RNP_NR;
            _mm_prefetch((const char *)(bq + 64 * RNP_NR), _MM_HINT_T0);
            c[2 * q] = _mm512_fmadd_ps(ak, _mm512_loadu_ps(bq), c[2 * q]);
            c[2 * q + 1] = _mm512_fmadd_ps(ak, _mm512_loadu_ps(bq + 16), c[2 * q + 1]);
        }
    }
#pragma GCC unroll 4
    for (q = 0; q < NP; q++) {
        int left = nc - q * RNP_NR;
        const __mmask16 m0 = left >= 16 ? (__mmask16)0xFFFF : (left > 0 ? (__mmask16)((1u << left) - 1u) : 0);
        const __mmask16 m1 = left >= 32 ? (__mmask16)0xFFFF : (left > 16 ? (__mmask16)((1u << (left - 16)) - 1u) : 0);
        _mm512_mask_storeu_ps(y + q * RNP_NR, m0, c[2 * q]);
        _mm512_mask_storeu_ps(y + q * RNP_NR + 16, m1, c[2 * q + 1]);
    }
}

RNP_512 void rnp_row_avx512(int k, const float *a, const float *bp, long pstride, int np, float *y, int nc) {
    int p = 0;
    for (; p + 4 <= np; p += 4) row512(4, k, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
    if (np - p == 3) row512(3, k, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
    else if (np - p == 2) row512(2, k, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
    else if (np - p == 1) row512(1, k, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
}

/* r[0..15] (16 rows of 16 floats) -> its transpose, in registers (the shuffles of rnp_tr16_avx512). */
RNP_512 static inline __attribute__((always_inline)) void tr16(__m512 r[16]) {
    __m512 t[16];
    int i;
#pragma GCC unroll 8
    for (i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
#pragma GCC unroll 4
    for (i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
#pragma GCC unroll 8
    for (i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

/* One row against plain [n, ldw] rows (a weight that is not packed, e.g. the tied word embeddings): 16 rows
   at a time, each 16-wide k-block transposed in registers, so every element's FMA chain is the tile kernel's
   (acc = 0, then k in order) without copying the weight into panels first. */
RNP_512 void rnp_rowplain_avx512(int k, const float *a, const float *w, long ldw, int n, float *y) {
    int j0, i, kk, t;
    for (j0 = 0; j0 < n; j0 += 16) {
        const int rows = n - j0 < 16 ? n - j0 : 16;
        __m512 acc = _mm512_setzero_ps();
        for (kk = 0; kk < k; kk += 16) {
            const int kt = k - kk < 16 ? k - kk : 16;
            const __mmask16 mk = kt == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << kt) - 1u);
            __m512 r[16];
#pragma GCC unroll 16
            for (i = 0; i < 16; i++) {
                const float *row = w + (long)(j0 + i) * ldw + kk;
                if (i < rows) {
                    _mm_prefetch((const char *)(row + 256), _MM_HINT_T0);
                    r[i] = _mm512_maskz_loadu_ps(mk, row);
                } else {
                    r[i] = _mm512_setzero_ps();
                }
            }
            tr16(r);
            for (t = 0; t < kt; t++) acc = _mm512_fmadd_ps(_mm512_set1_ps(a[kk + t]), r[t], acc);
        }
        _mm512_mask_storeu_ps(y + j0, rows == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rows) - 1u), acc);
    }
}

#else /* not x86-64 GCC/Clang: never selected (rnp_gemm_cpu_supports says no) */
void rnp_tile_avx512(int mr, int kc, const float *a, long lda, const float *b, long ldb, float *c, long ldc, int nc,
                     int acc) {
    (void)mr; (void)kc; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc; (void)nc; (void)acc;
}
void rnp_row_avx512(int k, const float *a, const float *bp, long pstride, int np, float *y, int nc) {
    (void)k; (void)a; (void)bp; (void)pstride; (void)np; (void)y; (void)nc;
}
void rnp_rowplain_avx512(int k, const float *a, const float *w, long ldw, int n, float *y) {
    (void)k; (void)a; (void)w; (void)ldw; (void)n; (void)y;
}
#endif
