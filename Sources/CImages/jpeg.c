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
    int max_scans;
    /// Set when we stop decoding ourselves; otherwise libjpeg's own message is reported.
    char reason[200];
};

static void on_error(j_common_ptr info) {
    struct failure *failure = (struct failure *)info->err;
    longjmp(failure->jump, 1);
}

static void ignore_message(j_common_ptr info) { (void)info; }

/// libjpeg only warns about corrupt data and fills what it lost with gray: treat such warnings as
/// errors, and stop at once rather than decoding the rest. The warnings that lose no pixels (stray
/// bytes between markers, which many cameras write; unknown JFIF versions, Adobe transforms, ICC data)
/// are let through.
static void on_warning(j_common_ptr info, int level) {
    if (level >= 0) return;  /* trace messages */
    switch (info->err->msg_code) {
    case JWRN_EXTRANEOUS_DATA: case JWRN_JFIF_MAJOR: case JWRN_ADOBE_XFORM: case JWRN_BOGUS_ICC:
        return;
    default:
        on_error(info);
    }
}

/// Every scan of a progressive JPEG is a pass over the whole image: refuse files with more scans than
/// any encoder writes (libjpeg-turbo's tools do the same with -maxscans).
static void count_scans(j_common_ptr info) {
    struct failure *failure = (struct failure *)info->err;
    j_decompress_ptr decompress = (j_decompress_ptr)info;
    if (decompress->input_scan_number > failure->max_scans) {
        snprintf(failure->reason, sizeof failure->reason,
                 "a progressive JPEG with more than %d scans (encoders write about 10; this file would take "
                 "minutes to decode)", failure->max_scans);
        longjmp(failure->jump, 1);
    }
}

uint8_t *ci_decode_jpeg(const uint8_t *data, size_t size, ci_limits limits, int *width, int *height,
                        char *error, size_t error_size) {
    struct jpeg_decompress_struct info;
    struct jpeg_progress_mgr progress = {.progress_monitor = count_scans};
    struct failure failure = {.max_scans = limits.max_scans};
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;
    info.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = on_error;
    failure.manager.output_message = ignore_message;
    failure.manager.emit_message = on_warning;
    if (setjmp(failure.jump)) {
        if (failure.reason[0]) {
            snprintf(error, error_size, "%s", failure.reason);
        } else {
            char message[JMSG_LENGTH_MAX];
            failure.manager.format_message((j_common_ptr)&info, message);
            snprintf(error, error_size, "corrupt or truncated JPEG (%s)", message);
        }
        jpeg_destroy_decompress(&info);
        free(pixels);
        free(row);
        return NULL;
    }
    jpeg_create_decompress(&info);
    info.progress = &progress;
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    if (!ci_check_pixels(info.image_width, info.image_height, limits, failure.reason, sizeof failure.reason))
        longjmp(failure.jump, 1);
    int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&info);
    int w = (int)info.output_width, h = (int)info.output_height, channels = info.output_components;
    pixels = malloc((size_t)w * h * 3);
    row = malloc((size_t)w * channels);
    if (!pixels || !row) {
        snprintf(failure.reason, sizeof failure.reason, "out of memory for a %dx%d image", w, h);
        longjmp(failure.jump, 1);
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
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    free(row);
    *width = w;
    *height = h;
    return pixels;
}
