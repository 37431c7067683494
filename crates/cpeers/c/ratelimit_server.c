/*
 * ratelimit_server: a rate-limited download server written in C against
 * libevent 2.1, the libevent side of the network benchmark N6
 * (docs/workloads.md) and the counterpart of
 * `examples/ratelimit_server.rs` (src/ratelimit_server.rs).
 *
 * Every connection gets an endless stream of the pattern byte i % 251
 * through a socket bufferevent limited per connection
 * (bufferevent_set_rate_limit) and as a group of all connections
 * (bufferevent_rate_limit_group_new + bufferevent_add_to_rate_limit_group),
 * both on token buckets of a 100 ms tick whose rate and burst are the
 * limit's bytes per tick, as the Rust server configures them. The stream is
 * added by reference from one static chunk of 64 periods (16,064 bytes); the
 * write low watermark is one chunk and the write callback keeps two chunks
 * queued, as the Rust server does. What the client sends is discarded; its
 * end of file or an error frees the connection.
 *
 * One event_base, one thread, non-blocking sockets, SIGPIPE ignored,
 * RLIMIT_NOFILE raised to the hard limit.
 *
 * Usage: ratelimit_server [PORT [RATE [GROUP_RATE [TICK_MS]]]]
 *   PORT        default 15001; 0 picks a free port, and the first stdout line
 *               is "listening on port N"
 *   RATE        per-connection limit, bytes/s (default 1048576; 0: none)
 *   GROUP_RATE  limit of all connections together, bytes/s (default 8388608;
 *               0: none)
 *   TICK_MS     token bucket tick (default 100)
 * Listens on 127.0.0.1.
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

#define PERIOD 251
#define CHUNK (PERIOD * 64)

static unsigned char chunk[CHUNK];
static struct ev_token_bucket_cfg *conn_cfg;
static struct bufferevent_rate_limit_group *group;

static void fill(struct bufferevent *bev)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    while (evbuffer_get_length(out) < 2 * CHUNK)
        if (evbuffer_add_reference(out, chunk, CHUNK, NULL, NULL) < 0)
            return;
}

static void read_cb(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in));
}

static void write_cb(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    fill(bev);
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
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        return;
    }
    if (conn_cfg)
        bufferevent_set_rate_limit(bev, conn_cfg);
    if (group)
        bufferevent_add_to_rate_limit_group(bev, group);
    bufferevent_setwatermark(bev, EV_WRITE, CHUNK, 0);
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    fill(bev);
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

/* A token bucket of `rate` bytes/s as bytes per tick, burst one tick. */
static struct ev_token_bucket_cfg *bucket(long rate, const struct timeval *tick, long tick_ms)
{
    long long per_tick = (long long)rate * tick_ms / 1000;
    if (per_tick < 1 || per_tick > EV_RATE_LIMIT_MAX) {
        fprintf(stderr, "rate %ld bytes/s is not 1..%ld bytes per %ld ms tick\n", rate,
                (long)EV_RATE_LIMIT_MAX, tick_ms);
        exit(2);
    }
    return ev_token_bucket_cfg_new((size_t)per_tick, (size_t)per_tick, (size_t)per_tick,
                                   (size_t)per_tick, tick);
}

int main(int argc, char *argv[])
{
    int port = (int)arg_or(argc, argv, 1, 15001, 65535);
    long rate = arg_or(argc, argv, 2, 1048576, 1L << 40);
    long group_rate = arg_or(argc, argv, 3, 8388608, 1L << 40);
    long tick_ms = arg_or(argc, argv, 4, 100, 60000);
    if (tick_ms < 1) {
        fprintf(stderr, "TICK_MS must be at least 1\n");
        return 2;
    }
    for (int i = 0; i < CHUNK; ++i)
        chunk[i] = (unsigned char)(i % PERIOD);
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
    struct timeval tick = {tick_ms / 1000, (tick_ms % 1000) * 1000};
    if (rate > 0)
        conn_cfg = bucket(rate, &tick, tick_ms);
    if (group_rate > 0) {
        struct ev_token_bucket_cfg *gcfg = bucket(group_rate, &tick, tick_ms);
        group = bufferevent_rate_limit_group_new(base, gcfg);
        ev_token_bucket_cfg_free(gcfg);
        if (!group) {
            fprintf(stderr, "bufferevent_rate_limit_group_new failed\n");
            return 1;
        }
    }

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *listener =
        evconnlistener_new_bind(base, listener_cb, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                                128, (struct sockaddr *)&sin, sizeof(sin));
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
    if (group)
        bufferevent_rate_limit_group_free(group);
    if (conn_cfg)
        ev_token_bucket_cfg_free(conn_cfg);
    event_base_free(base);
    return 0;
}
