/* A small thread pool for independent tasks, which never waits for a thread that has not started.

OpenMP ends every parallel region with a barrier: all threads of the team must arrive, so a worker whose
core is taken by another process (a busy neighbour) holds up the whole region until the scheduler gives it a
time slice -- milliseconds, for a GEMM of a few hundred microseconds. Here the caller publishes a job, works
on it itself, and returns once every task is finished: a worker that wakes late finds the tasks taken and
goes back to waiting. Tasks are claimed from one atomic counter (gen << 32 | next task), so a worker still
holding an old job can never claim a task of a newer one.

Results do not depend on which thread runs a task (tasks are independent and each computes in a fixed
order), so 1 and N threads give the same bits. Calls from several Python threads at once: one job runs on
the pool, the others run on their calling thread alone. */
#ifndef RNP_POOL_H
#define RNP_POOL_H

typedef void (*rnp_task_fn)(void *ctx, int task);

/* fn(ctx, t) for t in [0, ntasks) on up to nthreads threads (the caller included). */
void rnp_parallel_for(rnp_task_fn fn, void *ctx, int ntasks, int nthreads);

/* How long (microseconds) an idle worker spins before it sleeps; 0 sleeps at once. */
void rnp_pool_set_spin_us(int us);
int rnp_pool_spin_us(void);
/* ... and then, after a short job (under 1 ms), how long it yields the core between looks before it sleeps. */
void rnp_pool_set_yield_us(int us);
int rnp_pool_yield_us(void);

#endif /* RNP_POOL_H */
