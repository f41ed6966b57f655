/* The AVX2 + FMA micro-kernel: 6 rows x 16 columns of accumulators (12 ymm), two panel loads and one
   broadcast per k, run on each 16-column half of a 32-column panel slice (row stride ldb). Compiled for AVX2 by a
   function attribute only and run only where CPUID reports AVX2 and FMA (rnp_gemm.c). The FMA chain of each
   element is the AVX-512 kernel's, so both give the same bits. */
#include <stdint.h>
#include <string.h>

#include "rnp_gemm.h"
#include "rnp_row256.h"
#include "rnp_transpose.h"

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

/* One row (decoding): y[0, 0:32*NP) = a[0, 0:k] @ NP whole panels of pstride floats each, over the whole of k.
   Each element's FMA chain is the tile kernel's (acc = 0, then k in order), so the bits are the same; NP panels
   give 4 * NP independent chains (the tile kernel's one row has two per half: latency-bound), and each panel
   is one sequential stream, prefetched ahead. */
RNP_256 static inline __attribute__((always_inline)) void row256(const int NP, int k, const float *a,
                                                                 const float *b, long pstride, float *y, int nc) {
    __m256 c[12];
    int q, v, kk;
#pragma GCC unroll 12
    for (q = 0; q < 4 * NP; q++) c[q] = _mm256_setzero_ps();
    for (kk = 0; kk < k; kk++) {
        const __m256 ak = _mm256_broadcast_ss(a + kk);
#pragma GCC unroll 3
        for (q = 0; q < NP; q++) {
            const float *bq = b + q * pstride + (long)kk * RNP_NR;
            rnp_row256_prefetch(bq);
#pragma GCC unroll 4
            for (v = 0; v < 4; v++) c[4 * q + v] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(bq + 8 * v), c[4 * q + v]);
        }
    }
    rnp_row256_store(c, NP, y, nc);
}

RNP_256 void rnp_row_avx2(int k, const float *a, const float *bp, long pstride, int np, float *y, int nc) {
    int p = 0;
    for (; p + 3 <= np; p += 3) row256(3, k, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
    if (np - p == 2) row256(2, k, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
    else if (np - p == 1) row256(1, k, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR);
}

/* acc (+)= a[0:kt] @ w rows [0, rows) x k-block [0, kt) (kt, rows <= 8): the 8 x 8 block is transposed in
   registers and its k's FMAs run in order, one chain per row of w. */
RNP_256 static inline __attribute__((always_inline)) __m256 plain_block(__m256 acc, const float *a, const float *w,
                                                                        long ldw, int rows, int kt, __m256i mk) {
    __m256 r[8];
    int i, t;
#pragma GCC unroll 8
    for (i = 0; i < 8; i++) {
        const float *row = w + (long)i * ldw;
        r[i] = i < rows ? _mm256_maskload_ps(row, mk) : _mm256_setzero_ps();
        /* 256 bytes ahead: farther, the 16 rows' prefetches (rows 3 KiB apart for a 768-wide matrix share
           a few L1 sets) evict each other before use -- measured 7.2 -> 5.3-6.3 ms, [1 x 768] @ [50000, 768] */
        if (i < rows) _mm_prefetch((const char *)(row + 64), _MM_HINT_T0);
    }
    rnp_tr8_regs(r); /* r[t] = k = t of the 8 rows */
    if (kt == 8) {
#pragma GCC unroll 8
        for (t = 0; t < 8; t++) acc = _mm256_fmadd_ps(_mm256_broadcast_ss(a + t), r[t], acc);
    } else {
        for (t = 0; t < kt; t++) acc = _mm256_fmadd_ps(_mm256_broadcast_ss(a + t), r[t], acc);
    }
    return acc;
}

RNP_256 static void plain_store(float *y, __m256 acc, int rows) {
    if (rows == 8) {
        _mm256_storeu_ps(y, acc);
    } else {
        float tmp[8];
        _mm256_storeu_ps(tmp, acc);
        memcpy(y, tmp, sizeof(float) * rows);
    }
}

/* One row against plain [n, ldw] rows: 8 rows of w at a time, each 8-wide k-block transposed in registers, so
   every element's FMA chain is the tile kernel's (acc = 0, then k in order) without packing the weight first.
   Two groups of 8 rows advance together: one group's chain of 8 dependent FMAs per block is latency-bound,
   and the other group's loads and shuffles fill its wait. */
RNP_256 void rnp_rowplain_avx2(int k, const float *a, const float *w, long ldw, int n, float *y) {
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    int j0, kk;
    for (j0 = 0; j0 + 16 <= n; j0 += 16) {
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        for (kk = 0; kk < k; kk += 8) {
            const int kt = k - kk < 8 ? k - kk : 8;
            const __m256i mk = _mm256_loadu_si256((const __m256i *)(ones + 8 - kt)); /* kt leading lanes */
            acc0 = plain_block(acc0, a + kk, w + (long)j0 * ldw + kk, ldw, 8, kt, mk);
            acc1 = plain_block(acc1, a + kk, w + (long)(j0 + 8) * ldw + kk, ldw, 8, kt, mk);
        }
        plain_store(y + j0, acc0, 8);
        plain_store(y + j0 + 8, acc1, 8);
    }
    for (; j0 < n; j0 += 8) {
        const int rows = n - j0 < 8 ? n - j0 : 8;
        __m256 acc = _mm256_setzero_ps();
        for (kk = 0; kk < k; kk += 8) {
            const int kt = k - kk < 8 ? k - kk : 8;
            const __m256i mk = _mm256_loadu_si256((const __m256i *)(ones + 8 - kt));
            acc = plain_block(acc, a + kk, w + (long)j0 * ldw + kk, ldw, rows, kt, mk);
        }
        plain_store(y + j0, acc, rows);
    }
}

#else
void rnp_tile_avx2(int mr, int kc, const float *a, long lda, const float *b, long ldb, float *c, long ldc, int nc,
                   int acc) {
    (void)mr; (void)kc; (void)a; (void)lda; (void)b; (void)ldb; (void)c; (void)ldc; (void)nc; (void)acc;
}
void rnp_row_avx2(int k, const float *a, const float *bp, long pstride, int np, float *y, int nc) {
    (void)k; (void)a; (void)bp; (void)pstride; (void)np; (void)y; (void)nc;
}
void rnp_rowplain_avx2(int k, const float *a, const float *w, long ldw, int n, float *y) {
    (void)k; (void)a; (void)w; (void)ldw; (void)n; (void)y;
}
#endif
