/* The OpenMP shim, the target_clones dispatch macro and the per-thread workspace. */
#ifndef RNP_COMMON_H
#define RNP_COMMON_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#define RNP_HAVE_OPENMP 1
#else
#define RNP_HAVE_OPENMP 0
static int omp_get_max_threads(void) { return 1; }
static int omp_get_thread_num(void) { return 0; }
#endif

/* Runtime dispatch (not -march=native): the same binary runs everywhere and picks AVX2/AVX-512
   clones of the element-wise loops where the CPU has them. Results may differ in the last ulp
   between machines (FMA contraction), never between thread counts. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(RNP_NO_CLONES)
#define RNP_CLONES __attribute__((target_clones("default", "avx2", "arch=x86-64-v4")))
#else
#define RNP_CLONES
#endif

#define RNP_LANES 16

/* Per-thread scratch buffers kept between kernel calls. A fresh malloc of a few MB comes back from the
   kernel as untouched pages, and every first touch of a 4 KiB page is a fault (about 1.5 us on this VM:
   ~3000 faults, 4-5 ms, per base forward at (1, 512)). Each OS thread owns its slots (pthread key, freed
   at thread exit); a buffer is valid until the same thread asks for the same slot again. Requests above
   RNP_WS_MAX bytes are not kept (the caller frees them with rnp_ws_release). */
#include <pthread.h>
#include <stdlib.h>
#define RNP_WS_SLOTS 8
#define RNP_WS_MAX ((size_t)16 << 20)
typedef struct { void *ptr[RNP_WS_SLOTS]; size_t size[RNP_WS_SLOTS]; } rnp_ws_t;
static pthread_key_t rnp_ws_key;
static pthread_once_t rnp_ws_once = PTHREAD_ONCE_INIT;
static int rnp_ws_key_ok = 0;
static void rnp_ws_destroy(void *p) {
    rnp_ws_t *ws = (rnp_ws_t *)p;
    int i;
    for (i = 0; i < RNP_WS_SLOTS; i++) free(ws->ptr[i]);
    free(ws);
}
static void rnp_ws_init(void) { rnp_ws_key_ok = pthread_key_create(&rnp_ws_key, rnp_ws_destroy) == 0; }
static void *rnp_workspace(int slot, size_t bytes) {
    rnp_ws_t *ws;
    if (bytes == 0) bytes = 1;
    pthread_once(&rnp_ws_once, rnp_ws_init);
    if (!rnp_ws_key_ok || bytes > RNP_WS_MAX || slot < 0 || slot >= RNP_WS_SLOTS) return malloc(bytes);
    ws = (rnp_ws_t *)pthread_getspecific(rnp_ws_key);
    if (ws == NULL) {
        ws = (rnp_ws_t *)calloc(1, sizeof(rnp_ws_t));
        if (ws == NULL || pthread_setspecific(rnp_ws_key, ws) != 0) { free(ws); return malloc(bytes); }
    }
    if (ws->size[slot] < bytes) {
        free(ws->ptr[slot]);
        ws->ptr[slot] = malloc(bytes);
        ws->size[slot] = ws->ptr[slot] ? bytes : 0;
    }
    return ws->ptr[slot];
}
/* Frees what rnp_workspace returned only when it was not kept. */
static void rnp_ws_release(void *p, size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (!rnp_ws_key_ok || bytes > RNP_WS_MAX) free(p);
}

#endif /* RNP_COMMON_H */
