/* The bf16-weight GEMM driver: f32 -> bf16 rounding, packing into word panels, the rounded rows of x, tiles
   handed out to threads (rnp_tiling, rnp_pool) and the bias/activation write-out. Layout and numerics:
   rnp_lowp.h; the structure is rnp_gemm.c's, on 32-bit words of two bf16 values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rnp_amx.h"
#include "rnp_bf16.h"
#include "rnp_gemm.h"
#include "rnp_lowp.h"
#include "rnp_pool.h"
#include "rnp_transpose.h"
#include "rnp_vmath.h"

/* ---------------------------------------------------------------------------------------------------------
   Rounding (integer ops only: the same bits on every CPU, vectorised by the clones) */

RNP_CLONES static void bf16_bits(const float *x, long count, uint16_t *out) {
    long i;
    for (i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        out[i] = (uint16_t)rnp_bf16_rne(u);
    }
}

/* x rounded to bf16, kept as float32 values (the widening kernels' form of a row) */
RNP_CLONES static void bf16_values(const float *x, long count, float *out) {
    long i;
    for (i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        u = rnp_bf16_rne(u) << 16;
        memcpy(out + i, &u, sizeof u);
    }
}

void rnp_f32_to_bf16(const float *x, long count, uint16_t *out) { bf16_bits(x, count, out); }

/* ---------------------------------------------------------------------------------------------------------
   Packing: panel p = [kw, 32] words, word [t * 32 + j] = w[32p + j, 2t] | w[32p + j, 2t + 1] << 16 */

long rnp_bf16_packed_words(int n, int k) { return (long)((n + RNP_NR - 1) / RNP_NR) * RNP_NR * ((k + 1) / 2); }

/* words [t0, t0 + tc) of panel p of w [n, k] (row stride ldw) -> dst [tc, 32] words, zero beyond n and k */
static void pack_words(const uint16_t *w, long ldw, int n, int k, int p, long t0, int tc, uint32_t *dst) {
    int n0 = p * RNP_NR, nc = n - n0 < RNP_NR ? n - n0 : RNP_NR, j, t;
    long whole = k / 2 - t0; /* words of two real values in the range (the last of an odd k has one) */
    int full = whole < tc ? (int)whole : tc;
    const uint16_t *src = w + (long)n0 * ldw + 2 * t0;
    if (full > 0 && ldw % 2 == 0 && ((uintptr_t)src & 3) == 0) { /* rows of whole words: a 32-bit transpose */
        rnp_transpose_f32((float *)dst, RNP_NR, (const float *)src, ldw / 2, full, nc);
    } else {
        for (j = 0; j < nc; j++)
            for (t = 0; t < full; t++)
                dst[(long)t * RNP_NR + j] = src[j * ldw + 2 * t] | (uint32_t)src[j * ldw + 2 * t + 1] << 16;
    }
    if (full < tc) /* the last word of an odd k: its upper half stays zero (and w[., k] is never read) */
        for (j = 0; j < nc; j++) dst[(long)full * RNP_NR + j] = src[j * ldw + 2 * full];
    if (nc < RNP_NR)
        for (t = 0; t < tc; t++) memset(dst + (long)t * RNP_NR + nc, 0, sizeof(uint32_t) * (RNP_NR - nc));
}

/* panel p of packed -> rows 32p.. of w [n, k] */
static void unpack_panel(const uint32_t *src, int n, int k, int p, uint16_t *w) {
    int n0 = p * RNP_NR, nc = n - n0 < RNP_NR ? n - n0 : RNP_NR, kw = (k + 1) / 2, j, kk;
    uint16_t *dst = w + (long)n0 * k;
    if (k % 2 == 0 && ((uintptr_t)dst & 3) == 0) {
        rnp_transpose_f32((float *)dst, kw, (const float *)src, RNP_NR, nc, kw);
        return;
    }
    for (j = 0; j < nc; j++)
        for (kk = 0; kk < k; kk++) dst[(long)j * k + kk] = (uint16_t)(src[(long)(kk / 2) * RNP_NR + j] >> (kk % 2 * 16));
}

typedef struct {
    const uint16_t *src;
    uint16_t *dst;
    long ld;
    int n, k, pack; /* pack: w -> panels; else panels -> w */
} pack_job;

#define RNP_PACK_GROUP 8 /* panels per task */

static void pack_task(void *ctx, int t) {
    const pack_job *j = (const pack_job *)ctx;
    int np = (j->n + RNP_NR - 1) / RNP_NR, p, p1 = (t + 1) * RNP_PACK_GROUP < np ? (t + 1) * RNP_PACK_GROUP : np;
    long kw = (j->k + 1) / 2;
    for (p = t * RNP_PACK_GROUP; p < p1; p++) {
        if (j->pack) pack_words(j->src, j->ld, j->n, j->k, p, 0, (int)kw, (uint32_t *)j->dst + p * RNP_NR * kw);
        else unpack_panel((const uint32_t *)j->src + p * RNP_NR * kw, j->n, j->k, p, j->dst);
    }
}

static void pack_run(const uint16_t *src, long ld, int n, int k, uint16_t *dst, int pack, int nthreads) {
    pack_job j;
    int np = (n + RNP_NR - 1) / RNP_NR;
    if (n <= 0 || k <= 0) return;
    j.src = src; j.dst = dst; j.ld = ld; j.n = n; j.k = k; j.pack = pack;
    rnp_parallel_for(pack_task, &j, (np + RNP_PACK_GROUP - 1) / RNP_PACK_GROUP, nthreads);
}

void rnp_bf16_pack(const uint16_t *w, long ldw, int n, int k, uint16_t *packed, int nthreads) {
    pack_run(w, ldw, n, k, packed, 1, nthreads);
}

void rnp_bf16_unpack(const uint16_t *packed, int n, int k, uint16_t *w, int nthreads) {
    pack_run(packed, 0, n, k, w, 0, nthreads);
}

/* ---------------------------------------------------------------------------------------------------------
   The GEMM */

typedef struct {
    rnp_tiling tiles;
    int kernel, dot, amx, m, n, k, kw, mr, code, epilogue;
    const float *x;    /* the caller's rows [m, ldx] */
    long ldx;
    void *a;           /* x rounded: bf16 words [m, kw] (dot) or float32 values [m, 2 kw] (widening) */
    long lda;          /* its row stride: kw words / 2 kw floats */
    const uint16_t *bp, *w;
    long ldw;
    float *y;
    long ldy;
    const float *bias;
} bf16_job;

#define RNP_ROUND_ROWS 16 /* rows of x per rounding task */

static void round_task(void *ctx, int t) {
    const bf16_job *g = (const bf16_job *)ctx;
    int i, i1 = (t + 1) * RNP_ROUND_ROWS < g->m ? (t + 1) * RNP_ROUND_ROWS : g->m;
    for (i = t * RNP_ROUND_ROWS; i < i1; i++) {
        const float *x = g->x + (long)i * g->ldx;
        if (g->dot) {
            uint16_t *row = (uint16_t *)((uint32_t *)g->a + (long)i * g->lda);
            bf16_bits(x, g->k, row);
            if (g->k % 2) row[g->k] = 0; /* the odd k's last word: zero upper half */
            if (g->amx) memset((uint32_t *)g->a + (long)i * g->lda + g->kw, 0, 4 * (size_t)(g->lda - g->kw));
        } else {
            float *row = (float *)g->a + (long)i * g->lda;
            bf16_values(x, g->k, row);
            if (g->k % 2) row[g->k] = 0.0f;
        }
    }
}

/* One tile: rows [i0, i1) x panels [p0, p1), K-block by K-block (the accumulators pass through y exactly).
   buf: a [RNP_BF16_KW, 32]-word slice for packing a plain weight on the fly. */
static void run_task(const bf16_job *g, int task, uint32_t *buf) {
    int i0, i1, p0, p1, p, i;
    long t0;
    rnp_tiling_task(&g->tiles, task, &i0, &i1, &p0, &p1);
    if (g->amx) { /* AMX: a block of up to 32 rows x one panel over the whole of k per call */
        rnp_amx_begin();
        for (p = p0; p < p1; p++) {
            int j0 = p * RNP_NR, nc = g->n - j0 < RNP_NR ? g->n - j0 : RNP_NR;
            const uint32_t *b = (const uint32_t *)g->bp + (long)p * g->kw * RNP_NR;
            for (i = i0; i < i1; i += g->mr) {
                int mr = i1 - i < g->mr ? i1 - i : g->mr;
                float *c = g->y + (long)i * g->ldy + j0;
                rnp_bf16_tile_amx(mr, (int)g->kw, (const uint32_t *)g->a + i * g->lda, g->lda, b, c, g->ldy, nc);
                if (g->epilogue) rnp_tile_bias_act(c, g->ldy, mr, g->bias, j0, nc, g->code);
            }
        }
        rnp_amx_end();
        return;
    }
    if (g->bp && g->dot && i1 - i0 == 1) { /* one row (decoding): stream the panels once, several at a time */
        int j0 = p0 * RNP_NR, nc = (g->n < p1 * RNP_NR ? g->n : p1 * RNP_NR) - j0;
        float *c = g->y + (long)i0 * g->ldy + j0;
        rnp_bf16_row_dot512((int)g->kw, (const uint32_t *)g->a + (long)i0 * g->lda,
                            (const uint32_t *)g->bp + (long)p0 * g->kw * RNP_NR, g->kw * RNP_NR, p1 - p0, c, nc);
        if (g->epilogue) rnp_tile_bias_act(c, g->ldy, 1, g->bias, j0, nc, g->code);
        return;
    }
    if (g->bp && !g->dot && g->kernel == RNP_GEMM_AVX2 && i1 - i0 == 1) { /* one row, widening on AVX2 */
        int j0 = p0 * RNP_NR, nc = (g->n < p1 * RNP_NR ? g->n : p1 * RNP_NR) - j0;
        float *c = g->y + (long)i0 * g->ldy + j0;
        rnp_bf16_row_wide256((int)g->kw, (const float *)g->a + (long)i0 * g->lda,
                             (const uint32_t *)g->bp + (long)p0 * g->kw * RNP_NR, g->kw * RNP_NR, p1 - p0, c, nc);
        if (g->epilogue) rnp_tile_bias_act(c, g->ldy, 1, g->bias, j0, nc, g->code);
        return;
    }
    for (t0 = 0; t0 < g->kw; t0 += RNP_BF16_KW) {
        int tc = g->kw - t0 < RNP_BF16_KW ? (int)(g->kw - t0) : RNP_BF16_KW;
        int last = t0 + tc >= g->kw;
        for (p = p0; p < p1; p++) {
            int j0 = p * RNP_NR, nc = g->n - j0 < RNP_NR ? g->n - j0 : RNP_NR;
            const uint32_t *b;
            if (g->bp) {
                b = (const uint32_t *)g->bp + ((long)p * g->kw + t0) * RNP_NR;
            } else {
                pack_words(g->w, g->ldw, g->n, g->k, p, t0, tc, buf);
                b = buf;
            }
            for (i = i0; i < i1; i += g->mr) {
                int mr = i1 - i < g->mr ? i1 - i : g->mr;
                float *c = g->y + (long)i * g->ldy + j0;
                if (g->dot)
                    rnp_bf16_tile_dot512(mr, tc, (const uint32_t *)g->a + i * g->lda + t0, g->lda, b, c, g->ldy, nc,
                                         t0 > 0);
                else if (g->kernel == RNP_GEMM_AVX512)
                    rnp_bf16_tile_wide512(mr, tc, (const float *)g->a + i * g->lda + 2 * t0, g->lda, b, c, g->ldy,
                                          nc, t0 > 0);
                else
                    rnp_bf16_tile_wide256(mr, tc, (const float *)g->a + i * g->lda + 2 * t0, g->lda, b, c, g->ldy,
                                          nc, t0 > 0);
                if (last && g->epilogue) rnp_tile_bias_act(c, g->ldy, mr, g->bias, j0, nc, g->code);
            }
        }
    }
}

static void task_fn(void *ctx, int t) {
    uint32_t buf[RNP_BF16_KW * RNP_NR] __attribute__((aligned(64)));
    run_task((const bf16_job *)ctx, t, buf);
}

int rnp_gemm_bf16(int kernel, int dot, int m, int n, int k, const float *a, long lda, const uint16_t *bp,
                  const uint16_t *w, long ldw, float *y, long ldy, const float *bias, int code, int epilogue,
                  int nthreads) {
    bf16_job g;
    size_t bytes;
    long i, rows;
    if (m <= 0 || n <= 0) return 0;
    if (k <= 0) { /* an empty sum: y = act(bias) */
        for (i = 0; i < m; i++) {
            memset(y + i * ldy, 0, sizeof(float) * n);
            if (epilogue && bias) rnp_bias_act_f32(y + i * ldy, bias, n, code);
            else if (epilogue && code) rnp_sbias_act_f32(y + i * ldy, 0.0f, n, code);
        }
        return 0;
    }
    g.kernel = kernel; g.dot = dot && kernel == RNP_GEMM_AVX512; g.m = m; g.n = n; g.k = k; g.kw = (k + 1) / 2;
    /* AMX for packed weights only (a plain weight would have to be packed whole first) and more than one row:
       a lone row (decoding one sequence) is memory-bound, and AMX streams its weights at 2/3 of the row
       kernel's speed (tile loads wait for the product reading the tile: measured 7-9 vs 10-13 GB/s on one
       core), so it runs vdpbf16ps's row kernel, float32 round-off from the same row inside a block. */
    g.amx = g.dot && dot == RNP_LOWP_AMX && bp != NULL && m > 1;
    g.x = a; g.ldx = lda; g.bp = bp; g.w = w; g.ldw = ldw;
    g.y = y; g.ldy = ldy; g.bias = bias; g.code = code; g.epilogue = epilogue;
    g.mr = g.amx ? 32 : rnp_tile_rows(kernel);
    /* AMX reads whole 16-word steps of 16 rows at a time: rows padded to 16 words, 16 * ceil(m / 16) rows */
    g.lda = g.amx ? (g.kw + 15) / 16 * 16 : (g.dot ? g.kw : 2 * g.kw);
    rows = g.amx ? (m + 15) / 16 * 16 : m;
    bytes = (size_t)rows * (size_t)g.lda * 4; /* words or floats: 4 bytes each */
    g.a = rnp_workspace(0, bytes);         /* this file's slot 0 on the calling thread: kept across calls */
    if (g.a == NULL) return 1;
    if (rows > m) memset((uint32_t *)g.a + (long)m * g.lda, 0, 4 * (size_t)(rows - m) * (size_t)g.lda);
    /* x rounded once (on the pool only when there is enough of it to pay for waking a worker) */
    rnp_parallel_for(round_task, &g, (m + RNP_ROUND_ROWS - 1) / RNP_ROUND_ROWS,
                     (long)m * k >= 65536 ? nthreads : 1);
    rnp_tiling_init(&g.tiles, m, n, g.mr);
    rnp_parallel_for(task_fn, &g, g.tiles.ntasks, nthreads); /* tiles handed out one at a time (rnp_pool.h) */
    rnp_ws_release(g.a, bytes);
    return 0;
}
