#ifndef KINEMA_SUPPORT_H
#define KINEMA_SUPPORT_H
/* Non-zero when the running CPU has the instruction sets Kinema's kernels were compiled for
   (AVX2 and FMA on x86-64; always non-zero elsewhere). */
int ksupport_cpu_supported(void);
/* The path of the file (shared library or executable) this code was loaded from, as the dynamic
   loader reports it, or NULL when it cannot tell. The string belongs to the loader. */
const char *ksupport_own_image_path(void);
/* What Kinema changed in OpenBLAS's choice of kernels when it was loaded (see support.c), or
   NULL when it left the choice alone. */
const char *ksupport_blas_core_note(void);
/* Non-zero when the running CPU (and the operating system) can run AVX-512F instructions. */
int ksupport_cpu_has_avx512(void);
/* The AVX-512 micro-kernel of PackedLinearWeight (Sources/Kinema/Kernels/PackedLinear.swift):
   C[rows x columns] (+)= X[rows x k] . P[k x 16] for one panel P of 16 output features, X packed
   input-major (x[i * rows + r]), rows 1...12, columns 1...16, C rows ldc floats apart. bf16
   non-zero: each input index of P is 8 words, word j holding feature j in its low half and
   feature j + 8 in its high half, as bfloat16; zero: 16 float32 values. Each output is summed
   over i in order with fused multiply-adds from zero and then stored (or added to C), exactly
   what the AVX2 kernel in Swift computes. Does nothing where AVX-512 is not compiled in. */
void ksupport_packed_panel_avx512(int bf16, int rows, const float *x, const unsigned int *panel, long k,
                                  float *c, long ldc, int columns, int accumulate);
#endif
