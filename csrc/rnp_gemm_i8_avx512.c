/* The AVX512_VNNI int8 micro-kernel: 12 rows x 32 columns of int32 accumulators (24 zmm), two panel loads
   and one broadcast word per 4 k -- 24 vpdpbusd (96 multiply-adds per lane group) per 14 loads.

vpdpbusd multiplies unsigned bytes by signed bytes, so the driver feeds the activations as q_x + 128
(q_x ^ 0x80) and the kernel starts each element from -128 * colsum[j] (corr), which cancels the +128:
    sum_kk (q_x + 128) * q_w - 128 * sum_kk q_w = sum_kk q_x * q_w.
int32 arithmetic wraps (vpdpbusd does not saturate), so partial sums may leave the int32 range on the way:
the final value is exact because it lies in range (|acc| <= 127 * 127 * k, rnp_lowp.h).

Compiled for AVX-512 VNNI by a function attribute only; the driver calls it only where CPUID reports
AVX512_VNNI (rnp_lowp_cpu_supports). */
#include <stdint.h>
#include <string.h>

#include "rnp_gemm.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#define RNP_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* c += dot4(a u8, b s8) per 32-bit lane. Inline assembly rather than _mm512_dpbusd_epi32: GCC 12 copies the
   accumulator of each intrinsic call through the stack (the 12 x 32 tile ran at half speed). */
#define RNP_DPBUSD(c, a, b) __asm__("vpdpbusd %2, %1, %0" : "+v"(c) : "v"(a), "v"(b))

/* c[MR, nc] (+)= a[MR, 4 kw] . b[kw words, 32] (minus 128 * corr when corr is given); a: unsigned bytes,
   rows lda bytes apart, whole words; b: a contiguous [kw, 32] word slice. c holds int32 partials (acc: go
   on from them); with sx given, the finished sums are written instead as float32
   y = (float)acc * (sx[i] * sw[j]) (c is then y's memory; ldc in elements either way). */
RNP_VNNI static inline __attribute__((always_inline)) void tile_vnni(const int MR, int kw, const uint8_t *a,
                                                                     long lda, const int8_t *b,
                                                                     const int32_t *corr, void *c, long ldc,
                                                                     int nc, int acc, const float *sx,
                                                                     const float *sw) {
    __m512i c0[12], c1[12];
    const __mmask16 m0 = nc >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nc) - 1u);
    const __mmask16 m1 = nc >= 32 ? (__mmask16)0xFFFF : (nc > 16 ? (__mmask16)((1u << (nc - 16)) - 1u) : 0);
    __m512i z0 = _mm512_setzero_si512(), z1 = _mm512_setzero_si512();
    int32_t *ci = (int32_t *)c;
    int i, t;
    if (corr) {
        z0 = _mm512_sub_epi32(z0, _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m0, corr), 7));
        z1 = _mm512_sub_epi32(z1, _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m1, corr + 16), 7));
    }
#pragma GCC unroll 12
    for (i = 0; i < MR; i++) {
        if (acc) {
            c0[i] = _mm512_add_epi32(z0, _mm512_maskz_loadu_epi32(m0, ci + i * ldc));
            c1[i] = _mm512_add_epi32(z1, _mm512_maskz_loadu_epi32(m1, ci + i * ldc + 16));
        } else {
            c0[i] = z0;
            c1[i] = z1;
        }
    }
    for (t = 0; t < kw; t++) {
        const __m512i b0 = _mm512_loadu_si512((const void *)(b + (long)t * 128));
        const __m512i b1 = _mm512_loadu_si512((const void *)(b + (long)t * 128 + 64));
#pragma GCC unroll 12
        for (i = 0; i < MR; i++) {
            int32_t word;
            memcpy(&word, a + i * lda + 4L * t, 4);
            const __m512i ai = _mm512_set1_epi32(word);
            RNP_DPBUSD(c0[i], ai, b0);
            RNP_DPBUSD(c1[i], ai, b1);
        }
    }
    if (sx) {
        float *cf = (float *)c;
        const __m512 w0 = _mm512_maskz_loadu_ps(m0, sw), w1 = _mm512_maskz_loadu_ps(m1, sw + 16);
#pragma GCC unroll 12
        for (i = 0; i < MR; i++) {
            const __m512 si = _mm512_set1_ps(sx[i]);
            /* (float)acc * (x_scale * w_scale): two roundings, the reference's order (no FMA here) */
            _mm512_mask_storeu_ps(cf + i * ldc, m0, _mm512_mul_ps(_mm512_cvtepi32_ps(c0[i]), _mm512_mul_ps(si, w0)));
            _mm512_mask_storeu_ps(cf + i * ldc + 16, m1,
                                  _mm512_mul_ps(_mm512_cvtepi32_ps(c1[i]), _mm512_mul_ps(si, w1)));
        }
    } else {
#pragma GCC unroll 12
        for (i = 0; i < MR; i++) {
            _mm512_mask_storeu_epi32(ci + i * ldc, m0, c0[i]);
            _mm512_mask_storeu_epi32(ci + i * ldc + 16, m1, c1[i]);
        }
    }
}

#define RNP_CASE(R) case R: tile_vnni(R, kw, a, lda, b, corr, c, ldc, nc, acc, sx, sw); break;

RNP_VNNI void rnp_i8_tile_vnni(int mr, int kw, const uint8_t *a, long lda, const int8_t *b, const int32_t *corr,
                               void *c, long ldc, int nc, int acc, const float *sx, const float *sw) {
    switch (mr) {
    RNP_CASE(1) RNP_CASE(2) RNP_CASE(3) RNP_CASE(4) RNP_CASE(5) RNP_CASE(6)
    RNP_CASE(7) RNP_CASE(8) RNP_CASE(9) RNP_CASE(10) RNP_CASE(11) RNP_CASE(12)
    default: break;
    }
}
#undef RNP_CASE

#else /* not x86-64 GCC/Clang: never selected (rnp_lowp_cpu_supports says no) */
void rnp_i8_tile_vnni(int mr, int kw, const uint8_t *a, long lda, const int8_t *b, const int32_t *corr, void *c,
                      long ldc, int nc, int acc, const float *sx, const float *sw) {
    (void)mr; (void)kw; (void)a; (void)lda; (void)b; (void)corr; (void)c; (void)ldc; (void)nc; (void)acc;
    (void)sx; (void)sw;
}
#endif
