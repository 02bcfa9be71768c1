#include "cimages.h"

#include <stdio.h>
#include <stdlib.h>
#include <webp/decode.h>

static const char *status_text(VP8StatusCode status) {
    switch (status) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "a feature libwebp does not support";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "the data ends before the image does";
    default: return "bitstream error";
    }
}

uint8_t *ci_decode_webp(const uint8_t *data, size_t size, ci_limits limits, int *width, int *height,
                        char *error, size_t error_size) {
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) {
        snprintf(error, error_size, "libwebp does not match the headers it was built with");
        return NULL;
    }
    VP8StatusCode status = WebPGetFeatures(data, size, &config.input);
    if (status != VP8_STATUS_OK) {
        snprintf(error, error_size, "corrupt or truncated WebP (%s)", status_text(status));
        return NULL;
    }
    if (config.input.has_animation) {
        snprintf(error, error_size, "animated WebP, which is not supported; save its first frame as PNG");
        return NULL;
    }
    const int w = config.input.width, h = config.input.height;
    if (!ci_check_pixels(w, h, limits, error, error_size)) return NULL;
    // Decoded as RGBA into our own buffer, then composited on black in place (as PNG alpha is).
    size_t count = (size_t)w * h;
    uint8_t *pixels = malloc(count * 4);
    if (!pixels) {
        snprintf(error, error_size, "out of memory for a %dx%d image", w, h);
        return NULL;
    }
    config.output.colorspace = MODE_RGBA;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = pixels;
    config.output.u.RGBA.stride = w * 4;
    config.output.u.RGBA.size = count * 4;
    status = WebPDecode(data, size, &config);
    WebPFreeDecBuffer(&config.output);
    if (status != VP8_STATUS_OK) {
        snprintf(error, error_size, "corrupt or truncated WebP (%s)", status_text(status));
        free(pixels);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        int alpha = pixels[i * 4 + 3];
        for (int c = 0; c < 3; c++) pixels[i * 3 + c] = (uint8_t)((pixels[i * 4 + c] * alpha + 127) / 255);
    }
    uint8_t *rgb = realloc(pixels, count * 3);
    *width = w;
    *height = h;
    return rgb ? rgb : pixels;
}
