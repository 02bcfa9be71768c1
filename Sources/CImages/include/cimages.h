// JPEG and PNG decoding to 8-bit RGB. libjpeg reports errors through longjmp, which
// Swift cannot catch, so decoding lives on this side and returns a message instead.
#ifndef CIMAGES_H
#define CIMAGES_H
#include <stddef.h>
#include <stdint.h>

/// Decodes into a malloc'ed RGB buffer (free with free()); NULL with `error` filled on failure.
uint8_t *ci_decode_jpeg(const uint8_t *data, size_t size, int *width, int *height,
                        char *error, size_t error_size);
uint8_t *ci_decode_png(const uint8_t *data, size_t size, int *width, int *height,
                       char *error, size_t error_size);
/// Encodes 8-bit RGB as PNG into a malloc'ed buffer (free with free()); NULL with `error` filled on failure.
uint8_t *ci_encode_png(const uint8_t *rgb, int width, int height, size_t *size, char *error, size_t error_size);
#endif
