/*
 * cpu.h - which SIMD paths this CPU may take, decided at run time.
 *
 * The build never assumes an instruction set: every kernel with an AVX2 or
 * AVX-512 body asks here before using it, so one binary runs on any x86-64
 * (and on other CPUs, where both answers are 0). Two environment switches
 * force the slower paths, so the tests can check every body on one machine
 * and a numerical difference can be chased down to one ISA:
 *   FK_NO_AVX512=1   no AVX-512 body (AVX2 ones still run)
 *   FK_NO_AVX2=1     neither AVX2 nor AVX-512 bodies (SSE or plain C)
 * The switches are read on every call (a getenv and a cached cpuid bit), so
 * a test may flip them between calls; callers on hot paths keep the answer.
 */
#ifndef FK_CORE_CPU_H
#define FK_CORE_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

/* AVX2 and FMA present, and FK_NO_AVX2 is not 1. */
int fk__cpu_avx2(void);
/* AVX-512F present, and neither FK_NO_AVX512 nor FK_NO_AVX2 is 1. */
int fk__cpu_avx512(void);

#ifdef __cplusplus
}
#endif
#endif
