/* The AVX2 widening int8 micro-kernel: 4 rows x 16 columns of int32 accumulators (8 ymm), run on each
   16-column half of a 32-column panel slice. Also the int8 path of the AVX-512 kernel without VNNI.

vpmaddubsw multiplies unsigned by signed bytes and adds pairs into int16 (saturating), so the signs go to
the weights: with a = q_x (signed, a broadcast word of 4 k) and b = q_w,
    vpmaddubsw(|a|, sign(b, a)) = |a_0| * b_0 * sign(a_0) + |a_1| * b_1 * sign(a_1)  (pairs)
                                = a_0 * b_0 + a_1 * b_1,     |.| <= 2 * 127 * 127 < 2^15: never saturates,
then vpmaddwd with ones adds the two pairs of each 32-bit word into int32: the exact 4-term dot product.
Both operands are in [-127, 127] (sign(-128) would not negate). Compiled for AVX2 by a function attribute
only and run only where CPUID reports AVX2 (rnp_gemm_cpu_supports). */
#include <stdint.h>
#include <string.h>

#include "rnp_gemm.h"
#include "rnp_row256.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define RNP_256 __attribute__((target("avx2,fma")))

/* lanes j < v of an 8-lane int32 vector */
RNP_256 static inline __m256i lanes(int v) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(v), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* One 16-column half (nv valid columns, 1..16): as rnp_i8_tile_avx2 below. */
RNP_256 static inline __attribute__((always_inline)) void half_i8(const int MR, int kw, const int8_t *a, long lda,
                                                                  const int8_t *b, int32_t *ci, float *cf,
                                                                  long ldc, int nv, int acc, const float *sx,
                                                                  const float *sw) {
    __m256i c0[4], c1[4];
    const __m256i k0 = lanes(nv), k1 = lanes(nv - 8), ones = _mm256_set1_epi16(1);
    int i, t;
#pragma GCC unroll 4
    for (i = 0; i < MR; i++) {
        c0[i] = acc ? _mm256_maskload_epi32((const int *)(ci + i * ldc), k0) : _mm256_setzero_si256();
        c1[i] = acc ? _mm256_maskload_epi32((const int *)(ci + i * ldc + 8), k1) : _mm256_setzero_si256();
    }
    for (t = 0; t < kw; t++) {
        const __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + (long)t * 128));
        const __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + (long)t * 128 + 32));
#pragma GCC unroll 4
        for (i = 0; i < MR; i++) {
            int32_t word;
            memcpy(&word, a + i * lda + 4L * t, 4);
            const __m256i ai = _mm256_set1_epi32(word), au = _mm256_abs_epi8(ai);
            c0[i] = _mm256_add_epi32(c0[i], _mm256_madd_epi16(_mm256_maddubs_epi16(au, _mm256_sign_epi8(b0, ai)), ones));
            c1[i] = _mm256_add_epi32(c1[i], _mm256_madd_epi16(_mm256_maddubs_epi16(au, _mm256_sign_epi8(b1, ai)), ones));
        }
    }
    if (sx) {
        const __m256 w0 = _mm256_maskload_ps(sw, k0), w1 = _mm256_maskload_ps(sw + 8, k1);
#pragma GCC unroll 4
        for (i = 0; i < MR; i++) {
            const __m256 si = _mm256_set1_ps(sx[i]);
            /* (float)acc * (x_scale * w_scale), the reference's order */
            _mm256_maskstore_ps(cf + i * ldc, k0, _mm256_mul_ps(_mm256_cvtepi32_ps(c0[i]), _mm256_mul_ps(si, w0)));
            _mm256_maskstore_ps(cf + i * ldc + 8, k1, _mm256_mul_ps(_mm256_cvtepi32_ps(c1[i]), _mm256_mul_ps(si, w1)));
        }
    } else {
#pragma GCC unroll 4
        for (i = 0; i < MR; i++) {
            _mm256_maskstore_epi32((int *)(ci + i * ldc), k0, c0[i]);
            _mm256_maskstore_epi32((int *)(ci + i * ldc + 8), k1, c1[i]);
        }
    }
}

#define RNP_CASE(R) case R: half_i8(R, kw, a, lda, bh, ci, cf, ldc, nv, acc, sx, swh); break;

/* c[mr, nc] (+)= a[mr, 4 kw] . b[kw words, 32]; a: signed q_x bytes, rows lda bytes apart; b: a contiguous
   [kw, 32] word slice; corr is unused (the VNNI kernel's offset correction). c holds int32 partials (acc:
   go on from them); with sx given the finished sums are written as float32 y = (float)acc * (sx[i] * sw[j]).
   mr <= 4, nc <= 32. */
RNP_256 void rnp_i8_tile_avx2(int mr, int kw, const int8_t *a, long lda, const int8_t *b, const int32_t *corr,
                              void *c, long ldc, int nc, int acc, const float *sx, const float *sw) {
    int h;
    (void)corr;
    for (h = 0; h < 2; h++) {
        const int nv = nc - 16 * h;
        const int8_t *bh = b + 64 * h;
        int32_t *ci = (int32_t *)c + 16 * h;
        float *cf = (float *)c + 16 * h;
        const float *swh = sw ? sw + 16 * h : sw;
        if (nv <= 0) break;
        switch (mr) {
        RNP_CASE(1) RNP_CASE(2) RNP_CASE(3) RNP_CASE(4)
        default: break;
        }
    }
}
#undef RNP_CASE

/* One row (decoding) against NP whole packed panels over all kw words, dequantized: y[0, 0:32*NP) =
   (float)acc * (sx * sw[j]) as the tile kernel writes it. The tile kernel's one row reads each panel slice in
   two half passes of 64 of its 128 bytes per word; here each word's 128 bytes are read at once, NP panels
   side by side as prefetched streams (integer sums: the order changes nothing). */
RNP_256 static inline __attribute__((always_inline)) void row_i8(const int NP, int kw, const int8_t *a,
                                                                 const int8_t *b, long pstride, float *y, int nc,
                                                                 float sx, const float *sw) {
    __m256i c[8];
    const __m256i ones = _mm256_set1_epi16(1);
    int q, v, t;
#pragma GCC unroll 8
    for (q = 0; q < 4 * NP; q++) c[q] = _mm256_setzero_si256();
    for (t = 0; t < kw; t++) {
        int32_t word;
        memcpy(&word, a + 4L * t, 4);
        const __m256i ai = _mm256_set1_epi32(word), au = _mm256_abs_epi8(ai);
#pragma GCC unroll 2
        for (q = 0; q < NP; q++) {
            const int8_t *bq = b + q * pstride + (long)t * 128;
            rnp_row256_prefetch(bq);
#pragma GCC unroll 4
            for (v = 0; v < 4; v++) {
                const __m256i w = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(bq + 32 * v)), ai);
                c[4 * q + v] = _mm256_add_epi32(c[4 * q + v], _mm256_madd_epi16(_mm256_maddubs_epi16(au, w), ones));
            }
        }
    }
    {
        const __m256 si = _mm256_set1_ps(sx);
#pragma GCC unroll 2
        for (q = 0; q < NP; q++) {
            const int left = nc - q * RNP_NR;
#pragma GCC unroll 4
            for (v = 0; v < 4; v++) {
                const int nv = left - 8 * v;
                if (nv <= 0) break;
                const __m256i keep = lanes(nv > 8 ? 8 : nv);
                const __m256 w = _mm256_maskload_ps(sw + q * RNP_NR + 8 * v, keep);
                /* (float)acc * (x_scale * w_scale), the reference's order */
                _mm256_maskstore_ps(y + q * RNP_NR + 8 * v, keep,
                                    _mm256_mul_ps(_mm256_cvtepi32_ps(c[4 * q + v]), _mm256_mul_ps(si, w)));
            }
        }
    }
}

RNP_256 void rnp_i8_row_avx2(int kw, const int8_t *a, const int8_t *bp, long pstride, int np, float *y, int nc,
                             float sx, const float *sw) {
    int p = 0;
    for (; p + 2 <= np; p += 2)
        row_i8(2, kw, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR, sx, sw + p * RNP_NR);
    if (np - p == 1) row_i8(1, kw, a, bp + p * pstride, pstride, y + p * RNP_NR, nc - p * RNP_NR, sx, sw + p * RNP_NR);
}

#else
void rnp_i8_tile_avx2(int mr, int kw, const int8_t *a, long lda, const int8_t *b, const int32_t *corr, void *c,
                      long ldc, int nc, int acc, const float *sx, const float *sw) {
    (void)mr; (void)kw; (void)a; (void)lda; (void)b; (void)corr; (void)c; (void)ldc; (void)nc; (void)acc;
    (void)sx; (void)sw;
}
void rnp_i8_row_avx2(int kw, const int8_t *a, const int8_t *bp, long pstride, int np, float *y, int nc, float sx,
                     const float *sw) {
    (void)kw; (void)a; (void)bp; (void)pstride; (void)np; (void)y; (void)nc; (void)sx; (void)sw;
}
#endif
