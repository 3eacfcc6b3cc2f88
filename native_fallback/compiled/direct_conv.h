/* Direct (implicit-GEMM) 2-D convolution for conv.c's GEMM jobs: no column matrix.
 *
 * Why: im2col writes KH*KW copies of the input (7 MB for a 3x3, 64-channel 56x56 layer) and BLAS then
 * packs them again, so a 3x3 convolution ran 1.6-1.8x slower than ONNX Runtime's at one thread although
 * the GEMM alone was as fast as its (measured). Here a tile of 12 output pixels by 32 output channels stays
 * in 24 AVX-512 registers over every tap and input channel: each step broadcasts one input value per pixel,
 * straight from a zero-padded copy of the rows the piece reads (a slab, channels-last, of either input
 * layout; an ungrouped 1x1's N,H,W,C input is read in place), and multiplies it by two vectors of
 * prepacked weights. ResNet-50 at one thread (2-vCPU VM, in one process): 123-146 ms against 135-155
 * with im2col + OpenBLAS.
 *
 * Included by conv.c, whose Q_* / I_* parameter fields, inside(), activations (f_*, ACT_CASES),
 * planes_to_last and 16-lane vectors (v16f, ld16, st16, v16_sel) it uses.
 *
 * The weights are packed once per convolution (ops/conv/c_job.py), per group as ceil(MG / 32) panels of
 * (KH * KW * CG, 32) values in (kh, kw, c) order, zero past the group's last channel. A tile's sum runs
 * over the taps in that order, one rounding per multiply-add (a different order from BLAS's, so results
 * differ from the im2col path by float32 rounding only).
 *
 * Only where the vectors are AVX-512 (`direct_conv_ready`): with 256-bit vectors the tile would need 48
 * registers of 16, and the job keeps BLAS.
 */
#ifndef FACADE_DIRECT_CONV_H
#define FACADE_DIRECT_CONV_H

#include <stdint.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#ifdef __AVX512F__
#define DIRECT_READY 1
#else
#define DIRECT_READY 0
#endif
enum { DIRECT_ROWS = 12, DIRECT_COLS = 32 }; /* a tile: output pixels by output channels */

int64_t direct_conv_ready(void) { return DIRECT_READY; }

/* f_relu and f_clip lane by lane (NaN passes, -0.0 stays) */
static inline v16f d_relu(v16f v) { return v16_sel(v < 0.0f, (v16f){0}, v); }
static inline v16f d_clip(v16f v, float lo, float hi) {
    v = v16_sel(v < lo, (v16f){0} + lo, v);
    return v16_sel(v > hi, (v16f){0} + hi, v);
}

/* What a tile does in registers before it is stored: the bias of its 32 channels as the sums' start
 * (NULL: none), a residual laid out as the output (NULL: none) and ACT_RELU or ACT_CLIP (lo, hi); any
 * other activation is left to a pass over the stored tile. */
typedef struct {
    const float *bias, *res;
    int64_t act;
    float lo, hi;
    int64_t nc; /* the channels it loads and stores: 32, or fewer in a group's last panel */
} direct_registers;

/* The first n (0 to 16) lanes at p, the others zero; stored alike: a group's last panel, part full, goes
 * straight to the output too. Through a tile in L1 and direct_store (a copy and a pass per row), a 16 -> 16
 * 1x1 over 32x32 took 22 us against 13 in the BLAS job (86 tiles of one half-full panel; measured here).
 * The memcpy forms only keep the header compiling without AVX-512, where no tile runs (direct_conv_ready). */
static inline v16f ld16_part(const float *p, int64_t n) {
#ifdef __AVX512F__
    return (v16f)_mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
#else
    v16f v = {0};
    memcpy(&v, p, sizeof(float) * (size_t)n);
    return v;
#endif
}

static inline void st16_part(float *p, v16f v, int64_t n) {
#ifdef __AVX512F__
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), (__m512)v);
#else
    memcpy(p, &v, sizeof(float) * (size_t)n);
#endif
}

/* One (mr, 32) tile into t, its rows lt floats apart (the residual's too), with `k`'s epilogue: pixel r of
 * tap (i, j) reads its cg channels at a + i*dr + j*ds + r*ra; b is the panel, cg * 32 values per tap. `mr`
 * is a constant at each call, so the accumulators are registers. */
static inline __attribute__((always_inline)) void direct_tile(const float *restrict a, int64_t ra, int64_t dr,
                                                              int64_t ds, int64_t kh, int64_t kw, int64_t cg,
                                                              const float *restrict b, float *restrict t,
                                                              int64_t lt, const direct_registers *k,
                                                              const int mr) {
    v16f c0[DIRECT_ROWS], c1[DIRECT_ROWS];
    const int whole = k->nc == DIRECT_COLS;
    const int64_t n0 = k->nc < 16 ? k->nc : 16, n1 = k->nc - n0; /* lanes of each half, when part full */
    v16f s0 = {0}, s1 = {0};
    if (k->bias && whole) s0 = ld16(k->bias), s1 = ld16(k->bias + 16);
    else if (k->bias) s0 = ld16_part(k->bias, n0), s1 = ld16_part(k->bias + 16, n1);
    for (int r = 0; r < mr; r++) c0[r] = s0, c1[r] = s1;
    /* kh, kw and cg are at least 1: written as do-while loops, no path skips the sums, and GCC keeps
     * them in registers from the start value to the store (with for loops it parked all 24 on the stack
     * before and after them) */
    int64_t i = 0;
    do {
        int64_t j = 0;
        do {
            const float *at = a + i * dr + j * ds;
            int64_t c = 0;
            do {
                const v16f b0 = ld16(b), b1 = ld16(b + 16);
                for (int r = 0; r < mr; r++) {
                    const float s = at[r * ra + c];
                    c0[r] += s * b0;
                    c1[r] += s * b1;
                }
                b += DIRECT_COLS;
            } while (++c < cg);
        } while (++j < kw);
    } while (++i < kh);
    /* one pass over the rows, each row's two sums read once */
    const float *res = k->res;
    const int64_t act = k->act;
    for (int r = 0; r < mr; r++) {
        v16f u = c0[r], v = c1[r];
        if (res && whole) u += ld16(res + r * lt), v += ld16(res + r * lt + 16);
        else if (res) u += ld16_part(res + r * lt, n0), v += ld16_part(res + r * lt + 16, n1);
        if (act == ACT_RELU) u = d_relu(u), v = d_relu(v);
        else if (act == ACT_CLIP) u = d_clip(u, k->lo, k->hi), v = d_clip(v, k->lo, k->hi);
        if (whole) {
            st16(t + r * lt, u);
            st16(t + r * lt + 16, v);
        } else {
            st16_part(t + r * lt, u, n0);
            st16_part(t + r * lt + 16, v, n1);
        }
    }
}

typedef void (*direct_tile_fn)(const float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, const float *,
                               float *, int64_t, const direct_registers *);
#define DIRECT_TILE(N)                                                                                      \
    static void direct_tile##N(const float *a, int64_t ra, int64_t dr, int64_t ds, int64_t kh, int64_t kw,   \
                               int64_t cg, const float *b, float *t, int64_t lt, const direct_registers *k) { \
        direct_tile(a, ra, dr, ds, kh, kw, cg, b, t, lt, k, N);                                             \
    }
DIRECT_TILE(1) DIRECT_TILE(2) DIRECT_TILE(3) DIRECT_TILE(4) DIRECT_TILE(5) DIRECT_TILE(6)
DIRECT_TILE(7) DIRECT_TILE(8) DIRECT_TILE(9) DIRECT_TILE(10) DIRECT_TILE(11) DIRECT_TILE(12)
static const direct_tile_fn DIRECT_TILES[DIRECT_ROWS + 1] = {
    0, direct_tile1, direct_tile2, direct_tile3, direct_tile4, direct_tile5, direct_tile6,
    direct_tile7, direct_tile8, direct_tile9, direct_tile10, direct_tile11, direct_tile12};

/* The columns of a slab row: every input column the output row's windows reach, from column -PL, rounded
 * up to a multiple of the stride so that a slab is one long virtual row (see direct_rows). */
static inline int64_t slab_width(const int64_t *q) {
    const int64_t w = (q[Q_OW] - 1) * q[Q_SW] + (q[Q_KW] - 1) * q[Q_DW] + 1;
    return (w + q[Q_SW] - 1) / q[Q_SW] * q[Q_SW];
}

/* The input rows output rows r0..r1 read, from row r0*SH - PT. */
static inline int64_t slab_rows(const int64_t *q, int64_t r0, int64_t r1) {
    return (r1 - r0 - 1) * q[Q_SH] + (q[Q_KH] - 1) * q[Q_DH] + 1;
}

/* The slab of output rows r0..r1 of image `img`, group channels from q[I_C0]: (rows, width, CG) floats,
 * zeros outside the input; from N,H,W,C (runs of CG channels) or N,C,H,W (a transposing copy). The tiles
 * read nothing past it: a dropped pixel of a virtual row reads at most SW columns short of the next output
 * row's windows, and the last virtual row stops at its last output (checked with AddressSanitizer). */
static void direct_slab(const float *restrict x, float *restrict s, const int64_t *q, int64_t img, int64_t r0,
                        int64_t r1, int in_last) {
    const int64_t H = q[Q_H], W = q[Q_W], CG = q[Q_C], CT = q[I_CTOTAL], PL = q[Q_PL];
    const int64_t rows = slab_rows(q, r0, r1), width = slab_width(q), top = r0 * q[Q_SH] - q[Q_PT];
    int64_t lo, hi; /* slab columns inside the input */
    inside(-PL, width, 1, W, &lo, &hi);
    for (int64_t i = 0; i < rows; i++) {
        const int64_t ih = top + i;
        float *d = s + i * width * CG;
        if (ih < 0 || ih >= H || lo >= hi) {
            memset(d, 0, sizeof(float) * width * CG);
            continue;
        }
        memset(d, 0, sizeof(float) * lo * CG);
        memset(d + hi * CG, 0, sizeof(float) * (width - hi) * CG);
        if (in_last) {
            const float *src = x + ((img * H + ih) * W - PL) * CT + q[I_C0];
            for (int64_t w = lo; w < hi; w++) memcpy(d + w * CG, src + w * CT, sizeof(float) * CG);
        } else {
            const float *src = x + ((img * CT + q[I_C0]) * H + ih) * W + lo - PL;
            planes_to_last(src, H * W, d + lo * CG, CG, hi - lo, 0);
        }
    }
}

/* What a tile's outputs get before they are stored: a residual laid out as the output (NULL: none), the
 * bias of the piece's first channel on (NULL: none), and the activation (conv.c's `epilogue`). */
typedef struct {
    const float *res, *bias;
    int64_t act;
    float a, b;
} direct_epilogue;

/* A dense (rows, nc) block of a tile (rows lt floats apart) gets bv[m] per column (NULL: none; -0.0f adds
 * nothing, even to -0.0) and then the activation, in one call: a loop per activation, so that each
 * vectorizes. Per stored row, conv.c's `epilogue` cost a call and a loop set-up for 32 values, as much as
 * the products of a 3x3x3 stem's tile (measured). */
#define TILE_EPILOGUE(F)                                                                                    \
    static void tile_##F(float *restrict t, int64_t lt, int64_t rows, int64_t nc, const float *restrict bv,  \
                         float a, float b) {                                                                \
        for (int64_t r = 0; r < rows; r++, t += lt) {                                                       \
            if (bv)                                                                                         \
                for (int64_t m = 0; m < nc; m++) t[m] = f_##F(t[m] + bv[m], a, b);                          \
            else                                                                                            \
                for (int64_t m = 0; m < nc; m++) t[m] = f_##F(t[m], a, b);                                  \
        }                                                                                                   \
    }
TILE_EPILOGUE(none)
TILE_EPILOGUE(relu)
TILE_EPILOGUE(clip)
TILE_EPILOGUE(leaky)
TILE_EPILOGUE(hardsigmoid)
TILE_EPILOGUE(hardswish)
TILE_EPILOGUE(sigmoid)

static void tile_epilogue(float *t, int64_t lt, int64_t rows, int64_t nc, const float *bv, int64_t act, float a,
                          float b) {
    switch (act) {
    ACT_CASES(tile_, t, lt, rows, nc, bv, a, b)
    default:
        if (bv) tile_none(t, lt, rows, nc, bv, a, b);
    }
}

/* Stores a tile's rows rows[0..count) (its valid pixels: output pixels p..p+count, in order) for channels
 * col..col+nc of the piece, with the epilogue, while the tile is in L1: the valid rows are packed to the
 * tile's top, get the residual, then the bias and activation in one pass, and are stored, channels-last a
 * pixel's run of channels at a time, N,C,H,W a channel's run of pixels at a time. */
static void direct_store(float *restrict tile, const int64_t *rows, int64_t count, int64_t p, int64_t col,
                         int64_t nc, float *restrict y, int64_t ldy, int out_last, const direct_epilogue *e) {
    for (int64_t i = 0; i < count; i++)
        if (rows[i] != i) memcpy(tile + i * DIRECT_COLS, tile + rows[i] * DIRECT_COLS, sizeof(float) * nc);
    if (e->res)
        for (int64_t i = 0; i < count; i++)
            for (int64_t m = 0; m < nc; m++)
                tile[i * DIRECT_COLS + m] += out_last ? e->res[(p + i) * ldy + col + m] : e->res[(col + m) * ldy + p + i];
    tile_epilogue(tile, DIRECT_COLS, count, nc, e->bias ? e->bias + col : NULL, e->act, e->a, e->b);
    if (out_last)
        for (int64_t i = 0; i < count; i++) memcpy(y + (p + i) * ldy + col, tile + i * DIRECT_COLS, sizeof(float) * nc);
    else
        for (int64_t m = 0; m < nc; m++)
            for (int64_t i = 0; i < count; i++) y[(col + m) * ldy + p + i] = tile[i * DIRECT_COLS + m];
}

/* Output rows r0..r1 of image `img`, the group's channels m0..m1 (m0 a multiple of 32), from its slab in
 * `slab`: y points at the piece's first value, as conv_gemm_piece places it; pixel p, channel m at
 * y[p * ldy + m] (channels-last) or y[m * ldy + p]; the epilogue's residual is offset alike.
 *
 * Tiles run over segments of pixels, pixel v of a segment reading from its start + v * SW * CG: one segment
 * per output row, or, where that takes fewer tiles, the piece as one virtual row of L = SH * width / SW
 * pixels per output row: the first OW of each are the row's outputs, the rest (the window overhang,
 * KW - 1 for a stride of 1) are computed and dropped. So a 7- or 13-pixel row does not leave most of a
 * 12-pixel tile idle. Undilated, a tap row's KW * CG values are one contiguous run. Panels are taken in
 * groups whose weights fit in L2, each group over every pixel, so a large layer's weights are read from
 * memory once. */
static void direct_rows(const float *restrict slab, const float *restrict wp, float *restrict y, int64_t ldy,
                        int out_last, const int64_t *q, int64_t r0, int64_t r1, int64_t m0, int64_t m1,
                        const direct_epilogue *e) {
    const int64_t CG = q[Q_C], OW = q[Q_OW], KH = q[Q_KH], KW = q[Q_KW], SH = q[Q_SH], SW = q[Q_SW];
    const int64_t width = slab_width(q), kp = KH * KW * CG, L = SH * width / SW, rows = r1 - r0;
    const int64_t ra = SW * CG, dr = q[Q_DH] * width * CG, ds = q[Q_DW] * CG;
    const int64_t taps = q[Q_DW] == 1 ? 1 : KW, run = q[Q_DW] == 1 ? KW * CG : CG; /* per tap row */
    const int64_t virt = (rows - 1) * L + OW, T = DIRECT_ROWS;
    const int linear = (virt + T - 1) / T < rows * ((OW + T - 1) / T);
    const int64_t segments = linear ? 1 : rows, length = linear ? virt : OW, row = linear ? L : OW;
    float tile[DIRECT_ROWS * DIRECT_COLS] __attribute__((aligned(64)));
    const direct_registers plain = {NULL, NULL, ACT_NONE, 0.0f, 0.0f, DIRECT_COLS}; /* direct_store's epilogue */
    int64_t valid[DIRECT_ROWS]; /* the tile rows that are output pixels */
    const int64_t p0 = m0 / DIRECT_COLS, p1 = (m1 + DIRECT_COLS - 1) / DIRECT_COLS;
    int64_t per = (512 * 1024) / (kp * DIRECT_COLS * (int64_t)sizeof(float));
    per = per < 1 ? 1 : per;
    for (int64_t g0 = p0; g0 < p1; g0 += per) {
        const int64_t g1 = g0 + per < p1 ? g0 + per : p1;
        for (int64_t sg = 0; sg < segments; sg++)
            for (int64_t v = 0; v < length; v += T) {
                const int64_t mr = length - v < T ? length - v : T;
                int64_t oh = sg + v / row, ow = v % row, count = 0, first = -1;
                for (int64_t r = 0; r < mr; r++) {
                    if (ow < OW) {
                        first = first < 0 ? oh * OW + ow : first;
                        valid[count++] = r;
                    }
                    if (++ow == row) ow = 0, oh++;
                }
                const float *a = slab + sg * SH * width * CG + v * ra;
                for (int64_t j = g0; j < g1 && count; j++) {
                    const int64_t c0 = j * DIRECT_COLS, nc = m1 - c0 < DIRECT_COLS ? m1 - c0 : DIRECT_COLS;
                    const float *w = wp + j * kp * DIRECT_COLS;
                    if (out_last && count == mr) {
                        /* every row an output pixel: the tile (its nc channels) goes straight to y with its
                         * bias, residual and a Relu or Clip applied in registers (any other activation in a
                         * pass over it in L1) */
                        float *yt = y + first * ldy + c0 - m0;
                        const int in_registers = e->act == ACT_RELU || e->act == ACT_CLIP;
                        const direct_registers k = {e->bias ? e->bias + c0 - m0 : NULL,
                                                    e->res ? e->res + first * ldy + c0 - m0 : NULL,
                                                    in_registers ? e->act : ACT_NONE, e->a, e->b, nc};
                        DIRECT_TILES[mr](a, ra, dr, ds, KH, taps, run, w, yt, ldy, &k);
                        if (!in_registers) tile_epilogue(yt, ldy, mr, nc, NULL, e->act, e->a, e->b);
                        continue;
                    }
                    DIRECT_TILES[mr](a, ra, dr, ds, KH, taps, run, w, tile, DIRECT_COLS, &plain);
                    direct_store(tile, valid, count, first, c0 - m0, nc, y, ldy, out_last, e);
                }
            }
    }
}

#endif
