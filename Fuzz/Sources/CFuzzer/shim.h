#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (in the runtime that -sanitize=fuzzer links), for programs with a main of their own.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
