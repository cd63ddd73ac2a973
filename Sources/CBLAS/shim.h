#ifndef KINEMA_CBLAS_SHIM_H
#define KINEMA_CBLAS_SHIM_H
#include <cblas.h>
/* Declared by OpenBLAS; repeated here because not every cblas.h exposes them. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
#endif
