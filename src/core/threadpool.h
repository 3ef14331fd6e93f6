/*
 * threadpool.h - a fixed set of worker threads for data-parallel loops.
 *
 * The only primitive is fk__pool_run: split the index range [0, n) into
 * contiguous chunks and call fn(arg, begin, end) for each chunk on the pool's
 * threads (the calling thread takes part), returning when all are done. With
 * a NULL pool or threads == 1 it simply calls fn(arg, 0, n). Nothing is
 * allocated per call. A pool must not be used by two threads at once.
 *
 * It lives in core because three layers share it: the nn kernels split a
 * layer over it, the context owns one for the pipeline, and the gallery's
 * exact search splits its rows over one. It needs only libc and pthreads.
 * (The gallery tried per-call pthreads instead: bench_search --rows 100000
 * --dim 128 --ann none, single-query p50 0.924 -> 1.062 ms and batch-64
 * 9.00 -> 9.76 ms, because a started thread costs what a spinning worker
 * does not; see threadpool.c for why the workers spin.)
 */
#ifndef FK_CORE_THREADPOOL_H
#define FK_CORE_THREADPOOL_H

#include "facekit.h"

typedef struct fk_pool fk_pool;

typedef void (*fk_pool_fn)(void *arg, long begin, long end);

/* threads <= 0 means the number of online CPUs. */
fk_status fk__pool_new(int threads, fk_pool **out);
void fk__pool_free(fk_pool *pool);
int fk__pool_threads(const fk_pool *pool);
/* Run fn over [0, n) in at most `threads` chunks, each of at least `grain`
 * indices (grain >= 1). */
void fk__pool_run(fk_pool *pool, long n, long grain, fk_pool_fn fn, void *arg);

#endif
