/* The write-out of the AVX2 one-row kernels (rnp_gemm_avx2.c, rnp_gemm_bf16_avx2.c): np panels of 4
   accumulators each -> y[0:nc], a partial last panel through a scratch row (no store past nc). */
#ifndef RNP_ROW256_H
#define RNP_ROW256_H
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "rnp_gemm.h"

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
