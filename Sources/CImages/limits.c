#include "cimages.h"

#include <stdio.h>

int ci_check_pixels(uint64_t width, uint64_t height, ci_limits limits, char *error, size_t error_size) {
    if (width == 0 || height == 0) {
        snprintf(error, error_size, "declares an empty %llux%llu image", (unsigned long long)width, (unsigned long long)height);
        return 0;
    }
    if (width * height > limits.max_pixels) {
        snprintf(error, error_size,
                 "declares %llux%llu pixels (%llu megapixels), more than the %llu megapixels decoded here; "
                 "shrink it first if it is a real image",
                 (unsigned long long)width, (unsigned long long)height,
                 (unsigned long long)(width * height / 1000000), (unsigned long long)(limits.max_pixels / 1000000));
        return 0;
    }
    return 1;
}
