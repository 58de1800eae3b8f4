/* Pub/sub load: one publisher, many subscribers, all in this process on one epoll loop (a C drainer, so
 * the subscribers' reading never limits the server the way a Python drainer did).
 *
 *   pubsubbench PORT SUBSCRIBERS PATTERNS MESSAGES
 *
 * SUBSCRIBERS connections SUBSCRIBE the channel `ch`; one more connection (when PATTERNS > 0) PSUBSCRIBEs
 * PATTERNS patterns `ch:<i>*` that never match `ch` and one, `c*`, that does. The publisher then sends
 * MESSAGES `PUBLISH ch <32-byte payload>`, 16 in flight, and the run ends when every subscriber received
 * every message. Prints: publishes/s, messages delivered/s, and the seconds taken.
 * Build: cc -O2 -o pubsubbench bench/pubsubbench.c */
#define _GNU_SOURCE
#include "benchnet.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define PAYLOAD "0123456789abcdef0123456789abcdef"

struct counter {
    int fd;
    long long received;  /* messages (or, for the publisher, replies) counted */
    char carry[16];      /* the tail of the last read, for a token split between reads */
    int carried;
};

/* Counts `token` in carry + buf, keeping the last bytes for the next read. */
static long long count_tokens(struct counter *c, const char *buf, int n, const char *token) {
    static char scratch[1 << 17];
    int tl = (int)strlen(token);
    memcpy(scratch, c->carry, c->carried);
    memcpy(scratch + c->carried, buf, n);
    int total = c->carried + n;
    long long found = 0;
    for (char *p = scratch; (p = memmem(p, scratch + total - p, token, tl)) != NULL; p += tl) found++;
    int keep = total < tl - 1 ? total : tl - 1;
    memcpy(c->carry, scratch + total - keep, keep);
    c->carried = keep;
    return found;
}

/* Reads the reply to a (P)SUBSCRIBE of `count` names before the load starts (blocking socket). */
static void await_confirmations(int fd, int count, const char *kind) {
    char buf[1 << 16];
    struct counter c = {.fd = fd};
    while (c.received < count) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) { perror("read"); exit(1); }
        c.received += count_tokens(&c, buf, (int)n, kind);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: %s PORT SUBSCRIBERS PATTERNS MESSAGES\n", argv[0]); return 2; }
    int port = atoi(argv[1]), subscribers = atoi(argv[2]), patterns = atoi(argv[3]);
    long long messages = atoll(argv[4]);
    int receivers = subscribers + (patterns > 0 ? 1 : 0);
    struct counter *conns = calloc(receivers + 1, sizeof *conns);
    for (int i = 0; i < subscribers; i++) {
        conns[i].fd = connect_to(port);
        const char *sub = "*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n";
        send_all(conns[i].fd, sub, strlen(sub));
        await_confirmations(conns[i].fd, 1, "subscribe\r\n");
    }
    if (patterns > 0) {
        struct counter *p = &conns[subscribers];
        p->fd = connect_to(port);
        char cmd[64];
        for (int i = 0; i < patterns; i++) {
            int len = snprintf(cmd, sizeof cmd, "ch:%d*", i);
            char frame[128];
            int n = snprintf(frame, sizeof frame, "*2\r\n$10\r\nPSUBSCRIBE\r\n$%d\r\n%s\r\n", len, cmd);
            send_all(p->fd, frame, (size_t)n);
        }
        send_all(p->fd, "*2\r\n$10\r\nPSUBSCRIBE\r\n$2\r\nc*\r\n", 30);
        await_confirmations(p->fd, patterns + 1, "psubscribe\r\n");
    }
    struct counter *pub = &conns[receivers];
    pub->fd = connect_to(port);

    int ep = epoll_create1(0);
    for (int i = 0; i <= receivers; i++) {
        fcntl(conns[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
    }
    char frame[128];
    int frame_len = snprintf(frame, sizeof frame, "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$%d\r\n%s\r\n",
                             (int)strlen(PAYLOAD), PAYLOAD);
    long long sent = 0, delivered = 0, expected = messages * receivers;
    double start = now_seconds();
    static char buf[1 << 16];
    struct epoll_event events[256];
    while (pub->received < messages || delivered < expected) {
        /* Keep 16 publishes in flight. */
        while (sent < messages && sent - pub->received < 16) {
            send_all(pub->fd, frame, (size_t)frame_len);
            sent++;
        }
        int n = epoll_wait(ep, events, 256, 10000);
        if (n == 0) { fprintf(stderr, "stalled: %lld/%lld delivered\n", delivered, expected); return 1; }
        for (int e = 0; e < n; e++) {
            struct counter *c = &conns[events[e].data.u32];
            for (;;) {
                ssize_t r = read(c->fd, buf, sizeof buf);
                if (r < 0 && errno == EAGAIN) break;
                if (r <= 0) { fprintf(stderr, "connection closed\n"); return 1; }
                if (c == pub) {
                    c->received += count_tokens(c, buf, (int)r, "\r\n");  /* each reply is one ":<n>\r\n" line */
                } else {
                    long long m = count_tokens(c, buf, (int)r, "message\r\n");  /* message and pmessage */
                    c->received += m;
                    delivered += m;
                }
            }
        }
    }
    double elapsed = now_seconds() - start;
    printf("publishes/s %.0f delivered/s %.0f seconds %.3f\n", messages / elapsed, delivered / elapsed, elapsed);
    return 0;
}
