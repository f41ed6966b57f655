/* The AVX2 + FMA micro-kernel: 6 rows x 16 columns of accumulators (12 ymm), two panel loads and one
   broadcast per k, run on each 16-column half of a 32-column panel slice (row stride ldb). Compiled for AVX2 by a
   function attribute only and run only where CPUID reports AVX2 and FMA (rnp_gemm.c). The FMA chain of each
   element is the AVX-512 kernel's, so both give the same bits. */
#include <string.h>

#include "rnp_gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define RNP_256 __attribute__((target("avx2,fma")))

/* c[MR, 16] (+)= a[MR, kc] @ b[kc, 16] (b's rows ldb apart); c is full (16 valid columns). */
RNP_256 static inline __attribute__((always_inline)) void half256(const int MR, int kc, const float *a, long lda,
                                                                  const float *b, long ldb, float *c, long ldc,
                                                                  int acc) {
    __m256 c0[6], c1[6];
    int i, kk;
#pragma GCC unroll 6
    for (i = 0; i < MR; i++) {
        c0[i] = acc ? _mm256_loadu_ps(c + i * ldc) : _mm256_setzero_ps();
        c1[i] = acc ? _mm256_loadu_ps(c + i * ldc + 8) : _mm256_setzero_ps();
    }
    for (kk = 0; kk < kc; kk++) {
        const __m256 b0 = _mm256_loadu_ps(b + (long)kk * ldb);
        const __m256 b1 = _mm256_loadu_ps(b + (long)kk * ldb + 8);
#pragma GCC unroll 6
        for (i = 0; i < MR; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i * lda + kk);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
    }
#pragma GCC unroll 6
    for (i = 0; i < MR; i++) {
        _mm256_storeu_ps(c + i * ldc, c0[i]);
        _mm256_storeu_ps(c + i * ldc + 8, c1[i]);
    }
}

#define RNP_CASE(R) case R: half256(R, kc, a, lda, b, ldb, c, ldc, acc); break;

RNP_256 static void half256_any(int mr, int kc, const float *a, long lda, const float *b, long ldb, float *c,
                                long ldc, int acc) {
    switch (mr) {
    RNP_CASE(1) RNP_CASE(2) RNP_CASE(3) RNP_CASE(4) RNP_CASE(5) RNP_CASE(6)
    default: break;
    }
}
#undef RNP_CASE

/* One 16-column half with nv < 16 valid columns: through a full-width scratch tile. */
RNP_256 static void half256_part(int mr, int kc, const float *a, long lda, const float *b, long ldb, float *c,
                                 long ldc, int nv, int acc) {
    float t[6 * 16];
    int i;
    for (i = 0; i < mr; i++) {
        if (acc) memcpy(t + i * 16, c + i * ldc, sizeof(float) * nv);
        else memset(t + i * 16, 0, sizeof(float) * 16);
    }
    half256_any(mr, kc, a, lda, b, ldb, t, 16, acc);
    for (i = 0; i < mr; i++) memcpy(c + i * ldc, t + i * 16, sizeof(float) * nv);
}

RNP_256 void rnp_tile_avx2(int mr, int kc, const float *a, long lda, const float *b, long ldb, float *c, long ldc,
                           int nc, int acc) {
    int h;
    for (h = 0; h < 2; h++) {
        int nv = nc - 16 * h;
        if (nv <= 0) break;
        if (nv >= 16) half256_any(mr, kc, a, lda, b + 16 * h, ldb, c + 16 * h, ldc, acc);
        else half256_part(mr, kc, a, lda, b + 16 * h, ldb, c + 16 * h, ldc, nv, acc);
    }
}

#else
void rnp_tile_avx2(int mr, int kc, const float *a, long lda, const float *b, long ldb, float *c, long ldc, int nc,
                   int acc) {
    (void)mr; (void)kc; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc; (void)nc; (void)acc;
}
#endif
