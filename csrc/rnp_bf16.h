/* Internals of the bf16-weight GEMM shared by its driver (rnp_gemm_bf16.c) and its micro-kernels
   (rnp_gemm_bf16_avx512.c, rnp_gemm_bf16_avx2.c). The contract and the numerics are in rnp_lowp.h. */
#ifndef RNP_BF16_H
#define RNP_BF16_H
#include <stdint.h>

/* K-block in 32-bit words (512 k): a [256, 32]-word panel slice is 32 KiB, L1-resident like float32's.
   The block size never changes a result: the accumulators pass through y between blocks exactly. */
#define RNP_BF16_KW 256

/* float32 bits -> bf16 bits, round to nearest even (integer add of 0x7FFF + the kept LSB; overflow goes to
   inf); NaN -> the quiet NaN with the same sign and upper payload (x >> 16 | 0x0040), as vcvtneps2bf16 does.
   Subnormals round like any other value (vcvtneps2bf16 would flush them to zero: not used, see rnp_lowp.h). */
static inline uint32_t rnp_bf16_rne(uint32_t u) {
    return (u & 0x7FFFFFFFu) > 0x7F800000u ? (u >> 16) | 0x0040u : (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}

/* Micro-kernels: c[mr, nc] (+)= a[mr, 0:2kw] @ b[kw words, 32] for one panel slice b (rows RNP_NR words
   apart, 32 columns readable); acc: 0 starts from zero, 1 continues from c. Per element and word t, in order:
   acc += a[2t+1] * b[2t+1]; acc += a[2t] * b[2t] (vdpbf16ps's order).
   dot: a as bf16 words [mr, lda words] (vdpbf16ps, AVX512_BF16). wide: a as float32 holding the rounded
   bf16 values [mr, lda floats], b widened on load (AVX-512F / AVX2+FMA). mr <= 12 (AVX-512), 6 (AVX2). */
void rnp_bf16_tile_dot512(int mr, int kw, const uint32_t *a, long lda, const uint32_t *b, float *c, long ldc,
                          int nc, int acc);
void rnp_bf16_tile_wide512(int mr, int kw, const float *a, long lda, const uint32_t *b, float *c, long ldc, int nc,
                           int acc);
void rnp_bf16_tile_wide256(int mr, int kw, const float *a, long lda, const uint32_t *b, float *c, long ldc, int nc,
                           int acc);
/* One row (m = 1) against np whole packed panels (pstride words apart) over all kw words, vdpbf16ps:
   y[0:nc], the same bits as rnp_bf16_tile_dot512 over the K-blocks. */
void rnp_bf16_row_dot512(int kw, const uint32_t *a, const uint32_t *bp, long pstride, int np, float *y, int nc);
/* The same with a as float32 (the widening kernels' form), b widened on load (AVX2+FMA): the bits of
   rnp_bf16_tile_wide256 (and of the AVX-512F widening kernel) over the K-blocks. */
void rnp_bf16_row_wide256(int kw, const float *a, const uint32_t *bp, long pstride, int np, float *y, int nc);

#endif /* RNP_BF16_H */
