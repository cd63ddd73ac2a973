/* The AVX-512 micro-kernel of PackedLinearWeight; see CKinemaSupport.h. The Swift kernels are
   compiled for AVX2 (8 float lanes, 16 registers); this one runs where the CPU has AVX-512F and
   holds 12 rows x 16 features of outputs in 12 of the 32 512-bit registers, widening each input
   index's 16 bf16 weights once for 12 fused multiply-adds, where the AVX2 kernel widens them for
   6 rows. For the few-row products of a text encoder (tens of tokens against gigabytes of bf16
   weights) that is about twice the AVX2 kernel's rate per core. */
#include "CKinemaSupport.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define KS_AVX512 __attribute__((target("avx512f")))

int ksupport_cpu_has_avx512(void) {
    __builtin_cpu_init();
    /* The compiler's runtime also checks that the operating system saves the 512-bit state. */
    return __builtin_cpu_supports("avx512f");
}

/* One input index of a bf16 panel as 16 float32 lanes: the 8 words go to both halves of the
   register; the lower half shifts each word up 16 bits (feature j), the upper half keeps the
   word's high 16 bits (feature j + 8). Both are exact: bf16 is the top half of a float32. */
static inline __attribute__((always_inline)) KS_AVX512 __m512 ks_bf16_step(const unsigned int *p) {
    const __m256i w = _mm256_loadu_si256((const __m256i *)p);
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(w), w, 1);
    const __m512i shifts = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 16, 16, 16, 16, 16, 16, 16, 16);
    const __m512i keep = _mm512_set_epi32((int)0xFFFF0000, (int)0xFFFF0000, (int)0xFFFF0000, (int)0xFFFF0000,
                                          (int)0xFFFF0000, (int)0xFFFF0000, (int)0xFFFF0000, (int)0xFFFF0000,
                                          -1, -1, -1, -1, -1, -1, -1, -1);
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_sllv_epi32(both, shifts), keep));
}

/* `rows` is a constant at every call site below, so the row loops unroll and the accumulators
   stay in registers. */
static inline __attribute__((always_inline)) KS_AVX512 void
ks_panel(const int rows, const int bf16, const float *x, const unsigned int *panel, long k,
         float *c, long ldc, int columns, int accumulate) {
    __m512 acc[12];
    for (int r = 0; r < rows; r++) acc[r] = _mm512_setzero_ps();
    const long words = bf16 ? 8 : 16;
    for (long i = 0; i < k; i++) {
        /* The weights stream from memory once: ask for them 128 input indices (4 or 8 KB)
           ahead, which the hardware prefetcher alone does not reach (~1.3x the rate here).
           A prefetch past the end of the panels is harmless: it never faults. */
        _mm_prefetch((const char *)(panel + words * (i + 128)), _MM_HINT_T0);
        const __m512 b = bf16 ? ks_bf16_step(panel + 8 * i) : _mm512_loadu_ps((const float *)(panel + 16 * i));
        const float *xi = x + i * rows;
        for (int r = 0; r < rows; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(xi[r]), b, acc[r]);
    }
    const __mmask16 mask = columns >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << columns) - 1u);
    for (int r = 0; r < rows; r++) {
        float *dst = c + r * ldc;
        __m512 v = acc[r];
        if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst), v);
        _mm512_mask_storeu_ps(dst, mask, v);
    }
}

#define KS_ROWS(n) \
    case n: \
        if (bf16) ks_panel(n, 1, x, panel, k, c, ldc, columns, accumulate); \
        else ks_panel(n, 0, x, panel, k, c, ldc, columns, accumulate); \
        break;

KS_AVX512 void ksupport_packed_panel_avx512(int bf16, int rows, const float *x, const unsigned int *panel, long k,
                                            float *c, long ldc, int columns, int accumulate) {
    if (columns < 1 || columns > 16) return;
    switch (rows) {
        KS_ROWS(12) KS_ROWS(11) KS_ROWS(10) KS_ROWS(9) KS_ROWS(8) KS_ROWS(7)
        KS_ROWS(6) KS_ROWS(5) KS_ROWS(4) KS_ROWS(3) KS_ROWS(2) KS_ROWS(1)
        default: break;
    }
}

#else

int ksupport_cpu_has_avx512(void) { return 0; }

void ksupport_packed_panel_avx512(int bf16, int rows, const float *x, const unsigned int *panel, long k,
                                  float *c, long ldc, int columns, int accumulate) {
    (void)bf16; (void)rows; (void)x; (void)panel; (void)k; (void)c; (void)ldc; (void)columns; (void)accumulate;
}

#endif
