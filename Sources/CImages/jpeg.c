#include "cimages.h"

#include <stdio.h>  /* jpeglib.h needs FILE */
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

struct failure {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    int truncated;
};

static void on_error(j_common_ptr info) {
    struct failure *failure = (struct failure *)info->err;
    longjmp(failure->jump, 1);
}

static void ignore_message(j_common_ptr info) { (void)info; }

/// libjpeg only warns when the data ends early and fills the rest with gray: treat that as an error.
static void on_warning(j_common_ptr info, int level) {
    struct failure *failure = (struct failure *)info->err;
    if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) failure->truncated = 1;
}

uint8_t *ci_decode_jpeg(const uint8_t *data, size_t size, int *width, int *height,
                        char *error, size_t error_size) {
    struct jpeg_decompress_struct info;
    struct failure failure;
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;
    info.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = on_error;
    failure.manager.output_message = ignore_message;
    failure.manager.emit_message = on_warning;
    failure.truncated = 0;
    if (setjmp(failure.jump)) {
        char message[JMSG_LENGTH_MAX];
        failure.manager.format_message((j_common_ptr)&info, message);
        snprintf(error, error_size, "corrupt or truncated JPEG (%s)", message);
        jpeg_destroy_decompress(&info);
        free(pixels);
        free(row);
        return NULL;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&info);
    int w = (int)info.output_width, h = (int)info.output_height, channels = info.output_components;
    pixels = malloc((size_t)w * h * 3);
    row = malloc((size_t)w * channels);
    if (!pixels || !row) {
        snprintf(error, error_size, "out of memory for a %dx%d image", w, h);
        jpeg_destroy_decompress(&info);
        free(pixels);
        free(row);
        return NULL;
    }
    while (info.output_scanline < info.output_height) {
        uint8_t *out = pixels + (size_t)info.output_scanline * w * 3;
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&info, rows, 1);
        for (int x = 0; x < w; x++) {
            if (cmyk) {
                // Adobe writes inverted CMYK: the stored values are already 255 − ink.
                int k = row[x * 4 + 3];
                for (int c = 0; c < 3; c++) out[x * 3 + c] = (uint8_t)(row[x * 4 + c] * k / 255);
            } else {
                memcpy(out + x * 3, row + x * 3, 3);
            }
        }
    }
    if (failure.truncated) {
        snprintf(error, error_size, "truncated JPEG (the data ends before the image does)");
        jpeg_destroy_decompress(&info);
        free(pixels);
        free(row);
        return NULL;
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    free(row);
    *width = w;
    *height = h;
    return pixels;
}
