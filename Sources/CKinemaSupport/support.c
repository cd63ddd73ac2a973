#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

#include "CKinemaSupport.h"

int ksupport_cpu_supported(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 1;
#endif
}

const char *ksupport_own_image_path(void) {
    Dl_info info;
    if (dladdr((const void *)&ksupport_own_image_path, &info) == 0 || info.dli_fname == NULL ||
        info.dli_fname[0] == '\0') {
        return NULL;
    }
    return info.dli_fname;
}
