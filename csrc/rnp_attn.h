/* The attention core's float32 helpers: rotary rotation, and keys / values packed once per (batch, head)
   into the GEMM's panel layout (rnp_gemm.h), so that every query tile reads them from contiguous
   [k, 32] panels instead of re-packing (keys) or striding through the fused q/k/v rows (values). */
#ifndef RNP_ATTN_H
#define RNP_ATTN_H
#include <string.h>

#include "rnp_common.h"
#include "rnp_transpose.h"

/* Pairs i0 .. half - 1 of one row: (x[2i], x[2i+1]) turned by the angle of sin s[i] / cos c[i]. */
__attribute__((optimize("fp-contract=off")))
static inline void rnp_rotate_pairs(float *y, const float *x, const float *s, const float *c, int i0, int half) {
    int i;
    for (i = i0; i < half; i++) {
        float e = x[2 * i], o = x[2 * i + 1];
        y[2 * i] = e * c[i] - o * s[i];
        y[2 * i + 1] = o * c[i] + e * s[i];
    }
}

/* Rotary position embedding of `rows` rows of head size 2 * half into dst [rows, 2 * half]: pairs
   (x[2i], x[2i+1]) turned by the angle whose sin/cos are row r's entries i. No FMA contraction:
   bit-identical to the NumPy reference (x * c - y * s, rounded product by product). */
__attribute__((optimize("fp-contract=off")))
static void rnp_rotate_rows_generic_f32(float *dst, const float *src, long lds, int rows, int half,
                                        const float *sn, const float *cs) {
    int r;
    for (r = 0; r < rows; r++) {
        const float *x = src + r * lds, *s = sn + (long)r * half, *c = cs + (long)r * half;
        float *y = dst + (long)r * 2 * half;
        rnp_rotate_pairs(y, x, s, c, 0, half);
    }
}

#if defined(__GNUC__) && defined(__x86_64__) && !defined(RNP_NO_CLONES)
#include <immintrin.h>
/* Eight pairs per step: y = x * (c, c) + swap(x) * (-s, s). Negating a product is exact and a + (-b)
   is a - b, so these are the generic loop's bits; the multiplies and adds stay separate (no FMA). */
__attribute__((target("avx512f"), optimize("fp-contract=off")))
static void rnp_rotate_rows_avx512(float *dst, const float *src, long lds, int rows, int half,
                                   const float *sn, const float *cs) {
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    const __m512 sign = _mm512_set_ps(1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1);
    int r, i, h8 = half - half % 8;
    for (r = 0; r < rows; r++) {
        const float *x = src + r * lds, *s = sn + (long)r * half, *c = cs + (long)r * half;
        float *y = dst + (long)r * 2 * half;
        for (i = 0; i < h8; i += 8) {
            __m512 xv = _mm512_loadu_ps(x + 2 * i);
            __m512 cv = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(c + i)));
            __m512 sv = _mm512_mul_ps(_mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(s + i))),
                                      sign);
            __m512 xs = _mm512_permute_ps(xv, 0xB1); /* (o, e) in each pair */
            _mm512_storeu_ps(y + 2 * i, _mm512_add_ps(_mm512_mul_ps(xv, cv), _mm512_mul_ps(xs, sv)));
        }
        rnp_rotate_pairs(y, x, s, c, i, half);
    }
}

/* The same four pairs per step on AVX2. */
__attribute__((target("avx2"), optimize("fp-contract=off")))
static void rnp_rotate_rows_avx2(float *dst, const float *src, long lds, int rows, int half, const float *sn,
                                 const float *cs) {
    const __m256i dup = _mm256_set_epi32(3, 3, 2, 2, 1, 1, 0, 0);
    const __m256 sign = _mm256_set_ps(1, -1, 1, -1, 1, -1, 1, -1);
    int r, i, h4 = half - half % 4;
    for (r = 0; r < rows; r++) {
        const float *x = src + r * lds, *s = sn + (long)r * half, *c = cs + (long)r * half;
        float *y = dst + (long)r * 2 * half;
        for (i = 0; i < h4; i += 4) {
            __m256 xv = _mm256_loadu_ps(x + 2 * i);
            __m256 cv = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(c + i)), dup);
            __m256 sv = _mm256_mul_ps(_mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + i)), dup),
                                      sign);
            __m256 xs = _mm256_permute_ps(xv, 0xB1); /* (o, e) in each pair */
            _mm256_storeu_ps(y + 2 * i, _mm256_add_ps(_mm256_mul_ps(xv, cv), _mm256_mul_ps(xs, sv)));
        }
        rnp_rotate_pairs(y, x, s, c, i, half);
    }
}

static void rnp_rotate_rows_f32(float *dst, const float *src, long lds, int rows, int half, const float *sn,
                                const float *cs) {
    if (__builtin_cpu_supports("avx512f")) rnp_rotate_rows_avx512(dst, src, lds, rows, half, sn, cs);
    else if (__builtin_cpu_supports("avx2")) rnp_rotate_rows_avx2(dst, src, lds, rows, half, sn, cs);
    else rnp_rotate_rows_generic_f32(dst, src, lds, rows, half, sn, cs);
}
#else
#define rnp_rotate_rows_f32 rnp_rotate_rows_generic_f32
#endif

#define RNP_ATTN_NR 32 /* = RNP_NR of rnp_gemm.h: the panel width */

/* Keys k [S, D] (row stride lds; rotated first when sn != NULL) -> ceil(S / 32) panels [D, 32] of 32 keys
   each, k-major, zero beyond S: the packed form of the B operand of q @ k.T. tmp: [32, D] scratch. */
static void rnp_attn_pack_keys(float *dst, const float *k, long lds, int S, int D, const float *sn,
                               const float *cs, float *tmp) {
    int p, np = (S + RNP_ATTN_NR - 1) / RNP_ATTN_NR, d;
    for (p = 0; p < np; p++) {
        int n0 = p * RNP_ATTN_NR, nc = S - n0 < RNP_ATTN_NR ? S - n0 : RNP_ATTN_NR;
        const float *src = k + (long)n0 * lds;
        long ld = lds;
        float *panel = dst + (long)p * RNP_ATTN_NR * D;
        if (sn) {
            rnp_rotate_rows_f32(tmp, src, lds, nc, D / 2, sn + (long)n0 * (D / 2), cs + (long)n0 * (D / 2));
            src = tmp;
            ld = D;
        }
        rnp_transpose_f32(panel, RNP_ATTN_NR, src, ld, D, nc);
        if (nc < RNP_ATTN_NR)
            for (d = 0; d < D; d++) memset(panel + (long)d * RNP_ATTN_NR + nc, 0, sizeof(float) * (RNP_ATTN_NR - nc));
    }
}

/* Values v [S, D] (row stride lds; rotated first when sn != NULL) -> ceil(D / 32) panels [S, 32] of 32
   value columns each, zero beyond D: the packed form of the B operand of p @ v. tmp: [D] scratch. */
static void rnp_attn_pack_values(float *dst, const float *v, long lds, int S, int D, const float *sn,
                                 const float *cs, float *tmp) {
    int s, p, np = (D + RNP_ATTN_NR - 1) / RNP_ATTN_NR;
    for (s = 0; s < S; s++) {
        const float *row = v + (long)s * lds;
        if (sn) {
            rnp_rotate_rows_f32(tmp, row, lds, 1, D / 2, sn + (long)s * (D / 2), cs + (long)s * (D / 2));
            row = tmp;
        }
        for (p = 0; p < np; p++) {
            int n0 = p * RNP_ATTN_NR, nc = D - n0 < RNP_ATTN_NR ? D - n0 : RNP_ATTN_NR;
            float *out = dst + ((long)p * S + s) * RNP_ATTN_NR;
            memcpy(out, row + n0, sizeof(float) * nc);
            if (nc < RNP_ATTN_NR) memset(out + nc, 0, sizeof(float) * (RNP_ATTN_NR - nc));
        }
    }
}

/* One query (a decoding step): scores[s] = q . k[s] for S keys (rows ldk apart), and out[D] = sum_s p[s] v[s]
   (rows ldv apart), on AVX2 + FMA for D a multiple of 8. A BLAS GEMV per head and product (24 calls per layer
   of a base model) cost ~90 us a layer at 128 keys, mostly call overhead; these read each key and value row
   once, straight from the cache. Each is one fixed order of FMAs (8 keys at a time, 8-lane chunks of D, the
   lanes reduced in one fixed tree): the same bits on any thread. Return 0 where they do not apply (the caller
   keeps BLAS). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(RNP_NO_CLONES)
__attribute__((target("avx2,fma"))) static inline float rnp_hsum256(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}

__attribute__((target("avx2,fma"))) static void rnp_q1_scores_avx2(float *scores, const float *q, const float *k,
                                                                   long ldk, int S, int D) {
    int s = 0, c, r;
    for (; s + 8 <= S; s += 8) {
        __m256 acc[8];
        for (r = 0; r < 8; r++) acc[r] = _mm256_setzero_ps();
        for (c = 0; c < D; c += 8) {
            const __m256 qc = _mm256_loadu_ps(q + c);
            for (r = 0; r < 8; r++) acc[r] = _mm256_fmadd_ps(qc, _mm256_loadu_ps(k + (long)(s + r) * ldk + c), acc[r]);
        }
        {   /* lanes of the 8 accumulators -> the 8 sums, in one fixed tree */
            const __m256 t0 = _mm256_hadd_ps(acc[0], acc[1]), t1 = _mm256_hadd_ps(acc[2], acc[3]);
            const __m256 t2 = _mm256_hadd_ps(acc[4], acc[5]), t3 = _mm256_hadd_ps(acc[6], acc[7]);
            const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
            _mm256_storeu_ps(scores + s, _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                                                       _mm256_permute2f128_ps(u0, u1, 0x31)));
        }
    }
    for (; s < S; s++) {
        __m256 acc = _mm256_setzero_ps();
        for (c = 0; c < D; c += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + c), _mm256_loadu_ps(k + (long)s * ldk + c), acc);
        scores[s] = rnp_hsum256(acc);
    }
}

/* out[c0 .. c0 + 8 NV) for NV 8-float chunks of every value row */
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
rnp_q1_values_cols(const int NV, float *out, const float *p, const float *v, long ldv, int S, int c0) {
    __m256 acc[8];
    int s, j;
#pragma GCC unroll 8
    for (j = 0; j < NV; j++) acc[j] = _mm256_setzero_ps();
    for (s = 0; s < S; s++) {
        const __m256 ps = _mm256_broadcast_ss(p + s);
        const float *row = v + (long)s * ldv + c0;
#pragma GCC unroll 8
        for (j = 0; j < NV; j++) acc[j] = _mm256_fmadd_ps(ps, _mm256_loadu_ps(row + 8 * j), acc[j]);
    }
#pragma GCC unroll 8
    for (j = 0; j < NV; j++) _mm256_storeu_ps(out + c0 + 8 * j, acc[j]);
}

__attribute__((target("avx2,fma"))) static void rnp_q1_values_avx2(float *out, const float *p, const float *v,
                                                                   long ldv, int S, int D) {
    int c0 = 0;
    for (; c0 + 64 <= D; c0 += 64) rnp_q1_values_cols(8, out, p, v, ldv, S, c0);
    for (; c0 < D; c0 += 8) rnp_q1_values_cols(1, out, p, v, ldv, S, c0);
}

static int rnp_attn_q1_scores(float *scores, const float *q, const float *k, long ldk, int S, int D) {
    if (D % 8 || !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    rnp_q1_scores_avx2(scores, q, k, ldk, S, D);
    return 1;
}

static int rnp_attn_q1_values(float *out, const float *p, const float *v, long ldv, int S, int D) {
    if (D % 8 || !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
    rnp_q1_values_avx2(out, p, v, ldv, S, D);
    return 1;
}
#else
static int rnp_attn_q1_scores(float *scores, const float *q, const float *k, long ldk, int S, int D) {
    (void)scores; (void)q; (void)k; (void)ldk; (void)S; (void)D;
    return 0;
}
static int rnp_attn_q1_values(float *out, const float *p, const float *v, long ldv, int S, int D) {
    (void)out; (void)p; (void)v; (void)ldv; (void)S; (void)D;
    return 0;
}
#endif

#endif /* RNP_ATTN_H */
