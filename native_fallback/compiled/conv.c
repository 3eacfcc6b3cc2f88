/* Convolution kernels in one pass each: depthwise convolution (either layout) with its bias and fused
 * activation, a GEMM output's bias + activation epilogue, and global average pooling; and the pieces of
 * C pool jobs (pool.c) built on them: GEMM and depthwise convolutions, MaxPool, a matrix product.
 *
 * Why C: numpy spends a call per kernel tap (kh*kw multiply-adds over strided views) and one or two more
 * for the bias and the activation, each holding the GIL between them, so the engine's threads ran their
 * pieces' glue one at a time. Here a piece is one call that reads the unpadded input (taps falling in the
 * padding are skipped, so no padded copy is made) and ctypes releases the GIL for all of it.
 *
 * Activations (the `act` argument, see ops/conv/epilogue.py): 0 none, 1 Relu, 2 Clip(a, b), 3 LeakyRelu(a),
 * 4 HardSigmoid(a, b), 5 HardSwish, 6 Sigmoid. Comparisons are written so that NaN passes through as numpy's
 * clip and maximum pass it.
 */
#include <stdint.h>
#include <stdlib.h>
#include "vmath.h"

enum { ACT_NONE, ACT_RELU, ACT_CLIP, ACT_LEAKY, ACT_HARDSIGMOID, ACT_HARDSWISH, ACT_SIGMOID };

/* One value of each activation (written so that NaN passes, as through numpy's clip and maximum). */
static inline float f_none(float v, float a, float b) { (void)a; (void)b; return v; }
static inline float f_relu(float v, float a, float b) { (void)a; (void)b; return v < 0.0f ? 0.0f : v; }
static inline float f_clip(float v, float a, float b) { v = v < a ? a : v; return v > b ? b : v; }
static inline float f_leaky(float v, float a, float b) { (void)b; return v >= 0.0f ? v : v * a; }
static inline float f_hardsigmoid(float v, float a, float b) {
    v = v * a + b;
    v = v < 0.0f ? 0.0f : v;
    return v > 1.0f ? 1.0f : v;
}
static inline float f_hardswish(float v, float a, float b) {
    (void)a; (void)b;
    float g = v / 6.0f + 0.5f;
    g = g < 0.0f ? 0.0f : g;
    return v * (g > 1.0f ? 1.0f : g);
}
static inline float f_sigmoid(float v, float a, float b) { (void)a; (void)b; return 1.0f / (1.0f + v_expf(-v)); }

/* y[i] = f(y[i] + bias[i]) with a bias vector, or f(y[i] + bs) with a scalar (-0.0f adds nothing, even
 * to -0.0): one load and one store per value, a loop per activation so that each vectorizes. */
#define EPILOGUE(F)                                                                                      \
    static void epi_##F(float *restrict y, int64_t n, const float *restrict bv, float bs, float a, float b) { \
        if (bv)                                                                                          \
            for (int64_t i = 0; i < n; i++) y[i] = f_##F(y[i] + bv[i], a, b);                            \
        else                                                                                             \
            for (int64_t i = 0; i < n; i++) y[i] = f_##F(y[i] + bs, a, b);                               \
    }
EPILOGUE(none)
EPILOGUE(relu)
EPILOGUE(clip)
EPILOGUE(leaky)
EPILOGUE(hardsigmoid)
EPILOGUE(hardswish)
EPILOGUE(sigmoid)

/* The cases of a switch on an activation code calling PREFIX##name(args) (one list for every such switch). */
#define ACT_CASES(PREFIX, ...)                                                                           \
    case ACT_RELU: PREFIX##relu(__VA_ARGS__); break;                                                     \
    case ACT_CLIP: PREFIX##clip(__VA_ARGS__); break;                                                     \
    case ACT_LEAKY: PREFIX##leaky(__VA_ARGS__); break;                                                   \
    case ACT_HARDSIGMOID: PREFIX##hardsigmoid(__VA_ARGS__); break;                                       \
    case ACT_HARDSWISH: PREFIX##hardswish(__VA_ARGS__); break;                                           \
    case ACT_SIGMOID: PREFIX##sigmoid(__VA_ARGS__); break;

static void epilogue(float *y, int64_t n, const float *bv, float bs, int64_t act, float a, float b) {
    switch (act) {
    ACT_CASES(epi_, y, n, bv, bs, a, b)
    default:
        if (bv || bs != 0.0f || !signbit(bs)) epi_none(y, n, bv, bs, a, b);
    }
}

/* The activation alone over n contiguous values. */
static void activate(float *y, int64_t n, int64_t act, float a, float b) {
    if (act != ACT_NONE) epilogue(y, n, NULL, -0.0f, act, a, b);
}

/* Everything a depthwise convolution fixes once per weight and input shape, as the int64 array `q` the
 * callers pass (one pointer instead of a dozen ctypes arguments, each of which costs a conversion per call):
 * H, W, C (input), OH, OW (output), KH, KW, SH, SW (strides), DH, DW (dilations), PT, PL (leading pads),
 * whether the output is channels-last, the activation, the addresses of the weights and of the bias (0: none),
 * and the activation's two parameters as float32 bit patterns. */
enum { Q_H, Q_W, Q_C, Q_OH, Q_OW, Q_KH, Q_KW, Q_SH, Q_SW, Q_DH, Q_DW, Q_PT, Q_PL, Q_OUT_LAST, Q_ACT, Q_WEIGHTS,
       Q_BIAS, Q_A, Q_B };

static float q_float(const int64_t *q, int k) {
    int32_t bits = (int32_t)q[k];
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The taps t in [0, K) whose position start + t*D lies in [0, N): t in [*lo, *hi). Without a dilation or
 * stride (D = 1, the common case) there is no division: a 64-bit one costs tens of cycles, and a kernel
 * calls this per output row and tap column (a 14x14 pool spent most of its time here, measured). */
static inline void inside(int64_t start, int64_t K, int64_t D, int64_t N, int64_t *lo, int64_t *hi) {
    int64_t l, h;
    if (D == 1) {
        l = start >= 0 ? 0 : -start;
        h = N - start < 0 ? 0 : N - start;
    } else {
        l = start >= 0 ? 0 : (-start + D - 1) / D;
        h = N - 1 - start < 0 ? 0 : (N - 1 - start) / D + 1;
    }
    *hi = h < K ? h : K;
    *lo = l < *hi ? l : *hi;
}

/* dst[w * C + c] = src[c * plane + w] for w < W, c < C: one row of C planes written channels-last. By
 * blocks of 16 channels, so that each written line is whole and only 16 rows are read at a time: channel by
 * channel, each store hit another line of a row larger than L1 (a 256-channel 1x1 over 56x56 ran no faster
 * on two threads than on one, measured). */
static void planes_to_last(const float *restrict src, int64_t plane, float *restrict dst, int64_t C, int64_t W,
                           int64_t shuffle) {
    const int64_t per = shuffle > 1 ? C / shuffle : 0;
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
        const int64_t c1 = c0 + 16 < C ? c0 + 16 : C;
        const float *from[16];  /* channel c's plane: c, or (c % shuffle) * per + c / shuffle when shuffled */
        for (int64_t c = c0; c < c1; c++) from[c - c0] = src + (per ? c % shuffle * per + c / shuffle : c) * plane;
        for (int64_t w = 0; w < W; w++)
            for (int64_t c = c0; c < c1; c++) dst[w * C + c] = from[c - c0][w];
    }
}

typedef float v8f __attribute__((vector_size(32)));
static inline v8f ld8(const float *p) { v8f v; memcpy(&v, p, sizeof v); return v; }
static inline void st8(float *p, v8f v) { memcpy(p, &v, sizeof v); }

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));
static inline v16f ld16(const float *p) { v16f v; memcpy(&v, p, sizeof v); return v; }
static inline void st16(float *p, v16f v) { memcpy(p, &v, sizeof v); }
/* x where m, else y, lane by lane (m: a comparison's all-ones or zero lanes) */
static inline v16f v16_sel(v16i m, v16f x, v16f y) { return (v16f)(((v16i)x & m) | ((v16i)y & ~m)); }

/* Channels c0..C of output pixel `o` of a row (`at`: the input offset of its tap (0, 0), maybe outside),
 * over the taps inside the image: blocks of 8 channels in a register, the rest one at a time. */
static void dw_pixel(const float *restrict xi, const float *restrict w, const float *restrict bias, float *dst,
                     int64_t at, int64_t r0, int64_t r1, int64_t s0, int64_t s1, int64_t c0, const int64_t *q) {
    const int64_t W = q[Q_W], C = q[Q_C], KW = q[Q_KW], DH = q[Q_DH], DW = q[Q_DW];
    int64_t c = c0;
    for (; c + 8 <= C; c += 8) {
        v8f acc = bias ? ld8(bias + c) : (v8f){0};
        for (int64_t r = r0; r < r1; r++)
            for (int64_t s = s0; s < s1; s++)
                acc += ld8(xi + at + (r * DH * W + s * DW) * C + c) * ld8(w + (r * KW + s) * C + c);
        st8(dst + c, acc);
    }
    for (; c < C; c++) {
        float acc = bias ? bias[c] : 0.0f;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t s = s0; s < s1; s++) acc += xi[at + (r * DH * W + s * DW) * C + c] * w[(r * KW + s) * C + c];
        dst[c] = acc;
    }
}

/* A KxK window (K = 3 or 5, a constant at each call) wholly inside the input for output pixels o0..o1 of a
 * row: per block of 16 channels the K*K weight vectors stay in registers while the pixels run, and the taps
 * are unrolled (the sums in the same order as dw_pixel's, so the results are the same). dw_pixel alone ran
 * MobileNetV2's depthwise convolutions 2-3x slower than ONNX Runtime (measured); most of their pixels
 * take this path. */
static inline __attribute__((always_inline)) void dw_inside(const float *restrict xi, const float *restrict w,
                                                            const float *restrict bias, float *row, int64_t ih0,
                                                            int64_t o0, int64_t o1, const int64_t *q, const int K) {
    const int64_t W = q[Q_W], C = q[Q_C], SW = q[Q_SW], DH = q[Q_DH], DW = q[Q_DW], PL = q[Q_PL];
    const int64_t dr = DH * W * C, ds = DW * C;
    for (int64_t c = 0; c + 16 <= C; c += 16) {
        v16f k[K * K];
        for (int t = 0; t < K * K; t++) k[t] = ld16(w + t * C + c);
        const v16f b = bias ? ld16(bias + c) : (v16f){0};
        for (int64_t o = o0; o < o1; o++) {
            const float *p = xi + (ih0 * W + o * SW - PL) * C + c;
            v16f acc = b;
            for (int r = 0; r < K; r++)
                for (int t = 0; t < K; t++) acc += ld16(p + r * dr + t * ds) * k[r * K + t];
            st16(row + o * C + c, acc);
        }
    }
}

static void dw3x3_inside(const float *restrict xi, const float *restrict w, const float *restrict bias, float *row,
                         int64_t ih0, int64_t o0, int64_t o1, const int64_t *q) {
    dw_inside(xi, w, bias, row, ih0, o0, o1, q, 3);
}

static void dw5x5_inside(const float *restrict xi, const float *restrict w, const float *restrict bias, float *row,
                         int64_t ih0, int64_t o0, int64_t o1, const int64_t *q) {
    dw_inside(xi, w, bias, row, ih0, o0, o1, q, 5);
}

/* Depthwise convolution of one image `img`, output rows h0..h1, from an N,H,W,C input.
 * Weights (KH, KW, C); output N,OH,OW,C or N,C,OH,OW. Per output pixel, blocks of channels accumulate
 * in registers over every tap inside the image (GCC's vector extension: AVX-512 or AVX, or SSE/NEON
 * halves; a 3x3 or 5x5 window wholly inside by dw_inside, the rest by dw_pixel); a row of OW*C results is
 * then activated and stored (transposed for an N,C,H,W output). */
void dw_nhwc(const float *restrict x, float *restrict y, const int64_t *q, int64_t img, int64_t h0, int64_t h1) {
    const int64_t H = q[Q_H], W = q[Q_W], C = q[Q_C], OH = q[Q_OH], OW = q[Q_OW], KH = q[Q_KH], KW = q[Q_KW];
    const int64_t SH = q[Q_SH], SW = q[Q_SW], DH = q[Q_DH], DW = q[Q_DW], PT = q[Q_PT], PL = q[Q_PL];
    const int64_t out_last = q[Q_OUT_LAST];
    const float *w = (const float *)(intptr_t)q[Q_WEIGHTS], *bias = (const float *)(intptr_t)q[Q_BIAS];
    const float *xi = x + img * H * W * C;
    float *buf = out_last ? NULL : malloc(sizeof(float) * OW * C);
    if (!out_last && !buf) return;
    /* output columns whose whole 3x3 or 5x5 window lies inside the input: f0..f1 */
    int64_t f0 = OW, f1 = OW;
    if (KH == KW && (KH == 3 || KH == 5) && C >= 16) {
        f0 = (PL + SW - 1) / SW;
        const int64_t last = W - 1 - (KW - 1) * DW + PL; /* the largest o * SW allowed */
        f1 = last < 0 ? f0 : last / SW + 1;
        f1 = f1 < OW ? f1 : OW;
        f0 = f0 < f1 ? f0 : f1;
    }
    const int64_t c_tail = C - C % 16; /* channels dw_inside leaves to dw_pixel */
    for (int64_t oh = h0; oh < h1; oh++) {
        float *row = out_last ? y + ((img * OH + oh) * OW) * C : buf;
        int64_t r0, r1;
        inside(oh * SH - PT, KH, DH, H, &r0, &r1);
        const int fast = f0 < f1 && r0 == 0 && r1 == KH;
        if (fast) (KH == 3 ? dw3x3_inside : dw5x5_inside)(xi, w, bias, row, oh * SH - PT, f0, f1, q);
        for (int64_t o = 0; o < OW; o++) {
            const int in_fast = fast && o >= f0 && o < f1;
            if (in_fast && c_tail == C) {
                o = f1 - 1;
                continue;
            }
            int64_t s0, s1;
            inside(o * SW - PL, KW, DW, W, &s0, &s1);
            const int64_t at = ((oh * SH - PT) * W + (o * SW - PL)) * C;  /* tap (0, 0), maybe outside */
            dw_pixel(xi, w, bias, row + o * C, at, r0, r1, s0, s1, in_fast ? c_tail : 0, q);
        }
        activate(row, OW * C, q[Q_ACT], q_float(q, Q_A), q_float(q, Q_B));
        if (!out_last) {
            float *yi = y + img * C * OH * OW + oh * OW;
            for (int64_t c = 0; c < C; c++)
                for (int64_t o = 0; o < OW; o++) yi[c * OH * OW + o] = row[o * C + c];
        }
    }
    free(buf);
}

/* Depthwise convolution of the (image, channel) planes p0..p1 of an N,C,H,W input into N,C,OH,OW.
 * Weights (C, KH, KW). Each tap adds a weight times a strided input run to an output row, over only the
 * output columns whose input column lies inside the image. */
void dw_nchw(const float *restrict x, float *restrict y, const int64_t *q, int64_t p0, int64_t p1) {
    const int64_t H = q[Q_H], W = q[Q_W], C = q[Q_C], OH = q[Q_OH], OW = q[Q_OW], KH = q[Q_KH], KW = q[Q_KW];
    const int64_t SH = q[Q_SH], SW = q[Q_SW], DH = q[Q_DH], DW = q[Q_DW], PT = q[Q_PT], PL = q[Q_PL];
    const float *w = (const float *)(intptr_t)q[Q_WEIGHTS], *bias = (const float *)(intptr_t)q[Q_BIAS];
    for (int64_t p = p0; p < p1; p++) {
        const int64_t c = p % C;
        const float *xp = x + p * H * W;
        float *yp = y + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            float *out = yp + oh * OW;
            const float b0 = bias ? bias[c] : 0.0f;
            for (int64_t o = 0; o < OW; o++) out[o] = b0;
            int64_t r0, r1;
            inside(oh * SH - PT, KH, DH, H, &r0, &r1);
            for (int64_t r = r0; r < r1; r++) {
                const int64_t ih = oh * SH - PT + r * DH;
                for (int64_t s = 0; s < KW; s++) {
                    const int64_t off = s * DW - PL;  /* input column of output column o: o*SW + off */
                    int64_t lo, hi;
                    inside(off, OW, SW, W, &lo, &hi);
                    const float wv = w[(c * KH + r) * KW + s];
                    const float *xr = xp + ih * W + off;
                    if (SW == 1)
                        for (int64_t o = lo; o < hi; o++) out[o] += xr[o] * wv;
                    else if (SW == 2)  /* 64-byte vectors (the even lanes of two loads); o * SW: 16-byte ones */
                        for (int64_t o = lo; o < hi; o++) out[o] += xr[2 * o] * wv;
                    else
                        for (int64_t o = lo; o < hi; o++) out[o] += xr[o * SW] * wv;
                }
            }
            activate(out, OW, q[Q_ACT], q_float(q, Q_A), q_float(q, Q_B));
        }
    }
}

/* im2col's parameter block `q` (int64): H, W, C (the group's channels), OH, OW, KH, KW, SH, SW, DH, DW,
 * PT, PL as for the depthwise block, then the group's first channel and the input's channel count. */
enum { I_C0 = 13, I_CTOTAL = 14 };

/* The column matrix of image `img`, output rows r0..r1, from an unpadded N,C,H,W input: a (K [+1], P)
 * matrix with K = C*KH*KW rows in (c, kh, kw) order and one column per output pixel; taps in the
 * padding are zeros, and `ones` appends a row of ones (the GEMM's bias column). No padded copy of
 * the input and no strided view: each row is a strided run of one input row, bounds computed once. */
void im2col_nchw(const float *restrict x, float *restrict cols, const int64_t *q, int64_t img, int64_t r0,
                 int64_t r1, int64_t ones) {
    const int64_t H = q[Q_H], W = q[Q_W], C = q[Q_C], OW = q[Q_OW], KH = q[Q_KH], KW = q[Q_KW];
    const int64_t SH = q[Q_SH], SW = q[Q_SW], DH = q[Q_DH], DW = q[Q_DW], PT = q[Q_PT], PL = q[Q_PL];
    const int64_t P = (r1 - r0) * OW;
    const float *xi = x + (img * q[I_CTOTAL] + q[I_C0]) * H * W;
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < KH; i++)
            for (int64_t j = 0; j < KW; j++) {
                float *dst = cols + ((c * KH + i) * KW + j) * P;
                const int64_t off = j * DW - PL;
                int64_t lo, hi;
                inside(off, OW, SW, W, &lo, &hi);
                for (int64_t oh = r0; oh < r1; oh++) {
                    float *row = dst + (oh - r0) * OW;
                    const int64_t ih = oh * SH - PT + i * DH;
                    if (ih < 0 || ih >= H) {
                        for (int64_t o = 0; o < OW; o++) row[o] = 0.0f;
                        continue;
                    }
                    const float *src = xi + (c * H + ih) * W + off;
                    for (int64_t o = 0; o < lo; o++) row[o] = 0.0f;
                    if (SW == 1)
                        for (int64_t o = lo; o < hi; o++) row[o] = src[o];
                    else if (SW == 2)  /* a constant stride vectorizes (even lanes); GCC left o * SW scalar */
                        for (int64_t o = lo; o < hi; o++) row[o] = src[2 * o];
                    else
                        for (int64_t o = lo; o < hi; o++) row[o] = src[o * SW];
                    for (int64_t o = hi; o < OW; o++) row[o] = 0.0f;
                }
            }
    if (ones)
        for (int64_t p = 0; p < P; p++) cols[C * KH * KW * P + p] = 1.0f;
}

/* The column matrix of image `img`, output rows r0..r1, from an unpadded N,H,W,C input: a (P, K [+1])
 * matrix, one row per output pixel with K = KH*KW*C values in (kh, kw, c) order (a tap's C channels
 * are one contiguous copy), zeros for taps in the padding, and a 1 after them when `ones`. */
void im2col_nhwc(const float *restrict x, float *restrict cols, const int64_t *q, int64_t img, int64_t r0,
                 int64_t r1, int64_t ones) {
    const int64_t H = q[Q_H], W = q[Q_W], C = q[Q_C], OW = q[Q_OW], KH = q[Q_KH], KW = q[Q_KW];
    const int64_t SH = q[Q_SH], SW = q[Q_SW], DH = q[Q_DH], DW = q[Q_DW], PT = q[Q_PT], PL = q[Q_PL];
    const int64_t CT = q[I_CTOTAL], K = KH * KW * C, ld = K + (ones != 0);
    const float *xi = x + img * H * W * CT + q[I_C0];
    for (int64_t oh = r0; oh < r1; oh++)
        for (int64_t o = 0; o < OW; o++) {
            float *dst = cols + ((oh - r0) * OW + o) * ld;
            for (int64_t i = 0; i < KH; i++) {
                const int64_t ih = oh * SH - PT + i * DH;
                for (int64_t j = 0; j < KW; j++) {
                    const int64_t iw = o * SW - PL + j * DW;
                    float *tap = dst + (i * KW + j) * C;
                    if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                        memset(tap, 0, sizeof(float) * C);
                    else
                        memcpy(tap, xi + (ih * W + iw) * CT, sizeof(float) * C);
                }
            }
            if (ones) dst[K] = 1.0f;
        }
}

/* A GEMM output's epilogue over a (rows, cols) block whose rows are ld floats apart (a piece of an
 * output, or a channel slice of a joined one): add the bias (bias[j] per column when per_col, else
 * bias[r] per row; NULL: none), then the activation, while the block is still in cache. */
void bias_act(float *restrict y, const float *restrict bias, int64_t rows, int64_t cols, int64_t ld,
              int64_t per_col, int64_t act, float a, float b) {
    for (int64_t r = 0; r < rows; r++)
        epilogue(y + r * ld, cols, bias && per_col ? bias : NULL, bias && !per_col ? bias[r] : -0.0f, act, a, b);
}

/* The mean of `cols` contiguous values in 8 interleaved partial sums (which vectorize, and round less
 * than one running sum over a large map). */
static float mean_of(const float *restrict row, int64_t cols) {
    float part[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8)
        for (int k = 0; k < 8; k++) part[k] += row[j + k];
    float s = 0.0f;
    for (; j < cols; j++) s += row[j];
    s += ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
    return s / (float)cols;
}

/* The mean of each of rows r0..r1 of a (rows, cols) array into y (global average pooling). */
void row_mean(const float *restrict x, float *restrict y, int64_t r0, int64_t r1, int64_t cols) {
    for (int64_t r = r0; r < r1; r++) y[r] = mean_of(x + r * cols, cols);
}

/* Squeeze-and-excite's parameter block (int64): channels C, pixels P, hidden width M, the addresses of
 * w1 (M, C), b1 (M or 0), w2 (C, M), b2 (C or 0), then each 1x1's activation and its two float32
 * parameters' bit patterns. */
enum { S_C, S_P, S_M, S_W1, S_B1, S_W2, S_B2, S_ACT1, S_A1, S_B1P, S_ACT2, S_A2, S_B2P };

/* A 1x1 convolution of a vector: out[j] = act(bias[j] + sum_k w[j][k] * v[k]). */
static void matvec(const float *restrict w, const float *restrict bias, const float *restrict v, float *restrict out,
                   int64_t rows, int64_t cols, const int64_t *q, int act_at) {
    for (int64_t j = 0; j < rows; j++) {
        float s = bias ? bias[j] : 0.0f;
        for (int64_t k = 0; k < cols; k++) s += w[j * cols + k] * v[k];
        out[j] = s;
    }
    activate(out, rows, q[act_at], q_float(q, act_at + 1), q_float(q, act_at + 2));
}

/* Squeeze-and-excite of images i0..i1 of an N,C,H,W input: y = x * act2(w2 @ act1(w1 @ mean(x) + b1) + b2),
 * the channel scale broadcast over each plane; GlobalAveragePool, two 1x1 convolutions and the Mul
 * in one call (a MobileNetV3 block's four steps of microseconds each). */
void squeeze_excite(const float *restrict x, float *restrict y, const int64_t *q, int64_t i0, int64_t i1) {
    const int64_t C = q[S_C], P = q[S_P], M = q[S_M];
    float *buf = malloc(sizeof(float) * (2 * C + M));
    if (!buf) return;
    float *mean = buf, *hidden = buf + C, *scale = buf + C + M;
    for (int64_t i = i0; i < i1; i++) {
        const float *xi = x + i * C * P;
        float *yi = y + i * C * P;
        for (int64_t c = 0; c < C; c++) mean[c] = mean_of(xi + c * P, P);
        matvec((const float *)(intptr_t)q[S_W1], (const float *)(intptr_t)q[S_B1], mean, hidden, M, C, q, S_ACT1);
        matvec((const float *)(intptr_t)q[S_W2], (const float *)(intptr_t)q[S_B2], hidden, scale, C, M, q, S_ACT2);
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = 0; p < P; p++) yi[c * P + p] = xi[c * P + p] * scale[c];
    }
    free(buf);
}

/* ---- GEMM convolutions as pieces of one pool job (pool.c): im2col, the GEMM and the epilogue in C ----
 *
 * Why: the Python path spends a GIL hand-off per piece (see pool.c) and three ctypes/numpy calls per
 * block; here a whole convolution is one call. The GEMM is the process's BLAS `cblas_sgemm` (numpy's
 * OpenBLAS, at one thread), its address and integer width given in the context.
 *
 * A task is (image, group, r0, r1, m0, m1): output rows r0..r1 (pixels r0*inner..r1*inner) and output
 * channels m0..m1 of the group. Its GEMM reads the input itself (a 1x1 convolution), columns it built
 * itself in its thread's scratch (im2col by rows), or the job's shared column matrix, built by a first
 * phase of im2col pieces (one per task of that phase: (image, group, r0, r1)) when the convolution is
 * split by output channels (late layers with few pixels, where a GEMM of a few pixels is slow). Or, with
 * SRC_DIRECT, no columns and no BLAS: the task builds its input rows' slab in its scratch and runs
 * direct_conv.h's tiles over it, G_W being the packed weights; with SRC_DIRECT_INPUT (an ungrouped 1x1 of an
 * N,H,W,C input) the tiles read the input itself. */
#include "direct_conv.h"
enum { G_SGEMM, G_ILP64, G_X, G_Y, G_W, G_Q, G_QSTRIDE, G_TASKS, G_COLTASKS, G_SOURCE, G_C, G_CG, G_M, G_MG,
       G_KP, G_P, G_INNER, G_IN_LAST, G_OUT_LAST, G_ONES, G_BIAS, G_ACT, G_A, G_B, G_LDY, G_YIMG, G_RES, G_FIELDS };
enum { SRC_INPUT, SRC_OWN_COLUMNS, SRC_SHARED_COLUMNS, SRC_DIRECT, SRC_DIRECT_INPUT };
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };
typedef void (*sgemm32_fn)(int, int, int, int32_t, int32_t, int32_t, float, const float *, int32_t,
                           const float *, int32_t, float, float *, int32_t);
typedef void (*sgemm64_fn)(int, int, int, int64_t, int64_t, int64_t, float, const float *, int64_t,
                           const float *, int64_t, float, float *, int64_t);

static void sgemm(const int64_t *g, int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                  const float *b, int64_t ldb, float *c, int64_t ldc) {
    if (g[G_ILP64])
        ((sgemm64_fn)(intptr_t)g[G_SGEMM])(CBLAS_ROW_MAJOR, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
    else
        ((sgemm32_fn)(intptr_t)g[G_SGEMM])(CBLAS_ROW_MAJOR, ta, tb, (int32_t)m, (int32_t)n, (int32_t)k, 1.0f, a,
                                          (int32_t)lda, b, (int32_t)ldb, 0.0f, c, (int32_t)ldc);
}

static float f_of(int64_t bits) { double d; memcpy(&d, &bits, sizeof d); return (float)d; }

/* Columns of (image, group, rows r0..r1) into `cols`: (K', pixels) from N,C,H,W, (pixels, K') from N,H,W,C. */
static void columns(const int64_t *g, float *cols, int64_t img, int64_t gi, int64_t r0, int64_t r1) {
    const int64_t *q = (const int64_t *)(intptr_t)g[G_Q] + gi * g[G_QSTRIDE];
    if (g[G_IN_LAST])
        im2col_nhwc((const float *)(intptr_t)g[G_X], cols, q, img, r0, r1, g[G_ONES]);
    else
        im2col_nchw((const float *)(intptr_t)g[G_X], cols, q, img, r0, r1, g[G_ONES]);
}

/* First phase of a channel-split job: the whole column matrix of each (image, group), by row ranges.
 * Rows of one matrix written by two pieces: N,C,H,W columns are (K', P) row-major, so a row range is a
 * column range of it; both layouts are built straight into place with their full leading dimension. */
void conv_columns_piece(const int64_t *g, int64_t t, float *scratch, float *shared) {
    (void)scratch;
    const int64_t *task = (const int64_t *)(intptr_t)g[G_COLTASKS] + 4 * t;
    const int64_t img = task[0], gi = task[1], r0 = task[2], r1 = task[3], P = g[G_P], KP = g[G_KP];
    const int64_t groups = g[G_M] / g[G_MG];
    float *cols = shared + (img * groups + gi) * KP * P;
    if (g[G_IN_LAST] || (r0 == 0 && r1 * g[G_INNER] == P)) {  /* pixel-major rows, or the whole matrix */
        columns(g, cols + (g[G_IN_LAST] ? r0 * g[G_INNER] * KP : 0), img, gi, r0, r1);
        return;
    }
    /* (K', P) in row ranges: build this range's (K', np) block in scratch, then copy it into place */
    const int64_t np = (r1 - r0) * g[G_INNER];
    columns(g, scratch, img, gi, r0, r1);
    for (int64_t k = 0; k < KP; k++) memcpy(cols + k * P + r0 * g[G_INNER], scratch + k * np, np * sizeof(float));
}

void conv_gemm_piece(const int64_t *g, int64_t t, float *scratch, float *shared) {
    const int64_t *task = (const int64_t *)(intptr_t)g[G_TASKS] + 6 * t;
    const int64_t img = task[0], gi = task[1], r0 = task[2], r1 = task[3], m0 = task[4], m1 = task[5];
    const int64_t inner = g[G_INNER], P = g[G_P], M = g[G_M], MG = g[G_MG], KP = g[G_KP], C = g[G_C];
    const int64_t p0 = r0 * inner, np = (r1 - r0) * inner, mn = m1 - m0, ch = gi * MG + m0;
    const int in_last = (int)g[G_IN_LAST], out_last = (int)g[G_OUT_LAST];
    /* the output may be a channel slice of a joined one: rows ldy floats apart, images yimg apart */
    const int64_t ldy = g[G_LDY];
    float *y = (float *)(intptr_t)g[G_Y] + img * g[G_YIMG] + (out_last ? p0 * ldy + ch : ch * ldy + p0);
    if (g[G_SOURCE] == SRC_DIRECT || g[G_SOURCE] == SRC_DIRECT_INPUT) {
        const int64_t *q = (const int64_t *)(intptr_t)g[G_Q] + gi * g[G_QSTRIDE];
        const int64_t panels = (MG + DIRECT_COLS - 1) / DIRECT_COLS;
        const float *slab = scratch;  /* an ungrouped 1x1's N,H,W,C input is its own slab */
        if (g[G_SOURCE] == SRC_DIRECT)
            direct_slab((const float *)(intptr_t)g[G_X], scratch, q, img, r0, r1, in_last);
        else
            slab = (const float *)(intptr_t)g[G_X] + (img * P + p0) * C;
        const float *res = (const float *)(intptr_t)g[G_RES], *bias = (const float *)(intptr_t)g[G_BIAS];
        const direct_epilogue e = {res ? res + (y - (float *)(intptr_t)g[G_Y]) : NULL, bias ? bias + ch : NULL,
                                   g[G_ACT], f_of(g[G_A]), f_of(g[G_B])};
        direct_rows(slab, (const float *)(intptr_t)g[G_W] + gi * panels * KP * DIRECT_COLS, y, ldy, out_last, q,
                    r0, r1, m0, m1, &e);
        return;  /* the residual, bias and activation included */
    } else {
        const float *src;
        int64_t lds;
        if (g[G_SOURCE] == SRC_INPUT) {
            src = (const float *)(intptr_t)g[G_X] + img * C * P +
                  (in_last ? p0 * C + gi * g[G_CG] : gi * g[G_CG] * P + p0);
            lds = in_last ? C : P;
        } else if (g[G_SOURCE] == SRC_OWN_COLUMNS) {
            columns(g, scratch, img, gi, r0, r1);
            src = scratch;
            lds = in_last ? KP : np;
        } else {
            src = shared + (img * (M / MG) + gi) * KP * P + (in_last ? p0 * KP : p0);
            lds = in_last ? KP : P;
        }
        /* src: (K', np) with rows lds apart, or pixel-major (np, K') when the input is channels-last */
        const float *w = (const float *)(intptr_t)g[G_W] + ch * KP;
        if (!out_last)  /* Y (mn, np) = W (mn, K') @ src */
            sgemm(g, CBLAS_NO_TRANS, in_last ? CBLAS_TRANS : CBLAS_NO_TRANS, mn, np, KP, w, KP, src, lds, y, ldy);
        else            /* Y (np, mn) = src^T (np, K') @ W^T */
            sgemm(g, in_last ? CBLAS_NO_TRANS : CBLAS_TRANS, CBLAS_TRANS, np, mn, KP, src, lds, w, KP, y, ldy);
    }
    if (g[G_RES]) {  /* a residual laid out as the (contiguous) output: added before the activation */
        const float *r = (const float *)(intptr_t)g[G_RES] + (y - (float *)(intptr_t)g[G_Y]);
        const int64_t rows = out_last ? np : mn, cols = out_last ? mn : np;
        for (int64_t k = 0; k < rows; k++)
            for (int64_t j = 0; j < cols; j++) y[k * ldy + j] += r[k * ldy + j];
    }
    const float *bias = (const float *)(intptr_t)g[G_BIAS];
    if (bias || g[G_ACT])
        bias_act(y, bias ? bias + ch : NULL, out_last ? np : mn, out_last ? mn : np, ldy, out_last, g[G_ACT],
                 f_of(g[G_A]), f_of(g[G_B]));
}

/* A depthwise convolution as pieces of one pool job: ctx = (q, x, y, units, pieces, in_last, oh, rows,
 * shuffle). A piece takes a near-equal range of the units: output rows over all images (N,H,W,C input) or
 * (image, channel) planes (N,C,H,W). With `rows` (the input's N*H) the job has a first phase,
 * nchw_rows_piece, that writes the N,C,H,W input channels-last into the shared buffer, which the depthwise
 * pieces then read: an N,C,H,W input wanted channels-last (ShuffleNet's, after each channel shuffle) was
 * transposed by numpy on one core before the split kernel. With `shuffle` (> 1) that phase also shuffles
 * the channels in as many groups, the channel shuffle before it folded (optimizer/channel_shuffle.py). */
enum { D_Q, D_X, D_Y, D_UNITS, D_PIECES, D_IN_LAST, D_OH, D_ROWS, D_SHUFFLE };

void nchw_rows_piece(const int64_t *d, int64_t t, float *scratch, float *shared) {
    (void)scratch;
    const int64_t *q = (const int64_t *)(intptr_t)d[D_Q];
    const int64_t H = q[Q_H], W = q[Q_W], C = q[Q_C], rows = d[D_ROWS];
    const float *x = (const float *)(intptr_t)d[D_X];
    for (int64_t u = rows * t / d[D_PIECES]; u < rows * (t + 1) / d[D_PIECES]; u++) {  /* u: image * H + row */
        const int64_t img = u / H, h = u % H;
        const float *src = x + img * C * H * W + h * W;
        float *dst = shared + u * W * C;
        planes_to_last(src, H * W, dst, C, W, d[D_SHUFFLE]);
    }
}

void dw_piece(const int64_t *d, int64_t t, float *scratch, float *shared) {
    (void)scratch;
    const int64_t *q = (const int64_t *)(intptr_t)d[D_Q];
    const float *x = d[D_ROWS] ? shared : (const float *)(intptr_t)d[D_X];
    float *y = (float *)(intptr_t)d[D_Y];
    const int64_t r0 = d[D_UNITS] * t / d[D_PIECES], r1 = d[D_UNITS] * (t + 1) / d[D_PIECES], oh = d[D_OH];
    if (!d[D_IN_LAST]) {
        dw_nchw(x, y, q, r0, r1);
        return;
    }
    for (int64_t i = r0 / oh; i * oh < r1; i++) {
        const int64_t h0 = r0 - i * oh, h1 = r1 - i * oh;
        dw_nhwc(x, y, q, i, h0 > 0 ? h0 : 0, h1 < oh ? h1 : oh);
    }
}

/* 2-D MaxPool and AveragePool as pieces of one pool job, from the unpadded input (taps in the padding are
 * skipped, as padding with -inf, or with 0 for a sum, would give). ctx: H, W, C, OH, OW, KH, KW, SH, SW, DH,
 * DW, PT, PL (Q_* order), then the input and output addresses, channels-last or not, the units (output rows
 * over all images when channels-last, else (image, channel) planes), the piece count, for an average the
 * (OH, OW) divisors (each window's count, as count_include_pad and ceil_mode define it), and for a max
 * whether a Relu follows (each max then starts at 0 instead of -inf: relu(max(w)) = max(0, w)). Each
 * thread's scratch holds W + 1 floats and 2 KW int64 (pool_piece). NaN wins in a max, as in np.maximum. */
enum { M_X = 13, M_Y, M_LAST, M_UNITS, M_PIECES, M_COUNTS, M_RELU };

static inline float max_nan(float m, float v) { return (v > m || v != v) ? v : m; }

#define POOL_F(avg, m, v) ((avg) ? (m) + (v) : max_nan((m), (v)))

/* One output row of an (image, channel) plane, N,C,H,W: the window rows combined into `row` (W contiguous
 * values, a vectorized pass per window row), then the window columns read from it. Tap by tap over the
 * strided input instead, the kernel ran 1.3-2.5x slower than numpy's separable passes (measured). */
static inline __attribute__((always_inline)) void pool_plane_row(const int64_t *q, const float *xp, float *o_row,
                                                                 float *row, int64_t orow, const int64_t *span,
                                                                 const int avg) {
    const int64_t H = q[Q_H], W = q[Q_W], OW = q[Q_OW], KH = q[Q_KH], KW = q[Q_KW], SH = q[Q_SH], SW = q[Q_SW];
    const int64_t DH = q[Q_DH], DW = q[Q_DW], PT = q[Q_PT], PL = q[Q_PL];
    const float empty = avg || q[M_RELU] ? 0.0f : -INFINITY;
    int64_t r0, r1;
    inside(orow * SH - PT, KH, DH, H, &r0, &r1);
    for (int64_t w = 0; w < W; w++) row[w] = empty;
    for (int64_t i = r0; i < r1; i++) {
        const float *xr = xp + (orow * SH - PT + i * DH) * W;
        for (int64_t w = 0; w < W; w++) row[w] = POOL_F(avg, row[w], xr[w]);
    }
    for (int64_t o = 0; o < OW; o++) o_row[o] = empty;
    for (int64_t j = 0; j < KW; j++) {
        const int64_t off = j * DW - PL, lo = span[2 * j], hi = span[2 * j + 1];
        const float *rr = row + off;
        if (SW == 1)
            for (int64_t o = lo; o < hi; o++) o_row[o] = POOL_F(avg, o_row[o], rr[o]);
        else
            for (int64_t o = lo; o < hi; o++) o_row[o] = POOL_F(avg, o_row[o], rr[o * SW]);
    }
}

/* A channels-last pool keeps one pixel's channels in vector registers over every tap, in blocks of
 * POOL_VECTORS v16f vectors (four AVX-512 registers here, eight AVX2 or sixteen NEON ones elsewhere). Tap
 * by tap over a row of OW * C values in L1 instead, the kernel spent 0.7 ns per input value on
 * SqueezeNet's first MaxPool (64 channels), in L2 or not; 0.25 now (measured). */
#define POOL_LANES 16
#define POOL_VECTORS 4
/* max_nan lane by lane: v where v > m or v is NaN. */
static inline v16f v16_max_nan(v16f m, v16f v) { return v16_sel((v > m) | (v != v), v, m); }

/* `nv` vectors of channels (a constant at each call) of output pixel `o`, or, with nv == 0, the last `n`
 * channels one by one: every tap of the window rows [r0, r1) whose column is inside the input (`span`),
 * in the order i, j (as the N,C,H,W rows add them); an average divides by `count`. */
static inline __attribute__((always_inline)) void pool_last_block(const int64_t *q, const float *xp, float *out,
                                                                  int64_t orow, int64_t o, int64_t r0, int64_t r1,
                                                                  const int64_t *span, const int nv, int64_t n,
                                                                  const int avg, float count) {
    const int64_t W = q[Q_W], C = q[Q_C], KW = q[Q_KW], SH = q[Q_SH], SW = q[Q_SW], DH = q[Q_DH], DW = q[Q_DW];
    const int64_t PT = q[Q_PT], PL = q[Q_PL];
    const float empty = avg || q[M_RELU] ? 0.0f : -INFINITY;
    v16f acc[POOL_VECTORS];
    float tail[POOL_LANES];
    for (int k = 0; k < nv; k++) acc[k] = (v16f){0} + empty;
    for (int64_t c = 0; c < n; c++) tail[c] = empty;
    for (int64_t i = r0; i < r1; i++) {
        const float *xr = xp + (orow * SH - PT + i * DH) * W * C;
        for (int64_t j = 0; j < KW; j++) {
            if (o < span[2 * j] || o >= span[2 * j + 1]) continue;
            const float *v = xr + (o * SW + j * DW - PL) * C;
            for (int k = 0; k < nv; k++) {
                const v16f x = ld16(v + k * POOL_LANES);
                acc[k] = avg ? acc[k] + x : v16_max_nan(acc[k], x);
            }
            for (int64_t c = 0; c < n; c++) tail[c] = POOL_F(avg, tail[c], v[c]);
        }
    }
    for (int k = 0; k < nv; k++) st16(out + k * POOL_LANES, avg ? acc[k] / count : acc[k]);
    for (int64_t c = 0; c < n; c++) out[c] = avg ? tail[c] / count : tail[c];
}

/* One output row of a channels-last pool, N,H,W,C: per pixel, blocks of POOL_VECTORS vectors, then single
 * vectors, then the last channels one by one. `counts`: this row's divisors when an average. */
static inline __attribute__((always_inline)) void pool_last_row(const int64_t *q, const float *xp, float *o_row,
                                                                int64_t orow, const int64_t *span, const int avg,
                                                                const float *counts) {
    const int64_t H = q[Q_H], C = q[Q_C], OW = q[Q_OW], KH = q[Q_KH], SH = q[Q_SH], DH = q[Q_DH], PT = q[Q_PT];
    const int64_t block = POOL_VECTORS * POOL_LANES;
    int64_t r0, r1;
    inside(orow * SH - PT, KH, DH, H, &r0, &r1);
    for (int64_t o = 0; o < OW; o++) {
        const float count = avg ? counts[o] : 1.0f;
        float *out = o_row + o * C;
        int64_t c = 0;
        for (; c + block <= C; c += block)
            pool_last_block(q, xp + c, out + c, orow, o, r0, r1, span, POOL_VECTORS, 0, avg, count);
        for (; c + POOL_LANES <= C; c += POOL_LANES)
            pool_last_block(q, xp + c, out + c, orow, o, r0, r1, span, 1, 0, avg, count);
        if (c < C) pool_last_block(q, xp + c, out + c, orow, o, r0, r1, span, 0, C - c, avg, count);
    }
}

/* `avg` is a constant at each call, so each loop compiles without the test. `scratch` holds W floats, then
 * 2 KW int64: each window column's range of outputs inside the input (the same for every row). */
static inline __attribute__((always_inline)) void pool_piece(const int64_t *q, int64_t t, float *scratch,
                                                             const int avg) {
    const int64_t H = q[Q_H], W = q[Q_W], C = q[Q_C], OH = q[Q_OH], OW = q[Q_OW], KW = q[Q_KW];
    const int64_t SW = q[Q_SW], DW = q[Q_DW], PL = q[Q_PL];
    int64_t *span = (int64_t *)(void *)(scratch + (W + 1) / 2 * 2);  /* 8-byte aligned */
    for (int64_t j = 0; j < KW; j++) inside(j * DW - PL, OW, SW, W, &span[2 * j], &span[2 * j + 1]);
    const float *x = (const float *)(intptr_t)q[M_X];
    float *y = (float *)(intptr_t)q[M_Y];
    const float *counts = (const float *)(intptr_t)q[M_COUNTS];
    const int64_t u0 = q[M_UNITS] * t / q[M_PIECES], u1 = q[M_UNITS] * (t + 1) / q[M_PIECES];
    for (int64_t u = u0; u < u1; u++) {
        if (!q[M_LAST]) {  /* u is an (image, channel) plane */
            for (int64_t r = 0; r < OH; r++) {
                float *o_row = y + (u * OH + r) * OW;
                pool_plane_row(q, x + u * H * W, o_row, scratch, r, span, avg);
                if (avg)
                    for (int64_t o = 0; o < OW; o++) o_row[o] /= counts[r * OW + o];
            }
            continue;
        }
        /* channels-last: u is an output row over all images; each tap is a run of C contiguous values */
        const int64_t img = u / OH, orow = u % OH;
        pool_last_row(q, x + img * H * W * C, y + u * OW * C, orow, span, avg, counts ? counts + orow * OW : NULL);
    }
}

void maxpool_piece(const int64_t *q, int64_t t, float *scratch, float *shared) {
    (void)shared;
    pool_piece(q, t, scratch, 0);
}

void avgpool_piece(const int64_t *q, int64_t t, float *scratch, float *shared) {
    (void)shared;
    pool_piece(q, t, scratch, 1);
}

/* ---- A matrix product as pieces of one pool job: Y (m, n) = A B, plus a bias per column, then the
 * activation ----
 *
 * Why: MatMul, Gemm and the optimizer's FusedMatMul / FusedGemm call numpy's BLAS, which the engine holds
 * at one thread (see threads.py), so at any thread count a transformer's linear layers and a CNN's
 * classifier ran on one core. A piece is one sgemm on a block of rows (when there are rows enough for
 * every piece) or of columns (a classifier's one row: each piece reads its own columns of the weights),
 * then the epilogue on that block while it is in cache. A is (m, k), or (k, m) when ta; B is (k, n), or
 * (n, k) when tb; Y is contiguous. Column blocks start at multiples of 16 (BLAS's register block).
 * ctx: sgemm, ilp64 (the G_ fields' places), A, B, Y, m, n, k, ta, tb, bias (0: none), act, a, b, whether
 * split by rows, the piece count. */
enum { L_A = 2, L_B, L_Y, L_M, L_N, L_K, L_TA, L_TB, L_BIAS, L_ACT, L_AA, L_AB, L_BY_ROWS, L_PIECES };

static int64_t column_edge(int64_t n, int64_t t, int64_t pieces) {
    return t >= pieces ? n : (n * t / pieces) / 16 * 16;
}

void matmul_piece(const int64_t *l, int64_t t, float *scratch, float *shared) {
    (void)scratch;
    (void)shared;
    const int64_t m = l[L_M], n = l[L_N], k = l[L_K], pieces = l[L_PIECES];
    const int ta = (int)l[L_TA], tb = (int)l[L_TB];
    int64_t r0 = 0, r1 = m, c0 = 0, c1 = n;
    if (l[L_BY_ROWS]) {
        r0 = m * t / pieces;
        r1 = m * (t + 1) / pieces;
    } else {
        c0 = column_edge(n, t, pieces);
        c1 = column_edge(n, t + 1, pieces);
    }
    if (r1 <= r0 || c1 <= c0) return;
    const float *a = (const float *)(intptr_t)l[L_A] + (ta ? r0 : r0 * k);
    const float *b = (const float *)(intptr_t)l[L_B] + (tb ? c0 * k : c0);
    float *y = (float *)(intptr_t)l[L_Y] + r0 * n + c0;
    sgemm(l, ta ? CBLAS_TRANS : CBLAS_NO_TRANS, tb ? CBLAS_TRANS : CBLAS_NO_TRANS, r1 - r0, c1 - c0, k, a,
          ta ? m : k, b, tb ? k : n, y, n);
    const float *bias = (const float *)(intptr_t)l[L_BIAS];
    if (bias || l[L_ACT])
        bias_act(y, bias ? bias + c0 : NULL, r1 - r0, c1 - c0, n, 1, l[L_ACT], f_of(l[L_AA]), f_of(l[L_AB]));
}
