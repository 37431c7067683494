/*
 * upper_server: the seed's first filter example (port
 * 5001), written in C against libevent 2.1 as a test peer for the Rust
 * examples.
 *
 * What it does, as the seed's C++ program does:
 *   - prints "test server!" and "event_base_new success!", listens with
 *     evconnlistener_new_bind, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
 *     backlog 10;
 *   - wraps each accepted socket bufferevent in a filter bufferevent: the
 *     input filter upper-cases through a 1,024-byte array (at most 1,023
 *     bytes per call), the output filter frames the data as
 *     "================\n" data "================\n" (data as a C string);
 *   - the read callback reads up to 1,023 bytes, prints them as a C string
 *     followed by a newline, and writes them back through the output filter;
 *   - the write and event callbacks only print their names; the event
 *     callback does not free the bufferevent, so after the client's EOF the
 *     server keeps its end open, as the seed does.
 *
 * Differences from the seed, none of which changes a byte on the wire: it
 * listens on 127.0.0.1 (the seed: INADDR_ANY) on the port given as argv[1]
 * (default 5001, the seed's); with port 0 the kernel picks a free port and
 * the program prints "listening on port N" as soon as it is bound (after the
 * two start-up lines, which the seed prints before binding); stdout is
 * flushed after every print.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static enum bufferevent_filter_result filter_in(struct evbuffer *src, struct evbuffer *dst,
                                                ev_ssize_t limit,
                                                enum bufferevent_flush_mode mode, void *arg)
{
    (void)limit;
    (void)mode;
    (void)arg;
    say("filter_in\n");
    char data[1024] = {0};
    int len = evbuffer_remove(src, data, sizeof(data) - 1);
    for (int i = 0; i < len; ++i)
        data[i] = (char)toupper((unsigned char)data[i]);
    if (len > 0)
        evbuffer_add(dst, data, (size_t)len);
    return BEV_OK;
}

static enum bufferevent_filter_result filter_out(struct evbuffer *src, struct evbuffer *dst,
                                                 ev_ssize_t limit,
                                                 enum bufferevent_flush_mode mode, void *arg)
{
    (void)limit;
    (void)mode;
    (void)arg;
    say("filter_out\n");
    char data[1024] = {0};
    evbuffer_remove(src, data, sizeof(data) - 1);
    char framed[1024 + 64];
    int n = snprintf(framed, sizeof(framed), "================\n%s================\n", data);
    evbuffer_add(dst, framed, (size_t)n);
    return BEV_OK;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    say("read_cb\n");
    char data[1024] = {0};
    size_t len = bufferevent_read(bev, data, sizeof(data) - 1);
    say("%s\n", data);
    bufferevent_write(bev, data, len);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    (void)arg;
    say("write_cb\n");
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
    (void)bev;
    (void)events;
    (void)arg;
    say("event_cb\n");
}

static void listen_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
                      int socklen, void *arg)
{
    (void)listener;
    (void)addr;
    (void)socklen;
    struct event_base *base = arg;
    say("listen_cb\n");
    struct bufferevent *bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    struct bufferevent *filtered =
        bufferevent_filter_new(bev, filter_in, filter_out, BEV_OPT_CLOSE_ON_FREE, NULL, NULL);
    bufferevent_setcb(filtered, read_cb, write_cb, event_cb, NULL);
    bufferevent_enable(filtered, EV_READ | EV_WRITE);
}

int main(int argc, char *argv[])
{
    int port = argc > 1 ? atoi(argv[1]) : 5001;
    if (port < 0 || port > 65535) {
        fprintf(stderr, "bad port: %s\n", argv[1]);
        return 2;
    }
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return 1;

    say("test server!\n");
    struct event_base *base = event_base_new();
    if (base)
        say("event_base_new success!\n");
    else
        return 1;

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    struct evconnlistener *listener =
        evconnlistener_new_bind(base, listen_cb, base, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                                10, (struct sockaddr *)&sin, sizeof(sin));
    if (!listener) {
        fprintf(stderr, "cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        event_base_free(base);
        return 1;
    }
    if (port == 0) {
        struct sockaddr_in bound;
        socklen_t bound_len = sizeof(bound);
        getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&bound, &bound_len);
        say("listening on port %d\n", ntohs(bound.sin_port));
    }

    event_base_dispatch(base);

    evconnlistener_free(listener);
    event_base_free(base);
    return 0;
}
