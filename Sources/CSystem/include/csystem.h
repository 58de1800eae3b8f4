// Thin C shim for what Glibc does not export to Swift: epoll, eventfd, a few socket helpers, malloc's
// usable size.
#ifndef NEEDLETAIL_CSYSTEM_H
#define NEEDLETAIL_CSYSTEM_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <malloc.h>
#include "csystem_bits.h"

/// epoll_event is packed on x86_64, which Swift cannot import field by field reliably: accessors.
static inline uint32_t cs_epoll_event_events(const struct epoll_event *e) { return e->events; }
static inline uint64_t cs_epoll_event_data(const struct epoll_event *e) { return e->data.u64; }
static inline size_t cs_epoll_event_size(void) { return sizeof(struct epoll_event); }

int cs_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);

/// Sets O_NONBLOCK (and FD_CLOEXEC). Returns 0 or -1 with errno set.
int cs_set_nonblocking(int fd);
int cs_set_int_sockopt(int fd, int level, int name, int value);

/// Binds and listens on a TCP address ("127.0.0.1", "::1", "*", "0.0.0.0", "::"); returns the fd or -1.
/// `*port` may be 0 (ephemeral); on success it holds the bound port.
int cs_tcp_listen(const char *host, int *port, int backlog);
/// Binds and listens on a Unix socket path with the given permissions (0 = leave as is).
int cs_unix_listen(const char *path, unsigned perm, int backlog);
/// Accepts a connection, non-blocking + cloexec. Writes "ip:port" (or path) into `addr`.
int cs_accept(int lfd, char *addr, size_t addrlen, int *is_unix);
/// "ip:port" of the local end of a socket.
int cs_sockname(int fd, char *addr, size_t addrlen);
/// Starts a non-blocking TCP connection to host:port (a name or an address; the name is resolved here,
/// blocking, as Redis's anetTcpNonBlockConnect). Returns the fd (connect in progress or done) or -1.
int cs_tcp_connect(const char *host, int port);
/// The pending error of a socket (SO_ERROR): 0 once a non-blocking connect succeeded.
int cs_socket_error(int fd);

/// Installs handlers that set a flag for SIGTERM/SIGINT and write to `wake_fd`; ignores SIGPIPE.
void cs_install_signal_handlers(int wake_fd);
/// Returns the last shutdown signal received (0 if none) and clears it.
int cs_take_shutdown_signal(void);

/// Sequentially consistent loads and stores of an int shared between threads (stop requests).
static inline int cs_atomic_load_int(const int *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void cs_atomic_store_int(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
/// 32-bit slots published by one thread and read by others without a lock (Storage/FieldNames.swift): a
/// release store after the data it points to is written, an acquire load before reading that data; relaxed
/// for counters whose lost updates do not matter.
static inline uint32_t cs_load_acquire_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void cs_store_release_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint32_t cs_load_relaxed_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void cs_store_relaxed_u32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

/// printf formatting without Swift's C-varargs bridging (which boxes each argument into an array):
/// "%.17g" for replying doubles, "%.17Lf" for INCRBYFLOAT's long doubles. Return snprintf's count.
int cs_format_double_g17(double value, char *buffer, size_t size);

/* SHA-1's compression of one 64-byte block into `state` (Engine/SHA1.swift). */
void cs_sha1_compress(uint32_t state[5], const unsigned char *block);
int cs_format_long_double_f17(long double value, char *buffer, size_t size);

/// Starts loading the cache line at `p` for reading (a hint: never faults, changes nothing). Swift has no
/// prefetch builtin; this inlines to one instruction.
static inline void cs_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// The CPU's timestamp counter (RDTSC, not serializing), or 0 where there is none: the command clock's
/// cheap between-reads source (Engine/TickClock.swift), a third of a vDSO clock_gettime.
static inline uint64_t cs_ticks(void) {
#if defined(__x86_64__)
    return __builtin_ia32_rdtsc();
#else
    return 0;
#endif
}

/// Resident set size in bytes from /proc/self/statm, or 0.
uint64_t cs_rss_bytes(void);
/// Bytes malloc has handed out and not yet freed (arena chunks in use plus mmapped blocks, from glibc's
/// mallinfo2). Slow (walks the arenas): the fallback of cs_used_memory in processes without the counter.
uint64_t cs_malloc_used_bytes(void);
/// Bytes glibc's malloc holds from the kernel: every arena's heap (blocks in use and free chunks alike) plus
/// its directly mapped blocks (mallinfo2's arena + hblkhd). As slow as cs_malloc_used_bytes: INFO memory and
/// MEMORY STATS read it (allocator_active, see Server/MemoryOverhead.swift), nothing hot does.
uint64_t cs_malloc_heap_bytes(void);

/// The usable bytes of the blocks malloc has handed out and not yet freed, kept by the interposed allocator
/// of the server executable (Sources/CAllocator) when `cs_heap_counting` is set.
extern int64_t cs_heap_used;
extern int cs_heap_counting;
static inline void cs_heap_used_add(int64_t delta) { __atomic_add_fetch(&cs_heap_used, delta, __ATOMIC_RELAXED); }
/// The usable size of a malloc'ed block (at least what was asked for): the capacity of buffers that are
/// sized exactly and grown with realloc (the packed hash).
static inline size_t cs_malloc_usable_size(void *p) { return malloc_usable_size(p); }
/// Gives free memory at the top of the heap and in the arenas back to the system (MEMORY PURGE).
static inline int cs_malloc_trim(void) { return malloc_trim(0); }

/// Bytes the keyspace maps directly with mmap (HashTable chunks and big bucket arrays), which malloc's
/// statistics do not see. Updated from the loop and from the lazyfree worker, hence atomic.
extern int64_t cs_mapped_bytes;
static inline void cs_mapped_bytes_add(int64_t delta) { __atomic_add_fetch(&cs_mapped_bytes, delta, __ATOMIC_RELAXED); }
static inline int64_t cs_mapped_bytes_load(void) { return __atomic_load_n(&cs_mapped_bytes, __ATOMIC_RELAXED); }

static inline void cs_atomic_add_i64(int64_t *p, int64_t delta) { __atomic_add_fetch(p, delta, __ATOMIC_RELAXED); }
static inline int64_t cs_atomic_load_i64(int64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/// Allocated bytes, Redis's zmalloc_used_memory(): the heap (the counter when the allocator keeps one, else
/// mallinfo2) plus the pages the keyspace maps itself. INFO used_memory and every maxmemory check read it.
static inline int64_t cs_used_memory(void) {
    int64_t heap = cs_heap_counting ? __atomic_load_n(&cs_heap_used, __ATOMIC_RELAXED) : (int64_t)cs_malloc_used_bytes();
    return heap + cs_mapped_bytes_load();
}

#endif
