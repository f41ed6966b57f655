/* Measured FMA peak of this machine: every thread runs independent chains of vector FMAs.
   Built by the benchmark with -O2 -march=native -fopenmp (the benchmark only; the library never uses
   -march=native). Returns GFLOP/s (one FMA = 2 FLOPs per lane). */
#include <omp.h>
#include <stdint.h>

#if defined(__AVX512F__)
#define W 16
#elif defined(__AVX__)
#define W 8
#else
#define W 4
#endif
typedef float vf __attribute__((vector_size(W * 4)));
#define CHAINS 12

double fma_peak(int threads, long iters) {
    double t0 = omp_get_wtime();
    float sink = 0.0f;
    #pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
        vf a, b;
        for (int l = 0; l < W; l++) { a[l] = 0.999f; b[l] = 1e-3f * (omp_get_thread_num() + 1); }
        /* twelve named accumulators (registers, not an array in memory): latency x throughput of FMA */
        vf c0 = a, c1 = a * 2, c2 = a * 3, c3 = a * 4, c4 = a * 5, c5 = a * 6;
        vf c6 = a * 7, c7 = a * 8, c8 = a * 9, c9 = a * 10, c10 = a * 11, c11 = a * 12;
        for (long i = 0; i < iters; i++) {
            c0 = c0 * a + b; c1 = c1 * a + b; c2 = c2 * a + b; c3 = c3 * a + b;
            c4 = c4 * a + b; c5 = c5 * a + b; c6 = c6 * a + b; c7 = c7 * a + b;
            c8 = c8 * a + b; c9 = c9 * a + b; c10 = c10 * a + b; c11 = c11 * a + b;
            __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5));
            __asm__ volatile("" : "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
        }
        vf s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
        for (int l = 0; l < W; l++) sink += s[l];
    }
    double dt = omp_get_wtime() - t0;
    if (sink == 12345.0f) return -1.0;
    return 2.0 * W * CHAINS * (double)iters * threads / dt / 1e9;
}
