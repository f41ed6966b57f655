/* The GEMM driver: packing, run-time kernel choice, tiles handed out to threads, the bias/activation
   write-out. The layout and the reduction order are described in rnp_gemm.h. */
#include "rnp_gemm.h"

#include <stdlib.h>
#include <string.h>

#include "rnp_pool.h"
#include "rnp_transpose.h"
#include "rnp_vmath.h"

int rnp_gemm_cpu_supports(int kernel) {
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    if (kernel == RNP_GEMM_AVX512) return __builtin_cpu_supports("avx512f");
    if (kernel == RNP_GEMM_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return kernel == RNP_GEMM_BLAS;
}

int rnp_tile_rows(int kernel) { return kernel == RNP_GEMM_AVX512 ? 12 : 6; }

long rnp_packed_size(int n, int k) { return (long)((n + RNP_NR - 1) / RNP_NR) * RNP_NR * (long)k; }

/* panel p of w [n, k] (rows 32p..) -> dst [k, 32], zero columns beyond n */
static void pack_panel(const float *w, long ldw, int n, int k, int p, long k0, int kc, float *dst) {
    int n0 = p * RNP_NR, nc = n - n0 < RNP_NR ? n - n0 : RNP_NR, kk;
    rnp_transpose_f32(dst, RNP_NR, w + (long)n0 * ldw + k0, ldw, kc, nc);
    if (nc < RNP_NR)
        for (kk = 0; kk < kc; kk++) memset(dst + (long)kk * RNP_NR + nc, 0, sizeof(float) * (RNP_NR - nc));
}

typedef struct {
    const float *src;
    float *dst;
    long ld;
    int n, k, pack; /* pack: w -> panels; else panels -> w */
} pack_job;

#define RNP_PACK_GROUP 8 /* panels per task */

static void pack_task(void *ctx, int t) {
    const pack_job *j = (const pack_job *)ctx;
    int np = (j->n + RNP_NR - 1) / RNP_NR, p, p1 = (t + 1) * RNP_PACK_GROUP < np ? (t + 1) * RNP_PACK_GROUP : np;
    for (p = t * RNP_PACK_GROUP; p < p1; p++) {
        if (j->pack) {
            pack_panel(j->src, j->ld, j->n, j->k, p, 0, j->k, j->dst + (long)p * RNP_NR * j->k);
        } else {
            int n0 = p * RNP_NR, nc = j->n - n0 < RNP_NR ? j->n - n0 : RNP_NR;
            rnp_transpose_f32(j->dst + (long)n0 * j->k, j->k, j->src + (long)p * RNP_NR * j->k, RNP_NR, nc, j->k);
        }
    }
}

static void pack_run(const float *src, long ld, int n, int k, float *dst, int pack, int nthreads) {
    pack_job j;
    int np = (n + RNP_NR - 1) / RNP_NR;
    j.src = src; j.dst = dst; j.ld = ld; j.n = n; j.k = k; j.pack = pack;
    rnp_parallel_for(pack_task, &j, (np + RNP_PACK_GROUP - 1) / RNP_PACK_GROUP, nthreads);
}

void rnp_pack_b(const float *w, long ldw, int n, int k, float *packed, int nthreads) {
    pack_run(w, ldw, n, k, packed, 1, nthreads);
}

void rnp_unpack_b(const float *packed, int n, int k, float *w, int nthreads) {
    pack_run(packed, 0, n, k, w, 0, nthreads);
}

void rnp_tiling_init(rnp_tiling *t, int m, int n, int mr) {
    t->m = m;
    /* row blocks of at most ~256 rows (a [256, RNP_KC] slice of a stays in L2 across a group of panels) */
    t->nmb = (m + 255) / 256;
    t->mb = ((m + t->nmb - 1) / t->nmb + mr - 1) / mr * mr;
    t->nmb = (m + t->mb - 1) / t->mb;
    t->np = (n + RNP_NR - 1) / RNP_NR;
    /* about 16 tiles per product: enough for late threads to share the rest, shapes only */
    t->group = (int)(((long)t->np * t->nmb + 15) / 16);
    if (t->group < 1) t->group = 1;
    t->ntasks = t->nmb * ((t->np + t->group - 1) / t->group);
}

void rnp_tiling_task(const rnp_tiling *t, int task, int *i0, int *i1, int *p0, int *p1) {
    int mblk = task % t->nmb, pg = task / t->nmb;
    *i0 = mblk * t->mb;
    *i1 = *i0 + t->mb < t->m ? *i0 + t->mb : t->m;
    *p0 = pg * t->group;
    *p1 = *p0 + t->group < t->np ? *p0 + t->group : t->np;
}

typedef struct {
    rnp_tiling tiles;
    int kernel, m, n, k, mr, code, epilogue;
    const float *a, *bp, *w, *bk, *bias;
    long lda, ldw, ldbk, ldy;
    float *y;
} gemm_job;

typedef void (*tile_fn)(int, int, const float *, long, const float *, long, float *, long, int, int);

/* One tile: rows [i0, i0 + mb) x panels [p0, p0 + group), K-block by K-block. buf: a [RNP_KC, 32] slice for
   packing a plain weight on the fly. */
static void run_task(const gemm_job *g, int t, float *buf) {
    tile_fn tile = g->kernel == RNP_GEMM_AVX512 ? rnp_tile_avx512 : rnp_tile_avx2;
    int i0, i1, p0, p1, p, i;
    long k0;
    rnp_tiling_task(&g->tiles, t, &i0, &i1, &p0, &p1);
    if (g->bp && i1 - i0 == 1) { /* one row: streams the panels once */
        int j0 = p0 * RNP_NR, nc = (g->n < p1 * RNP_NR ? g->n : p1 * RNP_NR) - j0;
        float *c = g->y + (long)i0 * g->ldy + j0;
        (g->kernel == RNP_GEMM_AVX512 ? rnp_row_avx512 : rnp_row_avx2)(
            g->k, g->a + (long)i0 * g->lda, g->bp + (long)p0 * RNP_NR * g->k, (long)RNP_NR * g->k, p1 - p0, c, nc);
        if (g->epilogue) rnp_tile_bias_act(c, g->ldy, 1, g->bias, j0, nc, g->code);
        return;
    }
    if (g->w && i1 - i0 == 1) { /* one row, plain weight rows: read in place, no packing */
        int j0 = p0 * RNP_NR, nc = (g->n < p1 * RNP_NR ? g->n : p1 * RNP_NR) - j0;
        float *c = g->y + (long)i0 * g->ldy + j0;
        (g->kernel == RNP_GEMM_AVX512 ? rnp_rowplain_avx512 : rnp_rowplain_avx2)(
            g->k, g->a + (long)i0 * g->lda, g->w + (long)j0 * g->ldw, g->ldw, nc, c);
        if (g->epilogue) rnp_tile_bias_act(c, g->ldy, 1, g->bias, j0, nc, g->code);
        return;
    }
    for (k0 = 0; k0 < g->k; k0 += RNP_KC) {
        int kc = g->k - k0 < RNP_KC ? (int)(g->k - k0) : RNP_KC;
        int last = k0 + kc >= g->k;
        for (p = p0; p < p1; p++) {
            int j0 = p * RNP_NR, nc = g->n - j0 < RNP_NR ? g->n - j0 : RNP_NR;
            const float *b;
            long ldb = RNP_NR;
            if (g->bp) {
                b = g->bp + (long)p * RNP_NR * g->k + k0 * RNP_NR;
            } else if (g->bk && nc == RNP_NR) { /* k-major, a whole panel: read in place */
                b = g->bk + k0 * g->ldbk + j0;
                ldb = g->ldbk;
            } else if (g->bk) { /* k-major tail: copied into a zero-padded slice (no read past the rows) */
                int kk;
                for (kk = 0; kk < kc; kk++) {
                    memcpy(buf + (long)kk * RNP_NR, g->bk + (k0 + kk) * g->ldbk + j0, sizeof(float) * nc);
                    memset(buf + (long)kk * RNP_NR + nc, 0, sizeof(float) * (RNP_NR - nc));
                }
                b = buf;
            } else {
                pack_panel(g->w, g->ldw, g->n, g->k, p, k0, kc, buf);
                b = buf;
            }
            for (i = i0; i < i1; i += g->mr) {
                int mr = i1 - i < g->mr ? i1 - i : g->mr;
                float *c = g->y + (long)i * g->ldy + j0;
                tile(mr, kc, g->a + (long)i * g->lda + k0, g->lda, b, ldb, c, g->ldy, nc, k0 > 0);
                if (last && g->epilogue) rnp_tile_bias_act(c, g->ldy, mr, g->bias, j0, nc, g->code);
            }
        }
    }
}

static void task_fn(void *ctx, int t) {
    float buf[RNP_KC * RNP_NR] __attribute__((aligned(64)));
    run_task((const gemm_job *)ctx, t, buf);
}

int rnp_sgemm(int kernel, int m, int n, int k, const float *a, long lda, const float *bp, const float *w,
              long ldw, const float *bk, long ldbk, float *y, long ldy, const float *bias, int code, int epilogue,
              int nthreads) {
    gemm_job g;
    if (m <= 0 || n <= 0) return 0;
    g.kernel = kernel; g.m = m; g.n = n; g.k = k; g.a = a; g.lda = lda; g.bp = bp; g.w = w; g.ldw = ldw;
    g.bk = bk; g.ldbk = ldbk;
    g.y = y; g.ldy = ldy; g.bias = bias; g.code = code; g.epilogue = epilogue;
    g.mr = rnp_tile_rows(kernel);
    rnp_tiling_init(&g.tiles, m, n, g.mr);
    rnp_parallel_for(task_fn, &g, g.tiles.ntasks, nthreads); /* tiles handed out one at a time (rnp_pool.h) */
    return 0;
}
