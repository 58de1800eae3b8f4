/* Load generators for blocking pops and transactions, which redis-benchmark cannot produce (issue 12).
 *
 *   txbench pingpong PORT SECONDS
 *       Two connections on two threads pass a token: A does BLPOP qa 1 then LPUSH qb x, B does BLPOP qb 1 then
 *       LPUSH qa x. Every pop is served by the other side's push, so each round trip is a blocked client
 *       served. Prints round trips per second and their number.
 *   txbench multi PORT CLIENTS PIPELINE SECONDS
 *       CLIENTS connections, each sending PIPELINE transactions (MULTI, INCR counter, EXEC) at a time and
 *       reading their 3 * PIPELINE replies before the next batch. Prints transactions (EXECs) per second and
 *       their number.
 *
 * Built by bench/transactions.sh with `gcc -O2 -pthread`; plain sockets, no client library. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "benchnet.h"

/* Reads until `count` replies arrived; returns how many were errors. */
static int read_replies(struct conn *c, int count) {
    int errors = 0;
    while (count > 0) {
        size_t k;
        while (count > 0 && c->len > 0 && (k = reply_length(c->buf, c->len)) > 0) {
            if (c->buf[0] == '-') errors++;
            memmove(c->buf, c->buf + k, c->len - k);
            c->len -= k;
            count--;
        }
        if (count == 0) break;
        ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
        if (r <= 0) { perror("read"); exit(1); }
        c->len += (size_t)r;
    }
    return errors;
}

/* ---- pingpong ---- */

struct player {
    int port;
    const char *pop, *push;
    double until;
    long rounds;
    int serve_first;
};

static void *play(void *arg) {
    struct player *p = arg;
    struct conn c = {.fd = connect_to(p->port)};
    if (p->serve_first) {
        send_all(c.fd, p->push, strlen(p->push));
        read_replies(&c, 1);
    }
    while (now_seconds() < p->until) {
        send_all(c.fd, p->pop, strlen(p->pop));
        read_replies(&c, 1);
        send_all(c.fd, p->push, strlen(p->push));
        read_replies(&c, 1);
        p->rounds++;
    }
    /* Unblock the other side for the last time. */
    send_all(c.fd, p->push, strlen(p->push));
    read_replies(&c, 1);
    close(c.fd);
    return NULL;
}

static void pingpong(int port, double seconds) {
    int fd = connect_to(port);
    const char *del = "*3\r\n$3\r\nDEL\r\n$2\r\nqa\r\n$2\r\nqb\r\n";
    send_all(fd, del, strlen(del));
    char ignore[64];
    if (read(fd, ignore, sizeof ignore) <= 0) exit(1);
    double start = now_seconds();
    struct player a = {port, "*3\r\n$5\r\nBLPOP\r\n$2\r\nqa\r\n$1\r\n1\r\n", "*3\r\n$5\r\nLPUSH\r\n$2\r\nqb\r\n$1\r\nx\r\n",
                       start + seconds, 0, 0};
    struct player b = {port, "*3\r\n$5\r\nBLPOP\r\n$2\r\nqb\r\n$1\r\n1\r\n", "*3\r\n$5\r\nLPUSH\r\n$2\r\nqa\r\n$1\r\nx\r\n",
                       start + seconds, 0, 1};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, play, &a);
    pthread_create(&tb, NULL, play, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    double elapsed = now_seconds() - start;
    printf("%.0f %ld\n", (a.rounds + b.rounds) / elapsed, a.rounds + b.rounds);
    close(fd);
}

/* ---- multi ---- */

static void multi(int port, int clients, int pipeline, double seconds) {
    const char *tx = "*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n*1\r\n$4\r\nEXEC\r\n";
    size_t txlen = strlen(tx);
    char *batch = malloc(txlen * (size_t)pipeline);
    for (int i = 0; i < pipeline; i++) memcpy(batch + txlen * (size_t)i, tx, txlen);
    struct conn *cs = calloc((size_t)clients, sizeof *cs);
    struct pollfd *pf = calloc((size_t)clients, sizeof *pf);
    int *pending = calloc((size_t)clients, sizeof *pending);
    for (int i = 0; i < clients; i++) {
        cs[i].fd = connect_to(port);
        pf[i].fd = cs[i].fd;
        pf[i].events = POLLIN;
    }
    long done = 0;
    int errors = 0;
    double start = now_seconds(), until = start + seconds;
    for (int i = 0; i < clients; i++) {
        send_all(cs[i].fd, batch, txlen * (size_t)pipeline);
        pending[i] = 3 * pipeline;
    }
    int active = clients;
    while (active > 0) {
        if (poll(pf, (nfds_t)clients, 1000) <= 0) continue;
        for (int i = 0; i < clients; i++) {
            if (!(pf[i].revents & POLLIN) || pending[i] == 0) continue;
            struct conn *c = &cs[i];
            ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
            if (r <= 0) { perror("read"); exit(1); }
            c->len += (size_t)r;
            size_t k;
            while (pending[i] > 0 && c->len > 0 && (k = reply_length(c->buf, c->len)) > 0) {
                if (c->buf[0] == '-') errors++;
                memmove(c->buf, c->buf + k, c->len - k);
                c->len -= k;
                pending[i]--;
            }
            if (pending[i] == 0) {
                done += pipeline;
                if (now_seconds() < until) {
                    send_all(c->fd, batch, txlen * (size_t)pipeline);
                    pending[i] = 3 * pipeline;
                } else {
                    active--;
                }
            }
        }
    }
    double elapsed = now_seconds() - start;
    if (errors) fprintf(stderr, "txbench: %d error replies\n", errors);
    printf("%.0f %ld\n", done / elapsed, done);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "pingpong")) {
        pingpong(atoi(argv[2]), atof(argv[3]));
    } else if (argc == 6 && !strcmp(argv[1], "multi")) {
        multi(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
    } else {
        fprintf(stderr, "usage: txbench pingpong PORT SECONDS | txbench multi PORT CLIENTS PIPELINE SECONDS\n");
        return 2;
    }
    return 0;
}
