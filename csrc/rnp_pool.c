/* The task pool of rnp_pool.h: pthreads, one job at a time, spin-then-sleep workers. */
#include "rnp_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <time.h>

#define RNP_POOL_MAX 64 /* workers besides the caller */
#define RNP_SLOTS 8     /* job descriptions kept in a ring, indexed by generation */
#define RNP_SHORT_JOB_US 1000.0 /* a job shorter than this (a GEMV) is followed by the yield phase */

typedef struct {
    rnp_task_fn fn;
    void *ctx;
    int ntasks;
    int nworkers; /* workers allowed to join (nthreads - 1) */
} job_t;

static job_t jobs[RNP_SLOTS];
static uint64_t claim;     /* gen << 32 | next unclaimed task */
static uint32_t published; /* generation of the latest job (workers wait for it to change) */
static int done;           /* tasks finished in the current job */
static int busy;           /* a caller owns the pool */
static int sleepers;       /* workers blocked on the condition variable */
static int spin_us = 200;
static int yield_us = 2000;
static int nstarted;
static int caller_waits;   /* the caller sleeps until the last task is done */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;      /* workers wait for a job */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER; /* the caller waits for the last task */

void rnp_pool_set_spin_us(int us) { __atomic_store_n(&spin_us, us < 0 ? 0 : us, __ATOMIC_RELAXED); }
int rnp_pool_spin_us(void) { return __atomic_load_n(&spin_us, __ATOMIC_RELAXED); }
void rnp_pool_set_yield_us(int us) { __atomic_store_n(&yield_us, us < 0 ? 0 : us, __ATOMIC_RELAXED); }
int rnp_pool_yield_us(void) { return __atomic_load_n(&yield_us, __ATOMIC_RELAXED); }

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

/* Claim and run tasks of generation gen until none is left; the job description is read only after a
   successful claim, which proves the job is still running (its caller waits for this very task). */
static void work_on(uint32_t gen) {
    for (;;) {
        uint64_t c = __atomic_load_n(&claim, __ATOMIC_ACQUIRE);
        const job_t *j = &jobs[gen % RNP_SLOTS];
        if ((uint32_t)(c >> 32) != gen) return;
        if ((int)(uint32_t)c >= __atomic_load_n(&j->ntasks, __ATOMIC_RELAXED)) return;
        if (!__atomic_compare_exchange_n(&claim, &c, c + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) continue;
        int ntasks = __atomic_load_n(&j->ntasks, __ATOMIC_RELAXED); /* valid: the job is running */
        j->fn(j->ctx, (int)(uint32_t)c);
        if (__atomic_add_fetch(&done, 1, __ATOMIC_SEQ_CST) == ntasks &&
            __atomic_load_n(&caller_waits, __ATOMIC_SEQ_CST)) {
            pthread_mutex_lock(&mu);
            pthread_cond_broadcast(&done_cv);
            pthread_mutex_unlock(&mu);
        }
    }
}

/* The caller's wait for tasks other threads still hold: a short spin, then sleep. Sleeping matters when a
   neighbour process takes a core: the holder may be waiting for a core, and an idle core is where the
   scheduler moves it; a spinning caller would keep its own core busy and make the holder wait longer. */
static void wait_done(int ntasks) {
    double limit;
    int n = 0;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE) >= ntasks) return;
    limit = now_us() + 30.0;
    while (__atomic_load_n(&done, __ATOMIC_ACQUIRE) < ntasks) {
        cpu_relax();
        if ((++n & 63) == 0 && now_us() > limit) break;
    }
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE) >= ntasks) return;
    pthread_mutex_lock(&mu);
    __atomic_store_n(&caller_waits, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&done, __ATOMIC_SEQ_CST) < ntasks) pthread_cond_wait(&done_cv, &mu);
    __atomic_store_n(&caller_waits, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&mu);
}

static void *worker_main(void *arg) {
    int id = (int)(intptr_t)arg;
    uint32_t seen = __atomic_load_n(&published, __ATOMIC_ACQUIRE);
    double job_us = 1e9; /* how long this worker's part of the last job took */
    for (;;) {
        uint32_t gen = __atomic_load_n(&published, __ATOMIC_ACQUIRE);
        if (gen == seen) {
            double start = now_us(), limit = start + rnp_pool_spin_us();
            int n = 0;
            while ((gen = __atomic_load_n(&published, __ATOMIC_ACQUIRE)) == seen) {
                cpu_relax();
                if ((++n & 63) == 0 && now_us() > limit) break;
            }
            /* after a short job, yield between looks for longer: a decoding step's GEMVs take and come
               ~0.1-1 ms apart, and a worker asleep at the next one costs a wake-up (tens of microseconds on a
               VM) while the caller starts alone; yielding (not spinning) hands the core to any other runnable
               thread meanwhile. Not after long jobs (a forward's GEMMs): OpenMP's attention regions follow. */
            limit = job_us < RNP_SHORT_JOB_US ? start + rnp_pool_spin_us() + rnp_pool_yield_us() : 0;
            while (gen == seen && now_us() < limit) {
                sched_yield();
                gen = __atomic_load_n(&published, __ATOMIC_ACQUIRE);
            }
        }
        if (gen == seen) {
            /* sleepers++ before the last look at published, and the caller's store of published before its
               look at sleepers, both sequentially consistent: one of the two sees the other */
            pthread_mutex_lock(&mu);
            __atomic_fetch_add(&sleepers, 1, __ATOMIC_SEQ_CST);
            while ((gen = __atomic_load_n(&published, __ATOMIC_SEQ_CST)) == seen) pthread_cond_wait(&cv, &mu);
            __atomic_fetch_sub(&sleepers, 1, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&mu);
        }
        seen = gen;
        if (id < __atomic_load_n(&jobs[gen % RNP_SLOTS].nworkers, __ATOMIC_RELAXED)) {
            double t0 = now_us();
            work_on(gen);
            job_us = now_us() - t0;
        }
    }
    return NULL;
}

static int start_workers(int want) {
    pthread_mutex_lock(&mu);
    while (nstarted < want && nstarted < RNP_POOL_MAX) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, worker_main, (void *)(intptr_t)nstarted) != 0) {
            pthread_attr_destroy(&attr);
            break;
        }
        pthread_attr_destroy(&attr);
        nstarted++;
    }
    int have = nstarted;
    pthread_mutex_unlock(&mu);
    return have;
}

void rnp_parallel_for(rnp_task_fn fn, void *ctx, int ntasks, int nthreads) {
    int t, expected = 0, nworkers;
    uint32_t gen;
    if (nthreads > ntasks) nthreads = ntasks;
    if (nthreads <= 1 || !__atomic_compare_exchange_n(&busy, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        for (t = 0; t < ntasks; t++) fn(ctx, t); /* alone, or another caller owns the pool */
        return;
    }
    nworkers = start_workers(nthreads - 1);
    if (nworkers > nthreads - 1) nworkers = nthreads - 1;
    gen = __atomic_load_n(&published, __ATOMIC_RELAXED) + 1;
    {
        job_t *j = &jobs[gen % RNP_SLOTS];
        j->fn = fn;
        j->ctx = ctx;
        __atomic_store_n(&j->ntasks, ntasks, __ATOMIC_RELAXED);
        __atomic_store_n(&j->nworkers, nworkers, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&claim, (uint64_t)gen << 32, __ATOMIC_RELEASE);
    __atomic_store_n(&published, gen, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&mu);
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    work_on(gen);
    wait_done(ntasks); /* tasks other threads still hold */
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
}
