// JPEG, PNG, GIF and WebP decoding to 8-bit RGB. libjpeg reports errors through longjmp, which
// Swift cannot catch, so decoding lives on this side and returns a message instead.
#ifndef CIMAGES_H
#define CIMAGES_H
#include <stddef.h>
#include <stdint.h>

/// Bounds checked before any pixel buffer is allocated or any image data is decoded.
typedef struct {
    /// Largest width × height accepted.
    uint64_t max_pixels;
    /// Largest number of scans a progressive JPEG may have (each one is a pass over the whole image).
    int max_scans;
} ci_limits;

/// Each decoder returns a malloc'ed RGB buffer (free with free()); NULL with `error` filled on failure.
/// Transparent pixels are composited on black.
uint8_t *ci_decode_jpeg(const uint8_t *data, size_t size, ci_limits limits, int *width, int *height,
                        char *error, size_t error_size);
uint8_t *ci_decode_png(const uint8_t *data, size_t size, ci_limits limits, int *width, int *height,
                       char *error, size_t error_size);
/// The first frame, on the GIF's logical screen (black where the frame does not reach).
uint8_t *ci_decode_gif(const uint8_t *data, size_t size, ci_limits limits, int *width, int *height,
                       char *error, size_t error_size);
uint8_t *ci_decode_webp(const uint8_t *data, size_t size, ci_limits limits, int *width, int *height,
                        char *error, size_t error_size);
/// Encodes 8-bit RGB as PNG into a malloc'ed buffer (free with free()); NULL with `error` filled on failure.
uint8_t *ci_encode_png(const uint8_t *rgb, int width, int height, size_t *size, char *error, size_t error_size);

/// Fills `error` and returns 0 when width × height is empty or beyond `limits`; 1 otherwise.
int ci_check_pixels(uint64_t width, uint64_t height, ci_limits limits, char *error, size_t error_size);
#endif
