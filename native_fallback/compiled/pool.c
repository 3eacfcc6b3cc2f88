/* The engine's thread pool for C kernels: a job is `count` pieces of one C function, run by the calling
 * thread and the pool's workers, none of which touches Python.
 *
 * Why not the Python pool (threads.py) for C kernels: a worker there must take the GIL to start its
 * piece, and waiting for the GIL is a sleep in the kernel. On a 2-vCPU VM the second piece of a split
 * GEMM started 70-100 us after the first and a 1 ms GEMM in two halves took as long as the whole;
 * measured on the 16-core host, native gained 1.4x from 1 to 4 threads where ONNX Runtime gained 3-4x.
 * Here a job is one ctypes call (the GIL released for all of it), workers are plain pthreads, and the
 * pieces call BLAS (held at one thread by threads.py) and conv.c directly.
 *
 * Waiting: while a program runs on the pool (pool_active) an idle worker spins up to 10 ms for the next
 * job, as ONNX Runtime's workers spin through a Run; otherwise for `spin_ns`; then it sleeps on a
 * condition variable. The caller spins `spin_ns` for the last piece of its job, then sleeps. So the
 * workers are awake for every split kernel of an inference, and an idle engine gives its cores back
 * within `spin_ns` of its last run.
 *
 * Shares: thread k (0: the caller) first runs its own contiguous share of a job's pieces, k * count /
 * threads up to (k + 1) * count / threads (piece k when there are no more pieces than threads), then takes
 * what is left of the others' shares (a late or descheduled thread's). So piece k of a split kernel runs on
 * the core that ran piece k of the kernel before it, which wrote those rows: with any thread taking the
 * next piece, a channels-last depthwise convolution over 14x14x384 read half its input from the other
 * core's cache and took 0.128 against 0.057 ms on one thread (MobileNetV2 on this 2-vCPU VM). A thread
 * whose share is empty (fewer pieces than threads) takes nothing, except the caller, which always
 * finishes the job.
 *
 * Each share's next piece and its job's generation share one 64-bit ticket (generation << 32 | index),
 * taken by compare-and-swap, so a worker late from the previous job never takes (or loses) a piece of the
 * next. Posting a job first closes every ticket under the new generation, and only then writes the shares'
 * ends: a worker that read a new end can no longer win a compare-and-swap on an old ticket. One job runs
 * at a time per pool (two Python threads mapping on one pool take turns). After fork() the child has no
 * workers: the pool notices the pid changed and runs every piece in the caller.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

/* A piece: its job's context, its index, this thread's scratch and the job's shared buffer. */
typedef void (*piece_fn)(const int64_t *ctx, int64_t piece, float *scratch, float *shared);

/* One thread's share of the current job, on its own cache line (the others take from it only when
 * they have finished theirs). */
typedef struct {
    _Atomic uint64_t ticket;           /* generation << 32 | next piece */
    _Atomic int64_t end;               /* one past the share's last piece */
    char pad[64 - 2 * sizeof(int64_t)];
} share_t;

/* A closed ticket's index: past any share's end. */
#define CLOSED 0xffffffffu

typedef struct {
    int64_t threads, spin_ns;
    pid_t owner;
    pthread_mutex_t run;               /* one job at a time */
    pthread_mutex_t lock;              /* guards the sleeps below */
    pthread_cond_t wake, finished;
    int sleepers, caller_sleeps;
    int64_t starts;                    /* programs started (under `lock`): wakes sleeping workers */
    _Atomic int64_t active;            /* programs running on the pool now */
    _Atomic int64_t used;              /* a job went to the workers since the last program start */
    _Atomic int64_t posted;            /* generation of the latest job */
    share_t *shares;                   /* per thread: its tickets of the current job */
    _Atomic int64_t left;              /* pieces of the current job not finished */
    piece_fn fn;
    const int64_t *ctx;
    float **scratch;                   /* per thread, `scratch_floats` each (grown under `run`) */
    int64_t scratch_floats;
    float *shared;
    int64_t shared_floats;
} pool_t;

/* How long an idle worker spins for the next job while a program runs on the pool (see pool_active). */
#define ACTIVE_SPIN_NS 10000000

typedef struct {
    pool_t *pool;
    int64_t id;
} worker_arg;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Pieces of generation `gen` from share `j` until none is left there; thread `id` runs them. */
static void take(pool_t *p, uint64_t gen, int64_t j, int64_t id) {
    share_t *sh = &p->shares[j];
    uint64_t t = atomic_load_explicit(&sh->ticket, memory_order_acquire);
    for (;;) {
        /* Take a piece only from generation `gen`: a late worker must not use up the next job's. */
        if ((t >> 32) != gen || (int64_t)(t & 0xffffffffu) >= atomic_load_explicit(&sh->end, memory_order_acquire))
            return;
        if (!atomic_compare_exchange_weak_explicit(&sh->ticket, &t, t + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        p->fn(p->ctx, (int64_t)(t & 0xffffffffu), p->scratch[id], p->shared);
        t = atomic_load_explicit(&sh->ticket, memory_order_acquire);
        if (atomic_fetch_sub_explicit(&p->left, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->lock);
            if (p->caller_sleeps) pthread_cond_signal(&p->finished);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

/* Thread `id`'s share of generation `gen`, then the others' (see Shares above). */
static void work(pool_t *p, uint64_t gen, int64_t id) {
    share_t *own = &p->shares[id];
    if (id > 0 && (atomic_load_explicit(&own->ticket, memory_order_acquire) & 0xffffffffu)
                  >= (uint64_t)atomic_load_explicit(&own->end, memory_order_acquire))
        return;  /* an empty share (or a finished job): leave the others' pieces on their cores */
    for (int64_t k = 0; k < p->threads; k++) take(p, gen, (id + k) % p->threads, id);
}

static void *serve(void *arg) {
    pool_t *p = ((worker_arg *)arg)->pool;
    int64_t id = ((worker_arg *)arg)->id, seen = 0;
    free(arg);
    for (;;) {
        const int64_t start = now_ns(), idle_end = start + p->spin_ns;
        const int64_t busy_end = start + (p->spin_ns > 0 ? ACTIVE_SPIN_NS : 0);
        int64_t gen;
        for (;;) {
            gen = atomic_load_explicit(&p->posted, memory_order_acquire);
            for (int i = 0; i < 64 && gen == seen; i++) {
                CPU_RELAX();
                gen = atomic_load_explicit(&p->posted, memory_order_acquire);
            }
            if (gen != seen) break;
            const int64_t t = now_ns();
            if (t >= (atomic_load_explicit(&p->active, memory_order_relaxed) > 0 ? busy_end : idle_end)) break;
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->lock);
            const int64_t starts = p->starts;
            p->sleepers++;
            while ((gen = atomic_load_explicit(&p->posted, memory_order_acquire)) == seen && p->starts == starts)
                pthread_cond_wait(&p->wake, &p->lock);
            p->sleepers--;
            pthread_mutex_unlock(&p->lock);
            if (gen == seen) continue;  /* a program started on the pool: spin for its jobs */
        }
        seen = gen;
        work(p, (uint64_t)gen, id);
    }
    return NULL;
}

/* A program starts (delta 1) or ends (-1) running on the pool. While one runs, idle workers spin up to
 * ACTIVE_SPIN_NS for the next job instead of spin_ns, and a start wakes sleeping workers so that they
 * are spinning by the program's first split kernel: waking a sleeping worker cost a median 43 us and a
 * 90th percentile 335 us on a 2-vCPU VM, against 5 us for a job whose worker spins (measured). ONNX
 * Runtime's workers likewise spin through a Run. A start wakes them only when a job went to them since
 * the previous start: a small model, none of whose kernels is split, would otherwise keep every worker
 * spinning through each of its runs for nothing (on a phone, cores and battery other apps want). */
void pool_active(void *handle, int64_t delta) {
    pool_t *p = handle;
    atomic_fetch_add_explicit(&p->active, delta, memory_order_relaxed);
    if (delta > 0 && p->spin_ns > 0 && atomic_exchange_explicit(&p->used, 0, memory_order_relaxed)) {
        pthread_mutex_lock(&p->lock);
        p->starts++;
        if (p->sleepers) pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

/* A pool of `threads` threads (the caller and threads - 1 workers); its address goes to out[0] (0 when
 * a worker could not be started: the caller then runs jobs alone). */
void pool_new(int64_t threads, int64_t spin_ns, int64_t *out) {
    pool_t *p = calloc(1, sizeof *p);
    out[0] = 0;
    if (!p) return;
    p->threads = threads < 1 ? 1 : threads;
    p->spin_ns = spin_ns;
    p->owner = getpid();
    p->scratch = calloc((size_t)p->threads, sizeof *p->scratch);
    p->shares = aligned_alloc(64, (size_t)p->threads * sizeof *p->shares);
    if (!p->scratch || !p->shares) { free(p->scratch); free(p->shares); free(p); return; }
    memset(p->shares, 0, (size_t)p->threads * sizeof *p->shares);
    pthread_mutex_init(&p->run, NULL);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->finished, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int64_t k = 1; k < p->threads; k++) {
        worker_arg *a = malloc(sizeof *a);
        pthread_t t;
        if (!a) { p->threads = k; break; }
        a->pool = p;
        a->id = k;
        if (pthread_create(&t, &attr, serve, a) != 0) { free(a); p->threads = k; break; }
    }
    pthread_attr_destroy(&attr);
    out[0] = (int64_t)(intptr_t)p;
}

/* Buffers of at least `floats` floats, 64-byte aligned: each thread's scratch (every[0..n-1]) or the
 * shared one (n = 1). Returns 0 when memory ran out. */
static int grow(float **every, int64_t n, int64_t *have, int64_t floats) {
    if (floats <= *have) return 1;
    size_t bytes = ((size_t)floats * sizeof(float) + 63) / 64 * 64;
    for (int64_t k = 0; k < n; k++) {
        free(every[k]);
        every[k] = aligned_alloc(64, bytes);
    }
    for (int64_t k = 0; k < n; k++)
        if (!every[k]) { *have = 0; return 0; }
    *have = floats;
    return 1;
}

enum { J_PHASES, J_SCRATCH, J_SHARED, J_CTX, J_CTX_LEN, J_X, J_Y, J_R, J_FIRST };
/* The most int64 fields a job's context has (it is copied to the caller's stack per call). */
#define CTX_MAX 64

/* One phase on the pool: fn over `count` pieces, returning when all are done (`run` is held). */
static void phase(pool_t *p, piece_fn fn, const int64_t *ctx, int64_t count) {
    if (p->threads == 1 || count <= 1 || p->owner != getpid()) {
        for (int64_t i = 0; i < count; i++) fn(ctx, i, p->scratch[0], p->shared);
        return;
    }
    const int64_t gen = atomic_load_explicit(&p->posted, memory_order_relaxed) + 1, n = p->threads;
    for (int64_t k = 0; k < n; k++)  /* closed before any end changes (see Shares above) */
        atomic_store_explicit(&p->shares[k].ticket, (uint64_t)gen << 32 | CLOSED, memory_order_relaxed);
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->left, count, memory_order_relaxed);
    for (int64_t k = 0; k < n; k++) {  /* thread k's pieces: its part of count, or piece k */
        const int64_t start = count >= n ? count * k / n : (k < count ? k : count);
        const int64_t end = count >= n ? count * (k + 1) / n : (k < count ? k + 1 : count);
        atomic_store_explicit(&p->shares[k].end, end, memory_order_release);
        atomic_store_explicit(&p->shares[k].ticket, (uint64_t)gen << 32 | (uint64_t)start, memory_order_release);
    }
    atomic_store_explicit(&p->posted, gen, memory_order_release);
    atomic_store_explicit(&p->used, 1, memory_order_relaxed);
    pthread_mutex_lock(&p->lock);
    if (p->sleepers) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    work(p, (uint64_t)gen, 0);
    int64_t end = now_ns() + p->spin_ns;
    while (atomic_load_explicit(&p->left, memory_order_acquire) > 0 && now_ns() < end)
        for (int i = 0; i < 64; i++) CPU_RELAX();
    if (atomic_load_explicit(&p->left, memory_order_acquire) > 0) {
        pthread_mutex_lock(&p->lock);
        p->caller_sleeps = 1;
        while (atomic_load_explicit(&p->left, memory_order_acquire) > 0)
            pthread_cond_wait(&p->finished, &p->lock);
        p->caller_sleeps = 0;
        pthread_mutex_unlock(&p->lock);
    }
}

/* Run a job on the pool and return when it is done: 0, 1 when its buffers could not be allocated, 2
 * when its context is too long (nothing ran then). The job (int64, built once per kernel and shape):
 * phase count, scratch floats per thread, shared floats, the context template's address and length,
 * the context fields that take this call's `x`, `y` and `r` addresses (-1: none), then per phase a
 * piece function's address and its piece count. The template is copied with the addresses filled in,
 * so one job serves concurrent calls with different tensors. Phases run one after another (the second
 * may read what the first wrote to the shared buffer); jobs on one pool take turns, so the buffers are
 * the pool's, reused across jobs. */
int64_t pool_run(void *handle, const int64_t *job, int64_t x, int64_t y, int64_t r) {
    pool_t *p = handle;
    int64_t ctx[CTX_MAX];
    const int64_t n = job[J_CTX_LEN];
    if (n > CTX_MAX) return 2;
    memcpy(ctx, (const int64_t *)(intptr_t)job[J_CTX], (size_t)n * sizeof *ctx);
    const int64_t fields[3] = {job[J_X], job[J_Y], job[J_R]}, values[3] = {x, y, r};
    for (int k = 0; k < 3; k++)
        if (fields[k] >= 0 && fields[k] < n) ctx[fields[k]] = values[k];
    pthread_mutex_lock(&p->run);
    int64_t status = !grow(p->scratch, p->threads, &p->scratch_floats, job[J_SCRATCH])
                     || !grow(&p->shared, 1, &p->shared_floats, job[J_SHARED]);
    if (!status)
        for (int64_t k = 0; k < job[J_PHASES]; k++)
            phase(p, (piece_fn)(intptr_t)job[J_FIRST + 2 * k], ctx, job[J_FIRST + 2 * k + 1]);
    pthread_mutex_unlock(&p->run);
    return status;
}
