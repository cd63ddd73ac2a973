#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* MARK: - OpenBLAS kernel choice
 *
 * An OpenBLAS built with DYNAMIC_ARCH (Debian's, for one) picks its kernels once, when it is
 * loaded, from the CPU's model number. A CPU newer than the library (a Sapphire Rapids Xeon
 * under OpenBLAS 0.3.21, for example) is not in its table and gets the "Prescott" fallback:
 * SSE3 kernels, 5-10 times slower than the AVX-512 ones the same CPU runs. When that happened
 * and the user did not choose with OPENBLAS_CORETYPE, the constructor below asks OpenBLAS to
 * choose again, through its own initialisation (its worker threads stopped, then
 * gotoblas_dynamic_quit and gotoblas_dynamic_init with OPENBLAS_CORETYPE naming the best kernel
 * set the CPU's features allow, then the threads started again), as if the variable had been
 * set before the process started. It runs when this code
 * is loaded, before Kinema makes any BLAS call; the variable is removed again afterwards. The
 * functions are looked up at run time, so an OpenBLAS without them (a build for one CPU) is
 * left as it is. KINEMA_KEEP_BLAS_CORE=1 turns the choice off. */

static char blas_note[160];

const char *ksupport_blas_core_note(void) {
    return blas_note[0] ? blas_note : NULL;
}

/* The OpenBLAS core name for the best kernels this CPU can run, or NULL. */
static const char *best_blas_core(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512cd")) {
        return __builtin_cpu_supports("avx512bf16") ? "Cooperlake" : "SkylakeX";
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    if (__builtin_cpu_supports("avx")) return "Sandybridge";
#endif
    return NULL;
}

__attribute__((constructor)) static void choose_blas_core(void) {
    typedef char *(*name_fn)(void);
    typedef void (*void_fn)(void);
    typedef int (*int_fn)(void);
    name_fn corename = (name_fn)dlsym(RTLD_DEFAULT, "openblas_get_corename");
    void_fn quit = (void_fn)dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit");
    void_fn init = (void_fn)dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init");
    int_fn stop_threads = (int_fn)dlsym(RTLD_DEFAULT, "blas_thread_shutdown_");
    int_fn start_threads = (int_fn)dlsym(RTLD_DEFAULT, "blas_thread_init");
    if (corename == NULL || quit == NULL || init == NULL || stop_threads == NULL || start_threads == NULL) return;
    const char *keep = getenv("KINEMA_KEEP_BLAS_CORE");
    if (getenv("OPENBLAS_CORETYPE") != NULL || (keep != NULL && strcmp(keep, "0") != 0)) return;
    const char *before = corename();
    if (before == NULL || strcasecmp(before, "Prescott") != 0) return;
    const char *target = best_blas_core();
    if (target == NULL) return;
    char was[32];
    snprintf(was, sizeof was, "%s", before);
    if (setenv("OPENBLAS_CORETYPE", target, 1) != 0) return;
    /* OpenBLAS's worker threads, started when it was loaded, may still be starting up, and a
       worker that allocates its buffers while the kernel table is unset initialises it itself:
       stop them (they are joined) before the table is reset, and start them again after. */
    stop_threads();
    quit();
    init();
    start_threads();
    unsetenv("OPENBLAS_CORETYPE");
    const char *after = corename();
    snprintf(blas_note, sizeof blas_note,
             "OpenBLAS did not recognise this CPU and chose its %s kernels; Kinema switched it to %s",
             was, after != NULL ? after : "(unknown)");
}
