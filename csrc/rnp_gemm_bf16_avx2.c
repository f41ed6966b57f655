/* The AVX2 + FMA bf16-weight micro-kernel, widening on load: 6 rows x 16 columns (12 ymm accumulators), run
   on each 16-column half of a 32-column panel slice. Per 32-bit word (2 k): the odd k's FMA for all rows,
   then the even k's -- per element the order of vdpbf16ps (rnp_lowp.h), so every bf16 kernel gives the same
   bits. Compiled for AVX2 by a function attribute only, run where CPUID reports AVX2 and FMA. */
#include <string.h>

#include "rnp_bf16.h"
#include "rnp_gemm.h"
#include "rnp_row256.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define RNP_256 __attribute__((target("avx2,fma")))

/* c[MR, 16] (+)= a[MR, 0:2kw] @ b[kw words, 16] (b's rows RNP_NR words apart); c has 16 valid columns. */
RNP_256 static inline __attribute__((always_inline)) void half256(const int MR, int kw, const float *a, long lda,
                                                                  const uint32_t *b, float *c, long ldc, int acc) {
    __m256 c0[6], c1[6];
    int i, t;
#pragma GCC unroll 6
    for (i = 0; i < MR; i++) {
        c0[i] = acc ? _mm256_loadu_ps(c + i * ldc) : _mm256_setzero_ps();
        c1[i] = acc ? _mm256_loadu_ps(c + i * ldc + 8) : _mm256_setzero_ps();
    }
    for (t = 0; t < kw; t++) {
        const __m256i *bt = (const __m256i *)(b + (long)t * RNP_NR);
        /* k = 2t + 1: the upper halves (two shifts, not an AND: no mask constant holds a register, so the 12
           accumulators, 2 panel vectors and the broadcast fit the 16 ymm without spills) */
        __m256 b0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(_mm256_loadu_si256(bt), 16), 16));
        __m256 b1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(_mm256_loadu_si256(bt + 1), 16), 16));
#pragma GCC unroll 6
        for (i = 0; i < MR; i++) {
            const __m256 ao = _mm256_broadcast_ss(a + i * lda + 2 * t + 1);
            c0[i] = _mm256_fmadd_ps(ao, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ao, b1, c1[i]);
        }
        b0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256(bt), 16)); /* k = 2t */
        b1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256(bt + 1), 16));
#pragma GCC unroll 6
        for (i = 0; i < MR; i++) {
            const __m256 ae = _mm256_broadcast_ss(a + i * lda + 2 * t);
            c0[i] = _mm256_fmadd_ps(ae, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ae, b1, c1[i]);
        }
    }
#pragma GCC unroll 6
    for (i = 0; i < MR; i++) {
        _mm256_storeu_ps(c + i * ldc, c0[i]);
        _mm256_storeu_ps(c + i * ldc + 8, c1[i]);
    }
}

#define RNP_CASE(R) case R: half256(R, kw, a, lda, b, c, ldc, acc); break;

RNP_256 static void half256_any(int mr, int kw, const float *a, long lda, const uint32_t *b, float *c, long ldc,
                                int acc) {
    switch (mr) {
    RNP_CASE(1) RNP_CASE(2) RNP_CASE(3) RNP_CASE(4) RNP_CASE(5) RNP_CASE(6)
    default: break;
    }
}
#undef RNP_CASE

/* One 16-column half with nv < 16 valid columns: through a full-width scratch tile. */
RNP_256 static void half256_part(int mr, int kw, const float *a, long lda, const uint32_t *b, float *c, long ldc,
                                 int nv, int acc) {
    float s[6 * 16];
    int i;
    for (i = 0; i < mr; i++) {
        if (acc) memcpy(s + i * 16, c + i * ldc, sizeof(float) * nv);
        else memset(s + i * 16, 0, sizeof(float) * 16);
    }
    half256_any(mr, kw, a, lda, b, s, 16, acc);
    for (i = 0; i < mr; i++) memcpy(c + i * ldc, s + i * 16, sizeof(float) * nv);
}

RNP_256 void rnp_bf16_tile_wide256(int mr, int kw, const float *a, long lda, const uint32_t *b, float *c, long ldc,
                                   int nc, int acc) {
    int h;
    for (h = 0; h < 2; h++) {
        int nv = nc - 16 * h;
        if (nv <= 0) break;
        if (nv >= 16) half256_any(mr, kw, a, lda, b + 16 * h, c + 16 * h, ldc, acc);
        else half256_part(mr, kw, a, lda, b + 16 * h, c + 16 * h, ldc, nv, acc);
    }
}

/* One row (decoding) against NP whole packed panels over all kw words: y[0, 0:32*NP). Each element's chain is
   the tile kernel's (per word: the odd k, then the even k; acc = 0, words in order), so the bits are the same;
   NP panels give 4 * NP independent chains (the tile kernel's one row has two per half, and the row is
   memory-bound only when enough chains hide the FMA latency), each panel one prefetched stream. */
RNP_256 static inline __attribute__((always_inline)) void row_wide256(const int NP, int kw, const float *a,
                                                                      const uint32_t *b, long pstride, float *y,
                                                                      int nc) {
    __m256 c[12];
    int q, v, t;
#pragma GCC unroll 12
    for (q = 0; q < 4 * NP; q++) c[q] = _mm256_setzero_ps();
    for (t = 0; t < kw; t++) {
        const __m256 ao = _mm256_broadcast_ss(a + 2 * t + 1), ae = _mm256_broadcast_ss(a + 2 * t);
#pragma GCC unroll 3
        for (q = 0; q < NP; q++) {
            const uint32_t *bq = b + q * pstride + (long)t * RNP_NR;
            rnp_row256_prefetch(bq);
#pragma GCC unroll 4
            for (v = 0; v < 4; v++) {
                const __m256i w = _mm256_loadu_si256((const __m256i *)(bq + 8 * v));
                const __m256 odd = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(w, 16), 16));
                c[4 * q + v] = _mm256_fmadd_ps(ao, odd, c[4 * q + v]);
                c[4 * q + v] = _mm256_fmadd_ps(ae, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)), c[4 * q + v]);
            }
        }
    }
    rnp_row256_store(c, NP, y, nc);
}

RNP_256 void rnp_bf16_row_wide256(int kw, const float *a, const uint32_t *bp, long pstride, int np, float *y,
                                  int nc) {
    int p = 0;
    for (; p + 3 <= np; p += 3) row_wide256(3, kw, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
    if (np - p == 2) row_wide256(2, kw, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
    else if (np - p == 1) row_wide256(1, kw, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
}

#else
void rnp_bf16_tile_wide256(int mr, int kw, const float *a, long lda, const uint32_t *b, float *c, long ldc, int nc,
                           int acc) {
    (void)mr; (void)kw; (void)a; (void)lda; (void)b; (void)c; (void)ldc; (void)nc; (void)acc;
}
void rnp_bf16_row_wide256(int kw, const float *a, const uint32_t *bp, long pstride, int np, float *y, int nc) {
    (void)kw; (void)a; (void)bp; (void)pstride; (void)np; (void)y; (void)nc;
}
#endif
