/*
 * The buffer workloads B1-B8 of docs/workloads.md, run on
 * libevent's own evbuffer, so that the Rust benches can time both sides in
 * one run. Built by the facade's build.rs when pkg-config finds libevent.
 *
 * Every workload has the same shape:
 *   void    *lev_bN_new(void);               setup, not timed
 *   uint64_t lev_bN_run(void *st, uint64_t rounds);  the timed part
 *   void     lev_bN_free(void *st);
 *   uint64_t lev_bN(void);                   new + run(full count) + free
 * lev_bN_run returns the checksum contribution of those rounds; the byte
 * stream (byte i is i % 251) goes on across calls, as in the definitions.
 */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Byte i of a stream is pat[i % 251]; pat is long enough that any piece up
 * to 4,096 bytes starting anywhere in the period is one contiguous slice. */
#define PERIOD 251
#define MAX_PIECE 4096
static unsigned char pat[PERIOD + MAX_PIECE];

/* B5's stream: byte i is CR if i % 30 == 28, LF if i % 30 == 29, else
 * i % 251. Its period is lcm(30, 251) = 7,530. */
#define LPERIOD 7530
static unsigned char lpat[LPERIOD + MAX_PIECE];

static void patterns_init(void)
{
    static int done;
    if (done)
        return;
    for (size_t i = 0; i < sizeof(pat); i++)
        pat[i] = (unsigned char)(i % PERIOD);
    for (size_t i = 0; i < sizeof(lpat); i++) {
        size_t k = i % 30;
        lpat[i] = k == 28 ? '\r' : k == 29 ? '\n' : (unsigned char)(i % PERIOD);
    }
    done = 1;
}

/* The byte sum of the checksums. Both sides use the same algorithm (the
 * Rust one is benches/workloads/mod.rs's sum_bytes): SSE2's PSADBW sums 16
 * bytes per instruction; the plain loops both compilers make otherwise
 * widen byte by byte and took most of B3's time, hiding the buffers. */
static uint64_t sum_bytes(const unsigned char *p, size_t n)
{
    uint64_t s = 0;
    size_t i = 0;
#ifdef __SSE2__
    __m128i acc = _mm_setzero_si128(), zero = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        acc = _mm_add_epi64(acc, _mm_sad_epu8(v, zero));
    }
    s = (uint64_t)_mm_cvtsi128_si64(acc) +
        (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
#endif
    for (; i < n; i++)
        s += p[i];
    return s;
}

/* A stream position: the next byte to add is pat[off]. */
struct stream {
    size_t off;
};

static inline const unsigned char *stream_next(struct stream *s, size_t n)
{
    const unsigned char *p = pat + s->off;
    /* n is a constant at every call site, so n % PERIOD is folded: no
     * division in the loop-carried chain (the Rust side does the same). */
    s->off += n % PERIOD;
    if (s->off >= PERIOD)
        s->off -= PERIOD;
    return p;
}

struct two {
    struct evbuffer *a, *b;
    struct stream s;
};

static struct two *two_new(void)
{
    patterns_init();
    struct two *t = calloc(1, sizeof(*t));
    if (!t)
        abort();
    t->a = evbuffer_new();
    t->b = evbuffer_new();
    if (!t->a || !t->b)
        abort();
    return t;
}

static void two_free(void *st)
{
    struct two *t = st;
    evbuffer_free(t->a);
    evbuffer_free(t->b);
    free(t);
}

#define WHOLE(N, FULL)                                                         \
    uint64_t lev_##N(void)                                                     \
    {                                                                          \
        void *st = lev_##N##_new();                                            \
        uint64_t sum = lev_##N##_run(st, FULL);                                \
        lev_##N##_free(st);                                                    \
        return sum;                                                            \
    }

/* ---- B1 small-add-drain: add 1,024 x 64 B, remove 4,096 at a time ---- */
void *lev_b1_new(void) { return two_new(); }
void lev_b1_free(void *st) { two_free(st); }
uint64_t lev_b1_run(void *st, uint64_t rounds)
{
    struct two *t = st;
    unsigned char out[4096];
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        for (int k = 0; k < 1024; k++)
            evbuffer_add(t->a, stream_next(&t->s, 64), 64);
        int n;
        while ((n = evbuffer_remove(t->a, out, sizeof(out))) > 0)
            sum += sum_bytes(out, (size_t)n);
    }
    return sum;
}
WHOLE(b1, 25000)

/* ---- B2 move-chains: A gets 256 x 4,096 B, moved into B, B drained ---- */
void *lev_b2_new(void) { return two_new(); }
void lev_b2_free(void *st) { two_free(st); }
uint64_t lev_b2_run(void *st, uint64_t rounds)
{
    struct two *t = st;
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        for (int k = 0; k < 256; k++)
            evbuffer_add(t->a, stream_next(&t->s, 4096), 4096);
        evbuffer_add_buffer(t->b, t->a);
        size_t len = evbuffer_get_length(t->b);
        sum += len;
        evbuffer_drain(t->b, len);
    }
    return sum;
}
WHOLE(b2, 1000)

/* ---- B3 reserve-commit: 256 reservations of 4,096 B (2 vecs), peek-sum,
 * drain ---- */
void *lev_b3_new(void) { return two_new(); }
void lev_b3_free(void *st) { two_free(st); }
uint64_t lev_b3_run(void *st, uint64_t rounds)
{
    struct two *t = st;
    struct evbuffer *buf = t->a;
    uint64_t sum = 0;
    struct evbuffer_iovec *pv = NULL;
    int pv_cap = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        for (int k = 0; k < 256; k++) {
            struct evbuffer_iovec v[2];
            int n = evbuffer_reserve_space(buf, 4096, v, 2);
            if (n <= 0)
                abort();
            size_t left = 4096;
            int used = 0;
            for (int j = 0; j < n && left > 0; j++) {
                size_t w = v[j].iov_len < left ? v[j].iov_len : left;
                memcpy(v[j].iov_base, stream_next(&t->s, w), w);
                v[j].iov_len = w;
                left -= w;
                used = j + 1;
            }
            if (left != 0 || evbuffer_commit_space(buf, v, used) != 0)
                abort();
        }
        int need = evbuffer_peek(buf, -1, NULL, NULL, 0);
        if (need > pv_cap) {
            free(pv);
            pv_cap = need;
            pv = malloc(sizeof(*pv) * (size_t)pv_cap);
            if (!pv)
                abort();
        }
        int got = evbuffer_peek(buf, -1, NULL, pv, pv_cap);
        for (int j = 0; j < got; j++)
            sum += sum_bytes(pv[j].iov_base, pv[j].iov_len);
        evbuffer_drain(buf, evbuffer_get_length(buf));
    }
    free(pv);
    return sum;
}
WHOLE(b3, 1000)

/* ---- B4 peek: 1,024 x 1,000 B added once; each round peeks all extents
 * and sums their lengths ---- */
struct b4 {
    struct evbuffer *buf;
    struct evbuffer_iovec *v;
    int n;
};
void *lev_b4_new(void)
{
    patterns_init();
    struct b4 *t = calloc(1, sizeof(*t));
    struct stream s = {0};
    if (!t || !(t->buf = evbuffer_new()))
        abort();
    for (int k = 0; k < 1024; k++)
        evbuffer_add(t->buf, stream_next(&s, 1000), 1000);
    t->n = evbuffer_peek(t->buf, -1, NULL, NULL, 0);
    t->v = malloc(sizeof(*t->v) * (size_t)t->n);
    if (!t->v)
        abort();
    return t;
}
void lev_b4_free(void *st)
{
    struct b4 *t = st;
    evbuffer_free(t->buf);
    free(t->v);
    free(t);
}
uint64_t lev_b4_run(void *st, uint64_t rounds)
{
    struct b4 *t = st;
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        int got = evbuffer_peek(t->buf, -1, NULL, t->v, t->n);
        for (int j = 0; j < got; j++)
            sum += t->v[j].iov_len;
    }
    return sum;
}
/* The extent count libevent needs for B4's buffer (for the report). */
int lev_b4_extents(void *st) { return ((struct b4 *)st)->n; }
WHOLE(b4, 1000000)

/* ---- B5 readln-crlf: 4,194,300 B of 30-byte lines added in 4,096-byte
 * pieces, then every line read with EVBUFFER_EOL_CRLF ---- */
#define B5_ROUND_BYTES 4194300u
struct b5 {
    struct evbuffer *buf;
    size_t off; /* into lpat */
};
void *lev_b5_new(void)
{
    patterns_init();
    struct b5 *t = calloc(1, sizeof(*t));
    if (!t || !(t->buf = evbuffer_new()))
        abort();
    return t;
}
void lev_b5_free(void *st)
{
    struct b5 *t = st;
    evbuffer_free(t->buf);
    free(t);
}
uint64_t lev_b5_run(void *st, uint64_t rounds)
{
    struct b5 *t = st;
    uint64_t lines = 0, sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        size_t left = B5_ROUND_BYTES;
        while (left > 0) {
            size_t n = left < MAX_PIECE ? left : MAX_PIECE;
            evbuffer_add(t->buf, lpat + t->off, n);
            t->off = (t->off + n) % LPERIOD;
            left -= n;
        }
        char *line;
        size_t n;
        while ((line = evbuffer_readln(t->buf, &n, EVBUFFER_EOL_CRLF))) {
            lines++;
            sum += sum_bytes((const unsigned char *)line, n);
            free(line);
        }
    }
    return lines * 1000000000000ull + sum;
}
WHOLE(b5, 100)

/* ---- B6 search: 1 MiB (last byte 0xFF) in 4,096-byte pieces; each round
 * searches for its last 16 bytes from the start ---- */
struct b6 {
    struct evbuffer *buf;
    unsigned char needle[16];
};
void *lev_b6_new(void)
{
    patterns_init();
    struct b6 *t = calloc(1, sizeof(*t));
    unsigned char piece[4096];
    if (!t || !(t->buf = evbuffer_new()))
        abort();
    for (size_t i = 0; i < (1u << 20); i += sizeof(piece)) {
        memcpy(piece, pat + i % PERIOD, sizeof(piece));
        if (i + sizeof(piece) == (1u << 20))
            piece[sizeof(piece) - 1] = 0xFF;
        evbuffer_add(t->buf, piece, sizeof(piece));
    }
    memcpy(t->needle, piece + sizeof(piece) - 16, 16);
    return t;
}
void lev_b6_free(void *st)
{
    struct b6 *t = st;
    evbuffer_free(t->buf);
    free(t);
}
uint64_t lev_b6_run(void *st, uint64_t rounds)
{
    struct b6 *t = st;
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        struct evbuffer_ptr p = evbuffer_search(t->buf, (const char *)t->needle, 16, NULL);
        if (p.pos < 0)
            abort();
        sum += (uint64_t)p.pos;
    }
    return sum;
}
WHOLE(b6, 10000)

/* ---- B7 pullup: add 64 x 64 B, pull up 4,096, first byte, drain ---- */
void *lev_b7_new(void) { return two_new(); }
void lev_b7_free(void *st) { two_free(st); }
uint64_t lev_b7_run(void *st, uint64_t rounds)
{
    struct two *t = st;
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        for (int k = 0; k < 64; k++)
            evbuffer_add(t->a, stream_next(&t->s, 64), 64);
        unsigned char *p = evbuffer_pullup(t->a, 4096);
        if (!p)
            abort();
        sum += p[0];
        evbuffer_drain(t->a, 4096);
    }
    return sum;
}
WHOLE(b7, 1000000)

/* ---- B8 remove-buffer: A gets 256 x 4,096 B, then 1,000 B at a time are
 * moved into B (B drained each time) until A is empty ---- */
void *lev_b8_new(void) { return two_new(); }
void lev_b8_free(void *st) { two_free(st); }
uint64_t lev_b8_run(void *st, uint64_t rounds)
{
    struct two *t = st;
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        for (int k = 0; k < 256; k++)
            evbuffer_add(t->a, stream_next(&t->s, 4096), 4096);
        while (evbuffer_get_length(t->a) > 0) {
            int n = evbuffer_remove_buffer(t->a, t->b, 1000);
            if (n <= 0)
                abort();
            sum += (uint64_t)n;
            evbuffer_drain(t->b, evbuffer_get_length(t->b));
        }
    }
    return sum;
}
WHOLE(b8, 1000)
