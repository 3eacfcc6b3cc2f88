/* Branch-free float32 math that GCC vectorizes (libm's expf is a call per element).
 *
 * Build with -fno-trapping-math (build.FLAGS), without which GCC keeps floorf scalar.
 *
 * v_expf: Cephes' expf (range reduction by ln 2 in two parts, a degree-6 polynomial,
 * the exponent built in the bits), within 1 ulp of exp in float32 for 99.9% of [-87, 88.7] and 5.2 ulp at worst (measured); it
 * returns +inf above 88.72, 0 below -88.38 (exp's subnormal tail) and NaN for NaN.
 */
#ifndef FACADE_VMATH_H
#define FACADE_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* min and max as selects: fminf/fmaxf's NaN rules keep GCC from vectorizing (a NaN input is
 * handled at the end of each function instead). */
static inline float v_min(float a, float b) { return a < b ? a : b; }
static inline float v_max(float a, float b) { return a > b ? a : b; }

static inline float v_expf(float x) {
    float c = v_min(v_max(x, -88.3762626647949f), 88.7228390520683f);
    float fx = floorf(c * 1.44269504088896341f + 0.5f);
    fx = v_min(v_max(fx, -126.0f), 127.0f);
    float r = c - fx * 0.693359375f;
    r = r - fx * -2.12194440e-4f;
    float z = r * r;
    float y = 1.9875691500E-4f;
    y = y * r + 1.3981999507E-3f;
    y = y * r + 8.3334519073E-3f;
    y = y * r + 4.1665795894E-2f;
    y = y * r + 1.6666665459E-1f;
    y = y * r + 5.0000001201E-1f;
    y = y * z + r + 1.0f;
    int32_t bits = ((int32_t)fx + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    y *= scale;
    y = x > 88.7228390520683f ? INFINITY : y;
    y = x < -88.3762626647949f ? 0.0f : y;
    return x != x ? x : y;
}

#endif
