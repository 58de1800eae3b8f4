/* What the C load generators of bench/ share (txbench.c, zipfbench.c, streambench.c, pubsubbench.c): a
 * monotonic clock in seconds, a blocking TCP_NODELAY connection to 127.0.0.1, writing a whole buffer, and the
 * length of a complete RESP2 reply in a connection's input. Header-only; each program includes it once. */
#ifndef BENCHNET_H
#define BENCHNET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); exit(1); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Writes all of p (a blocking socket, or one that is writable enough); exits on an error. */
static inline void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) { perror("write"); exit(1); }
        p += w;
        n -= (size_t)w;
    }
}

/* A connection's input: counts complete top-level RESP2 replies. */
struct conn {
    int fd;
    char buf[1 << 16];
    size_t len;
};

/* Length of the complete reply at p (n bytes available), or 0 if incomplete. */
static inline size_t reply_length(const char *p, size_t n) {
    const char *end = memchr(p, '\n', n);
    if (!end) return 0;
    size_t head = (size_t)(end - p) + 1;
    long v = atol(p + 1);
    switch (p[0]) {
    case '$':
        if (v < 0) return head;
        return n >= head + (size_t)v + 2 ? head + (size_t)v + 2 : 0;
    case '*': {
        size_t at = head;
        for (long i = 0; i < v; i++) {
            size_t k = reply_length(p + at, n - at);
            if (!k) return 0;
            at += k;
        }
        return at;
    }
    default:
        return head;
    }
}

#endif
