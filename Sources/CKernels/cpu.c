// What the processor can compute natively, from cpuid.
#include "ckernels.h"

#include <cpuid.h>

int ck_cpu_has_native_bf16(void) {
    unsigned a, b, c, d;
    // AVX-512 state (opmask and ZMM registers) must be enabled by the OS: XCR0 bits 5-7, with XMM/YMM (1-2).
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0xe6) != 0xe6) return 0;
    // Leaf 7, sub-leaf 1, EAX bit 5: AVX512_BF16.
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a >> 5) & 1;
}
