# Vectorisable float32 element-wise helpers and the OpenMP shim, as inline C (no extra C files to ship).
#
# Why hand-written exp/erf/tanh: without -ffast-math GCC will not call glibc's vector libm, and the scalar
# expf/erff calls would cost more than the GEMMs they follow (softmax over [T, S], GELU over [T, F]).
# The polynomials below are accurate to a few float32 ulps (exp ~1 ulp, erf <= 4.5e-7 absolute), well
# inside the kernels' stated tolerance. float64 keeps libm (exact to the reference's last bits).
# Every reduction uses a fixed number of lanes in a fixed order: results never depend on thread count.

cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>
    #include <string.h>
    #ifdef _OPENMP
    #include <omp.h>
    #define RNP_HAVE_OPENMP 1
    #else
    #define RNP_HAVE_OPENMP 0
    static int omp_get_max_threads(void) { return 1; }
    static int omp_get_thread_num(void) { return 0; }
    #endif

    /* Runtime dispatch (not -march=native): the same binary runs everywhere and picks AVX2/AVX-512
       clones of the element-wise loops where the CPU has them. Results may differ in the last ulp
       between machines (FMA contraction), never between thread counts. */
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
        && !defined(RNP_NO_CLONES)
    #define RNP_CLONES __attribute__((target_clones("default", "avx2", "arch=x86-64-v4")))
    #else
    #define RNP_CLONES
    #endif

    #define RNP_LANES 16

    /* Per-thread scratch buffers kept between kernel calls. A fresh malloc of a few MB comes back from the
       kernel as untouched pages, and every first touch of a 4 KiB page is a fault (about 1.5 us on this VM:
       ~3000 faults, 4-5 ms, per base forward at (1, 512)). Each OS thread owns its slots (pthread key, freed
       at thread exit); a buffer is valid until the same thread asks for the same slot again. Requests above
       RNP_WS_MAX bytes are not kept (the caller frees them with rnp_ws_release). */
    #include <pthread.h>
    #include <stdlib.h>
    #define RNP_WS_SLOTS 8
    #define RNP_WS_MAX ((size_t)16 << 20)
    typedef struct { void *ptr[RNP_WS_SLOTS]; size_t size[RNP_WS_SLOTS]; } rnp_ws_t;
    static pthread_key_t rnp_ws_key;
    static pthread_once_t rnp_ws_once = PTHREAD_ONCE_INIT;
    static int rnp_ws_key_ok = 0;
    static void rnp_ws_destroy(void *p) {
        rnp_ws_t *ws = (rnp_ws_t *)p;
        int i;
        for (i = 0; i < RNP_WS_SLOTS; i++) free(ws->ptr[i]);
        free(ws);
    }
    static void rnp_ws_init(void) { rnp_ws_key_ok = pthread_key_create(&rnp_ws_key, rnp_ws_destroy) == 0; }
    static void *rnp_workspace(int slot, size_t bytes) {
        rnp_ws_t *ws;
        if (bytes == 0) bytes = 1;
        pthread_once(&rnp_ws_once, rnp_ws_init);
        if (!rnp_ws_key_ok || bytes > RNP_WS_MAX || slot < 0 || slot >= RNP_WS_SLOTS) return malloc(bytes);
        ws = (rnp_ws_t *)pthread_getspecific(rnp_ws_key);
        if (ws == NULL) {
            ws = (rnp_ws_t *)calloc(1, sizeof(rnp_ws_t));
            if (ws == NULL || pthread_setspecific(rnp_ws_key, ws) != 0) { free(ws); return malloc(bytes); }
        }
        if (ws->size[slot] < bytes) {
            free(ws->ptr[slot]);
            ws->ptr[slot] = malloc(bytes);
            ws->size[slot] = ws->ptr[slot] ? bytes : 0;
        }
        return ws->ptr[slot];
    }
    /* Frees what rnp_workspace returned only when it was not kept. */
    static void rnp_ws_release(void *p, size_t bytes) {
        if (bytes == 0) bytes = 1;
        if (!rnp_ws_key_ok || bytes > RNP_WS_MAX) free(p);
    }

    static inline float rnp_expf(float x) {
        /* Cephes expf: exp(x) = 2^n exp(r), |r| <= ln2/2; 0 below the normal range. n is rounded with
           the 1.5 * 2^23 trick and 2^n built from its bits: no float->int conversion, so GCC vectorises. */
        float xc = x > 88.0f ? 88.0f : x;
        xc = xc < -87.0f ? -87.0f : xc;
        float t = xc * 1.44269504088896341f + 12582912.0f;
        float fn = t - 12582912.0f;
        int32_t tb;
        memcpy(&tb, &t, sizeof tb);
        float r = xc - fn * 0.693359375f + fn * 2.12194440e-4f;
        float z = r * r;
        float p = 1.9875691500E-4f;
        p = p * r + 1.3981999507E-3f;
        p = p * r + 8.3334519073E-3f;
        p = p * r + 4.1665795894E-2f;
        p = p * r + 1.6666665459E-1f;
        p = p * r + 5.0000001201E-1f;
        p = p * z + r + 1.0f;
        int32_t bits = (tb - 0x4B400000 + 127) * (1 << 23);
        float scale;
        memcpy(&scale, &bits, sizeof scale);
        return x < -87.0f ? 0.0f : p * scale;
    }

    static inline float rnp_erff(float x) {
        /* Rational minimax approximation (Eigen / XLA), |error| <= 4.5e-7. */
        const float c = 3.832506856900711f;
        x = x > c ? c : (x < -c ? -c : x);
        float x2 = x * x;
        float p = -2.72614225801306e-10f;
        p = p * x2 + 2.77068142495902e-08f;
        p = p * x2 - 2.10102402082508e-06f;
        p = p * x2 - 5.69250639462346e-05f;
        p = p * x2 - 7.34990630326855e-04f;
        p = p * x2 - 2.95459980854025e-03f;
        p = p * x2 - 1.60960333262415e-02f;
        p = p * x;
        float q = -1.45660718464996e-05f;
        q = q * x2 - 2.13374055278905e-04f;
        q = q * x2 - 1.68282697438203e-03f;
        q = q * x2 - 7.37332916720468e-03f;
        q = q * x2 - 1.42647390514189e-02f;
        return p / q;
    }

    static inline float rnp_tanhf(float x) {
        /* (1 - e)/(1 + e) with e = exp(-2|x|); a Taylor series near 0 keeps the relative accuracy. */
        float a = x < 0.0f ? -x : x;
        float e = rnp_expf(-2.0f * a);
        float big = (1.0f - e) / (1.0f + e);
        float x2 = a * a;
        float small = a + a * x2 * (-1.0f / 3.0f + x2 * (2.0f / 15.0f + x2 * (-17.0f / 315.0f)));
        float t = a < 0.0625f ? small : big;
        return x < 0.0f ? -t : t;
    }

    static inline float rnp_sigmoidf(float x) { return 1.0f / (1.0f + rnp_expf(-x)); }

    /* Activation codes shared with kernels.pyx (ACT_CODES). */
    static inline float rnp_actf(float v, int code) {
        switch (code) {
        case 1: return v * 0.5f * (1.0f + rnp_erff(v * 0.70710678118654752f));            /* gelu */
        case 2: { float in = 0.7978845608028654f * (v + 0.044715f * v * v * v);           /* gelu_new */
                  return 0.5f * v * (1.0f + rnp_tanhf(in)); }
        case 3: { float in = v * 0.7978845608f * (1.0f + 0.044715f * v * v);              /* gelu_fast */
                  return 0.5f * v * (1.0f + rnp_tanhf(in)); }
        case 4: return v * rnp_sigmoidf(1.702f * v);                                       /* quick_gelu */
        case 5: return v > 0.0f ? v : 0.0f;                                                /* relu */
        case 6: return v * rnp_sigmoidf(v);                                                /* silu */
        case 7: return rnp_tanhf(v);                                                       /* tanh */
        case 8: return rnp_sigmoidf(v);                                                    /* sigmoid */
        case 9: { float r = v > 0.0f ? v : 0.0f; return r * r; }                           /* relu2 */
        case 10: return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);                          /* relu6 */
        case 11: return v >= 0.0f ? v : v * 0.01f;                                         /* leaky_relu */
        case 12: { float g = v * 0.5f * (1.0f + rnp_erff(v * 0.70710678118654752f));      /* gelu_10 */
                   return g < -10.0f ? -10.0f : (g > 10.0f ? 10.0f : g); }
        default: return v;                                                                 /* linear */
        }
    }

    /* for j < n: y[j] = act(y[j] + B), with the activation switch hoisted out of the loop so that each
       case vectorises; B is an expression in j. */
    #define RNP_LOOP(CODE, B) for (j = 0; j < n; j++) y[j] = rnp_actf(y[j] + (B), CODE); break;
    #define RNP_ACT_LOOPS(B)                                                                        \
        switch (code) {                                                                             \
        case 1: RNP_LOOP(1, B) case 2: RNP_LOOP(2, B) case 3: RNP_LOOP(3, B) case 4: RNP_LOOP(4, B)     \
        case 5: RNP_LOOP(5, B) case 6: RNP_LOOP(6, B) case 7: RNP_LOOP(7, B) case 8: RNP_LOOP(8, B)     \
        case 9: RNP_LOOP(9, B) case 10: RNP_LOOP(10, B) case 11: RNP_LOOP(11, B)                      \
        case 12: RNP_LOOP(12, B) default: RNP_LOOP(0, B)                                             \
        }

    /* y[j] = act(y[j] + bias[j]) over one row segment. */
    RNP_CLONES static void rnp_bias_act_f32(float *y, const float *bias, int n, int code) {
        int j;
        RNP_ACT_LOOPS(bias[j])
    }

    /* y[j] = act(y[j] + b) over one row of a feature-major block (one bias value per row). */
    RNP_CLONES static void rnp_sbias_act_f32(float *y, float b, int n, int code) {
        int j;
        RNP_ACT_LOOPS(b)
    }
    #undef RNP_ACT_LOOPS
    #undef RNP_LOOP

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

    static void rnp_transpose_f32(float *dst, long ldd, const float *src, long lds, int rows, int cols) {
        int i0, j0, r16 = rows - rows % 16, c16 = cols - cols % 16;
        if (!__builtin_cpu_supports("avx512f")) {  /* a bit test in libgcc's CPU model: cheap */ rnp_transpose_generic_f32(dst, ldd, src, lds, rows, cols); return; }
        for (i0 = 0; i0 < r16; i0 += 16)
            for (j0 = 0; j0 < c16; j0 += 16)
                rnp_tr16_avx512(dst + (long)i0 * ldd + j0, ldd, src + (long)j0 * lds + i0, lds);
        /* the ragged right and bottom edges */
        if (c16 < cols) rnp_transpose_generic_f32(dst + c16, ldd, src + (long)c16 * lds, lds, rows, cols - c16);
        if (r16 < rows) rnp_transpose_generic_f32(dst + (long)r16 * ldd, ldd, src + r16, lds, rows - r16, c16);
    }
    #else
    #define rnp_transpose_f32 rnp_transpose_generic_f32
    #endif

    /* Rotary position embedding of `rows` rows of head size 2 * half: pairs (x[2i], x[2i+1]) turned by the
       angle whose sin/cos are row r's entries i. No FMA contraction: bit-identical to the NumPy reference. */
    RNP_CLONES __attribute__((optimize("fp-contract=off")))
    static void rnp_rotate_rows_f32(float *dst, const float *src, long lds, int rows, int half,
                                    const float *sn, const float *cs) {
        int r, i;
        for (r = 0; r < rows; r++) {
            const float *x = src + r * lds, *s = sn + (long)r * half, *c = cs + (long)r * half;
            float *y = dst + (long)r * 2 * half;
            for (i = 0; i < half; i++) {
                float e = x[2 * i], o = x[2 * i + 1];
                y[2 * i] = e * c[i] - o * s[i];
                y[2 * i + 1] = o * c[i] + e * s[i];
            }
        }
    }

    /* y += bias + res over one row, in the reference's order (either may be NULL). */
    static inline void rnp_add_row_f32(float *y, const float *bias, const float *res, int n) {
        int j;
        for (j = 0; j < n; j++) {
            float v = y[j];
            if (bias) v = v + bias[j];
            if (res) v = v + res[j];
            y[j] = v;
        }
    }

    /* y = LayerNorm(y + bias + residual) over one row (the reference's order of operations).
       Sums run in double over RNP_LANES fixed lanes, then the lanes are added in order. */
    RNP_CLONES static void rnp_add_ln_row_f32(float *y, const float *bias, const float *res,
                                              const float *w, const float *b, int n, float eps) {
        double acc[RNP_LANES] = {0};
        int j, l, n16 = n - n % RNP_LANES;
        rnp_add_row_f32(y, bias, res, n);
        for (j = 0; j < n16; j += RNP_LANES) {
            const float *p = y + j;  /* pointer, not y[j + l]: Cython's -fwrapv blocks vectorising that */
            for (l = 0; l < RNP_LANES; l++) acc[l] += (double)p[l];
        }
        double s = 0.0;
        for (l = 0; l < RNP_LANES; l++) s += acc[l];
        for (j = n16; j < n; j++) s += (double)y[j];
        float mean = (float)(s / n);
        for (l = 0; l < RNP_LANES; l++) acc[l] = 0.0;
        for (j = 0; j < n16; j += RNP_LANES) {
            const float *p = y + j;
            for (l = 0; l < RNP_LANES; l++) { double c = (double)(p[l] - mean); acc[l] += c * c; }
        }
        s = 0.0;
        for (l = 0; l < RNP_LANES; l++) s += acc[l];
        for (j = n16; j < n; j++) { double c = (double)(y[j] - mean); s += c * c; }
        float inv = 1.0f / sqrtf((float)(s / n) + eps);
        for (j = 0; j < n; j++) y[j] = (y[j] - mean) * inv * w[j] + b[j];
    }

    /* y = RMS(y + bias + res), RoFormer-V2's parameter-free norm y / sqrt(mean(y^2) + eps): one pass to add
       (bias and res may be NULL) and accumulate the squares in double lanes, one to scale. */
    RNP_CLONES static void rnp_add_rms_row_f32(float *y, const float *bias, const float *res, int n, float eps) {
        double acc[RNP_LANES] = {0};
        int j, l, n16 = n - n % RNP_LANES;
        rnp_add_row_f32(y, bias, res, n);
        for (j = 0; j < n16; j += RNP_LANES) {
            const float *p = y + j;
            for (l = 0; l < RNP_LANES; l++) acc[l] += (double)p[l] * (double)p[l];
        }
        double s = 0.0;
        for (l = 0; l < RNP_LANES; l++) s += acc[l];
        for (j = n16; j < n; j++) s += (double)y[j] * (double)y[j];
        float root = sqrtf((float)(s / n) + eps);
        for (j = 0; j < n; j++) y[j] = y[j] / root;
    }

    /* One attention row: s = softmax(s / scale + mask) * head_mask, in place, in three passes.
       mask may be NULL; hm is the head-mask multiplier (applied only when use_hm). When the scale is a
       power of two (head size 4, 16, 64, 256) dividing by it equals multiplying by its inverse, bit
       for bit; otherwise we divide, as the reference does. */
    RNP_CLONES static void rnp_softmax_row_f32(float *s, const float *mask, int n, float scale,
                                               int use_hm, float hm) {
        float acc[RNP_LANES];
        int j, l, n16 = n - n % RNP_LANES;
        int e2;
        float inv = 1.0f / scale;
        int exact = frexpf(scale, &e2) == 0.5f;
        float m = -INFINITY;
        /* pass 1: scale, mask, running maximum (exact in any order: OpenMP SIMD may vectorise it) */
        if (exact && mask) {
            #pragma omp simd reduction(max : m)
            for (j = 0; j < n; j++) { float v = s[j] * inv + mask[j]; s[j] = v; m = v > m ? v : m; }
        } else if (exact) {
            #pragma omp simd reduction(max : m)
            for (j = 0; j < n; j++) { float v = s[j] * inv; s[j] = v; m = v > m ? v : m; }
        } else {
            for (j = 0; j < n; j++) s[j] = mask ? s[j] / scale + mask[j] : s[j] / scale;
            #pragma omp simd reduction(max : m)
            for (j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
        }
        /* pass 2: exponentials and their sum over RNP_LANES fixed lanes */
        for (l = 0; l < RNP_LANES; l++) acc[l] = 0.0f;
        for (j = 0; j < n16; j += RNP_LANES) {
            float *p = s + j;  /* pointer, not s[j + l]: Cython's -fwrapv blocks vectorising that */
            for (l = 0; l < RNP_LANES; l++) { float e = rnp_expf(p[l] - m); p[l] = e; acc[l] += e; }
        }
        float sum = 0.0f;
        for (l = 0; l < RNP_LANES; l++) sum += acc[l];
        for (j = n16; j < n; j++) { float e = rnp_expf(s[j] - m); s[j] = e; sum += e; }
        /* pass 3: normalise (and the head mask, rounded separately as in the reference) */
        if (use_hm) { for (j = 0; j < n; j++) s[j] = (s[j] / sum) * hm; }
        else        { for (j = 0; j < n; j++) s[j] = s[j] / sum; }
    }
    """
    bint RNP_HAVE_OPENMP
    const size_t RNP_WS_MAX
    void *rnp_workspace(int slot, size_t nbytes) noexcept nogil
    void rnp_ws_release(void *p, size_t nbytes) noexcept nogil
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
    float rnp_actf(float v, int code) noexcept nogil
    void rnp_bias_act_f32(float *y, const float *bias, int n, int code) noexcept nogil
    void rnp_rotate_rows_f32(float *dst, const float *src, long lds, int rows, int half, const float *sn,
                             const float *cs) noexcept nogil
    void rnp_sbias_act_f32(float *y, float b, int n, int code) noexcept nogil
    void rnp_transpose_f32(float *dst, long ldd, const float *src, long lds, int rows, int cols) noexcept nogil
    void rnp_transpose_f64(double *dst, long ldd, const double *src, long lds, int rows, int cols) noexcept nogil
    void rnp_add_ln_row_f32(float *y, const float *bias, const float *res, const float *w, const float *b,
                            int n, float eps) noexcept nogil
    void rnp_add_rms_row_f32(float *y, const float *bias, const float *res, int n, float eps) noexcept nogil
    void rnp_softmax_row_f32(float *s, const float *mask, int n, float scale, int use_hm, float hm) noexcept nogil
