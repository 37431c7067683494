/*
 * filter_echo_server: the seed's filter server as an
 * echo server, written in C against libevent 2.1 as the libevent side of
 * the network benchmarks N1, N2 and N5 (docs/workloads.md).
 *
 * Per connection, as the seed: a socket bufferevent under a filter
 * bufferevent whose input filter upper-cases and whose output filter frames
 * what it is given as "|--- HEAD ---|" data "|--- END ---|\n"; the read
 * callback moves everything it read into the output (bufferevent_write_buffer),
 * so the output filter, which libevent calls as soon as data is added to the
 * output, frames each reply whole. It is what `filter_server --echo` does.
 *
 * Where it differs from the seed's program (filter_server.c), so that it
 * measures libevent rather than the seed's shortcuts:
 *   - binary-safe and without copies: the input filter upper-cases the
 *     input's chunks in place (evbuffer_peek) and moves them
 *     (evbuffer_remove_buffer); the output filter moves the reply between
 *     the two markers; no 1,023-byte arrays, no C strings, no printing;
 *   - accepted sockets are non-blocking (no LEV_OPT_LEAVE_SOCKETS_BLOCKING),
 *     no BEV_OPT_THREADSAFE and no evthread locking: one event_base, one
 *     thread, as `filter_server --threads 1`;
 *   - the same back-pressure as the Rust server: the socket bufferevent's
 *     write high watermark is 1 MiB (the Rust crate's DEFAULT_MAX_OUTPUT),
 *     so the output filter stops there; a read callback that leaves output
 *     unfiltered disables reading until the write callback sees it drained;
 *     and the output filter honours the limit libevent passes it, as
 *     the Rust framing encoder does;
 *   - RLIMIT_NOFILE's soft limit is raised to the hard limit (N5 opens
 *     thousands of connections).
 *
 * Usage: filter_echo_server [PORT [READ_TIMEOUT_S [MAX_SINGLE_READ]]]
 *   PORT             default 15000; 0 picks a free port, and the first
 *                    stdout line is "listening on port N"
 *   READ_TIMEOUT_S   read timeout in seconds (default 4, the seed's; 0: none)
 *   MAX_SINGLE_READ  bufferevent_set_max_single_read on the socket
 *                    bufferevent (default 0: libevent's default). Values above
 *                    4,096 only make libevent reserve more: evbuffer_read
 *                    reads at most 4,096 bytes a call in 2.1.12.
 * Listens on 127.0.0.1 with the seed's options: LEV_OPT_REUSEABLE |
 * LEV_OPT_CLOSE_ON_FREE | LEV_OPT_DEFERRED_ACCEPT, backlog 64.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

static const char HEAD[] = "|--- HEAD ---|";
static const char END[] = "|--- END ---|\n";
#define HEAD_LEN (sizeof(HEAD) - 1)
#define END_LEN (sizeof(END) - 1)

/* The Rust bufferevent crate's DEFAULT_MAX_OUTPUT. */
#define MAX_OUTPUT (1024 * 1024)
#define PEEK_VECS 16

static struct timeval read_timeout;
static int have_read_timeout;
static ev_ssize_t max_single_read;

static void upper(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if ((unsigned)(p[i] - 'a') < 26u)
            p[i] = (unsigned char)(p[i] - ('a' - 'A'));
}

/* Input filter: upper-cases up to `limit` bytes in place and moves them. */
static enum bufferevent_filter_result filter_in(struct evbuffer *src, struct evbuffer *dst,
                                                ev_ssize_t limit,
                                                enum bufferevent_flush_mode mode, void *arg)
{
    (void)mode;
    (void)arg;
    size_t len = evbuffer_get_length(src);
    if (len == 0)
        return BEV_NEED_MORE;
    if (limit >= 0 && (size_t)limit < len)
        len = limit > 0 ? (size_t)limit : 1;
    struct evbuffer_iovec v[PEEK_VECS];
    int n = evbuffer_peek(src, (ev_ssize_t)len, NULL, v, PEEK_VECS);
    if (n > PEEK_VECS)
        n = PEEK_VECS;
    size_t done = 0;
    for (int i = 0; i < n && done < len; ++i) {
        size_t take = v[i].iov_len < len - done ? v[i].iov_len : len - done;
        upper(v[i].iov_base, take);
        done += take;
    }
    if (evbuffer_remove_buffer(src, dst, done) < 0)
        return BEV_ERROR;
    return BEV_OK;
}

/* Output filter: one frame around what the read callback wrote (at most
 * `limit` bytes of it, at least one byte, like the Rust HeadTailEncoder). */
static enum bufferevent_filter_result filter_out(struct evbuffer *src, struct evbuffer *dst,
                                                 ev_ssize_t limit,
                                                 enum bufferevent_flush_mode mode, void *arg)
{
    (void)mode;
    (void)arg;
    size_t len = evbuffer_get_length(src);
    if (len == 0)
        return BEV_NEED_MORE;
    if (limit >= 0) {
        size_t room = (size_t)limit > HEAD_LEN + END_LEN ? (size_t)limit - HEAD_LEN - END_LEN : 1;
        if (room < len)
            len = room;
    }
    if (evbuffer_add(dst, HEAD, HEAD_LEN) < 0)
        return BEV_ERROR;
    if (len == evbuffer_get_length(src)) {
        if (evbuffer_add_buffer(dst, src) < 0)
            return BEV_ERROR;
    } else if (evbuffer_remove_buffer(src, dst, len) < 0) {
        return BEV_ERROR;
    }
    if (evbuffer_add(dst, END, END_LEN) < 0)
        return BEV_ERROR;
    return BEV_OK;
}

static void read_cb(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    bufferevent_write_buffer(bev, bufferevent_get_input(bev));
    /* Output the filter could not take: the client is not reading. */
    if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        bufferevent_disable(bev, EV_READ);
}

static void write_cb(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
        !(bufferevent_get_enabled(bev) & EV_READ))
        bufferevent_enable(bev, EV_READ);
}

static void event_cb(struct bufferevent *bev, short events, void *ctx)
{
    (void)ctx;
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        bufferevent_free(bev);
}

static void listener_cb(struct evconnlistener *listener, evutil_socket_t fd,
                        struct sockaddr *addr, int socklen, void *arg)
{
    (void)addr;
    (void)socklen;
    (void)arg;
    struct event_base *base = evconnlistener_get_base(listener);
    struct bufferevent *sock = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!sock) {
        evutil_closesocket(fd);
        return;
    }
    if (max_single_read > 0)
        bufferevent_set_max_single_read(sock, max_single_read);
    bufferevent_setwatermark(sock, EV_WRITE, 0, MAX_OUTPUT);
    struct bufferevent *bev =
        bufferevent_filter_new(sock, filter_in, filter_out, BEV_OPT_CLOSE_ON_FREE, NULL, NULL);
    if (!bev) {
        bufferevent_free(sock);
        return;
    }
    if (have_read_timeout)
        bufferevent_set_timeouts(bev, &read_timeout, NULL);
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static long arg_or(int argc, char *argv[], int i, long dflt, long max)
{
    if (argc <= i)
        return dflt;
    char *end;
    errno = 0;
    long v = strtol(argv[i], &end, 10);
    if (errno || *end || v < 0 || v > max) {
        fprintf(stderr, "bad argument %d: %s\n", i, argv[i]);
        exit(2);
    }
    return v;
}

int main(int argc, char *argv[])
{
    int port = (int)arg_or(argc, argv, 1, 15000, 65535);
    long timeout = arg_or(argc, argv, 2, 4, 86400);
    max_single_read = (ev_ssize_t)arg_or(argc, argv, 3, 0, 1L << 30);
    if (timeout > 0) {
        read_timeout.tv_sec = timeout;
        have_read_timeout = 1;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    struct event_config *config = event_config_new();
    event_config_set_flag(config, EVENT_BASE_FLAG_NOLOCK);
    struct event_base *base = event_base_new_with_config(config);
    event_config_free(config);
    if (!base) {
        fprintf(stderr, "event_base_new_with_config failed\n");
        return 1;
    }

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE | LEV_OPT_DEFERRED_ACCEPT;
    struct evconnlistener *listener = evconnlistener_new_bind(
        base, listener_cb, NULL, flags, 64, (struct sockaddr *)&sin, sizeof(sin));
    if (!listener) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        event_base_free(base);
        return 1;
    }
    struct sockaddr_in bound;
    socklen_t bound_len = sizeof(bound);
    getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&bound, &bound_len);
    printf("listening on port %d\n", ntohs(bound.sin_port));
    fflush(stdout);

    event_base_dispatch(base);

    evconnlistener_free(listener);
    event_base_free(base);
    return 0;
}
