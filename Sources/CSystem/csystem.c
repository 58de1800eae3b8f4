#define _GNU_SOURCE
#include "csystem.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <malloc.h>

int cs_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cs_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -1;
    if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int cs_set_int_sockopt(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value));
}

int cs_tcp_listen(const char *host, int *port, int backlog) {
    struct addrinfo hints, *res, *p;
    char portstr[16];
    int fd = -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
    const char *node = host;
    if (strcmp(host, "*") == 0) { node = NULL; hints.ai_family = AF_INET; }
    else if (strcmp(host, "::*") == 0) { node = NULL; hints.ai_family = AF_INET6; }
    else hints.ai_family = AF_UNSPEC;
    snprintf(portstr, sizeof(portstr), "%d", *port);
    int rc = getaddrinfo(node, portstr, &hints, &res);
    if (rc != 0) { errno = EINVAL; return -1; }
    for (p = res; p != NULL; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (p->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 && listen(fd, backlog) == 0) break;
        int saved = errno;
        close(fd);
        errno = saved;
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET) *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
            else *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    return fd;
}

int cs_unix_listen(const char *path, unsigned perm, int backlog) {
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof(sa.sun_path)) { errno = ENAMETOOLONG; return -1; }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (perm) chmod(path, perm);
    return fd;
}

static void format_addr(const struct sockaddr_storage *ss, char *addr, size_t addrlen) {
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        port = ntohs(s->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        port = ntohs(s->sin6_port);
    }
    /* As Redis's anetFormatAddr: IPv6 addresses in brackets, "[::1]:6379". */
    if (ss->ss_family == AF_INET6) snprintf(addr, addrlen, "[%s]:%d", ip, port);
    else snprintf(addr, addrlen, "%s:%d", ip, port);
}

int cs_accept(int lfd, char *addr, size_t addrlen, int *is_unix) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd;
    do {
        fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return -1;
    *is_unix = ss.ss_family == AF_UNIX;
    if (*is_unix) snprintf(addr, addrlen, "/unixsocket:0");
    else format_addr(&ss, addr, addrlen);
    return fd;
}

int cs_sockname(int fd, char *addr, size_t addrlen) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
    format_addr(&ss, addr, addrlen);
    return 0;
}

int cs_tcp_connect(const char *host, int port) {
    struct addrinfo hints, *info = NULL, *p;
    char service[16];
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof(service), "%d", port);
    int rc = getaddrinfo(host, service, &hints, &info);
    if (rc != 0) {
        errno = rc == EAI_SYSTEM ? errno : EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    for (p = info; p != NULL; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, p->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0 || errno == EINPROGRESS) break;
        int saved = errno;
        close(fd);
        errno = saved;
        fd = -1;
    }
    freeaddrinfo(info);
    return fd;
}

int cs_socket_error(int fd) {
    int error = 0;
    socklen_t len = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0) return errno;
    return error;
}

static volatile sig_atomic_t shutdown_signal = 0;
static int signal_wake_fd = -1;

static void on_shutdown_signal(int sig) {
    int saved = errno;
    shutdown_signal = sig;
    if (signal_wake_fd >= 0) {
        uint64_t one = 1;
        ssize_t ignored = write(signal_wake_fd, &one, sizeof(one));
        (void)ignored;
    }
    errno = saved;
}

void cs_install_signal_handlers(int wake_fd) {
    signal_wake_fd = wake_fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_shutdown_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int cs_take_shutdown_signal(void) {
    int s = shutdown_signal;
    shutdown_signal = 0;
    return s;
}

uint64_t cs_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, rss = 0;
    int n = fscanf(f, "%lu %lu", &size, &rss);
    fclose(f);
    if (n != 2) return 0;
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

int64_t cs_mapped_bytes = 0;
int64_t cs_heap_used = 0;
int cs_heap_counting = 0;

uint64_t cs_malloc_used_bytes(void) {
    struct mallinfo2 m = mallinfo2();
    return (uint64_t)m.uordblks + (uint64_t)m.hblkhd;
}

uint64_t cs_malloc_heap_bytes(void) {
    struct mallinfo2 m = mallinfo2();
    return (uint64_t)m.arena + (uint64_t)m.hblkhd;
}


int cs_format_double_g17(double value, char *buffer, size_t size) {
    return snprintf(buffer, size, "%.17g", value);
}

int cs_format_long_double_f17(long double value, char *buffer, size_t size) {
    return snprintf(buffer, size, "%.17Lf", value);
}

/* SHA-1's compression function (FIPS 180-4, 6.1.2) over one 64-byte block: C because the Swift version runs
 * ~40x slower in debug builds, where the tests' DEBUG DIGEST calls spend most of their time. */
static inline uint32_t cs_rotl32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

void cs_sha1_compress(uint32_t state[5], const unsigned char *block) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
    }
    for (int i = 16; i < 80; i++) w[i] = cs_rotl32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
        else { f = b ^ c ^ d; k = 0xCA62C1D6; }
        uint32_t t = cs_rotl32(a, 5) + f + e + k + w[i];
        e = d; d = c; c = cs_rotl32(b, 30); b = a; a = t;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d; state[4] += e;
}
