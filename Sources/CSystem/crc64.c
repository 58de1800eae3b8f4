// CRC-64-Jones (Redis's crc64: reflected, polynomial 0xad93d23594c935a9, no final xor) by carry-less
// multiplication, for the bulk of long inputs (Persistence/CRC64.swift does the rest with its tables).
//
// The table method folds 8 bytes per step through eight dependent lookups (~1 byte a cycle). PCLMULQDQ
// multiplies 64-bit polynomials over GF(2) in one instruction, so the message can be folded 16 bytes at a
// time (four independent lanes of 16 bytes each step), then reduced to 64 bits (Intel's "Fast CRC
// Computation for Generic Polynomials Using PCLMULQDQ", and redis-server 8's crc64 speedups, in spirit).
//
// THE ALGEBRA, in the reflected representation every value here uses: a 64-bit word w stands for
// sum w_i x^(63-i) (bit 0 is the highest power), a 128-bit value for sum v_i x^(127-i), and the first
// message byte's low bit is the highest power, so a little-endian load of 16 message bytes is that
// polynomial. clmul(a, b) of two such words is the product shifted by one place (it leaves bit 127 empty:
// clmul(a, b) = R128(A*B*x)); the constants below carry x^-1 to make up for it.
// - Folding a 128-bit state S = H*x^64 + L (H in the low word, L in the high one) forward over D bits:
//   S*x^D = H*x^(D+64) + L*x^D == clmul(H, R(x^(D+63) mod P)) ^ clmul(L, R(x^(D-1) mod P)) (mod P).
// - The end: the CRC of everything folded is R(S*x^64 mod P). S*x^64 = H*x^128 + L*x^64 gives a 128-bit T
//   (fold H by x^128, L moves to the high half), then Barrett reduction with mu = floor(x^128 / P):
//   q = T1 ^ floor(T1 * m / x^64) where mu = x^64 + m, and T mod P = T0 ^ (q * p mod x^64), p = P - x^64.
// The constants are computed at the first call from the polynomial (no magic numbers to mistype), and the
// whole is checked against the table method (RDBPrimitivesTests.testCRC64CarrylessMatchesTheTables) on random
// inputs, lengths, offsets and initial values.

#include "include/csystem_bits.h"
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

/// P without its x^64 term, coefficients x^63..x^0 in bits 63..0 (the "normal" form).
static const uint64_t poly = 0xad93d23594c935a9ULL;

/// The bit-reversal of a word: from the normal form (bit k = x^k) to the reflected one (bit 63-k = x^k).
static uint64_t reflect64(uint64_t v) {
    uint64_t r = 0;
    for (int i = 0; i < 64; i++) {
        r = (r << 1) | (v & 1);
        v >>= 1;
    }
    return r;
}

/// x^n mod P, in the normal form.
static uint64_t xpow_mod(unsigned n) {
    uint64_t r = 1;
    while (n--) r = (r & (1ULL << 63)) ? (r << 1) ^ poly : r << 1;
    return r;
}

/// m of mu = floor(x^128 / P) = x^64 + m, in the normal form: long division of x^128, one quotient bit per
/// step from x^64 down.
static uint64_t barrett_m(void) {
    // Quotient bit 64 takes x^128's leading 1 and leaves p * x^64. From then on `r` holds the remainder's
    // coefficients x^(k+64)..x^(k+1) in bits 63..0 while quotient bit k is decided.
    uint64_t q = 0, r = poly;
    for (int k = 63; k >= 0; k--) {
        uint64_t top = r >> 63;  // the coefficient of x^(k+64)
        r <<= 1;
        if (top) {
            q |= 1ULL << k;
            r ^= poly;
        }
    }
    return q;
}

static struct {
    __m128i fold512, fold128, fold384, fold256;  // (lo word constant, hi word constant) per distance
    uint64_t k127, mu, p;
} k;
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
/// Whether the CPU has PCLMULQDQ and SSE4.1; written once under `setup_once` (threads call in at once).
static int available;

static void setup(void) {
    __builtin_cpu_init();
    available = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    if (!available) return;
    unsigned distances[4] = {512, 128, 384, 256};
    __m128i *slots[4] = {&k.fold512, &k.fold128, &k.fold384, &k.fold256};
    for (int i = 0; i < 4; i++) {
        unsigned d = distances[i];
        *slots[i] = _mm_set_epi64x((long long)reflect64(xpow_mod(d - 1)), (long long)reflect64(xpow_mod(d + 63)));
    }
    k.k127 = reflect64(xpow_mod(127));
    k.mu = reflect64(barrett_m());
    k.p = reflect64(poly);
}

__attribute__((target("pclmul,sse4.1")))
static inline __m128i fold(__m128i state, __m128i constants, __m128i next) {
    __m128i lo = _mm_clmulepi64_si128(state, constants, 0x00);  // H * lo constant
    __m128i hi = _mm_clmulepi64_si128(state, constants, 0x11);  // L * hi constant
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

__attribute__((target("pclmul,sse4.1")))
static uint64_t crc64_clmul(uint64_t crc, const unsigned char *p, size_t blocks) {
    __m128i a = _mm_loadu_si128((const __m128i *)p);
    a = _mm_xor_si128(a, _mm_set_epi64x(0, (long long)crc));  // the running CRC joins the first 8 bytes
    p += 16;
    blocks -= 1;
    if (blocks >= 7) {  // four lanes, 64 bytes a step
        __m128i b = _mm_loadu_si128((const __m128i *)p);
        __m128i c = _mm_loadu_si128((const __m128i *)(p + 16));
        __m128i d = _mm_loadu_si128((const __m128i *)(p + 32));
        p += 48;
        blocks -= 3;
        while (blocks >= 4) {
            a = fold(a, k.fold512, _mm_loadu_si128((const __m128i *)p));
            b = fold(b, k.fold512, _mm_loadu_si128((const __m128i *)(p + 16)));
            c = fold(c, k.fold512, _mm_loadu_si128((const __m128i *)(p + 32)));
            d = fold(d, k.fold512, _mm_loadu_si128((const __m128i *)(p + 48)));
            p += 64;
            blocks -= 4;
        }
        a = fold(a, k.fold384, _mm_setzero_si128());
        b = fold(b, k.fold256, _mm_setzero_si128());
        c = fold(c, k.fold128, _mm_setzero_si128());
        a = _mm_xor_si128(_mm_xor_si128(a, b), _mm_xor_si128(c, d));
    }
    while (blocks > 0) {
        a = fold(a, k.fold128, _mm_loadu_si128((const __m128i *)p));
        p += 16;
        blocks -= 1;
    }
    // T = H * x^128 (folded) ^ L * x^64 (the high word moved to the low half).
    __m128i t = _mm_clmulepi64_si128(a, _mm_set_epi64x(0, (long long)k.k127), 0x00);
    t = _mm_xor_si128(t, _mm_srli_si128(a, 8));
    uint64_t t1 = (uint64_t)_mm_cvtsi128_si64(t);        // x^127..x^64
    uint64_t t0 = (uint64_t)_mm_extract_epi64(t, 1);     // x^63..x^0
    // q = T1 ^ floor(T1 * m / x^64): the product's x^126..x^64 sit one place low in clmul's low word.
    __m128i tm = _mm_clmulepi64_si128(_mm_set_epi64x(0, (long long)t1), _mm_set_epi64x(0, (long long)k.mu), 0x00);
    uint64_t q = t1 ^ ((uint64_t)_mm_cvtsi128_si64(tm) << 1);
    // T mod P = T0 ^ (q * p mod x^64): the product's x^63..x^0 are clmul's bits 63..126.
    __m128i qp = _mm_clmulepi64_si128(_mm_set_epi64x(0, (long long)q), _mm_set_epi64x(0, (long long)k.p), 0x00);
    uint64_t low = ((uint64_t)_mm_cvtsi128_si64(qp) >> 63) | ((uint64_t)_mm_extract_epi64(qp, 1) << 1);
    return t0 ^ low;
}
#endif

size_t cs_crc64_bulk(uint64_t *crc, const void *bytes, size_t count) {
#if defined(__x86_64__)
    if (count < 64) return 0;
    pthread_once(&setup_once, setup);
    if (!available) return 0;
    size_t blocks = count / 16;
    *crc = crc64_clmul(*crc, bytes, blocks);
    return blocks * 16;
#else
    (void)crc;
    (void)bytes;
    (void)count;
    return 0;
#endif
}

int cs_crc64_bulk_available(void) {
    uint64_t crc = 0;
    unsigned char probe[64] = {0};
    return cs_crc64_bulk(&crc, probe, sizeof probe) != 0;
}
