/* roformer_np's low-precision GEMMs: bf16 weights (csrc/rnp_gemm_bf16.c) and int8 weights
   (csrc/rnp_gemm_i8.c), both y[m, n] = act(x[m, k] @ w[n, k].T + bias) with float32 x and y.

Both layouts are the float32 panel layout of rnp_gemm.h applied to 32-bit WORDS: a word holds the 2 (bf16)
or 4 (int8) consecutive k of one output column that one vdpbf16ps / vpdpbusd lane consumes. With
kw = ceil(k / 2) (bf16) or ceil(k / 4) (int8) words per row:
    panel p = columns 32p .. 32p + 31, stored word-major: panel word [t * 32 + j] = the word t of row 32p + j,
    zero beyond n and beyond k. The matrix is ceil(n / 32) such [kw, 32] word panels, one after the other,
so packing is a 32-bit transpose (rnp_transpose_f32 on the reinterpreted words) and a K-block of a panel is
a contiguous slice, as for float32.

bf16 numbers: a bf16 value is the upper half of a float32; x -> bf16 is round-to-nearest-even (NaN stays a
quiet NaN). The GEMM rounds each x[i, kk] to bf16 once (rnp_f32_to_bf16), multiplies exactly (a product of two
bf16 values fits a float32) and accumulates in float32; per output element, per word t (in order):
    acc = acc + a[2t+1] * b[2t+1];  acc = acc + a[2t] * b[2t]       (vdpbf16ps's order)
The widening kernels (no AVX512_BF16) do exactly these two FMAs. The NumPy reference (roformer_np/lowp.py)
rounds the same way and multiplies in float32 with BLAS: kernel and reference agree to float32 round-off.

int8 numbers: weights symmetric per output channel, q_w[j, kk] in [-127, 127], w ~ q_w * w_scale[j];
activations per row (token), computed in float32 exactly as the reference does:
    amax = max_kk |x[i, kk]|;  inv = amax > 0 ? 127.0f / amax : 0;  q_x[i, kk] = clamp(rint(x[i, kk] * inv), -127, 127)
    x_scale[i] = amax / 127.0f
(Edge cases, the same in the reference: a NaN quantizes to 0; a row whose max is subnormal has inv = inf, so
its nonzero values become +-127 and its zeros stay 0.)
acc[i, j] = sum_kk q_x[i, kk] * q_w[j, kk] in int32 (exact: |acc| <= 127 * 127 * k, k <= RNP_I8_MAX_K).
The VNNI kernel feeds vpdpbusd q_x + 128 (unsigned: q_x ^ 0x80) and subtracts 128 * colsum[j] (colsum[j] =
sum_kk q_w[j, kk], computed at packing); the AVX2 kernel multiplies |q_x| by sign-adjusted q_w
(vpmaddubsw never saturates: |products| <= 127 * 127 * 2). Both give the reference's int32 bit for bit.
Write-out (in the tile, while in L1): y = (float)acc * (x_scale[i] * w_scale[j]), then + bias and the
activation when `epilogue` is set (rnp_vmath.h codes).

AMX (rnp_gemm_amx.c): tdpbusd's int32 sums are exact, so int8 on AMX gives the same bits as VNNI. tdpbf16ps
does not add in vdpbf16ps's order (measured: most elements differ in the last bits), so bf16 on AMX agrees
with the other kernels and the reference to float32 round-off only; its result still depends on nothing but
the inputs (every tile and thread count runs the same tile kernel over the whole of k), but a lone row (m = 1,
memory-bound: decoding one sequence) runs the vdpbf16ps row kernel, so its bits are not those of the same row
inside a block.

Paths: `kernel` is RNP_GEMM_AVX512 or RNP_GEMM_AVX2 (rnp_gemm.h; never BLAS: the caller runs the reference
there); `dot` (RNP_LOWP_*) selects vdpbf16ps / vpdpbusd, or AMX tiles for packed weights (AVX-512 only; the
caller checks rnp_lowp_cpu_supports). Weights
come packed (bp) or as plain [n, ldw] rows (w; packed slice by slice on the fly: the tied word embeddings).
Results do not depend on the thread count (fixed per-element order, tiles from rnp_pool). Returns 0, or -1
when a scratch buffer cannot be allocated (the caller raises MemoryError). */
#ifndef RNP_LOWP_H
#define RNP_LOWP_H
#include <stdint.h>

#define RNP_I8_MAX_K 131072 /* 127 * 127 * k stays below 2^31 */

enum { RNP_DOT_BF16 = 1, RNP_DOT_VNNI = 2, RNP_DOT_AMX = 3 };
/* CPUID: avx512bf16 (+avx512f) / avx512vnni (+avx512bw) / AMX-TILE, -BF16, -INT8 (+ the tile state granted) */
int rnp_lowp_cpu_supports(int dot);
/* the GEMMs' `dot` argument: widening kernels, the AVX-512 dot instructions, or AMX tiles (packed weights;
   a plain weight runs on the dot instructions) */
enum { RNP_LOWP_WIDEN = 0, RNP_LOWP_DOT = 1, RNP_LOWP_AMX = 2 };

/* bf16 */
void rnp_f32_to_bf16(const float *x, long count, uint16_t *out);
long rnp_bf16_packed_words(int n, int k); /* 32-bit words of the packed form of an [n, k] matrix */
void rnp_bf16_pack(const uint16_t *w, long ldw, int n, int k, uint16_t *packed, int nthreads); /* ldw even */
void rnp_bf16_unpack(const uint16_t *packed, int n, int k, uint16_t *w, int nthreads);         /* [n, k] */
int rnp_gemm_bf16(int kernel, int dot, int m, int n, int k, const float *a, long lda, const uint16_t *bp,
                  const uint16_t *w, long ldw, float *y, long ldy, const float *bias, int code, int epilogue,
                  int nthreads);

/* int8 */
void rnp_quantize_rows(int m, int k, const float *x, long ldx, int8_t *q, long ldq, float *scale);
long rnp_i8_packed_words(int n, int k);
void rnp_i8_pack(const int8_t *w, long ldw, int n, int k, int8_t *packed, int32_t *colsum, int nthreads);
void rnp_i8_unpack(const int8_t *packed, int n, int k, int8_t *w, int nthreads); /* [n, k] */
/* colsum: ceil(n / 32) * 32 int32 (zero beyond n); for plain rows pass NULL (computed on the fly). */
int rnp_gemm_i8(int kernel, int dot, int m, int n, int k, const float *a, long lda, const int8_t *bp,
                const int32_t *colsum, const int8_t *w, long ldw, const float *w_scale, float *y, long ldy,
                const float *bias, int code, int epilogue, int nthreads);
/* Test hook: the int32 accumulators of already-quantized rows qa [m, ldqa] (no scales, no write-out). */
int rnp_gemm_i8_acc(int kernel, int dot, int m, int n, int k, const int8_t *qa, long ldqa, const int8_t *bp,
                    const int32_t *colsum, const int8_t *w, long ldw, int32_t *acc, long ldacc, int nthreads);

#endif /* RNP_LOWP_H */
