/*
 * zlib_echo_server: a compressed echo written in C against libevent 2.1 and
 * zlib, the libevent side of the network benchmark N3
 * (docs/workloads.md) and the counterpart of
 * `examples/zlib_echo.rs server`.
 *
 * Per connection: a socket bufferevent under a filter bufferevent whose
 * input filter inflates and whose output filter deflates (zlib format,
 * level Z_DEFAULT_COMPRESSION), in the manner of libevent's own
 * test/regress_zlib.c filters: the bufferevent flush mode picks zlib's
 * flush (BEV_NORMAL: Z_NO_FLUSH, BEV_FLUSH: Z_SYNC_FLUSH, BEV_FINISHED:
 * Z_FINISH). The read callback moves everything it read into the output and
 * then calls bufferevent_flush(BEV_FLUSH), a zlib sync flush, so the client
 * can decode the echo at once, as the Rust example does.
 *
 * Differences from regress_zlib.c (written from its description, not
 * copied): output space is reserved 32 KiB at a time (not 4 KiB), the flush
 * mode is applied to the last input extent only, and a zlib error is
 * BEV_ERROR rather than an assert.
 *
 * One event_base, one thread, non-blocking sockets, SIGPIPE ignored,
 * RLIMIT_NOFILE raised to the hard limit. End of file, an error or a filter
 * error frees the connection.
 *
 * Usage: zlib_echo_server [PORT]   (default 5002; 0 picks a free port; the
 * first stdout line is "listening on port N"). Listens on 127.0.0.1.
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
#include <zlib.h>

#define OUT_CHUNK (32 * 1024)

struct zpair {
    z_stream inflater;
    z_stream deflater;
};

static int zflush(enum bufferevent_flush_mode mode)
{
    switch (mode) {
    case BEV_FINISHED:
        return Z_FINISH;
    case BEV_FLUSH:
        return Z_SYNC_FLUSH;
    case BEV_NORMAL:
    default:
        return Z_NO_FLUSH;
    }
}

/*
 * Runs `step` (inflate or deflate) over src into dst. Returns the zlib
 * result of the last call, or Z_ERRNO when the buffers failed.
 */
static int run_zlib(z_stream *z, int (*step)(z_streamp, int), struct evbuffer *src,
                    struct evbuffer *dst, int flush)
{
    int res = Z_OK;
    int full = 0; /* the last call filled its output: zlib may hold more */
    for (;;) {
        struct evbuffer_iovec in;
        int extents = evbuffer_peek(src, -1, NULL, &in, 1);
        if (extents <= 0) {
            in.iov_base = NULL;
            in.iov_len = 0;
        }
        int f = extents > 1 ? Z_NO_FLUSH : flush;
        if (in.iov_len == 0 && f == Z_NO_FLUSH && !full)
            return res;

        struct evbuffer_iovec out;
        if (evbuffer_reserve_space(dst, OUT_CHUNK, &out, 1) < 1)
            return Z_ERRNO;
        z->next_in = in.iov_base;
        z->avail_in = (uInt)in.iov_len;
        z->next_out = out.iov_base;
        z->avail_out = (uInt)out.iov_len;
        res = step(z, f);
        size_t used = in.iov_len - z->avail_in;
        full = z->avail_out == 0;
        out.iov_len -= z->avail_out;
        if (evbuffer_commit_space(dst, &out, 1) < 0)
            return Z_ERRNO;
        if (used && evbuffer_drain(src, used) < 0)
            return Z_ERRNO;

        if (res == Z_STREAM_END)
            return res;
        if (res == Z_BUF_ERROR) {
            /* No progress possible: all input taken and nothing to flush. */
            if (used == 0 && out.iov_len == 0)
                return Z_OK;
            continue;
        }
        if (res != Z_OK)
            return res;
        /* All input taken and zlib had room to spare: its flush is done. */
        if (extents <= 1 && z->avail_in == 0 && !full)
            return res;
    }
}

static enum bufferevent_filter_result inflate_in(struct evbuffer *src, struct evbuffer *dst,
                                                 ev_ssize_t limit,
                                                 enum bufferevent_flush_mode mode, void *ctx)
{
    (void)limit;
    struct zpair *zp = ctx;
    if (evbuffer_get_length(src) == 0 && mode == BEV_NORMAL)
        return BEV_NEED_MORE;
    int res = run_zlib(&zp->inflater, inflate, src, dst, zflush(mode));
    if (res != Z_OK && res != Z_STREAM_END)
        return BEV_ERROR;
    return BEV_OK;
}

static enum bufferevent_filter_result deflate_out(struct evbuffer *src, struct evbuffer *dst,
                                                  ev_ssize_t limit,
                                                  enum bufferevent_flush_mode mode, void *ctx)
{
    (void)limit;
    struct zpair *zp = ctx;
    if (evbuffer_get_length(src) == 0 && mode == BEV_NORMAL)
        return BEV_NEED_MORE;
    int res = run_zlib(&zp->deflater, deflate, src, dst, zflush(mode));
    if (res != Z_OK && res != Z_STREAM_END)
        return BEV_ERROR;
    return BEV_OK;
}

static void free_zpair(void *ctx)
{
    struct zpair *zp = ctx;
    inflateEnd(&zp->inflater);
    deflateEnd(&zp->deflater);
    free(zp);
}

static void read_cb(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    bufferevent_write_buffer(bev, bufferevent_get_input(bev));
    bufferevent_flush(bev, EV_WRITE, BEV_FLUSH);
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
    struct zpair *zp = calloc(1, sizeof(*zp));
    if (!zp) {
        evutil_closesocket(fd);
        return;
    }
    if (inflateInit(&zp->inflater) != Z_OK) {
        free(zp);
        evutil_closesocket(fd);
        return;
    }
    if (deflateInit(&zp->deflater, Z_DEFAULT_COMPRESSION) != Z_OK) {
        inflateEnd(&zp->inflater);
        free(zp);
        evutil_closesocket(fd);
        return;
    }
    struct bufferevent *sock = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!sock) {
        free_zpair(zp);
        evutil_closesocket(fd);
        return;
    }
    struct bufferevent *bev = bufferevent_filter_new(sock, inflate_in, deflate_out,
                                                     BEV_OPT_CLOSE_ON_FREE, free_zpair, zp);
    if (!bev) {
        free_zpair(zp);
        bufferevent_free(sock);
        return;
    }
    bufferevent_setcb(bev, read_cb, NULL, event_cb, NULL);
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

int main(int argc, char *argv[])
{
    int port = 5002;
    if (argc > 1) {
        char *end;
        long v = strtol(argv[1], &end, 10);
        if (*end || v < 0 || v > 65535) {
            fprintf(stderr, "bad port: %s\n", argv[1]);
            return 2;
        }
        port = (int)v;
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
    event_base_free(base);
    return 0;
}
