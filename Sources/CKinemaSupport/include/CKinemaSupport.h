#ifndef KINEMA_SUPPORT_H
#define KINEMA_SUPPORT_H
/* Non-zero when the running CPU has the instruction sets Kinema's kernels were compiled for
   (AVX2 and FMA on x86-64; always non-zero elsewhere). */
int ksupport_cpu_supported(void);
#endif
