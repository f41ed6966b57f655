/* The AVX2 + FMA micro-kernel: 6 rows x 16 columns of accumulators (12 ymm), two panel loads and one
   broadcast per k, run on each 16-column half of a 32-column panel slice (row stride ldb). Compiled for AVX2 by a
   function attribute only and run only where CPUID reports AVX2 and FMA (rnp_gemm.c). The FMA chain of each
   element is the AVX-512 kernel's, so both give the same bits. */
#include <stdint.h>
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
    /* unrolled: the loop's own instructions (index and pointer updates, the branch) otherwise take issue
       slots from the twelve FMAs -- measured 78% -> ~90% of one core's FMA peak, L1-resident (Zen 3) */
#pragma GCC unroll 4
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

/* One row against plain [n, ldw] rows: 8 rows at a time, each 8-wide k-block transposed in registers, so every
   element's FMA chain is the tile kernel's (acc = 0, then k in order) without packing the weight first. */
RNP_256 void rnp_rowplain_avx2(int k, const float *a, const float *w, long ldw, int n, float *y) {
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    int j0, i, kk, t;
    for (j0 = 0; j0 < n; j0 += 8) {
        const int rows = n - j0 < 8 ? n - j0 : 8;
        __m256 acc = _mm256_setzero_ps();
        for (kk = 0; kk < k; kk += 8) {
            const int kt = k - kk < 8 ? k - kk : 8;
            const __m256i mk = _mm256_loadu_si256((const __m256i *)(ones + 8 - kt)); /* kt leading lanes */
            __m256 r[8], u[8];
#pragma GCC unroll 8
            for (i = 0; i < 8; i++) {
                const float *row = w + (long)(j0 + i) * ldw + kk;
                r[i] = i < rows ? _mm256_maskload_ps(row, mk) : _mm256_setzero_ps();
                if (i < rows) _mm_prefetch((const char *)(row + 128), _MM_HINT_T0);
            }
#pragma GCC unroll 4
            for (i = 0; i < 8; i += 2) {
                u[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
                u[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
            }
#pragma GCC unroll 2
            for (i = 0; i < 8; i += 4) {
                r[i] = _mm256_shuffle_ps(u[i], u[i + 2], 0x44);
                r[i + 1] = _mm256_shuffle_ps(u[i], u[i + 2], 0xEE);
                r[i + 2] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0x44);
                r[i + 3] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0xEE);
            }
#pragma GCC unroll 4
            for (i = 0; i < 4; i++) {
                u[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);     /* k = kk + i */
                u[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31); /* k = kk + i + 4 */
            }
            for (t = 0; t < kt; t++) acc = _mm256_fmadd_ps(_mm256_broadcast_ss(a + kk + t), u[t], acc);
        }
        if (rows == 8) {
            _mm256_storeu_ps(y + j0, acc);
        } else {
            float tmp[8];
            _mm256_storeu_ps(tmp, acc);
            memcpy(y + j0, tmp, sizeof(float) * rows);
        }
    }
}

#else
void rnp_tile_avx2(int mr, int kc, const float *a, long lda, const float *b, long ldb, float *c, long ldc, int nc,
                   int acc) {
    (void)mr; (void)kc; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc; (void)nc; (void)acc;
}
void rnp_rowplain_avx2(int k, const float *a, const float *w, long ldw, int n, float *y) {
    (void)k; (void)a; (void)w; (void)ldw; (void)n; (void)y;
}
#endif
