#include "cimages.h"

#include <gif_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct memory_source {
    const uint8_t *data;
    size_t size, position;
};

static int read_memory(GifFileType *gif, GifByteType *out, int count) {
    struct memory_source *source = gif->UserData;
    size_t available = source->size - source->position;
    size_t n = (size_t)count < available ? (size_t)count : available;
    memcpy(out, source->data + source->position, n);
    source->position += n;
    return (int)n;
}

/// Where the `line`-th stored row of an interlaced frame goes: GIF stores every 8th row from 0, every
/// 8th from 4, every 4th from 2, then every 2nd from 1.
static int interlaced_row(int line, int height) {
    static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
    for (int pass = 0; pass < 4; pass++) {
        int rows = height > start[pass] ? (height - start[pass] + step[pass] - 1) / step[pass] : 0;
        if (line < rows) return start[pass] + line * step[pass];
        line -= rows;
    }
    return -1;
}

/// Reads the records before the first frame; the last graphics control block names its transparent
/// colour. Returns 0 on failure, with `error` filled unless giflib's own error explains it.
static int skip_to_first_frame(GifFileType *gif, int *transparent, char *error, size_t error_size) {
    for (;;) {
        GifRecordType record;
        if (DGifGetRecordType(gif, &record) == GIF_ERROR) return 0;
        if (record == IMAGE_DESC_RECORD_TYPE) return DGifGetImageDesc(gif) != GIF_ERROR;
        if (record == TERMINATE_RECORD_TYPE) {
            snprintf(error, error_size, "GIF has no image");
            return 0;
        }
        int code;
        GifByteType *block;
        if (DGifGetExtension(gif, &code, &block) == GIF_ERROR) return 0;
        while (block != NULL) {
            GraphicsControlBlock control;
            if (code == GRAPHICS_EXT_FUNC_CODE && DGifExtensionToGCB(block[0], block + 1, &control) == GIF_OK)
                *transparent = control.TransparentColor;
            if (DGifGetExtensionNext(gif, &block) == GIF_ERROR) return 0;
        }
    }
}

uint8_t *ci_decode_gif(const uint8_t *data, size_t size, ci_limits limits, int *width, int *height,
                       char *error, size_t error_size) {
    struct memory_source source = {data, size, 0};
    int status = 0, transparent = NO_TRANSPARENT_COLOR;
    GifFileType *gif = DGifOpen(&source, read_memory, &status);
    if (!gif) {
        snprintf(error, error_size, "corrupt GIF (%s)", GifErrorString(status));
        return NULL;
    }
    uint8_t *pixels = NULL, *line = NULL;
    error[0] = 0;
    if (!ci_check_pixels(gif->SWidth, gif->SHeight, limits, error, error_size)) goto fail;
    if (!skip_to_first_frame(gif, &transparent, error, error_size)) goto fail;
    const GifImageDesc frame = gif->Image;
    const ColorMapObject *colours = frame.ColorMap ? frame.ColorMap : gif->SColorMap;
    if (!colours) {
        snprintf(error, error_size, "GIF frame has no colour table");
        goto fail;
    }
    // The frame is decoded row by row, so its size only costs time: bound it as the screen is bounded.
    if (!ci_check_pixels(frame.Width, frame.Height, limits, error, error_size)) goto fail;
    const int w = gif->SWidth, h = gif->SHeight;
    pixels = calloc((size_t)w * h, 3);
    line = malloc((size_t)frame.Width);
    if (!pixels || !line) {
        snprintf(error, error_size, "out of memory for a %dx%d image", w, h);
        goto fail;
    }
    for (int stored = 0; stored < frame.Height; stored++) {
        if (DGifGetLine(gif, line, frame.Width) == GIF_ERROR) goto fail;
        int y = frame.Top + (frame.Interlace ? interlaced_row(stored, frame.Height) : stored);
        if (y >= h) continue;
        for (int x = 0; x < frame.Width && frame.Left + x < w; x++) {
            int index = line[x];
            // Transparent pixels and indices past the table stay black.
            if (index == transparent || index >= colours->ColorCount) continue;
            uint8_t *out = pixels + ((size_t)y * w + frame.Left + x) * 3;
            out[0] = colours->Colors[index].Red;
            out[1] = colours->Colors[index].Green;
            out[2] = colours->Colors[index].Blue;
        }
    }
    free(line);
    DGifCloseFile(gif, &status);
    *width = w;
    *height = h;
    return pixels;
fail:
    if (!error[0]) snprintf(error, error_size, "corrupt or truncated GIF (%s)", GifErrorString(gif->Error));
    free(pixels);
    free(line);
    DGifCloseFile(gif, &status);
    return NULL;
}
