// Memory-bound loops that are cheap next to the convolutions; kept in C so
// debug builds of the Swift code stay usable.
#include "ckernels.h"

#include <float.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
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

/* Pooling backward for images [first, first + count): each image's dx is written by one call, so callers
 * may split the batch across threads. For each input value, contributions arrive in output order, and a
 * window's gradient goes to its first maximum (row-major), so results do not depend on the split. */
void ck_pool_backward(const ck_pool_desc *d, const float *x, const float *dy, float *dx, int first, int count) {
    int oh = (d->ih + d->pad_t + d->pad_b - d->kh) / d->sh + 1;
    int ow = (d->iw + d->pad_l + d->pad_r - d->kw) / d->sw + 1;
    size_t c = (size_t)d->c, image = (size_t)d->ih * d->iw * c;
    size_t *best = malloc(sizeof *best * c);
    float *top = malloc(sizeof *top * c);
    memset(dx + first * image, 0, sizeof(float) * image * (size_t)count);
    for (int b = first; b < first + count; b++) {
        const float *xi = x + b * image;
        float *di = dx + b * image;
        for (int i = 0; i < oh; i++) {
            int r0 = i * d->sh - d->pad_t, r1 = r0 + d->kh;
            if (r0 < 0) r0 = 0;
            if (r1 > d->ih) r1 = d->ih;
            for (int j = 0; j < ow; j++) {
                int s0 = j * d->sw - d->pad_l, s1 = s0 + d->kw;
                if (s0 < 0) s0 = 0;
                if (s1 > d->iw) s1 = d->iw;
                const float *g = dy + (((size_t)b * oh + i) * ow + j) * c;
                if (d->average) {
                    float cells = (float)((r1 - r0) * (s1 - s0));
                    for (int r = r0; r < r1; r++)
                        for (int s = s0; s < s1; s++) {
                            float *target = di + ((size_t)r * d->iw + s) * c;
                            for (size_t k = 0; k < c; k++) target[k] += g[k] / cells;
                        }
                } else {
                    size_t start = ((size_t)r0 * d->iw + s0) * c;
                    for (size_t k = 0; k < c; k++) { best[k] = start + k; top[k] = xi[start + k]; }
                    for (int r = r0; r < r1; r++)
                        for (int s = s0; s < s1; s++) {
                            size_t base = ((size_t)r * d->iw + s) * c;
                            for (size_t k = 0; k < c; k++)
                                if (xi[base + k] > top[k]) { top[k] = xi[base + k]; best[k] = base + k; }
                        }
                    for (size_t k = 0; k < c; k++) di[best[k]] += g[k];
                }
            }
        }
    }
    free(best);
    free(top);
}

void ck_split_channels(const float *src, int total, int offset, float *dst, int channels, size_t pixels) {
    for (size_t p = 0; p < pixels; p++)
        memcpy(dst + p * (size_t)channels, src + p * (size_t)total + offset, sizeof(float) * (size_t)channels);
}
