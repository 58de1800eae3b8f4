/* A load generator for consumer-group round trips, which redis-benchmark cannot produce (issue 17).
 *
 *   streambench groupack PORT CLIENTS SECONDS
 *       CLIENTS connections on as many threads, each its own consumer of group g on stream s: XREADGROUP
 *       GROUP g cN COUNT 1 STREAMS s >, then XACK s g <the id it got>, again and again. The stream must hold
 *       enough entries (bench/streams.sh fills it). Prints round trips (read + ack) per second and their number.
 *
 * Built by bench/streams.sh with `gcc -O2 -pthread`; plain sockets, no client library. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchnet.h"

/* Reads one reply into `out` (NUL-terminated); returns its length. */
static size_t read_reply(struct conn *c, char *out, size_t cap) {
    for (;;) {
        size_t k = c->len ? reply_length(c->buf, c->len) : 0;
        if (k) {
            size_t n = k < cap - 1 ? k : cap - 1;
            memcpy(out, c->buf, n);
            out[n] = 0;
            memmove(c->buf, c->buf + k, c->len - k);
            c->len -= k;
            return n;
        }
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r <= 0) { perror("read"); exit(1); }
        c->len += (size_t)r;
    }
}

struct consumer {
    int port, index;
    double until;
    long rounds;
};

static void *consume(void *arg) {
    struct consumer *w = arg;
    struct conn *c = calloc(1, sizeof *c);
    c->fd = connect_to(w->port);
    char name[32], read_cmd[256], ack[256], reply[1 << 16];
    snprintf(name, sizeof name, "c%d", w->index);
    int n = snprintf(read_cmd, sizeof read_cmd,
                     "*9\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n$1\r\ng\r\n$%zu\r\n%s\r\n$5\r\nCOUNT\r\n$1\r\n1\r\n"
                     "$7\r\nSTREAMS\r\n$1\r\ns\r\n", strlen(name), name);
    n += snprintf(read_cmd + n, sizeof read_cmd - (size_t)n, "$1\r\n>\r\n");
    /* The reply's second bulk string is the entry's id. */
    while (now_seconds() < w->until) {
        send_all(c->fd, read_cmd, (size_t)n);
        read_reply(c, reply, sizeof reply);
        char *p = strchr(reply, '$');
        if (!p) { fprintf(stderr, "streambench: no entry left (%.40s)\n", reply); break; }
        p = strchr(p + 1, '$');
        if (!p) break;
        long len = atol(p + 1);
        char *id = strchr(p, '\n') + 1;
        int m = snprintf(ack, sizeof ack, "*4\r\n$4\r\nXACK\r\n$1\r\ns\r\n$1\r\ng\r\n$%ld\r\n%.*s\r\n", len, (int)len, id);
        send_all(c->fd, ack, (size_t)m);
        read_reply(c, reply, sizeof reply);
        if (reply[0] != ':' || reply[1] != '1') { fprintf(stderr, "streambench: XACK said %.40s\n", reply); exit(1); }
        w->rounds++;
    }
    close(c->fd);
    free(c);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 5 || strcmp(argv[1], "groupack") != 0) {
        fprintf(stderr, "usage: streambench groupack PORT CLIENTS SECONDS\n");
        return 2;
    }
    int port = atoi(argv[2]), clients = atoi(argv[3]);
    double start = now_seconds(), until = start + atof(argv[4]);
    struct consumer *ws = calloc((size_t)clients, sizeof *ws);
    pthread_t *ts = calloc((size_t)clients, sizeof *ts);
    for (int i = 0; i < clients; i++) {
        ws[i] = (struct consumer){port, i, until, 0};
        pthread_create(&ts[i], NULL, consume, &ws[i]);
    }
    long total = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(ts[i], NULL);
        total += ws[i].rounds;
    }
    printf("%.0f %ld\n", total / (now_seconds() - start), total);
    return 0;
}
