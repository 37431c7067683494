/*
 * filter_server: the seed's bufferevent filter server (port 15000),
 * written in C against libevent 2.1 as a test peer for the Rust examples.
 *
 * What it does, as the seed's C++ program does:
 *   - listens with evconnlistener_new_bind, LEV_OPT_REUSEABLE |
 *     LEV_OPT_LEAVE_SOCKETS_BLOCKING | LEV_OPT_CLOSE_ON_FREE |
 *     LEV_OPT_DEFERRED_ACCEPT, backlog 64, on an event_base configured with
 *     EV_FEATURE_ET, EVENT_BASE_FLAG_NOLOCK and 128 priorities;
 *   - wraps each accepted socket bufferevent (BEV_OPT_CLOSE_ON_FREE |
 *     BEV_OPT_THREADSAFE) in a filter bufferevent whose input filter
 *     upper-cases through a 1,024-byte array (at most 1,023 bytes per call)
 *     and whose output filter frames the data as
 *     "|--- HEAD ---|" data "|--- END ---|\n" (data taken as a C string);
 *   - read callback: removes up to 1,023 bytes, prints them as a C string,
 *     answers "get information: N bytes!";
 *   - 4-second read timeout on the filter bufferevent; the event callback
 *     frees the bufferevent (and so closes the socket).
 *
 * Differences from the seed, none of which changes a byte on the wire:
 *   - it listens on 127.0.0.1 (the seed: INADDR_ANY), on the port given as
 *     argv[1] (default 15000, the seed's). With port 0 the kernel picks a
 *     free port and the program prints "listening on port N" as its FIRST
 *     stdout line, so tests can read the port; then the seed's start line
 *     with the real port;
 *   - stdout is flushed after every print (tests read it through a pipe);
 *   - SIGPIPE is ignored so a client that vanishes cannot kill it;
 *   - the per-connection copy of the client address is freed with the
 *     bufferevent (the seed leaks it).
 *
 * Like the seed, the event callback tests `events & EV_TIMEOUT`, which is
 * the same bit as BEV_EVENT_READING, so a plain EOF also prints
 * "timeout Connection closed.".
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
#include <event2/thread.h>

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static struct event_base *config_base(void)
{
    struct event_config *config = event_config_new();
    event_config_require_features(config, EV_FEATURE_ET);
    event_config_set_flag(config, EVENT_BASE_FLAG_NOLOCK);
    struct event_base *base = event_base_new_with_config(config);
    event_config_free(config);
    if (base)
        event_base_priority_init(base, 128);
    return base;
}

/* Input filter: at most 1,023 bytes per call, upper-cased. */
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

/* Output filter: HEAD + data (as a C string) + END, in one evbuffer_add. */
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
    int n = snprintf(framed, sizeof(framed), "|--- HEAD ---|%s|--- END ---|\n", data);
    evbuffer_add(dst, framed, (size_t)n);
    return BEV_OK;
}

static void read_cb(struct bufferevent *bev, void *ctx)
{
    struct sockaddr_in *client = ctx;
    char store[1024] = {0};
    int len = evbuffer_remove(bufferevent_get_input(bev), store, 1023);
    if (len > 0) {
        say("%s - %d: %s\n", inet_ntoa(client->sin_addr), ntohs(client->sin_port), store);
        char message[64];
        int n = snprintf(message, sizeof(message), "get information: %d bytes!", len);
        bufferevent_write(bev, message, (size_t)n);
    }
}

static void write_cb(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        say("write event buffer is empty!\n");
}

static void event_cb(struct bufferevent *bev, short events, void *ctx)
{
    if (events & EV_TIMEOUT) {
        say("timeout Connection closed.\n");
        bufferevent_free(bev);
        free(ctx);
    } else if (events & EV_CLOSED) {
        say("Connection closed.\n");
        bufferevent_free(bev);
        free(ctx);
    } else if (events & BEV_EVENT_ERROR) {
        say("Got an error on the connection: %d errno: %d\n", (int)bufferevent_getfd(bev), errno);
        bufferevent_free(bev);
        free(ctx);
    } else if (events & BEV_EVENT_CONNECTED) {
        say("Connect to server successfully.\n");
    }
}

static void listener_cb(struct evconnlistener *listener, evutil_socket_t fd,
                        struct sockaddr *addr, int socklen, void *arg)
{
    (void)socklen;
    (void)arg;
    struct sockaddr_in *client = malloc(sizeof(*client));
    if (!client) {
        evutil_closesocket(fd);
        return;
    }
    *client = *(struct sockaddr_in *)addr;
    say("new connection: %d from ip: %s port: %d", (int)fd, inet_ntoa(client->sin_addr),
        ntohs(client->sin_port));

    struct event_base *base = evconnlistener_get_base(listener);
    struct bufferevent *bev =
        bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_THREADSAFE);
    struct bufferevent *filtered =
        bufferevent_filter_new(bev, filter_in, filter_out, BEV_OPT_CLOSE_ON_FREE, NULL, base);

    const struct timeval timeout = {4, 0};
    bufferevent_set_timeouts(filtered, &timeout, NULL);
    bufferevent_priority_set(filtered, 32);
    bufferevent_setcb(filtered, read_cb, write_cb, event_cb, client);
    bufferevent_enable(filtered, EV_WRITE | EV_READ | EV_CLOSED | BEV_EVENT_ERROR);
}

int main(int argc, char *argv[])
{
    int port = argc > 1 ? atoi(argv[1]) : 15000;
    if (port < 0 || port > 65535) {
        fprintf(stderr, "bad port: %s\n", argv[1]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    struct event_base *base = config_base();
    if (!base) {
        fprintf(stderr, "event_base_new_with_config failed\n");
        return 1;
    }
    evthread_use_pthreads();

    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_LEAVE_SOCKETS_BLOCKING | LEV_OPT_CLOSE_ON_FREE |
                     LEV_OPT_DEFERRED_ACCEPT;
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
    if (port == 0)
        say("listening on port %d\n", ntohs(bound.sin_port));
    say("start server at 127.0.0.1 running in %d:\n", ntohs(bound.sin_port));

    event_base_dispatch(base);

    evconnlistener_free(listener);
    event_base_free(base);
    return 0;
}
