/*
 * gemm.h - facekit's own matrix product for convolutions, on CPUs with
 * AVX-512.
 *
 * Why it exists: on a CPU with AVX-512 this product runs the convolutions
 * of the networks faster than OpenBLAS does, measured on their own shapes
 * (one core, AMD EPYC with AVX-512, OpenBLAS 0.3.21 with its own AVX-512
 * kernels: 1225 x 288 x 32, a 3x3 layer over 32 channels, 211 vs 177
 * GFLOP/s; the 7x7 input layer of Dlib, 5184 x 147 x 32, 216 vs 172;
 * 9 x 2304 x 256, a deep layer at batch 1, 136 vs 47), because it packs
 * only the filter, never the im2col rows, and applies the bias and
 * activation in registers. It also does not depend on how OpenBLAS is
 * set up: the machines here set OPENBLAS_CORETYPE=Haswell, which holds
 * OpenBLAS to its AVX2 kernels (about half of this CPU). Chosen at run
 * time; everywhere else convolutions stay with OpenBLAS.
 *
 * The product is C = act(A . B + bias) with A [m][k] (im2col rows or an
 * NHWC input), B [k][n] (the HWIO filter) and C [m][n], each with its own
 * leading dimension; the bias and activation are applied while the tile is
 * still in registers.
 */
#ifndef FK_NN_GEMM_H
#define FK_NN_GEMM_H

#include "nn/kernels.h"

/* 1 when fk__gemm_bias_act may be called: the CPU (and the OS) support
 * AVX-512F and neither FK_NO_AVX512=1 nor FK_NO_AVX2=1 is in the
 * environment (the tests set them to cover the other paths). */
int fk__gemm_avx512_usable(void);

/* C[i][j] = act(sum_k A[i][k] B[k][j] + bias[j] + R[i][j]) for i < m,
 * j < n. bias, R (leading dimension ldr) and act may be NULL; channel j of
 * a PReLU is ch0 + j (a caller working on a block of columns passes its
 * first). m, n, k >= 1. Only when fk__gemm_avx512_usable(). Allocates
 * nothing (32 KB of stack). */
void fk__gemm_bias_act(int m, int n, int k, const float *a, long lda, const float *b,
                      long ldb, float *c, long ldc, const float *bias, const float *r,
                      long ldr, const fk_act *act, int ch0);

#endif
