/*
 * cpu.c - see cpu.h.
 */
#include "core/cpu.h"

#include <stdlib.h>

static int switched_off(const char *name) {
    const char *v = getenv(name);
    return v && *v == '1';
}

int fk__cpu_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           !switched_off("FK_NO_AVX2");
#else
    return 0;
#endif
}

int fk__cpu_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("avx512f") && !switched_off("FK_NO_AVX2") &&
           !switched_off("FK_NO_AVX512");
#else
    return 0;
#endif
}
