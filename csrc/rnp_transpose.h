/* Tiled transposes (16 x 16 on AVX-512, 8 x 8 on AVX2, in registers). */
#ifndef RNP_TRANSPOSE_H
#define RNP_TRANSPOSE_H
#include "rnp_common.h"


/* dst[i * ldd + j] = src[j * lds + i] for i < rows, j < cols, in 16 x 16 tiles: both sides touch
   whole cache lines, and a full tile has constant bounds the compiler unrolls. */
#define RNP_TRANSPOSE(NAME, T)                                                                  \
RNP_CLONES static void NAME(T *dst, long ldd, const T *src, long lds, int rows, int cols) {     \
    int i0, j0, i, j;                                                                           \
    for (i0 = 0; i0 < rows; i0 += 16) {                                                         \
        int ib = rows - i0 < 16 ? rows - i0 : 16;                                               \
        for (j0 = 0; j0 < cols; j0 += 16) {                                                     \
            int jb = cols - j0 < 16 ? cols - j0 : 16;                                           \
            const T *s = src + (long)j0 * lds + i0;                                             \
            T *d = dst + (long)i0 * ldd + j0;                                                   \
            if (ib == 16 && jb == 16) {                                                         \
                for (i = 0; i < 16; i++)                                                        \
                    for (j = 0; j < 16; j++) d[i * ldd + j] = s[j * lds + i];                   \
            } else {                                                                            \
                for (i = 0; i < ib; i++)                                                        \
                    for (j = 0; j < jb; j++) d[i * ldd + j] = s[j * lds + i];                   \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
}
RNP_TRANSPOSE(rnp_transpose_generic_f32, float)
RNP_TRANSPOSE(rnp_transpose_f64, double)
#undef RNP_TRANSPOSE

#if defined(__GNUC__) && defined(__x86_64__) && !defined(RNP_NO_CLONES)
#include <immintrin.h>
/* One 16 x 16 float tile in registers: pairs interleaved (unpack), then 64-bit pairs (shuffle), then
   128-bit lanes twice (shuffle_f32x4) -- 64 shuffles instead of 256 scalar loads and stores. */
__attribute__((target("avx512f")))
static void rnp_tr16_avx512(float *dst, long ldd, const float *src, long lds) {
    __m512 r[16], t[16];
    int i;
    for (i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * lds);
    for (i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
    for (i = 0; i < 16; i++) _mm512_storeu_ps(dst + i * ldd, r[i]);
}

/* An 8 x 8 float block in registers, r[i] = row i -> r[j] = column j: pairs interleaved (unpack), 64-bit pairs
   (shuffle), then 128-bit lanes (permute2f128). */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void rnp_tr8_regs(__m256 r[8]) {
    __m256 u[8];
    int i;
    for (i = 0; i < 8; i += 2) {
        u[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        u[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(u[i], u[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(u[i], u[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(u[i + 1], u[i + 3], 0xEE);
    }
    for (i = 0; i < 4; i++) {
        u[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        u[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    for (i = 0; i < 8; i++) r[i] = u[i];
}

__attribute__((target("avx2"))) static void rnp_tr8_avx2(float *dst, long ldd, const float *src, long lds) {
    __m256 r[8];
    int i;
    for (i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    rnp_tr8_regs(r);
    for (i = 0; i < 8; i++) _mm256_storeu_ps(dst + i * ldd, r[i]);
}

/* Whole b x b tiles in registers (16 on AVX-512, 8 on AVX2: loading the panels was 17% scalar transposes
   there), the ragged edges by the generic code. */
static void rnp_transpose_f32(float *dst, long ldd, const float *src, long lds, int rows, int cols) {
    void (*tile)(float *, long, const float *, long);
    int i0, j0, b, rb, cb;
    /* bit tests in libgcc's CPU model: cheap */
    if (__builtin_cpu_supports("avx512f")) {
        tile = rnp_tr16_avx512; b = 16;
    } else if (__builtin_cpu_supports("avx2")) {
        tile = rnp_tr8_avx2; b = 8;
    } else {
        rnp_transpose_generic_f32(dst, ldd, src, lds, rows, cols);
        return;
    }
    rb = rows - rows % b; cb = cols - cols % b;
    for (i0 = 0; i0 < rb; i0 += b)
        for (j0 = 0; j0 < cb; j0 += b) tile(dst + (long)i0 * ldd + j0, ldd, src + (long)j0 * lds + i0, lds);
    if (cb < cols) rnp_transpose_generic_f32(dst + cb, ldd, src + (long)cb * lds, lds, rows, cols - cb);
    if (rb < rows) rnp_transpose_generic_f32(dst + (long)rb * ldd, ldd, src + rb, lds, rows - rb, cb);
}
#else
#define rnp_transpose_f32 rnp_transpose_generic_f32
#endif

#endif /* RNP_TRANSPOSE_H */
