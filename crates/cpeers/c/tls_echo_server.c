/*
 * tls_echo_server: a TLS echo written in C against libevent 2.1 and
 * OpenSSL 3, the libevent side of the network benchmark N4
 * (docs/workloads.md) and the counterpart of
 * `examples/tls_echo.rs server`.
 *
 * At start it makes a self-signed certificate for `localhost` and
 * 127.0.0.1 on a fresh key, ECDSA P-256 by default (what rcgen makes for
 * the Rust server) or RSA-2048 (KEY_TYPE rsa2048), signed with SHA-256,
 * and writes the certificate (PEM) to CERT_OUT for clients to trust. Each accepted socket gets bufferevent_openssl_socket_new(...,
 * BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE); ALPN "echo/1" is
 * selected when offered; the read callback moves everything it read into
 * the output (bufferevent_write_buffer). End of file or an error frees
 * the connection (dirty shutdowns are allowed: a client that
 * closes without close_notify is an end of file).
 *
 * One event_base, one thread, non-blocking sockets, SIGPIPE ignored,
 * RLIMIT_NOFILE raised to the hard limit. OpenSSL's defaults otherwise
 * (TLS 1.2 and 1.3, its cipher order, session tickets on).
 *
 * Usage: tls_echo_server [PORT [CERT_OUT [KEY_TYPE]]]   (default 5003,
 * tls_echo_server_ca.pem and p256; KEY_TYPE is p256 or rsa2048; port 0
 * picks a free port; the first stdout line is "listening on port N").
 * Listens on 127.0.0.1.
 *
 * Build: pkg-config --cflags --libs libevent libevent_openssl openssl
 * (Debian: libevent-dev, libssl-dev).
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
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static const unsigned char ALPN[] = "echo/1";

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    for (unsigned i = 0; i < inlen;) {
        unsigned len = in[i];
        if (i + 1 + len > inlen)
            break;
        if (len == sizeof(ALPN) - 1 && memcmp(in + i + 1, ALPN, len) == 0) {
            *out = in + i + 1;
            *outlen = (unsigned char)len;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* A self-signed certificate for localhost on a new key (`rsa` ? RSA-2048 :
 * P-256), written to `cert_out` and installed in `ctx`. Returns 0 on
 * success. */
static int make_cert(SSL_CTX *ctx, const char *cert_out, int rsa)
{
    int ok = -1;
    EVP_PKEY *key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_EXTENSION *san = NULL;
    FILE *f = NULL;
    if (!key || !x)
        goto done;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    if (!san || !X509_add_ext(x, san, -1))
        goto done;
    if (!X509_sign(x, key, EVP_sha256()))
        goto done;
    if (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1)
        goto done;
    f = fopen(cert_out, "w");
    if (!f || !PEM_write_X509(f, x))
        goto done;
    ok = 0;
done:
    if (f && fclose(f) != 0)
        ok = -1;
    X509_EXTENSION_free(san);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

static void read_cb(struct bufferevent *bev, void *ctx)
{
    (void)ctx;
    bufferevent_write_buffer(bev, bufferevent_get_input(bev));
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
    SSL_CTX *ctx = arg;
    struct event_base *base = evconnlistener_get_base(listener);
    SSL *ssl = SSL_new(ctx);
    if (!ssl) {
        evutil_closesocket(fd);
        return;
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, fd, ssl,
                                                             BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        evutil_closesocket(fd);
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
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
    int port = 5003;
    if (argc > 1) {
        char *end;
        long v = strtol(argv[1], &end, 10);
        if (*end || v < 0 || v > 65535) {
            fprintf(stderr, "bad port: %s\n", argv[1]);
            return 2;
        }
        port = (int)v;
    }
    const char *cert_out = argc > 2 ? argv[2] : "tls_echo_server_ca.pem";
    const char *key_type = argc > 3 ? argv[3] : "p256";
    int rsa;
    if (strcmp(key_type, "p256") == 0) {
        rsa = 0;
    } else if (strcmp(key_type, "rsa2048") == 0) {
        rsa = 1;
    } else {
        fprintf(stderr, "bad key type: %s (p256 or rsa2048)\n", key_type);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || make_cert(ctx, cert_out, rsa) != 0) {
        fprintf(stderr, "cannot make the certificate (%s):\n", cert_out);
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);

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
        evconnlistener_new_bind(base, listener_cb, ctx, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
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
    SSL_CTX_free(ctx);
    return 0;
}
