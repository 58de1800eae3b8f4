/* The hit rate of a cache under maxmemory: a Zipf-distributed read-through workload (bench/eviction.py).
 *
 *   zipfbench PORT KEYS PREFILL WARMUP MEASURED [THETA] [PIPELINE] [VALUE_BYTES] [EX_SECONDS] [SEED]
 *
 * Each read draws one of KEYS keys with Zipf popularity (YCSB's generator, from Gray et al., "Quickly
 * generating billion-record synthetic databases", 1994: key i with probability proportional to
 * 1 / (i + 1)^THETA, default 0.99) and sends GET key:<i>; a miss is followed by SET key:<i> <VALUE_BYTES x's>
 * (EX EX_SECONDS when given: the volatile-* policies evict only keys with a TTL), as a read-through cache
 * fills itself. PIPELINE reads (default 64) go out at once, then the SETs of their misses. First PREFILL SETs
 * of uniformly random keys fill the cache with cold keys (a Zipf workload alone takes tens of millions of
 * reads to meet as many distinct keys as the cache holds, and no key is evicted until then); then the first
 * WARMUP reads let the policy sort hot from cold and are not counted; after the MEASURED ones it prints
 *
 *   hits=H misses=M hit_rate=0.xxxx set_errors=E reads_per_s=R
 *
 * set_errors counts refused SETs (-OOM when nothing can be evicted). The key sequence depends only on SEED
 * (default 1), so every server and policy sees the same requests. Plain sockets, no client library; built by
 * bench/eviction.py with `gcc -O2 -lm`. */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchnet.h"

/* --- Zipf (YCSB's ZipfianGenerator): zeta(n) once, then O(1) per draw. --- */

static uint64_t rng_state;

static double uniform01(void) {  /* xorshift64*, 53 bits */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return ((rng_state * 0x2545F4914F6CDD1DULL) >> 11) * (1.0 / 9007199254740992.0);
}

static double zipf_theta, zipf_zetan, zipf_alpha, zipf_eta, zipf_half_pow;
static long zipf_n;

static void zipf_init(long n, double theta) {
    double zeta2 = 1.0 + pow(0.5, theta);
    zipf_n = n;
    zipf_theta = theta;
    zipf_zetan = 0;
    for (long i = 1; i <= n; i++) zipf_zetan += 1.0 / pow((double)i, theta);
    zipf_alpha = 1.0 / (1.0 - theta);
    zipf_eta = (1.0 - pow(2.0 / n, 1.0 - theta)) / (1.0 - zeta2 / zipf_zetan);
    zipf_half_pow = pow(0.5, theta);
}

static long zipf_next(void) {
    double u = uniform01();
    double uz = u * zipf_zetan;
    if (uz < 1.0) return 0;
    if (uz < 1.0 + zipf_half_pow) return 1;
    long i = (long)(zipf_n * pow(zipf_eta * u - zipf_eta + 1.0, zipf_alpha));
    return i < zipf_n ? i : zipf_n - 1;
}

/* --- A buffered reader of the two reply shapes we get: bulk strings (or null) and status/errors. --- */

static int sock;
static char rbuf[1 << 20];
static size_t rlen, rpos;

static void fill(void) {
    if (rpos > 0) {
        memmove(rbuf, rbuf + rpos, rlen - rpos);
        rlen -= rpos;
        rpos = 0;
    }
    ssize_t n = read(sock, rbuf + rlen, sizeof rbuf - rlen);
    if (n <= 0) { fprintf(stderr, "zipfbench: connection closed\n"); exit(1); }
    rlen += n;
}

/* The next line without its CRLF (valid until the next call). */
static char *line(size_t *length) {
    for (;;) {
        char *start = rbuf + rpos;
        char *end = memchr(start, '\n', rlen - rpos);
        if (end) {
            *length = end - start - 1;
            rpos = end + 1 - rbuf;
            return start;
        }
        fill();
    }
}

/* Reads one reply: 'h' a bulk string (a hit), 'n' a null bulk (a miss), '+' or '-'. */
static char reply(void) {
    size_t length;
    char *l = line(&length);
    if (l[0] != '$') return l[0];
    long n = strtol(l + 1, NULL, 10);
    if (n < 0) return 'n';
    while (rlen - rpos < (size_t)n + 2) fill();
    rpos += n + 2;
    return 'h';
}

static char *out;
static size_t olen, ocap;

static void append(const char *s, size_t n) {
    if (olen + n > ocap) {
        ocap = (olen + n) * 2;
        out = realloc(out, ocap);
    }
    memcpy(out + olen, s, n);
    olen += n;
}

static void append_bulk(const char *s, size_t n) {
    char header[32];
    append(header, snprintf(header, sizeof header, "$%zu\r\n", n));
    append(s, n);
    append("\r\n", 2);
}

/* SET key value [EX seconds]. */
static void append_set(const char *key, int k, const char *value, int value_bytes, long ex, const char *exText,
                       int exLength) {
    append(ex ? "*5\r\n$3\r\nSET\r\n" : "*3\r\n$3\r\nSET\r\n", 13);
    append_bulk(key, k);
    append_bulk(value, value_bytes);
    if (ex) {
        append("$2\r\nEX\r\n", 8);
        append_bulk(exText, exLength);
    }
}

static void flush_out(void) {
    size_t done = 0;
    while (done < olen) {
        ssize_t n = write(sock, out + done, olen - done);
        if (n <= 0) { perror("write"); exit(1); }
        done += n;
    }
    olen = 0;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: zipfbench PORT KEYS PREFILL WARMUP MEASURED [THETA] [PIPELINE] [VALUE_BYTES] [EX_SECONDS] [SEED]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long keys = atol(argv[2]), prefill = atol(argv[3]), warmup = atol(argv[4]), measured = atol(argv[5]);
    double theta = argc > 6 ? atof(argv[6]) : 0.99;
    int pipeline = argc > 7 ? atoi(argv[7]) : 64;
    int value_bytes = argc > 8 ? atoi(argv[8]) : 16;
    long ex = argc > 9 ? atol(argv[9]) : 0;
    rng_state = argc > 10 ? strtoull(argv[10], NULL, 10) : 1;
    if (rng_state == 0) rng_state = 1;

    zipf_init(keys, theta);
    sock = connect_to(port);
    char *value = malloc(value_bytes);
    memset(value, 'x', value_bytes);
    char exText[32];
    int exLength = snprintf(exText, sizeof exText, "%ld", ex);

    long *batch = malloc(sizeof(long) * pipeline);
    char key[32];
    for (long done = 0; done < prefill; done += pipeline) {
        int n = prefill - done < pipeline ? (int)(prefill - done) : pipeline;
        for (int i = 0; i < n; i++) append_set(key, snprintf(key, sizeof key, "key:%ld", (long)(uniform01() * keys)),
                                               value, value_bytes, ex, exText, exLength);
        flush_out();
        for (int i = 0; i < n; i++) reply();
    }
    long done = 0, hits = 0, misses = 0, setErrors = 0;
    double started = 0;
    while (done < warmup + measured) {
        if (done >= warmup && started == 0) started = now_seconds();
        int n = pipeline;
        if (done < warmup && done + n > warmup) n = warmup - done;
        if (done + n > warmup + measured) n = warmup + measured - done;
        for (int i = 0; i < n; i++) {
            batch[i] = zipf_next();
            int k = snprintf(key, sizeof key, "key:%ld", batch[i]);
            append("*2\r\n$3\r\nGET\r\n", 13);
            append_bulk(key, k);
        }
        flush_out();
        int missed = 0;
        for (int i = 0; i < n; i++) {
            char r = reply();
            if (r == 'h') {
                if (done >= warmup) hits++;
                continue;
            }
            if (r != 'n') { fprintf(stderr, "zipfbench: unexpected reply to GET\n"); return 1; }
            if (done >= warmup) misses++;
            append_set(key, snprintf(key, sizeof key, "key:%ld", batch[i]), value, value_bytes, ex, exText, exLength);
            missed++;
        }
        flush_out();
        for (int i = 0; i < missed; i++) {
            char r = reply();
            if (r == '-') setErrors++;
        }
        done += n;
    }
    double elapsed = now_seconds() - started;
    printf("hits=%ld misses=%ld hit_rate=%.4f set_errors=%ld reads_per_s=%.0f\n", hits, misses,
           (double)hits / (hits + misses), setErrors, measured / elapsed);
    return 0;
}
