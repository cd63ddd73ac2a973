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
#endif
