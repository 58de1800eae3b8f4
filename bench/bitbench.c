/* Load generator for the bitmap, HyperLogLog and geo commands (bench/bits.sh). redis-benchmark cannot send
 * them with random arguments (its __rand_int__ is zero-padded, which SETBIT offsets and coordinates refuse), so
 * this client builds each request itself, sends them PIPELINE at a time on one connection and reads every reply
 * before the next batch.
 *
 *   bitbench PORT WORKLOAD COUNT PIPELINE [SEED]
 *
 * Workloads (the same random sequence for a given SEED on every server):
 *   setbit     SETBIT bm <offset in [0, 2^29)> <0|1>     (bm is a 64 MB bitmap)
 *   getbit     GETBIT bm <offset in [0, 2^29)>
 *   bitcount   BITCOUNT bm                               (the whole 64 MB)
 *   pfadd      PFADD hll:<0..9> el:<random>
 *   pfcount    PFCOUNT hll:0
 *   pfcount10  PFCOUNT hll:0 ... hll:9                   (the union of 10 HLLs)
 *   geoadd     GEOADD geo <lon> <lat> p<n>               (n = 0, 1, 2, ... COUNT-1: COUNT distinct points)
 *   geosearch  GEOSEARCH geo FROMLONLAT <lon> <lat> BYRADIUS 100 km
 * Prints "<requests/s> <seconds>" on one line; exits 1 on an error reply. */
#include "benchnet.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng_state;
static uint64_t next_random(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static char *out;
static size_t out_len, out_cap;

static void put(const char *s, size_t n) {
    if (out_len + n > out_cap) {
        out_cap = (out_len + n) * 2;
        out = realloc(out, out_cap);
    }
    memcpy(out + out_len, s, n);
    out_len += n;
}

/* One request from its words. */
static void request(int argc, const char **argv) {
    char head[32];
    put(head, (size_t)snprintf(head, sizeof head, "*%d\r\n", argc));
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        put(head, (size_t)snprintf(head, sizeof head, "$%zu\r\n", n));
        put(argv[i], n);
        put("\r\n", 2);
    }
}

static void make(const char *workload, long n) {
    char a[64], b[64], c[64], d[64];
    if (!strcmp(workload, "setbit")) {
        snprintf(a, sizeof a, "%llu", (unsigned long long)(next_random() & ((1ULL << 29) - 1)));
        snprintf(b, sizeof b, "%d", (int)(next_random() & 1));
        request(4, (const char *[]){"SETBIT", "bm", a, b});
    } else if (!strcmp(workload, "getbit")) {
        snprintf(a, sizeof a, "%llu", (unsigned long long)(next_random() & ((1ULL << 29) - 1)));
        request(3, (const char *[]){"GETBIT", "bm", a});
    } else if (!strcmp(workload, "bitcount")) {
        request(2, (const char *[]){"BITCOUNT", "bm"});
    } else if (!strcmp(workload, "pfadd")) {
        snprintf(a, sizeof a, "hll:%d", (int)(next_random() % 10));
        snprintf(b, sizeof b, "el:%llu", (unsigned long long)(next_random() % 100000000));
        request(3, (const char *[]){"PFADD", a, b});
    } else if (!strcmp(workload, "pfcount")) {
        request(2, (const char *[]){"PFCOUNT", "hll:0"});
    } else if (!strcmp(workload, "pfcount10")) {
        request(11, (const char *[]){"PFCOUNT", "hll:0", "hll:1", "hll:2", "hll:3", "hll:4", "hll:5", "hll:6",
                                     "hll:7", "hll:8", "hll:9"});
    } else if (!strcmp(workload, "geoadd")) {
        snprintf(a, sizeof a, "%.6f", (double)(next_random() % 360000000) / 1e6 - 180.0);
        snprintf(b, sizeof b, "%.6f", (double)(next_random() % 170000000) / 1e6 - 85.0);
        snprintf(c, sizeof c, "p%ld", n);
        request(5, (const char *[]){"GEOADD", "geo", a, b, c});
    } else if (!strcmp(workload, "geosearch")) {
        snprintf(a, sizeof a, "%.6f", (double)(next_random() % 360000000) / 1e6 - 180.0);
        snprintf(b, sizeof b, "%.6f", (double)(next_random() % 170000000) / 1e6 - 85.0);
        snprintf(d, sizeof d, "100");
        request(9, (const char *[]){"GEOSEARCH", "geo", "FROMLONLAT", a, b, "BYRADIUS", d, "km", "ASC"});
    } else {
        fprintf(stderr, "bitbench: unknown workload %s\n", workload);
        exit(2);
    }
}

/* Reply parsing: skips one complete reply starting at *p, or returns 0 when the buffer ends first. */
static int skip_reply(const char **p, const char *end) {
    const char *s = *p;
    if (s >= end) return 0;
    const char *eol = memchr(s, '\n', (size_t)(end - s));
    if (!eol) return 0;
    char type = s[0];
    long n = strtol(s + 1, NULL, 10);
    s = eol + 1;
    switch (type) {
    case '-':
        fprintf(stderr, "bitbench: error reply %.*s\n", (int)(eol - *p), *p);
        exit(1);
    case '+': case ':': case ',': case '_': case '#':
        break;
    case '$': case '=': case '!':
        if (n >= 0) {
            if (end - s < n + 2) return 0;
            s += n + 2;
        }
        break;
    case '*': case '~': case '>': case '%':
        if (type == '%') n *= 2;
        for (long i = 0; i < n; i++)
            if (!skip_reply(&s, end)) return 0;
        break;
    default:
        fprintf(stderr, "bitbench: bad reply byte %d\n", type);
        exit(1);
    }
    *p = s;
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bitbench PORT WORKLOAD COUNT PIPELINE [SEED]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    const char *workload = argv[2];
    long count = atol(argv[3]);
    int pipeline = atoi(argv[4]);
    rng_state = argc > 5 ? strtoull(argv[5], NULL, 10) : 1;
    int fd = connect_to(port);
    size_t in_cap = 1 << 20, in_len = 0;
    char *in = malloc(in_cap);
    double started = now_seconds();
    for (long done = 0; done < count;) {
        int batch = (int)(count - done < pipeline ? count - done : pipeline);
        out_len = 0;
        for (int i = 0; i < batch; i++) make(workload, done + i);
        for (size_t sent = 0; sent < out_len;) {
            ssize_t w = write(fd, out + sent, out_len - sent);
            if (w <= 0) { perror("write"); return 1; }
            sent += (size_t)w;
        }
        int replies = 0;
        const char *p = in;
        while (replies < batch) {
            const char *q = p;
            if (skip_reply(&q, in + in_len)) {
                p = q;
                replies++;
                continue;
            }
            /* Keep the unparsed tail and read more. */
            size_t keep = (size_t)(in + in_len - p);
            memmove(in, p, keep);
            in_len = keep;
            p = in;
            if (in_len == in_cap) { in_cap *= 2; in = realloc(in, in_cap); p = in; }
            ssize_t r = read(fd, in + in_len, in_cap - in_len);
            if (r <= 0) { perror("read"); return 1; }
            in_len += (size_t)r;
        }
        size_t keep = (size_t)(in + in_len - p);
        memmove(in, p, keep);
        in_len = keep;
        done += batch;
    }
    double elapsed = now_seconds() - started;
    printf("%.0f %.3f\n", count / elapsed, elapsed);
    return 0;
}
