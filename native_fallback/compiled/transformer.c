/* A transformer's per-row and per-element kernels in float32: Erf, exact GELU, LayerNormalization and
 * Softmax over the last axis. As numpy they are 8-15 calls each (the erf table lookup alone is a dozen
 * passes), which on a small encoder's 2k-element tensors costs 20-90 us a node; here each is one pass.
 *
 * Every loop is written to vectorize without -ffast-math (which would drop NaN and infinity): elementwise
 * bodies are branch-free selects, and row reductions keep 8 partial accumulators that GCC turns into
 * vector registers (a plain `s += x[i]` reduction stays scalar without reassociation).
 */
#include <stdint.h>

#include "vmath.h"

/* erf: below ERF_SPLIT, erf(a) = a + a * P(a^2); above it, erf(a) = 1 - exp(Q(a)) with Q fitted to
 * log(erfc(a)) on [ERF_SPLIT, ERF_ONE]. Both are least-squares fits on Chebyshev nodes against math.erf,
 * rounded to float32: within 1.1 ulp of math.erf in float32 arithmetic with an exact exp (measured
 * over 4e5 points of [0, 4.2]); v_expf's error reaches the large side scaled by erfc/erf <= 0.19. Above
 * ERF_ONE, erf rounds to 1 in float32. */
#define ERF_SPLIT 1.0f
#define ERF_ONE 3.95f

static inline float erf_small(float a) { /* erf(a) for a in [0, ERF_SPLIT] */
    float s = a * a;
    float p = 7.882497448e-05f;
    p = p * s - 8.018855006e-04f;
    p = p * s + 5.189312156e-03f;
    p = p * s - 2.685432881e-02f;
    p = p * s + 1.128359735e-01f;
    p = p * s - 3.761262596e-01f;
    p = p * s + 1.283791661e-01f;
    return a * p + a;
}

static inline float erfc_large(float a) { /* erfc(a) for a >= ERF_SPLIT (0 from ERF_ONE on) */
    float t = v_min(v_max(a, ERF_SPLIT), ERF_ONE);
    float q = 1.903947755e-08f;
    q = q * t - 5.635178013e-07f;
    q = q * t + 7.360453310e-06f;
    q = q * t - 5.436747233e-05f;
    q = q * t + 2.296973253e-04f;
    q = q * t - 3.254418552e-04f;
    q = q * t - 2.622497501e-03f;
    q = q * t + 2.299061045e-02f;
    q = q * t - 1.063417643e-01f;
    q = q * t - 6.344605088e-01f;
    q = q * t - 1.129152298e+00f;
    q = q * t + 1.242320723e-04f;
    return a < ERF_ONE ? v_expf(q) : 0.0f;
}

static inline float erf_one(float x) {
    float a = fabsf(x);
    float r = a < ERF_SPLIT ? erf_small(a) : 1.0f - erfc_large(a);
    r = copysignf(r, x);
    return x != x ? x : r;
}

void erf_f32(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = erf_one(x[i]);
}

/* Exact GELU, x * (1 + erf(x / sqrt 2)) / 2. For x < 0 the factor 1 + erf(u) is erfc(|u|), taken from
 * the exp directly instead of as 1 - (1 - erfc): the unfused graph loses it to cancellation (an
 * absolute error of up to |x| * 3e-8), this keeps it to float32 rounding of erfc. */
static inline float gelu_one(float v) {
    float u = v * 0.707106781186547524f;
    float a = fabsf(u);
    float small = erf_small(a), big = erfc_large(a);
    float erf_a = a < ERF_SPLIT ? small : 1.0f - big;
    float factor = u >= 0.0f ? 1.0f + erf_a : (a < ERF_SPLIT ? 1.0f - small : big);
    return 0.5f * v * factor;
}

void gelu_f32(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = gelu_one(x[i]);
}

/* A small linear layer, y = x W + b (m rows of k by W of k x n; b NULL for none), then the exact GELU when
 * `gelu` is 1. For a transformer's (32 x 32) by (32 x 96), BLAS through numpy costs 3-4 us a call, mostly
 * dispatch; here two rows at a time keep 64 columns of sums in registers while j runs over k (each W load
 * feeds two FMAs): 1.4-2.8 us against 2.6-4.1 us for numpy's matmul and bias add on (32, 32..64, 32..96)
 * (measured), and slower than BLAS from about a million products on, so the caller keeps it to small
 * ones. Sums run in j order, not BLAS's: the results agree to float32 rounding. */
#define VW 16  /* floats per vector: one AVX-512 register, two AVX ones */
#define TILE 4 /* vectors of sums per row: 64 columns */
typedef float vf __attribute__((vector_size(VW * 4)));

static inline vf loadv(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void storev(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* Rows i0 .. i0 + rows - 1 (rows 1 or 2), columns c0 .. c0 + VW * tiles - 1 (tiles 1 .. TILE). */
static void linear_block(const float *x, const float *w, const float *b, float *y, int64_t i0, int rows,
                         int64_t k, int64_t n, int64_t c0, int tiles) {
    vf acc[2][TILE];
    for (int r = 0; r < 2; r++)
        for (int q = 0; q < TILE; q++) acc[r][q] = q < tiles && b ? loadv(b + c0 + VW * q) : (vf){0};
    const float *x0 = x + i0 * k, *x1 = x + (i0 + rows - 1) * k;
    for (int64_t j = 0; j < k; j++) {
        const float *wr = w + j * n + c0;
        float s0 = x0[j], s1 = x1[j];
        for (int q = 0; q < TILE; q++) {
            if (q < tiles) {
                vf wv = loadv(wr + VW * q);
                acc[0][q] += wv * s0;
                acc[1][q] += wv * s1;
            }
        }
    }
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < tiles; q++) storev(y + (i0 + r) * n + c0 + VW * q, acc[r][q]);
}

void linear_f32(const float *x, const float *w, const float *b, float *y, int64_t m, int64_t k, int64_t n,
                int32_t gelu) {
    int64_t c0 = 0, whole = n - n % VW;
    while (c0 < whole) {
        int tiles = (int)((whole - c0) / VW < TILE ? (whole - c0) / VW : TILE);
        for (int64_t i = 0; i < m; i += 2) linear_block(x, w, b, y, i, m - i >= 2 ? 2 : 1, k, n, c0, tiles);
        c0 += VW * tiles;
    }
    for (int64_t i = 0; i < m; i++) /* the last n % VW columns */
        for (int64_t c = c0; c < n; c++) {
            float acc = b ? b[c] : 0.0f;
            for (int64_t j = 0; j < k; j++) acc += x[i * k + j] * w[j * n + c];
            y[i * n + c] = acc;
        }
    if (gelu)
        for (int64_t i = 0; i < m * n; i++) y[i] = gelu_one(y[i]);
}

#define LANES 8

/* Sum of a float row in double, in LANES partial sums (vectorized). */
static double row_sum(const float *x, int64_t n) {
    double acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) acc[k] += x[i + k];
    double s = 0.0;
    for (int k = 0; k < LANES; k++) s += acc[k];
    for (; i < n; i++) s += x[i];
    return s;
}

/* Sum of (x - mean)^2 in double, the two-pass variance (no cancellation of E[x^2] - E[x]^2). */
static double row_sq_dev(const float *x, int64_t n, double mean) {
    double acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            double d = x[i + k] - mean;
            acc[k] += d * d;
        }
    double s = 0.0;
    for (int k = 0; k < LANES; k++) s += acc[k];
    for (; i < n; i++) {
        double d = x[i] - mean;
        s += d * d;
    }
    return s;
}

/* LayerNormalization of `rows` rows of `size` each: y = (x - mean) * inv_std * scale (+ bias), with
 * `bias` NULL for none. Mean, variance and the normalized value in double; mean_out and inv_out, unless NULL, get each row's
 * statistics. */
void layernorm_f32(const float *x, const float *scale, const float *bias, float *y, float *mean_out,
                   float *inv_out, int64_t rows, int64_t size, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * size;
        float *yr = y + r * size;
        double mean = row_sum(xr, size) / (double)size;
        double var = row_sq_dev(xr, size, mean) / (double)size;
        double inv = 1.0 / sqrt(var + (double)eps);
        if (mean_out) mean_out[r] = (float)mean;
        if (inv_out) inv_out[r] = (float)inv;
        /* x - mean in double: a float32 mean is off by half its ulp, which a row far from 0 with a small
         * spread turns into ulps of every output. */
        if (bias)
            for (int64_t i = 0; i < size; i++) yr[i] = (float)((xr[i] - mean) * inv) * scale[i] + bias[i];
        else
            for (int64_t i = 0; i < size; i++) yr[i] = (float)((xr[i] - mean) * inv) * scale[i];
    }
}

/* Softmax of `rows` rows of `size` each. A NaN or +inf in a row makes the whole row NaN (through the
 * sum), a row of -inf is NaN (-inf - -inf), as numpy computes it; -inf entries elsewhere give 0. */
void softmax_f32(const float *x, float *y, int64_t rows, int64_t size) {
    /* Three passes, so that the exp runs as one flat loop over every row (a row of a small attention is
     * 16-32 values: a loop per row spends more on its start and tail than on its body). */
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * size;
        float *yr = y + r * size;
        float acc[LANES];
        for (int k = 0; k < LANES; k++) acc[k] = xr[0];
        int64_t i = 0;
        for (; i + LANES <= size; i += LANES)
            for (int k = 0; k < LANES; k++) acc[k] = v_max(acc[k], xr[i + k]);
        for (int w = LANES / 2; w > 0; w /= 2) /* a tree: 3 dependent steps, not 7 */
            for (int k = 0; k < w; k++) acc[k] = v_max(acc[k], acc[k + w]);
        float m = acc[0];
        for (; i < size; i++) m = v_max(m, xr[i]);
        for (i = 0; i < size; i++) yr[i] = xr[i] - m;
    }
    int64_t n = rows * size;
    for (int64_t i = 0; i < n; i++) y[i] = v_expf(y[i]);
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * size;
        float sums[LANES] = {0};
        int64_t i = 0;
        for (; i + LANES <= size; i += LANES)
            for (int k = 0; k < LANES; k++) sums[k] += yr[i + k];
        for (int w = LANES / 2; w > 0; w /= 2)
            for (int k = 0; k < w; k++) sums[k] += sums[k + w];
        float s = sums[0];
        for (; i < size; i++) s += yr[i];
        for (i = 0; i < size; i++) yr[i] /= s;
    }
}
