#include "cimages.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/// The fewest bytes that can hold a PNG's pixels: deflate shrinks data at most 1032 times (a 258-byte
/// match in two bits), and every row is one filter byte plus its samples.
static uint64_t smallest_possible_file(const uint8_t *data, png_uint_32 width, png_uint_32 height) {
    static const int channels[7] = {1, 0, 3, 1, 2, 0, 4};  /* by colour type */
    int depth = data[24], colour_type = data[25];  /* IHDR always comes first; libpng has checked it */
    uint64_t row = 1 + ((uint64_t)width * depth * channels[colour_type % 7] + 7) / 8;
    return row * height / 1032;
}

uint8_t *ci_decode_png(const uint8_t *data, size_t size, ci_limits limits, int *width, int *height,
                       char *error, size_t error_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(error, error_size, "corrupt PNG (%s)", image.message);
        return NULL;
    }
    if (!ci_check_pixels(image.width, image.height, limits, error, error_size)) {
        png_image_free(&image);
        return NULL;
    }
    if (smallest_possible_file(data, image.width, image.height) > size) {
        snprintf(error, error_size, "declares %ux%u pixels, which cannot fit in its %zu bytes (corrupt, or a decompression bomb)",
                 image.width, image.height, size);
        png_image_free(&image);
        return NULL;
    }
    // Palette, grayscale, 16-bit and alpha all become 8-bit RGB; alpha is composited on black.
    // libpng takes 16-bit samples as linear light and would gamma-encode them on the way to 8 bits,
    // so they are read as they are and scaled down here, as other decoders do.
    int sixteen = (image.format & PNG_FORMAT_FLAG_LINEAR) != 0;
    image.format = sixteen ? PNG_FORMAT_LINEAR_RGB : PNG_FORMAT_RGB;
    size_t count = (size_t)image.width * image.height * 3;
    void *buffer = malloc(PNG_IMAGE_SIZE(image));
    uint8_t *pixels = sixteen ? malloc(count) : buffer;
    if (!buffer || !pixels) {
        snprintf(error, error_size, "out of memory for a %ux%u image", image.width, image.height);
        free(buffer);
        if (sixteen) free(pixels);
        png_image_free(&image);
        return NULL;
    }
    if (!png_image_finish_read(&image, NULL, buffer, 0, NULL)) {
        snprintf(error, error_size, "corrupt or truncated PNG (%s)", image.message);
        free(buffer);
        if (sixteen) free(pixels);
        png_image_free(&image);
        return NULL;
    }
    if (sixteen) {
        const uint16_t *wide = buffer;
        for (size_t i = 0; i < count; i++) pixels[i] = (uint8_t)((wide[i] + 128) / 257);
        free(buffer);
    }
    *width = (int)image.width;
    *height = (int)image.height;
    return pixels;
}

uint8_t *ci_encode_png(const uint8_t *rgb, int width, int height, size_t *size, char *error, size_t error_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = PNG_FORMAT_RGB;
    png_alloc_size_t bytes = 0;
    if (!png_image_write_to_memory(&image, NULL, &bytes, 0, rgb, 0, NULL)) {
        snprintf(error, error_size, "cannot encode PNG (%s)", image.message);
        return NULL;
    }
    uint8_t *out = malloc(bytes);
    if (!out) {
        snprintf(error, error_size, "out of memory encoding a PNG");
        return NULL;
    }
    if (!png_image_write_to_memory(&image, out, &bytes, 0, rgb, 0, NULL)) {
        snprintf(error, error_size, "cannot encode PNG (%s)", image.message);
        free(out);
        return NULL;
    }
    *size = bytes;
    return out;
}
