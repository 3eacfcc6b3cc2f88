/* OpenCL kernels of native:opencl. REAL is float or double (set at build time).
 * One work-item per output element; simple enough to run on any OpenCL 1.2 device,
 * PoCL on a CPU included. Activation codes match opencl/ops.py ACTIVATIONS. */

inline REAL activate(REAL v, int act, REAL a, REAL b) {
    switch (act) {
        case 1: return fmax(v, (REAL)0);
        case 2: return fmin(fmax(v, a), b);
        case 3: return v >= 0 ? v : v * a;
        case 4: return (REAL)1 / ((REAL)1 + exp(-v));
        case 5: return tanh(v);
        default: return v;
    }
}

__kernel void unary(__global const REAL* x, __global REAL* y, int n, int act, REAL a, REAL b) {
    int i = get_global_id(0);
    if (i < n) y[i] = activate(x[i], act, a, b);
}

/* y = x op z with numpy broadcasting, rank <= 6: meta = dims[6], xstrides[6], zstrides[6] (elements). */
__kernel void binary(__global const REAL* x, __global const REAL* z, __global REAL* y,
                     __constant int* meta, int n, int op) {
    int i = get_global_id(0);
    if (i >= n) return;
    int rem = i, xi = 0, zi = 0;
    for (int d = 5; d >= 0; --d) {
        int k = rem % meta[d];
        rem /= meta[d];
        xi += k * meta[6 + d];
        zi += k * meta[12 + d];
    }
    REAL p = x[xi], q = z[zi];
    y[i] = op == 0 ? p + q : op == 1 ? p - q : op == 2 ? p * q : p / q;
}

__kernel void conv2d(__global const REAL* x, __global const REAL* w, __global const REAL* bias,
                     __global REAL* y, int C, int H, int W, int M, int OH, int OW, int KH, int KW,
                     int SH, int SW, int PH, int PW, int DH, int DW, int G, int has_bias,
                     int act, REAL a, REAL b) {
    int ow = get_global_id(0), oh = get_global_id(1), nm = get_global_id(2);
    if (ow >= OW || oh >= OH) return;
    int n = nm / M, m = nm % M;
    int cg = C / G, mg = M / G, g = m / mg;
    REAL acc = has_bias ? bias[m] : (REAL)0;
    for (int c = 0; c < cg; ++c) {
        __global const REAL* xc = x + (size_t)(n * C + g * cg + c) * H * W;
        __global const REAL* wc = w + (size_t)(m * cg + c) * KH * KW;
        for (int i = 0; i < KH; ++i) {
            int ih = oh * SH - PH + i * DH;
            if (ih < 0 || ih >= H) continue;
            for (int j = 0; j < KW; ++j) {
                int iw = ow * SW - PW + j * DW;
                if (iw < 0 || iw >= W) continue;
                acc += xc[ih * W + iw] * wc[i * KW + j];
            }
        }
    }
    y[((size_t)(n * M + m) * OH + oh) * OW + ow] = activate(acc, act, a, b);
}

#define TS 16
/* Y[batch] = act(alpha * op(A) op(B) + beta * C); A batch stride sa (0 = shared), B stride sb. */
__kernel void gemm(__global const REAL* A, __global const REAL* B, __global const REAL* Cm,
                   __global REAL* Y, int M, int N, int K, int ta, int tb, int sa, int sb,
                   REAL alpha, REAL beta, int has_c, int act, REAL a, REAL b) {
    int col = get_global_id(0), row = get_global_id(1), batch = get_global_id(2);
    int lc = get_local_id(0), lr = get_local_id(1);
    __local REAL As[TS][TS];
    __local REAL Bs[TS][TS];
    __global const REAL* Ab = A + (size_t)batch * sa;
    __global const REAL* Bb = B + (size_t)batch * sb;
    REAL acc = 0;
    for (int t = 0; t < K; t += TS) {
        int ka = t + lc, kb = t + lr;
        As[lr][lc] = (row < M && ka < K) ? (ta ? Ab[ka * M + row] : Ab[row * K + ka]) : (REAL)0;
        Bs[lr][lc] = (kb < K && col < N) ? (tb ? Bb[col * K + kb] : Bb[kb * N + col]) : (REAL)0;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int k = 0; k < TS; ++k) acc += As[lr][k] * Bs[k][lc];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row < M && col < N) {
        REAL v = alpha * acc + (has_c ? beta * Cm[row * N + col] : (REAL)0);
        Y[((size_t)batch * M + row) * N + col] = activate(v, act, a, b);
    }
}

/* Max (is_max=1) or average pooling, 2-D; pads (PT, PL) at the start, (PB, PR) the explicit end pads
 * that count_include_pad counts. */
__kernel void pool2d(__global const REAL* x, __global REAL* y, int H, int W, int OH, int OW,
                     int KH, int KW, int SH, int SW, int PT, int PL, int PB, int PR, int DH, int DW,
                     int is_max, int include_pad) {
    int ow = get_global_id(0), oh = get_global_id(1), nc = get_global_id(2);
    if (ow >= OW || oh >= OH) return;
    __global const REAL* xc = x + (size_t)nc * H * W;
    REAL acc = is_max ? -INFINITY : (REAL)0;
    int count = 0;
    for (int i = 0; i < KH; ++i) {
        int ih = oh * SH - PT + i * DH;
        for (int j = 0; j < KW; ++j) {
            int iw = ow * SW - PL + j * DW;
            int inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
            if (include_pad && ih >= -PT && ih < H + PB && iw >= -PL && iw < W + PR) ++count;
            else if (!include_pad && inside) ++count;
            if (!inside) continue;
            REAL v = xc[ih * W + iw];
            acc = is_max ? fmax(acc, v) : acc + v;
        }
    }
    y[((size_t)nc * OH + oh) * OW + ow] = is_max ? acc : acc / (REAL)count;
}

__kernel void global_avg(__global const REAL* x, __global REAL* y, int HW) {
    int nc = get_global_id(0);
    __global const REAL* xc = x + (size_t)nc * HW;
    REAL acc = 0;
    for (int i = 0; i < HW; ++i) acc += xc[i];
    y[nc] = acc / (REAL)HW;
}

/* Softmax over rows of length L: one work-item per row. */
__kernel void softmax(__global const REAL* x, __global REAL* y, int rows, int L) {
    int r = get_global_id(0);
    if (r >= rows) return;
    __global const REAL* xr = x + (size_t)r * L;
    __global REAL* yr = y + (size_t)r * L;
    REAL m = -INFINITY, s = 0;
    for (int i = 0; i < L; ++i) m = fmax(m, xr[i]);
    for (int i = 0; i < L; ++i) { REAL e = exp(xr[i] - m); yr[i] = e; s += e; }
    for (int i = 0; i < L; ++i) yr[i] /= s;
}
