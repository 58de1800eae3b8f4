#ifndef CSYSTEM_BITS_H
#define CSYSTEM_BITS_H

#include <stddef.h>
#include <stdint.h>

/// The number of set bits in `count` bytes at `bytes` (BITCOUNT): the POPCNT instruction over 64-bit words
/// when the CPU has it (chosen once, at the first call), else a word-parallel count.
uint64_t cs_popcount(const void *bytes, size_t count);

/// CRC-64-Jones (Redis's crc64) of a prefix of `count` bytes at `bytes` by carry-less multiplication
/// (Sources/CSystem/crc64.c): continues `*crc` over the longest prefix that is a multiple of 16 bytes and
/// returns its length, or returns 0 without touching `*crc` when the CPU lacks PCLMULQDQ or `count` < 64.
size_t cs_crc64_bulk(uint64_t *crc, const void *bytes, size_t count);
/// Whether `cs_crc64_bulk` does anything on this CPU.
int cs_crc64_bulk_available(void);

#endif
