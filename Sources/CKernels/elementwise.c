// Memory-bound loops that are cheap next to the convolutions; kept in C so
// debug builds of the Swift code stay usable.
#include "ckernels.h"

#include <float.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void ck_line_buffer_output(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

void ck_keep_freed_memory(void) {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
}

int ck_channel_affine(const float *x, float *y, size_t pixels, int channels,
                      const float *scale, const float *shift, int relu) {
    for (size_t p = 0; p < pixels; p++) {
        const float *xp = x + p * (size_t)channels;
        float *yp = y + p * (size_t)channels;
        for (int c = 0; c < channels; c++) {
            float v = xp[c] * scale[c] + shift[c];
            yp[c] = relu && v < 0.0f ? 0.0f : v;
        }
    }
    return 0;
}

void ck_zero_pad(const float *x, float *y, int n, int h, int w, int c,
                 int top, int bottom, int left, int right) {
    int oh = h + top + bottom, ow = w + left + right;
    size_t out_row = (size_t)ow * c, in_row = (size_t)w * c;
    memset(y, 0, sizeof(float) * (size_t)n * oh * out_row);
    for (int b = 0; b < n; b++)
        for (int i = 0; i < h; i++) {
            const float *src = x + ((size_t)b * h + i) * in_row;
            float *dst = y + ((size_t)b * oh + i + top) * out_row + (size_t)left * c;
            memcpy(dst, src, sizeof(float) * in_row);
        }
}

void ck_global_pool(const float *x, float *y, int n, int hw, int c, int use_max) {
    for (int b = 0; b < n; b++) {
        float *out = y + (size_t)b * c;
        const float *img = x + (size_t)b * hw * c;
        if (use_max) {
            for (int k = 0; k < c; k++) out[k] = -FLT_MAX;
            for (int p = 0; p < hw; p++)
                for (int k = 0; k < c; k++) out[k] = fmaxf(out[k], img[(size_t)p * c + k]);
        } else {
            for (int k = 0; k < c; k++) out[k] = 0.0f;
            for (int p = 0; p < hw; p++)
                for (int k = 0; k < c; k++) out[k] += img[(size_t)p * c + k];
            for (int k = 0; k < c; k++) out[k] /= (float)hw;
        }
    }
}

void ck_softmax(float *x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        float *row = x + (size_t)r * cols;
        float top = -FLT_MAX, sum = 0.0f;
        for (int k = 0; k < cols; k++) top = fmaxf(top, row[k]);
        for (int k = 0; k < cols; k++) { row[k] = expf(row[k] - top); sum += row[k]; }
        for (int k = 0; k < cols; k++) row[k] /= sum;
    }
}
