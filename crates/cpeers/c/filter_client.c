/*
 * filter_client: the seed's bufferevent filter client,
 * written in C against libevent 2.1 as a test peer for the Rust examples.
 *
 * What it does, as the seed's C++ program does:
 *   - bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE), then
 *     bufferevent_socket_connect to 127.0.0.1:<port>, a 4-second read
 *     timeout, and an event callback;
 *   - once BEV_EVENT_CONNECTED arrives it prints
 *     "Connect to server successfully.", wraps the connection in a filter
 *     bufferevent with pass-through filters (the input filter prints
 *     "byte sizes: N" for the bytes it sees), and writes the 10 bytes
 *     "temp.data" plus its terminating NUL;
 *   - the read callback reads up to 1,023 bytes, prints "from server: " and
 *     the reply (as a C string) and a newline, and frees the bufferevent,
 *     which closes the socket; the loop then has nothing left and exits 0;
 *   - any other event before connecting prints "time out." and exits 0.
 *
 * Differences from the seed, none of which changes a byte on the wire: the
 * port comes from argv[1] (default 15000, the seed's) so tests can use a
 * free port, and stdout is flushed after every print.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

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
    say("byte sizes: %zu\n", evbuffer_get_length(src));
    evbuffer_add_buffer(dst, src);
    return BEV_OK;
}

static enum bufferevent_filter_result filter_out(struct evbuffer *src, struct evbuffer *dst,
                                                 ev_ssize_t limit,
                                                 enum bufferevent_flush_mode mode, void *arg)
{
    (void)limit;
    (void)mode;
    (void)arg;
    evbuffer_add_buffer(dst, src);
    return BEV_OK;
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    char msg[1024];
    size_t len = bufferevent_read(bev, msg, 1023);
    msg[len] = '\0';
    say("from server: %s\n", msg);
    bufferevent_free(bev);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    (void)arg;
}

static void event_cb(struct bufferevent *bev, short events, void *arg)
{
    (void)arg;
    if (events & BEV_EVENT_EOF) {
        say("eof closed.\n");
    } else if (events & BEV_EVENT_ERROR) {
        say("Got an error on the connection: %d errno: %d\n", (int)bufferevent_getfd(bev), errno);
    } else if (events & EV_CLOSED) {
        say("Connection closed.\n");
    }
    bufferevent_free(bev);
}

static void connect_cb(struct bufferevent *bev, short events, void *arg)
{
    (void)arg;
    if (events & BEV_EVENT_CONNECTED) {
        say("Connect to server successfully.\n");
        struct bufferevent *filtered =
            bufferevent_filter_new(bev, filter_in, filter_out, BEV_OPT_CLOSE_ON_FREE, NULL, NULL);
        bufferevent_setcb(filtered, read_cb, write_cb, event_cb, NULL);
        bufferevent_enable(filtered, EV_READ | EV_WRITE | EV_CLOSED);
        bufferevent_write(filtered, "temp.data", 10);
    } else {
        say("time out.\n");
        bufferevent_free(bev);
    }
}

int main(int argc, char *argv[])
{
    int port = argc > 1 ? atoi(argv[1]) : 15000;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "bad port: %s\n", argv[1]);
        return 2;
    }
    struct event_base *base = event_base_new();
    if (!base) {
        fprintf(stderr, "event_base_new failed\n");
        return 1;
    }
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    inet_aton("127.0.0.1", &sin.sin_addr);

    bufferevent_socket_connect(bev, (struct sockaddr *)&sin, sizeof(sin));
    bufferevent_setcb(bev, NULL, NULL, connect_cb, NULL);
    /* The seed enables BEV_EVENT_CONNECTED (0x80, the value of EV_CLOSED). */
    bufferevent_enable(bev, BEV_EVENT_CONNECTED);
    struct timeval timeout = {4, 0};
    bufferevent_set_timeouts(bev, &timeout, NULL);

    event_base_dispatch(base);

    event_base_free(base);
    return 0;
}
