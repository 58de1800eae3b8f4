/* The server's allocation counter: Redis's zmalloc_used_memory() for glibc's malloc.
 *
 * maxmemory is checked before every write command, so "how many bytes are allocated" must cost a load, not a
 * walk of malloc's arenas (mallinfo2 takes the arena locks and visits every bin). Redis keeps its own counter
 * in zmalloc; we keep one by interposing the allocation functions (glibc supports replacing them: its own
 * internal calls and every shared library's resolve to the executable's definitions) and forwarding to
 * glibc's implementations (__libc_malloc & co.), adding or removing each block's usable size, as Redis does
 * with malloc_size(). One relaxed atomic add per call: the loop and the thread pool both allocate.
 *
 * Only the needletail-server executable links this target. The test processes, which run servers in
 * process for unit tests, keep glibc's malloc (the integration tests interpose their own counting malloc,
 * IntegrationTests/CMallocCounter), and cs_used_memory() falls back to mallinfo2 there. */
#include "callocator.h"
#include "csystem.h"

/* Sanitizers (scripts/sanitize.sh) bring their own malloc: no interposition then, and used_memory falls back
 * to mallinfo2 as in the test processes. */
#if defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#    define CALLOCATOR_DISABLED 1
#  endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define CALLOCATOR_DISABLED 1
#endif

#ifdef CALLOCATOR_DISABLED
void callocator_activate(void) {}
#else

#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern void __libc_free(void *);

static inline void *counted(void *p) {
    if (p) cs_heap_used_add((int64_t)malloc_usable_size(p));
    return p;
}

void *malloc(size_t size) { return counted(__libc_malloc(size)); }

void *calloc(size_t count, size_t size) { return counted(__libc_calloc(count, size)); }

void free(void *p) {
    if (!p) return;
    cs_heap_used_add(-(int64_t)malloc_usable_size(p));
    __libc_free(p);
}

void *realloc(void *p, size_t size) {
    if (!p) return malloc(size);
    size_t before = malloc_usable_size(p);
    void *q = __libc_realloc(p, size);
    if (q) {
        cs_heap_used_add((int64_t)malloc_usable_size(q) - (int64_t)before);
    } else if (size == 0) {
        cs_heap_used_add(-(int64_t)before);  /* glibc's realloc(p, 0) frees p */
    }
    return q;
}

void *reallocarray(void *p, size_t count, size_t size) {
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, bytes);
}

void *memalign(size_t alignment, size_t size) { return counted(__libc_memalign(alignment, size)); }

void *aligned_alloc(size_t alignment, size_t size) { return counted(__libc_memalign(alignment, size)); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment % sizeof(void *) != 0) return EINVAL;
    void *p = counted(__libc_memalign(alignment, size));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t size) { return counted(__libc_valloc(size)); }

void *pvalloc(size_t size) { return counted(__libc_pvalloc(size)); }

void callocator_activate(void) { cs_heap_counting = 1; }
#endif
