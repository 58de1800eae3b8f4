#ifndef CSYSTEM_BITS_H
#define CSYSTEM_BITS_H

#include <stddef.h>
#include <stdint.h>

/// The number of set bits in `count` bytes at `bytes` (BITCOUNT): the POPCNT instruction over 64-bit words
/// when the CPU has it (chosen once, at the first call), else a word-parallel count.
uint64_t cs_popcount(const void *bytes, size_t count);

#endif
