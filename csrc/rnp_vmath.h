/* Vectorisable float32 exp/erf/tanh and the activations (codes shared with kernels.pyx's ACT_CODES). */
#ifndef RNP_VMATH_H
#define RNP_VMATH_H
#include "rnp_common.h"


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

/* The GEMM drivers' write-out: bias[j0 : j0 + nc] (bias NULL: none) + activation on a finished tile's rows
   c[rows, nc] (row stride ldc) while they are in L1 -- the reference order, sum first, then + bias. */
static inline void rnp_tile_bias_act(float *c, long ldc, int rows, const float *bias, int j0, int nc, int code) {
    int i;
    for (i = 0; i < rows; i++) {
        if (bias) rnp_bias_act_f32(c + (long)i * ldc, bias + j0, nc, code);
        else if (code != 0) rnp_sbias_act_f32(c + (long)i * ldc, 0.0f, nc, code);
    }
}

#endif /* RNP_VMATH_H */
