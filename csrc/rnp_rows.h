/* Row kernels: residual + LayerNorm / RMS norm, softmax. */
#ifndef RNP_ROWS_H
#define RNP_ROWS_H
#include "rnp_vmath.h"


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
    /* pass 3: normalise by one reciprocal, as PyTorch's softmax does (a division per element would cost
       more than the exponentials; the result differs from it by at most an ulp), then the head mask */
    float rs = 1.0f / sum;
    if (use_hm) { for (j = 0; j < n; j++) s[j] = (s[j] * rs) * hm; }
    else        { for (j = 0; j < n; j++) s[j] = s[j] * rs; }
}

#endif /* RNP_ROWS_H */
