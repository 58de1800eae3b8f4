#include "malloc_counter.h"

#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#if defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#    define MC_DISABLED 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define MC_DISABLED 1
#endif

#define MC_RECORDS 512
#define MC_DEPTH 24

static atomic_int counting;
static atomic_int recording;
static atomic_long allocations;
static atomic_long frees;
static atomic_int recordCount;
static void *records[MC_RECORDS][MC_DEPTH];
static int recordDepth[MC_RECORDS];
/// backtrace() may allocate (it loads libgcc_s on first use): no recording from inside it.
static __thread int insideHook;

static inline void noteAllocation(void) {
    if (!atomic_load_explicit(&counting, memory_order_relaxed)) return;
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    if (atomic_load_explicit(&recording, memory_order_relaxed) && !insideHook) {
        insideHook = 1;
        int i = atomic_fetch_add(&recordCount, 1);
        if (i < MC_RECORDS) recordDepth[i] = backtrace(records[i], MC_DEPTH);
        insideHook = 0;
    }
}

#ifndef MC_DISABLED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

void *malloc(size_t size) {
    noteAllocation();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    noteAllocation();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    noteAllocation();
    return __libc_realloc(pointer, size);
}

void free(void *pointer) {
    if (pointer && atomic_load_explicit(&counting, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
    }
    __libc_free(pointer);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment % sizeof(void *) != 0) return EINVAL;
    noteAllocation();
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    noteAllocation();
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    noteAllocation();
    return __libc_memalign(alignment, size);
}

int mc_available(void) { return 1; }
#else
int mc_available(void) { return 0; }
#endif

void mc_start(int record) {
    if (record) {
        void *warm[2];
        backtrace(warm, 2);  // loads the unwinder now, not while counting
    }
    atomic_store(&allocations, 0);
    atomic_store(&frees, 0);
    atomic_store(&recordCount, 0);
    atomic_store(&recording, record != 0);
    atomic_store(&counting, 1);
}

long mc_stop(void) {
    atomic_store(&counting, 0);
    atomic_store(&recording, 0);
    return atomic_load(&allocations);
}

long mc_frees(void) { return atomic_load(&frees); }

int mc_recorded(void) {
    int n = atomic_load(&recordCount);
    return n < MC_RECORDS ? n : MC_RECORDS;
}

void mc_print_record(int index, int fd) {
    if (index < 0 || index >= mc_recorded()) return;
    backtrace_symbols_fd(records[index], recordDepth[index], fd);
}
