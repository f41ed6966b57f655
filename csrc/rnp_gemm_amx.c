/* AMX micro-kernels for the bf16 and int8 weights (rnp_lowp.h): tdpbf16ps / tdpbusd on 16 x 16 tiles.

Both weight layouts already are what AMX's second operand wants: a packed panel is [kw words, 32 columns],
a word holding the 2 bf16 (or 4 int8) of consecutive k of one column, so 16 words x 16 columns of a panel is
one B tile (16 rows of 64 bytes, 128 bytes apart) with no repacking. One call computes a block of up to 32
rows x one panel (32 columns) over the whole of k: four accumulator tiles (C: rows 0-15 / 16-31 x columns
0-15 / 16-31), two A tiles and two B tiles, 16 words (32 bf16 / 64 int8 of k) per step.

Numbers: tdpbf16ps accumulates per element and word t, in order, acc += a[2t+1] * b[2t+1]; acc += a[2t] *
b[2t] in float32 (products of two bf16 are exact), the order of vdpbf16ps and of the widening kernels
(rnp_bf16.h), and, like vdpbf16ps, treats subnormal inputs and results as zero. tdpbusd's int32 sums are
exact, so the int8 kernel gives vpdpbusd's bits: it sums (q_x + 128) * q_w and subtracts 128 * colsum.

The caller's A rows are its own scratch: rows 16 * ceil(mr / 16) readable and lda a multiple of 16 words,
zero-padded (a tile step reads 16 whole words of every row of the tile). The panel's last partial step is
copied into a zero-padded 16-word slice, so nothing beyond the panel is read.

Compiled for AMX by function attributes only, called only where CPUID reports AMX-TILE, AMX-BF16 and
AMX-INT8 and Linux has granted this process the tile data state (rnp_amx_available). */
#include <stdint.h>
#include <string.h>

#include "rnp_amx.h"
#include "rnp_gemm.h"

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && (__GNUC__ >= 11 || defined(__clang__))
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RNP_AMX __attribute__((target("amx-tile,amx-bf16,amx-int8,avx512f,avx512bw")))
#define RNP_ARCH_REQ_XCOMP_PERM 0x1023
#define RNP_XFEATURE_XTILEDATA 18

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

static int cpuid_has_amx(void) {
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0));
    if (a < 7) return 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    return (d >> 22 & 1) && (d >> 24 & 1) && (d >> 25 & 1); /* AMX-BF16, AMX-TILE, AMX-INT8 */
}

int rnp_amx_available(void) {
    static int state = -1; /* -1: not asked yet; the answer does not change within a process */
    if (state < 0) {
        int ok = cpuid_has_amx();
        /* Linux (5.16+) hands out the 8 KiB tile state only to a process that asks for it */
        if (ok) ok = syscall(SYS_arch_prctl, RNP_ARCH_REQ_XCOMP_PERM, RNP_XFEATURE_XTILEDATA) == 0;
        state = ok;
    }
    return state;
}

/* every tile 16 rows x 64 bytes: C 0-3, A 4-5, B 6-7. Loading the configuration and releasing the tiles cost
   about 2 us together (measured: a 32 x 32 x 768 int8 tile call took 2.8 us with them, 0.4 us of products),
   so they are done once per task of tiles, not per call. */
RNP_AMX void rnp_amx_begin(void) {
    /* a file-scope object: GCC 12 does not count _tile_loadconfig as reading its argument, and dropped the
       stores to a local configuration as dead (ldtilecfg then faulted on whatever the stack held) */
    static const amx_config cfg = {1, 0, {0}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};
    _tile_loadconfig(&cfg);
}

/* the last kw % 16 words of a panel, zero-padded to a whole step */
static const uint32_t *tail_step(const uint32_t *b, int kw, uint32_t *buf) {
    const int t0 = kw / 16 * 16, rem = kw - t0;
    memset(buf, 0, sizeof(uint32_t) * 16 * RNP_NR);
    memcpy(buf, b + (long)t0 * RNP_NR, sizeof(uint32_t) * (size_t)rem * RNP_NR);
    return buf;
}

/* Tiles are not renamed: a tile load waits for the product still reading the same tile, so the load itself
   cannot fetch the next step's weights early. The panel (2 KiB a step) is prefetched RNP_AMX_AHEAD steps
   ahead into L2, for the first row block, which reads it from memory (one row over 28 MiB of panels on one
   core: 4-5 -> 7-8 GB/s; a lone row still runs the vdpbf16ps / VNNI row kernels, which stream 10-13). */
#ifndef RNP_AMX_HINT
#define RNP_AMX_HINT _MM_HINT_T1
#endif
#ifndef RNP_AMX_AHEAD
#define RNP_AMX_AHEAD 4
#endif
static inline __attribute__((always_inline)) void prefetch_step(const uint32_t *b) {
    int l;
    for (l = 0; l < 32; l++) _mm_prefetch((const char *)(b + 16 * l), RNP_AMX_HINT);
}

/* The four accumulators over the whole of k into cbuf [32, 32] (32-bit values); BF16: tdpbf16ps, else tdpbusd */
#define RNP_AMX_LOOP(DP)                                                                                        \
    do {                                                                                                        \
        long t;                                                                                                 \
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);                                             \
        for (t = 0; t < kw; t += 16) {                                                                          \
            const uint32_t *bt = t + 16 <= kw ? b + t * RNP_NR : tail_step(b, kw, tail);                       \
            prefetch_step(b + (t + RNP_AMX_AHEAD * 16) * RNP_NR); /* past the panel: the next one (no fault) */ \
            _tile_loadd(6, bt, 4 * RNP_NR);                                                                     \
            _tile_loadd(7, bt + 16, 4 * RNP_NR);                                                                \
            _tile_loadd(4, a + t, 4 * lda);                                                                     \
            DP(0, 4, 6); DP(1, 4, 7);                                                                           \
            if (mr > 16) {                                                                                      \
                _tile_loadd(5, a + 16 * lda + t, 4 * lda);                                                      \
                DP(2, 5, 6); DP(3, 5, 7);                                                                       \
            }                                                                                                   \
        }                                                                                                       \
        _tile_stored(0, cbuf, 4 * RNP_NR);                                                                      \
        _tile_stored(1, cbuf + 16, 4 * RNP_NR);                                                                 \
        if (mr > 16) {                                                                                          \
            _tile_stored(2, cbuf + 16 * RNP_NR, 4 * RNP_NR);                                                    \
            _tile_stored(3, cbuf + 16 * RNP_NR + 16, 4 * RNP_NR);                                               \
        }                                                                                                       \
    } while (0)

RNP_AMX static void bf16_acc(int mr, int kw, const uint32_t *a, long lda, const uint32_t *b, uint32_t *cbuf) {
    uint32_t tail[16 * RNP_NR] __attribute__((aligned(64)));
    RNP_AMX_LOOP(_tile_dpbf16ps);
}

RNP_AMX static void i8_acc(int mr, int kw, const uint32_t *a, long lda, const uint32_t *b, uint32_t *cbuf) {
    uint32_t tail[16 * RNP_NR] __attribute__((aligned(64)));
    RNP_AMX_LOOP(_tile_dpbusd);
}

static __mmask16 lanes(int left) {
    return left >= 16 ? (__mmask16)0xFFFF : (left > 0 ? (__mmask16)((1u << left) - 1u) : (__mmask16)0);
}

RNP_AMX void rnp_bf16_tile_amx(int mr, int kw, const uint32_t *a, long lda, const uint32_t *b, float *c, long ldc,
                               int nc) {
    float cbuf[32 * RNP_NR] __attribute__((aligned(64)));
    const __mmask16 m0 = lanes(nc), m1 = lanes(nc - 16);
    int i;
    bf16_acc(mr, kw, a, lda, b, (uint32_t *)cbuf);
    for (i = 0; i < mr; i++) {
        _mm512_mask_storeu_ps(c + i * ldc, m0, _mm512_load_ps(cbuf + i * RNP_NR));
        _mm512_mask_storeu_ps(c + i * ldc + 16, m1, _mm512_load_ps(cbuf + i * RNP_NR + 16));
    }
}

RNP_AMX void rnp_amx_end(void) { _tile_release(); }

RNP_AMX void rnp_i8_tile_amx(int mr, int kw, const uint8_t *a, long lda, const int8_t *b, const int32_t *colsum,
                             void *c, long ldc, int nc, const float *sx, const float *sw) {
    int32_t cbuf[32 * RNP_NR] __attribute__((aligned(64)));
    const __mmask16 m0 = lanes(nc), m1 = lanes(nc - 16);
    const __m512i z0 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m0, colsum), 7);
    const __m512i z1 = _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m1, colsum + 16), 7);
    int i;
    i8_acc(mr, kw, (const uint32_t *)a, lda / 4, (const uint32_t *)b, (uint32_t *)cbuf);
    for (i = 0; i < mr; i++) {
        /* int32 arithmetic wraps: the sum is exact because the final value is in range (rnp_lowp.h) */
        const __m512i s0 = _mm512_sub_epi32(_mm512_load_si512(cbuf + i * RNP_NR), z0);
        const __m512i s1 = _mm512_sub_epi32(_mm512_load_si512(cbuf + i * RNP_NR + 16), z1);
        if (sx) {
            float *cf = (float *)c + i * ldc;
            const __m512 si = _mm512_set1_ps(sx[i]);
            /* (float)acc * (x_scale * w_scale): the reference's two roundings, as the VNNI kernel */
            _mm512_mask_storeu_ps(cf, m0, _mm512_mul_ps(_mm512_cvtepi32_ps(s0),
                                                        _mm512_mul_ps(si, _mm512_maskz_loadu_ps(m0, sw))));
            _mm512_mask_storeu_ps(cf + 16, m1, _mm512_mul_ps(_mm512_cvtepi32_ps(s1),
                                                             _mm512_mul_ps(si, _mm512_maskz_loadu_ps(m1, sw + 16))));
        } else {
            int32_t *ci = (int32_t *)c + i * ldc;
            _mm512_mask_storeu_epi32(ci, m0, s0);
            _mm512_mask_storeu_epi32(ci + 16, m1, s1);
        }
    }
}

#else /* not x86-64 Linux with GCC 11+ / Clang: never selected (rnp_amx_available says no) */
int rnp_amx_available(void) { return 0; }
void rnp_amx_begin(void) {}
void rnp_amx_end(void) {}
void rnp_bf16_tile_amx(int mr, int kw, const uint32_t *a, long lda, const uint32_t *b, float *c, long ldc, int nc) {
    (void)mr; (void)kw; (void)a; (void)lda; (void)b; (void)c; (void)ldc; (void)nc;
}
void rnp_i8_tile_amx(int mr, int kw, const uint8_t *a, long lda, const int8_t *b, const int32_t *colsum, void *c,
                     long ldc, int nc, const float *sx, const float *sw) {
    (void)mr; (void)kw; (void)a; (void)lda; (void)b; (void)colsum; (void)c; (void)ldc; (void)nc; (void)sx;
    (void)sw;
}
#endif
