/* The int8-weight GEMM driver (interface and numerics: rnp_lowp.h): per-row activation quantization,
   packing (with the column sums the VNNI kernel's offset needs), tiles handed out to threads, the
   dequantizing write-out.

Order of work per tile (rows [i0, i1) x panels [p0, p1), cut by rnp_tiling as for float32): K-block by
K-block (RNP_I8_KCW words = 1024 k: a [1024, 32] int8 panel slice is 32 KiB, L1-resident across the
block of rows), the int32 partial sums kept in y's own memory between K-blocks; the last K-block's
micro-kernel call converts its finished sums to float32 in registers, y = (float)acc * (x_scale[i] *
w_scale[j]), and the bias / activation then run on the tile's rows while they are in L1. Integer sums are
exact, so the result depends on nothing but the inputs: not on the thread count, the tile cut or the kernel.

The quantized activations go to a per-thread workspace (rnp_workspace: each C file has its own, so no slot
is shared with kernels.pyx's buffers) as rows of whole words (k padded to
a multiple of 4 with zeros), already offset by +128 (q ^ 0x80) for the VNNI kernel. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rnp_amx.h"
#include "rnp_common.h"
#include "rnp_gemm.h"
#include "rnp_lowp.h"
#include "rnp_pool.h"
#include "rnp_transpose.h"
#include "rnp_vmath.h"

#define RNP_I8_KCW 256 /* K-block in words (4 k each) */
#define RNP_WS_I8 0    /* workspace slot of the quantized activations (this file's own workspace key) */
#define RNP_I8_PANEL_BYTES(kw) ((long)(kw) * RNP_NR * 4)

/* micro-kernels (rnp_gemm_i8_avx512.c, rnp_gemm_i8_avx2.c) */
void rnp_i8_tile_vnni(int mr, int kw, const uint8_t *a, long lda, const int8_t *b, const int32_t *corr, void *c,
                      long ldc, int nc, int acc, const float *sx, const float *sw);
void rnp_i8_tile_avx2(int mr, int kw, const int8_t *a, long lda, const int8_t *b, const int32_t *corr, void *c,
                      long ldc, int nc, int acc, const float *sx, const float *sw);
/* one row against np whole panels (pstride bytes apart), dequantized: the tile kernel's y for that row */
void rnp_i8_row_avx2(int kw, const int8_t *a, const int8_t *bp, long pstride, int np, float *y, int nc, float sx,
                     const float *sw);

/* ---------------------------------------------------------------------------------------------------- */
/* activation quantization                                                                               */

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
/* one row: amax (NaN if any x is NaN), then q = clamp(rint(x * inv)); the AVX-512 conversion rounds to
   nearest even (MXCSR default) like np.rint, and the product is the same float32 multiply. */
__attribute__((target("avx512f"))) static float quantize_row_avx512(int k, const float *x, int8_t *q,
                                                                             uint8_t flip) {
    __m512 m = _mm512_setzero_ps();
    __mmask16 nan = 0;
    int kk;
    float amax, inv;
    for (kk = 0; kk < k; kk += 16) {
        const __mmask16 mk = k - kk >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - kk)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(mk, x + kk);
        nan |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        m = _mm512_max_ps(m, _mm512_abs_ps(v));
    }
    amax = nan ? NAN : _mm512_reduce_max_ps(m);
    inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    {
        const __m512 vinv = _mm512_set1_ps(inv);
        const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
        const __m512i fl = _mm512_set1_epi32(flip);
        for (kk = 0; kk < k; kk += 16) {
            const __mmask16 mk = k - kk >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (k - kk)) - 1u);
            __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + kk), vinv);
            /* clamped before the conversion (the bounds are integers: the same as after rint), so that an
               infinite product (amax subnormal: inv = inf) keeps its sign; NaN -> 0 as NumPy's cast gives */
            p = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(p, p, _CMP_ORD_Q), p);
            p = _mm512_min_ps(_mm512_max_ps(p, lo), hi);
            const __m512i v = _mm512_xor_si512(_mm512_cvtps_epi32(p), fl);
            _mm512_mask_cvtepi32_storeu_epi8(q + kk, mk, v); /* the low byte of each */
        }
    }
    return amax / 127.0f;
}

/* The same on AVX2, 32 values at a time (the tail by the scalar code below: the same float32 product, the same
   round-half-even and clamp); the conversion's int32 are packed to bytes with saturation, which never acts:
   every value is already in [-127, 127]. */
__attribute__((target("avx2"))) static float quantize_row_avx2(int k, const float *x, int8_t *q, uint8_t flip) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
    int kk, k32 = k - k % 32;
    float amax, inv, lanes8[8];
    for (kk = 0; kk + 8 <= k; kk += 8) {
        const __m256 v = _mm256_loadu_ps(x + kk);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v));
    }
    _mm256_storeu_ps(lanes8, m);
    amax = 0.0f;
    for (kk = 0; kk < 8; kk++) amax = lanes8[kk] > amax ? lanes8[kk] : amax;
    for (kk = k - k % 8; kk < k; kk++) {
        const float a = fabsf(x[kk]);
        if (a != a) amax = NAN;
        else if (a > amax) amax = a;
    }
    if (_mm256_movemask_ps(nan)) amax = NAN;
    inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    {
        const __m256 vinv = _mm256_set1_ps(inv), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7), fl = _mm256_set1_epi8((char)flip);
        for (kk = 0; kk < k32; kk += 32) {
            __m256i v[4];
            int u;
            for (u = 0; u < 4; u++) {
                __m256 p = _mm256_mul_ps(_mm256_loadu_ps(x + kk + 8 * u), vinv);
                p = _mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q)); /* NaN -> 0, as NumPy's cast gives */
                v[u] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(p, lo), hi));
            }
            const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
            _mm256_storeu_si256((__m256i *)(q + kk), _mm256_xor_si256(_mm256_permutevar8x32_epi32(b, order), fl));
        }
    }
    for (kk = k32; kk < k; kk++) { /* the tail: quantize_row_scalar's rounding */
        float r = nearbyintf(x[kk] * inv);
        int v = r != r ? 0 : (r > 127.0f ? 127 : (r < -127.0f ? -127 : (int)r));
        q[kk] = (int8_t)(uint8_t)((uint8_t)(int8_t)v ^ flip);
    }
    return amax / 127.0f;
}
#define RNP_HAVE_Q512 1
#else
#define RNP_HAVE_Q512 0
#endif

static float quantize_row_scalar(int k, const float *x, int8_t *q, uint8_t flip) {
    float amax = 0.0f, inv;
    int kk, nan = 0;
    for (kk = 0; kk < k; kk++) {
        float a = fabsf(x[kk]);
        if (a != a) nan = 1;
        else if (a > amax) amax = a;
    }
    if (nan) amax = NAN;
    inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (kk = 0; kk < k; kk++) {
        float r = nearbyintf(x[kk] * inv); /* round half to even in the default rounding mode */
        /* NaN (x NaN or infinite: the row's scale is then NaN / inf too) -> 0, as NumPy's cast gives */
        int v = r != r ? 0 : (r > 127.0f ? 127 : (r < -127.0f ? -127 : (int)r));
        q[kk] = (int8_t)(uint8_t)((uint8_t)(int8_t)v ^ flip);
    }
    return amax / 127.0f;
}

/* 2: AVX-512, 1: AVX2, 0: the scalar code */
static int have_q512(void) {
#if RNP_HAVE_Q512
    return __builtin_cpu_supports("avx512f") ? 2 : (__builtin_cpu_supports("avx2") ? 1 : 0);
#else
    return 0;
#endif
}

/* rows of x -> q (ldq >= k) and scales; flip 0x80 gives vpdpbusd's unsigned form */
static void quantize_rows_flip(int m, int k, const float *x, long ldx, int8_t *q, long ldq, float *scale,
                               uint8_t flip) {
    int i, v512 = have_q512();
    for (i = 0; i < m; i++) {
#if RNP_HAVE_Q512
        if (v512) {
            scale[i] = (v512 == 2 ? quantize_row_avx512 : quantize_row_avx2)(k, x + (long)i * ldx, q + (long)i * ldq,
                                                                             flip);
            continue;
        }
#endif
        (void)v512;
        scale[i] = quantize_row_scalar(k, x + (long)i * ldx, q + (long)i * ldq, flip);
    }
}

void rnp_quantize_rows(int m, int k, const float *x, long ldx, int8_t *q, long ldq, float *scale) {
    quantize_rows_flip(m, k, x, ldx, q, ldq, scale, 0);
}

/* ---------------------------------------------------------------------------------------------------- */
/* packing                                                                                               */

long rnp_i8_packed_words(int n, int k) { return (long)((n + RNP_NR - 1) / RNP_NR) * RNP_NR * ((k + 3) / 4); }

/* words [t0, t0 + tw) of panel p of w [n, k] (rows ldw bytes apart) -> dst [tw, 32] words, zero beyond n and
   k; colsum (if given): the 32 columns' sums over those words. */
static void pack_slice(const int8_t *w, long ldw, int n, int k, int p, int t0, int tw, int8_t *dst,
                       int32_t *colsum) {
    const int n0 = p * RNP_NR, nc = n - n0 < RNP_NR ? n - n0 : RNP_NR;
    const int kw = (k + 3) / 4, full = (k / 4 < t0 + tw ? k / 4 : t0 + tw) - t0; /* whole words in the slice */
    const int8_t *src = w + (long)n0 * ldw + 4L * t0;
    int t, j, e;
    if (full > 0) {
        if (((uintptr_t)src & 3) == 0 && (ldw & 3) == 0) {
            rnp_transpose_f32((float *)dst, RNP_NR, (const float *)src, ldw / 4, full, nc); /* 32-bit words */
        } else {
            for (j = 0; j < nc; j++)
                for (t = 0; t < full; t++) memcpy(dst + (long)t * 128 + 4 * j, src + (long)j * ldw + 4L * t, 4);
        }
    }
    for (t = full > 0 ? full : 0; t < tw; t++) { /* the last, partial word (k % 4 != 0) */
        memset(dst + (long)t * 128, 0, 128);
        if (t0 + t < kw)
            for (j = 0; j < nc; j++)
                for (e = 0; 4 * (t0 + t) + e < k; e++) dst[(long)t * 128 + 4 * j + e] = src[(long)j * ldw + 4L * t + e];
    }
    if (nc < RNP_NR)
        for (t = 0; t < (full > 0 ? full : 0); t++) memset(dst + (long)t * 128 + 4 * nc, 0, 4 * (RNP_NR - nc));
    if (colsum) {
        int32_t s[RNP_NR] = {0};
        for (t = 0; t < tw; t++)
            for (j = 0; j < RNP_NR; j++)
                s[j] += (int32_t)dst[(long)t * 128 + 4 * j] + dst[(long)t * 128 + 4 * j + 1] +
                        dst[(long)t * 128 + 4 * j + 2] + dst[(long)t * 128 + 4 * j + 3];
        memcpy(colsum, s, sizeof s);
    }
}

typedef struct {
    const int8_t *src;
    int8_t *dst;
    int32_t *colsum;
    long ld;
    int n, k, pack;
} i8_pack_job;

#define RNP_I8_PACK_GROUP 8 /* panels per task */

static void i8_pack_task(void *ctx, int task) {
    const i8_pack_job *jb = (const i8_pack_job *)ctx;
    const int np = (jb->n + RNP_NR - 1) / RNP_NR, kw = (jb->k + 3) / 4;
    int p, p1 = (task + 1) * RNP_I8_PACK_GROUP < np ? (task + 1) * RNP_I8_PACK_GROUP : np;
    for (p = task * RNP_I8_PACK_GROUP; p < p1; p++) {
        const int8_t *panel = jb->pack ? NULL : jb->src + (long)p * RNP_I8_PANEL_BYTES(kw);
        int n0 = p * RNP_NR, nc = jb->n - n0 < RNP_NR ? jb->n - n0 : RNP_NR, j, kk, full = jb->k / 4;
        if (jb->pack) {
            pack_slice(jb->src, jb->ld, jb->n, jb->k, p, 0, kw, jb->dst + (long)p * RNP_I8_PANEL_BYTES(kw),
                       jb->colsum + (long)p * RNP_NR);
            continue;
        }
        /* unpack: rows of whole words by the word transpose where aligned, then the ragged tail */
        if (full > 0 && (jb->k & 3) == 0 && ((uintptr_t)jb->dst & 3) == 0)
            rnp_transpose_f32((float *)(jb->dst + (long)n0 * jb->k), jb->k / 4, (const float *)panel, RNP_NR, nc,
                              full);
        else
            for (j = 0; j < nc; j++)
                for (kk = 0; kk < 4 * full; kk++)
                    jb->dst[(long)(n0 + j) * jb->k + kk] = panel[(long)(kk / 4) * 128 + 4 * j + kk % 4];
        for (j = 0; j < nc; j++)
            for (kk = 4 * full; kk < jb->k; kk++)
                jb->dst[(long)(n0 + j) * jb->k + kk] = panel[(long)(kk / 4) * 128 + 4 * j + kk % 4];
    }
}

static void i8_pack_run(const int8_t *src, long ld, int n, int k, int8_t *dst, int32_t *colsum, int pack,
                        int nthreads) {
    i8_pack_job jb;
    int np = (n + RNP_NR - 1) / RNP_NR;
    jb.src = src; jb.dst = dst; jb.colsum = colsum; jb.ld = ld; jb.n = n; jb.k = k; jb.pack = pack;
    rnp_parallel_for(i8_pack_task, &jb, (np + RNP_I8_PACK_GROUP - 1) / RNP_I8_PACK_GROUP, nthreads);
}

void rnp_i8_pack(const int8_t *w, long ldw, int n, int k, int8_t *packed, int32_t *colsum, int nthreads) {
    i8_pack_run(w, ldw, n, k, packed, colsum, 1, nthreads);
}

void rnp_i8_unpack(const int8_t *packed, int n, int k, int8_t *w, int nthreads) {
    i8_pack_run(packed, 0, n, k, w, NULL, 0, nthreads);
}

/* ---------------------------------------------------------------------------------------------------- */
/* the GEMM                                                                                              */

typedef struct {
    rnp_tiling tiles;
    int vnni, amx, m, n, k, kw, mr, code, epilogue;
    const int8_t *qa; /* [m, ldqa] padded rows (q ^ 0x80 for VNNI) */
    long ldqa;
    const float *sx; /* x scales; NULL: int32 output (the test hook) */
    const int8_t *bp, *w;
    const int32_t *colsum;
    long ldw;
    const float *sw, *bias;
    void *y;
    long ldy;
} i8_job;

static void i8_run_task(const i8_job *g, int task, int8_t *buf) {
    int i0, i1, p0, p1, p, i, t0;
    int32_t slice_sum[RNP_NR];
    rnp_tiling_task(&g->tiles, task, &i0, &i1, &p0, &p1);
    if (g->amx) { /* AMX: a block of up to 32 rows x one panel over the whole of k per call */
        rnp_amx_begin();
        for (p = p0; p < p1; p++) {
            const int j0 = p * RNP_NR, nc = g->n - j0 < RNP_NR ? g->n - j0 : RNP_NR;
            for (i = i0; i < i1; i += g->mr) {
                const int mr = i1 - i < g->mr ? i1 - i : g->mr;
                float *c = (float *)g->y + (long)i * g->ldy + j0;
                rnp_i8_tile_amx(mr, g->kw, (const uint8_t *)g->qa + (long)i * g->ldqa, g->ldqa,
                                g->bp + (long)p * RNP_I8_PANEL_BYTES(g->kw), g->colsum + j0, c, g->ldy, nc,
                                g->sx ? g->sx + i : NULL, g->sx ? g->sw + j0 : NULL);
                if (g->sx && g->epilogue) rnp_tile_bias_act(c, g->ldy, mr, g->bias, j0, nc, g->code);
            }
        }
        rnp_amx_end();
        return;
    }
    if (g->bp && g->sx && !g->vnni && i1 - i0 == 1 && g->kw > 0) { /* one row (decoding), AVX2 */
        const int j0 = p0 * RNP_NR, nc = (g->n < p1 * RNP_NR ? g->n : p1 * RNP_NR) - j0;
        float *c = (float *)g->y + (long)i0 * g->ldy + j0;
        rnp_i8_row_avx2(g->kw, g->qa + (long)i0 * g->ldqa, g->bp + (long)p0 * RNP_I8_PANEL_BYTES(g->kw),
                        RNP_I8_PANEL_BYTES(g->kw), p1 - p0, c, nc, g->sx[i0], g->sw + j0);
        if (g->epilogue) rnp_tile_bias_act(c, g->ldy, 1, g->bias, j0, nc, g->code);
        return;
    }
    for (t0 = 0; t0 < g->kw || t0 == 0; t0 += RNP_I8_KCW) { /* k = 0: one empty block writes the zeros */
        const int tw = g->kw - t0 < RNP_I8_KCW ? g->kw - t0 : RNP_I8_KCW;
        const int last = t0 + tw >= g->kw;
        for (p = p0; p < p1; p++) {
            const int j0 = p * RNP_NR, nc = g->n - j0 < RNP_NR ? g->n - j0 : RNP_NR;
            const int8_t *b;
            const int32_t *corr = NULL;
            if (g->bp) {
                b = g->bp + (long)p * RNP_I8_PANEL_BYTES(g->kw) + (long)t0 * 128;
                if (g->vnni && t0 == 0) corr = g->colsum + j0; /* the whole column's offset, once */
            } else {
                pack_slice(g->w, g->ldw, g->n, g->k, p, t0, tw, buf, g->vnni ? slice_sum : NULL);
                b = buf;
                if (g->vnni) corr = slice_sum; /* this slice's offset */
            }
            for (i = i0; i < i1; i += g->mr) {
                const int mr = i1 - i < g->mr ? i1 - i : g->mr;
                const int8_t *a = g->qa + (long)i * g->ldqa + 4L * t0;
                float *c = (float *)g->y + (long)i * g->ldy + j0;
                const float *sx = last && g->sx ? g->sx + i : NULL;
                if (g->vnni)
                    rnp_i8_tile_vnni(mr, tw, (const uint8_t *)a, g->ldqa, b, corr, c, g->ldy, nc, t0 > 0, sx,
                                     sx ? g->sw + j0 : NULL);
                else
                    rnp_i8_tile_avx2(mr, tw, a, g->ldqa, b, NULL, c, g->ldy, nc, t0 > 0, sx, sx ? g->sw + j0 : NULL);
                if (sx && g->epilogue) rnp_tile_bias_act(c, g->ldy, mr, g->bias, j0, nc, g->code);
            }
        }
    }
}

static void i8_task_fn(void *ctx, int task) {
    int8_t buf[RNP_I8_KCW * RNP_NR * 4] __attribute__((aligned(64)));
    i8_run_task((const i8_job *)ctx, task, buf);
}

typedef struct {
    int m, k;
    const float *x;
    long ldx;
    int8_t *q;
    long ldq;
    float *scale;
    uint8_t flip;
} quant_job;

#define RNP_I8_QROWS 16 /* rows per quantization task */

static void quant_task(void *ctx, int task) {
    const quant_job *qj = (const quant_job *)ctx;
    int i0 = task * RNP_I8_QROWS, rows = qj->m - i0 < RNP_I8_QROWS ? qj->m - i0 : RNP_I8_QROWS;
    quantize_rows_flip(rows, qj->k, qj->x + (long)i0 * qj->ldx, qj->ldx, qj->q + (long)i0 * qj->ldq, qj->ldq,
                       qj->scale + i0, qj->flip);
}

/* AMX for packed weights and more than one row; a plain weight, or a lone row (memory-bound: AMX streams it
   slower, as for bf16), runs on VNNI: the same bits */
static int use_amx(int kernel, int dot, const int8_t *bp, int m) {
    return kernel == RNP_GEMM_AVX512 && dot == RNP_LOWP_AMX && bp != NULL && m > 1;
}

/* the shared part of rnp_gemm_i8 / rnp_gemm_i8_acc: the padded activation rows are ready in qa */
static void i8_gemm_run(i8_job *g, int kernel, int dot, int m, int n, int k, int nthreads) {
    g->vnni = kernel == RNP_GEMM_AVX512 && dot;
    g->amx = use_amx(kernel, dot, g->bp, m) && k > 0;
    g->m = m; g->n = n; g->k = k; g->kw = (k + 3) / 4;
    g->mr = g->amx ? 32 : (g->vnni ? 12 : 4);
    rnp_tiling_init(&g->tiles, m, n, g->mr);
    rnp_parallel_for(i8_task_fn, g, g->tiles.ntasks, nthreads);
}

/* padded rows: ldqa = 4 * ceil(k / 4) bytes (at least 4); AMX reads whole 64-byte steps of 16 rows, so its rows
   are padded to 64 bytes and there are 16 * ceil(m / 16) of them */
static long qa_stride(int k, int amx) { return amx ? 64L * ((k + 63) / 64) : (k > 0 ? 4L * ((k + 3) / 4) : 4); }
static long qa_rows(int m, int amx) { return amx ? (m + 15) / 16 * 16 : m; }

int rnp_gemm_i8(int kernel, int dot, int m, int n, int k, const float *a, long lda, const int8_t *bp,
                const int32_t *colsum, const int8_t *w, long ldw, const float *w_scale, float *y, long ldy,
                const float *bias, int code, int epilogue, int nthreads) {
    i8_job g;
    quant_job qj;
    const int amx = use_amx(kernel, dot, bp, m) && k > 0;
    const long ldqa = qa_stride(k, amx), rows = qa_rows(m, amx);
    const size_t qbytes = (size_t)rows * ldqa, bytes = qbytes + sizeof(float) * (size_t)m + 64;
    int8_t *qa;
    int i;
    if (m <= 0 || n <= 0) return 0;
    qa = (int8_t *)rnp_workspace(RNP_WS_I8, bytes);
    if (qa == NULL) return -1;
    if (rows > m) memset(qa + (long)m * ldqa, 0x80, (size_t)(rows - m) * ldqa); /* AMX's pad rows: q = 0 */
    qj.m = m; qj.k = k; qj.x = a; qj.ldx = lda; qj.q = qa; qj.ldq = ldqa;
    qj.scale = (float *)(qa + (qbytes + 63) / 64 * 64); qj.flip = kernel == RNP_GEMM_AVX512 && dot ? 0x80 : 0;
    if (ldqa > k) /* the zero padding of each row's last word (offset like the values) */
        for (i = 0; i < m; i++) memset(qa + (long)i * ldqa + k, qj.flip, (size_t)(ldqa - k));
    rnp_parallel_for(quant_task, &qj, (m + RNP_I8_QROWS - 1) / RNP_I8_QROWS,
                     (long)m * k >= 65536 ? nthreads : 1);
    memset(&g, 0, sizeof g);
    g.qa = qa; g.ldqa = ldqa; g.sx = qj.scale; g.bp = bp; g.colsum = colsum; g.w = w; g.ldw = ldw;
    g.sw = w_scale; g.bias = bias; g.code = code; g.epilogue = epilogue; g.y = y; g.ldy = ldy;
    i8_gemm_run(&g, kernel, dot, m, n, k, nthreads);
    rnp_ws_release(qa, bytes);
    return 0;
}

int rnp_gemm_i8_acc(int kernel, int dot, int m, int n, int k, const int8_t *qa, long ldqa, const int8_t *bp,
                    const int32_t *colsum, const int8_t *w, long ldw, int32_t *acc, long ldacc, int nthreads) {
    i8_job g;
    const int amx = use_amx(kernel, dot, bp, m) && k > 0;
    const long ld = qa_stride(k, amx), rows = qa_rows(m, amx);
    const size_t bytes = (size_t)rows * ld;
    const uint8_t flip = kernel == RNP_GEMM_AVX512 && dot ? 0x80 : 0;
    int8_t *q;
    int i, kk;
    if (m <= 0 || n <= 0) return 0;
    q = (int8_t *)rnp_workspace(RNP_WS_I8, bytes);
    if (q == NULL) return -1;
    if (rows > m) memset(q + (long)m * ld, flip, (size_t)(rows - m) * ld);
    for (i = 0; i < m; i++) {
        for (kk = 0; kk < k; kk++) q[(long)i * ld + kk] = (int8_t)((uint8_t)qa[(long)i * ldqa + kk] ^ flip);
        for (; kk < ld; kk++) q[(long)i * ld + kk] = (int8_t)flip;
    }
    memset(&g, 0, sizeof g);
    g.qa = q; g.ldqa = ld; g.sx = NULL; g.bp = bp; g.colsum = colsum; g.w = w; g.ldw = ldw;
    g.y = acc; g.ldy = ldacc;
    i8_gemm_run(&g, kernel, dot, m, n, k, nthreads);
    rnp_ws_release(q, bytes);
    return 0;
}
