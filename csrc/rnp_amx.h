/* The AMX micro-kernels of the bf16 and int8 GEMMs (rnp_gemm_amx.c; layout and numbers: rnp_lowp.h). */
#ifndef RNP_AMX_H
#define RNP_AMX_H
#include <stdint.h>

/* CPUID reports AMX-TILE, AMX-BF16 and AMX-INT8 and the kernel granted this process the tile state. */
int rnp_amx_available(void);

/* A task of tile calls runs between rnp_amx_begin (loads the tile configuration on this thread) and
   rnp_amx_end (releases the tiles). */
void rnp_amx_begin(void);
void rnp_amx_end(void);

/* c[mr, nc] = a[mr, kw words] . b (a whole packed panel: [kw words, 32], rows RNP_NR words apart), over all
   of k; mr <= 32, nc <= 32. a: rows lda words apart, lda a multiple of 16, rows 16 * ceil(mr / 16) readable,
   zero beyond the real words. bf16: bf16 word pairs -> float32 c. int8: unsigned bytes (q_x ^ 0x80) ->
   acc = sum - 128 * colsum[j] (lda in bytes here, a multiple of 64), written as int32 when sx is NULL, else
   as float32 (float)acc * (sx[i] * sw[j]). */
void rnp_bf16_tile_amx(int mr, int kw, const uint32_t *a, long lda, const uint32_t *b, float *c, long ldc, int nc);
void rnp_i8_tile_amx(int mr, int kw, const uint8_t *a, long lda, const int8_t *b, const int32_t *colsum, void *c,
                     long ldc, int nc, const float *sx, const float *sw);

#endif /* RNP_AMX_H */
