/* CPUID for the low-precision dot-product instructions (rnp_lowp.h). */
#include "rnp_amx.h"
#include "rnp_lowp.h"

int rnp_lowp_cpu_supports(int dot) {
#if defined(__GNUC__) && defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw")) return 0;
    if (dot == RNP_DOT_BF16) return __builtin_cpu_supports("avx512bf16");
    if (dot == RNP_DOT_VNNI) return __builtin_cpu_supports("avx512vnni");
    if (dot == RNP_DOT_AMX) return __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vnni") &&
                                   rnp_amx_available();
#else
    (void)dot;
#endif
    return 0;
}
