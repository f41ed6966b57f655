/* What the AVX2 one-row kernels share (rnp_gemm_avx2.c, rnp_gemm_bf16_avx2.c, rnp_gemm_i8_avx2.c): the
   prefetch of the panel rows they stream, and the fp32 / bf16 write-out. */
#ifndef RNP_ROW256_H
#define RNP_ROW256_H
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "rnp_gemm.h"

/* A panel row (32 columns of one K step: 32 floats, 32 bf16 pairs or 32 int8 quads) is 128 bytes, two cache
   lines; each kernel streams np panels side by side and asks for the row 32 rows (4 KiB) ahead in each, far
   enough to cover DRAM latency at one row per few cycles, near enough to stay in L1. */
#define RNP_ROW256_AHEAD 4096

__attribute__((always_inline)) static inline void rnp_row256_prefetch(const void *panel_row) {
    const char *p = (const char *)panel_row + RNP_ROW256_AHEAD;
    _mm_prefetch(p, _MM_HINT_T0);
    _mm_prefetch(p + 64, _MM_HINT_T0);
}

/* np panels of 4 accumulators each -> y[0:nc], a partial last panel through a scratch row (no store past nc). */
__attribute__((target("avx2"), always_inline)) static inline void rnp_row256_store(const __m256 *c, int np,
                                                                                   float *y, int nc) {
    int q, v;
    for (q = 0; q < np; q++) {
        float t[RNP_NR];
        const int left = nc - q * RNP_NR;
        if (left >= RNP_NR) {
            for (v = 0; v < 4; v++) _mm256_storeu_ps(y + q * RNP_NR + 8 * v, c[4 * q + v]);
        } else if (left > 0) {
            for (v = 0; v < 4; v++) _mm256_storeu_ps(t + 8 * v, c[4 * q + v]);
            memcpy(y + q * RNP_NR, t, sizeof(float) * left);
        }
    }
}
#endif
#endif /* RNP_ROW256_H */
