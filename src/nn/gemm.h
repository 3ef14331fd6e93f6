/*
 * gemm.h - facekit's own matrix product for convolutions, on CPUs with
 * AVX-512.
 *
 * Why it exists: Debian's OpenBLAS 0.3.21 picks its kernels by CPU model and
 * does not know recent AMD processors; on this project's AMD EPYC (AVX-512,
 * full-width FMA units) it runs its Haswell (AVX2) kernels, about half of
 * what the CPU can do: sgemm 1024^3 at 108 GFLOP/s on one core, 195 with
 * OPENBLAS_CORETYPE=SkylakeX. That variable must be set before the library
 * loads, which a library like facekit cannot do for its users. So the
 * convolutions' products run here when the CPU has AVX-512F, chosen at run
 * time; everywhere else they stay with OpenBLAS.
 *
 * The product is C = act(A . B + bias) with A [m][k] (im2col rows or an
 * NHWC input), B [k][n] (the HWIO filter) and C [m][n], each with its own
 * leading dimension; the bias and activation are applied while the tile is
 * still in registers.
 */
#ifndef FK_NN_GEMM_H
#define FK_NN_GEMM_H

#include "nn/kernels.h"

/* 1 when fk_gemm_bias_act may be called: the CPU (and the OS) support
 * AVX-512F and neither FK_NO_AVX512=1 nor FK_NO_AVX2=1 is in the
 * environment (the tests set them to cover the other paths). */
int fk_gemm_avx512_usable(void);

/* C[i][j] = act(sum_k A[i][k] B[k][j] + bias[j]) for i < m, j < n. bias may
 * be NULL and act may be NULL (none); channel j of a PReLU is ch0 + j (a
 * caller working on a block of columns passes its first). m, n, k >= 1.
 * Only when fk_gemm_avx512_usable(). Allocates nothing (32 KB of stack). */
void fk_gemm_bias_act(int m, int n, int k, const float *a, long lda, const float *b,
                      long ldb, float *c, long ldc, const float *bias, const fk_act *act,
                      int ch0);

#endif
