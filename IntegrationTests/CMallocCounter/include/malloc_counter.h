#ifndef NEEDLETAIL_MALLOC_COUNTER_H
#define NEEDLETAIL_MALLOC_COUNTER_H

/// Counts heap allocations made by the whole process (every thread) while counting is on.
///
/// The target defines malloc, calloc, realloc, free, posix_memalign, aligned_alloc and memalign, which
/// forward to glibc's own (`__libc_malloc`, ...): being in the test executable, they take precedence over
/// libc's for every shared library, the Swift runtime included. Under ASan or TSan (which replace malloc
/// themselves) the wrappers are left out and `mc_available()` is 0.

/// 1 when the wrappers are compiled in.
int mc_available(void);

/// Zeroes the counters and starts counting. With `record` != 0, the call stacks of the first
/// allocations are also kept (for finding where they come from; slow).
void mc_start(int record);

/// Stops counting; returns the allocations (malloc, calloc, realloc, posix_memalign, ...) since mc_start.
long mc_stop(void);

/// Frees of non-null pointers while counting was on.
long mc_frees(void);

/// How many call stacks were recorded; prints one (symbols or addresses, the wrapper's frames first).
int mc_recorded(void);
void mc_print_record(int index, int fd);

#endif
