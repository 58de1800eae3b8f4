#ifndef CALLOCATOR_H
#define CALLOCATOR_H

/// Called once by needletail-server's main: from then on INFO's used_memory and the maxmemory checks read the
/// counter this target keeps (see allocator.c) instead of glibc's mallinfo2.
void callocator_activate(void);

#endif
