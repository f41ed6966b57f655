/* roformer_np's own float32 GEMM: y[m, n] = act(x[m, k] @ w[n, k].T + bias), w packed once into panels.

Packed layout (the same for every micro-kernel, so a weight packed on one path runs on any other):
    panel p = columns 32p .. 32p + 31 of y (rows 32p.. of w), stored k-major: panel[kk * 32 + j] = w[32p + j, kk],
    zero beyond n. The whole matrix is ceil(n / 32) such [k, 32] panels, one after the other.
A K-block of a panel is then a contiguous [kc, 32] slice: no block size is fixed at packing time.

Reduction order: every output element is   acc = 0; for each K-block (RNP_KC wide, in order):
for kk in the block: acc = fma(x[i, kk], w[j, kk], acc)   -- one FMA chain per element, the K-blocks chained
through the stored tile. It depends on k only: not on the thread count, the tile an element falls in, the
row count m, or which micro-kernel (AVX-512 or AVX2) runs, so all of them give bit-identical results. The
bias and the activation are applied to each finished tile while it is in L1 (the "write-out").

Threads: the tiles (a block of rows x a group of panels) are handed out by an atomic counter, so a thread
that loses its core to another process holds back one tile, not a fixed share of the product.
*/
#ifndef RNP_GEMM_H
#define RNP_GEMM_H

#define RNP_NR 32  /* columns per packed panel */
#define RNP_KC 256 /* K-block: a [256, 32] panel slice is 32 KiB, L1-resident across a block of rows */

enum { RNP_GEMM_BLAS = 0, RNP_GEMM_AVX2 = 1, RNP_GEMM_AVX512 = 2 };

/* Micro-kernels: c[mr, nc] (+)= a[mr, kc] @ b[kc, 0:nc] for one panel slice b (row stride ldb: RNP_NR when
   packed), 32 columns of b readable. acc: 0 starts from zero, 1 continues from the values in c.
   mr <= the kernel's rows (12 / 6), nc <= 32. */
void rnp_tile_avx512(int mr, int kc, const float *a, long lda, const float *b, long ldb, float *c, long ldc, int nc,
                     int acc);
void rnp_tile_avx2(int mr, int kc, const float *a, long lda, const float *b, long ldb, float *c, long ldc, int nc,
                   int acc);
/* One row against np whole packed panels (pstride floats apart), all of k at once: y[0:nc] (nc <= 32 np).
   The same bits as the tile kernel (rnp_gemm_avx512.c, rnp_gemm_avx2.c). */
void rnp_row_avx512(int k, const float *a, const float *bp, long pstride, int np, float *y, int nc);
void rnp_row_avx2(int k, const float *a, const float *bp, long pstride, int np, float *y, int nc);
/* One row against plain [n, ldw] rows: y[0:n], the same bits as packing them and running the tile kernel. */
void rnp_rowplain_avx512(int k, const float *a, const float *w, long ldw, int n, float *y);
void rnp_rowplain_avx2(int k, const float *a, const float *w, long ldw, int n, float *y);
int rnp_tile_rows(int kernel);           /* rows per micro-kernel call: 12 (AVX-512), 6 (AVX2) */
int rnp_gemm_cpu_supports(int kernel);   /* CPUID: can this CPU run the kernel? */

long rnp_packed_size(int n, int k);      /* floats of the packed form of an [n, k] matrix */
void rnp_pack_b(const float *w, long ldw, int n, int k, float *packed, int nthreads);
void rnp_unpack_b(const float *packed, int n, int k, float *w, int nthreads);

/* y[m, n] = act(a[m, k] @ w.T + bias) with w given packed (bp), or plain ([n, k] rows, stride ldw, packed
   slice by slice on the fly), or k-major (bk: w.T as [k, n] rows of stride ldbk, read in place; e.g. the
   values of attention); bias may be NULL; code is an activation code (rnp_vmath.h), applied only when
   epilogue is set. nthreads 1 runs on the calling thread. Returns 0. */
/* How a product is cut into tiles (shared by the float32, bf16 and int8 drivers): row blocks of at most
   ~256 rows (a multiple of the micro-kernel's rows mr) x groups of panels, about 16 tiles per product --
   enough for late threads to share the rest; the cut depends on the shapes only. */
typedef struct {
    int m, np, mb, nmb, group, ntasks;
} rnp_tiling;
void rnp_tiling_init(rnp_tiling *t, int m, int n, int mr);
/* tile `task` -> rows [*i0, *i1) x panels [*p0, *p1) */
void rnp_tiling_task(const rnp_tiling *t, int task, int *i0, int *i1, int *p0, int *p1);

int rnp_sgemm(int kernel, int m, int n, int k, const float *a, long lda, const float *bp, const float *w,
              long ldw, const float *bk, long ldbk, float *y, long ldy, const float *bias, int code, int epilogue,
              int nthreads);

#endif /* RNP_GEMM_H */
