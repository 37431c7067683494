#!/usr/bin/env bash
# Network benchmark: our stack against libevent 2.1 on the network
# workloads N1-N6 of shared/bench/WORKLOADS.md, as ratios from one run.
#
#   benches/network.sh [--quick] [--only "n1 n2 ..."] [--out DIR]
#
# Builds (release) the load generator examples/netload.rs and our servers
# (filter_server --echo, zlib_echo, tls_echo, ratelimit_server), compiles the
# libevent servers in crates/cpeers/c/ (filter_echo_server, zlib_echo_server,
# tls_echo_server, ratelimit_server) with cc + pkg-config, then for each
# workload starts our server, runs netload against it, stops it, and does the
# same with the libevent server, with the same parameters. Prints a markdown
# table: workload, ours, libevent, ratio (ours / libevent) and which way is
# better.
#
# Fairness: every server runs single-threaded (our servers on tokio's
# current-thread runtime, `filter_server --threads 1`; the C servers on one
# event_base) pinned to CPU 0, the load generator pinned to CPU 1 (taskset;
# unpinned with a warning when taskset or a second CPU is missing). Every
# server gets a fresh start per workload. Both filter echo servers have a
# 60 s read timeout and no write timeout.
#
# Sizes: the workloads' own (N1 64 x 10,000 messages, N2 8 x 256 MiB, N3 4 x
# 64 MiB, N4 8 x 64 MiB and 1,000 handshakes, N5 10,000 connections, N6 32
# connections for 5 s); --quick divides them (N1 1,000 messages, N2 32 MiB,
# N3 16 MiB, N4 16 MiB, N5 2,000 connections, N6 3 s). Single sizes can be
# set with N1_MESSAGES, N2_MIB, N3_MIB, N4_MIB, N4_HANDSHAKES, N5_CONNS,
# N6_SECS; NETLOAD_TIMEOUT bounds each load run (default 600 s);
# NETBENCH_REV names the revision in the header (for a run from an
# exported tree). (libevent 2.1.12 reads at most 4,096 bytes per evbuffer_read
# whatever bufferevent_set_max_single_read says, so there is no tuned variant.)
#
# Needs: cargo, cc, pkg-config, libevent-dev, zlib1g-dev, libssl-dev
# (libevent_openssl), taskset (util-linux). Every step is bounded with
# `timeout`; logs go to --out (default a new /tmp/netbench.* directory) and
# only their tails are printed on failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
QUICK=0
ONLY="n1 n2 n3 n4 n5 n6"
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --only) ONLY="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "network.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/netbench.XXXXXX)
mkdir -p "$OUT"

if [ "$QUICK" = 1 ]; then
    : "${N1_MESSAGES:=1000}" "${N2_MIB:=32}" "${N3_MIB:=16}" "${N4_MIB:=16}"
    : "${N4_HANDSHAKES:=1000}" "${N5_CONNS:=2000}" "${N6_SECS:=3}"
else
    : "${N1_MESSAGES:=10000}" "${N2_MIB:=256}" "${N3_MIB:=64}" "${N4_MIB:=64}"
    : "${N4_HANDSHAKES:=1000}" "${N5_CONNS:=10000}" "${N6_SECS:=5}"
fi
: "${NETLOAD_TIMEOUT:=600}"
LOAD_TIMEOUT=$NETLOAD_TIMEOUT

log() { echo "network.sh: $*" >&2; }
die() { log "$*"; exit 1; }
tail_of() { [ -f "$1" ] && { echo "--- last lines of $1:" >&2; tail -c 3000 "$1" | tail -n 25 >&2; } || true; }

# More descriptors for N5 (the C servers and netload raise their own too).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- build
log "building in release (target dir $TARGET_DIR; log $OUT/build.log)"
if ! (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" timeout 1800 cargo build --release -p evstack \
        --example netload --example filter_server --example zlib_echo \
        --example tls_echo --example ratelimit_server) >"$OUT/build.log" 2>&1; then
    tail_of "$OUT/build.log"
    die "cargo build failed"
fi
EX="$TARGET_DIR/release/examples"

CFLAGS=(-O2 -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra)
build_c() { # name pkg-config-modules...
    local name=$1; shift
    local flags
    flags=$(pkg-config --cflags --libs "$@") || die "pkg-config cannot find: $* (apt-get install libevent-dev zlib1g-dev libssl-dev pkg-config)"
    # shellcheck disable=SC2086
    timeout 120 cc "${CFLAGS[@]}" -o "$OUT/$name" "$ROOT/crates/cpeers/c/$name.c" $flags \
        >"$OUT/cc-$name.log" 2>&1 || { tail_of "$OUT/cc-$name.log"; die "cannot compile $name.c"; }
}
build_c filter_echo_server libevent
build_c zlib_echo_server libevent zlib
build_c tls_echo_server libevent libevent_openssl openssl
build_c ratelimit_server libevent

# ---------------------------------------------------------------- pinning
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    SRV=(taskset -c 0)
    LOAD=(taskset -c 1)
    PINNING="servers on CPU 0, load generator on CPU 1"
else
    SRV=()
    LOAD=()
    PINNING="NOT pinned (no taskset or fewer than 2 CPUs)"
    log "warning: $PINNING"
fi

# ---------------------------------------------------------------- servers
SERVER_PID=""
PORT=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        timeout 10 tail --pid="$SERVER_PID" -f /dev/null 2>/dev/null || kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT

# start_server TAG [--wait-file FILE] CMD...: starts CMD pinned, waits (10 s)
# for "listening on port N" (and FILE to be written); sets SERVER_PID, PORT.
start_server() {
    local tag=$1; shift
    local wait_file=""
    if [ "$1" = --wait-file ]; then wait_file=$2; shift 2; fi
    "${SRV[@]}" "$@" >"$OUT/$tag.out" 2>"$OUT/$tag.err" &
    SERVER_PID=$!
    PORT=""
    for _ in $(seq 200); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        PORT=$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' "$OUT/$tag.out" 2>/dev/null | head -n 1)
        if [ -n "$PORT" ] && { [ -z "$wait_file" ] || grep -q "BEGIN CERTIFICATE" "$wait_file" 2>/dev/null; }; then
            # our tls_echo writes its certificate after the port line
            [ -z "$wait_file" ] || sleep 0.2
            return 0
        fi
        sleep 0.05
    done
    tail_of "$OUT/$tag.out"; tail_of "$OUT/$tag.err"
    stop_server
    return 1
}

# ---------------------------------------------------------------- results
declare -A R
# run_load SIDE WORKLOAD NETLOAD-ARGS...: runs netload (pinned, bounded) and
# stores the RESULT fields as R[SIDE.key].
run_load() {
    local side=$1 wl=$2; shift 2
    local logf="$OUT/$wl-$side.load"
    if timeout $((LOAD_TIMEOUT + 30)) "${LOAD[@]}" "$EX/netload" "$wl" --port "$PORT" \
            --server-pid "$SERVER_PID" --timeout "$LOAD_TIMEOUT" "$@" >"$logf" 2>&1; then
        grep -v '^RESULT' "$logf" | head -c 2000 | sed "s/^/  [$side] /" >&2
        local line kv
        line=$(grep -m1 '^RESULT' "$logf")
        for kv in $line; do
            case "$kv" in *=*) R["$side.$wl.${kv%%=*}"]="${kv#*=}" ;; esac
        done
    else
        log "$wl against $side failed"
        tail_of "$logf"
        tail_of "$OUT/$side-$wl.err"
    fi
}

# both WORKLOAD OURS-CMD -- C-CMD -- NETLOAD-ARGS...
has() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

OURS_FILTER=("$EX/filter_server" --port 0 --bind 127.0.0.1 --echo --quiet --threads 1
             --timeout 60 --write-timeout 0 --max-connections 1000000)

if has n1; then
    log "N1 filter-echo ping-pong: 64 connections x $N1_MESSAGES messages of 100 bytes"
    start_server ours-n1 "${OURS_FILTER[@]}" && { run_load ours n1 --conns 64 --messages "$N1_MESSAGES" --size 100; stop_server; }
    start_server libevent-n1 "$OUT/filter_echo_server" 0 60 && { run_load libevent n1 --conns 64 --messages "$N1_MESSAGES" --size 100; stop_server; }
fi
if has n2; then
    log "N2 filter-echo streaming: 8 connections x $N2_MIB MiB in 16 KiB writes"
    start_server ours-n2 "${OURS_FILTER[@]}" && { run_load ours n2 --conns 8 --mib "$N2_MIB"; stop_server; }
    start_server libevent-n2 "$OUT/filter_echo_server" 0 60 && { run_load libevent n2 --conns 8 --mib "$N2_MIB"; stop_server; }
fi
if has n3; then
    log "N3 zlib stream: 4 connections x $N3_MIB MiB"
    RUST_LOG=warn start_server ours-n3 "$EX/zlib_echo" server --port 0 && { run_load ours n3 --conns 4 --mib "$N3_MIB"; stop_server; }
    start_server libevent-n3 "$OUT/zlib_echo_server" 0 && { run_load libevent n3 --conns 4 --mib "$N3_MIB"; stop_server; }
fi
if has n4; then
    log "N4 TLS echo: 8 connections x $N4_MIB MiB, $N4_HANDSHAKES handshakes"
    rm -f "$OUT/ours-ca.pem" "$OUT/libevent-ca.pem"
    RUST_LOG=warn start_server ours-n4 --wait-file "$OUT/ours-ca.pem" "$EX/tls_echo" server --port 0 --cert-out "$OUT/ours-ca.pem" \
        && { run_load ours n4 --ca "$OUT/ours-ca.pem" --conns 8 --mib "$N4_MIB" --handshakes "$N4_HANDSHAKES"; stop_server; }
    start_server libevent-n4 --wait-file "$OUT/libevent-ca.pem" "$OUT/tls_echo_server" 0 "$OUT/libevent-ca.pem" \
        && { run_load libevent n4 --ca "$OUT/libevent-ca.pem" --conns 8 --mib "$N4_MIB" --handshakes "$N4_HANDSHAKES"; stop_server; }
fi
if has n5; then
    log "N5 idle connections: $N5_CONNS"
    start_server ours-n5 "${OURS_FILTER[@]}" && { run_load ours n5 --conns "$N5_CONNS"; stop_server; }
    start_server libevent-n5 "$OUT/filter_echo_server" 0 60 && { run_load libevent n5 --conns "$N5_CONNS"; stop_server; }
fi
if has n6; then
    log "N6 rate limited: 32 connections, 1 MiB/s each, 8 MiB/s group, ${N6_SECS} s"
    start_server ours-n6 "$EX/ratelimit_server" --port 0 --rate 1048576 --group-rate 8388608 --quiet \
        && { run_load ours n6 --conns 32 --secs "$N6_SECS" --rate 1048576 --group-rate 8388608; stop_server; }
    start_server libevent-n6 "$OUT/ratelimit_server" 0 1048576 8388608 \
        && { run_load libevent n6 --conns 32 --secs "$N6_SECS" --rate 1048576 --group-rate 8388608; stop_server; }
fi

# ---------------------------------------------------------------- table
# row LABEL KEY BETTER [OURS-SIDE LIBEVENT-SIDE]
row() {
    local label=$1 key=$2 better=$3 a=${4:-ours} b=${5:-libevent}
    local o=${R[$a.$key]:-} l=${R[$b.$key]:-}
    [ -n "$o$l" ] || return 0
    local ratio
    ratio=$(awk -v o="$o" -v l="$l" 'BEGIN { if (o == "" || l == "" || l + 0 == 0) print "-"; else printf "%.2f", o / l }')
    echo "| $label | ${o:--} | ${l:--} | $ratio | $better |"
}

if [ -n "${NETBENCH_REV:-}" ]; then
    REV=$NETBENCH_REV DIRTY=""
else
    REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    DIRTY=$(cd "$ROOT" && { git diff --quiet HEAD -- 2>/dev/null && echo "" || echo " (with uncommitted changes)"; })
fi
{
    echo
    echo "Network workloads, one run: commit $REV$DIRTY, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $PINNING."
    echo "Sizes: N1 64 x $N1_MESSAGES msgs, N2 8 x $N2_MIB MiB, N3 4 x $N3_MIB MiB, N4 8 x $N4_MIB MiB + $N4_HANDSHAKES handshakes, N5 $N5_CONNS conns, N6 32 conns x ${N6_SECS} s. Ratio = ours / libevent."
    echo
    echo "| workload | ours | libevent | ratio | better |"
    echo "|---|---|---|---|---|"
    row "N1 messages/s" n1.msgs_per_s higher
    row "N1 round trip p50 (us)" n1.p50_us lower
    row "N1 round trip p99 (us)" n1.p99_us lower
    row "N1 server CPU per message (us)" n1.server_cpu_us_per_msg lower
    row "N1 ... of which user space (us)" n1.server_user_us_per_unit lower
    row "N2 MB/s" n2.mb_per_s higher
    row "N2 server CPU per MB (us)" n2.server_cpu_us_per_mb lower
    row "N2 ... of which user space (us)" n2.server_user_us_per_unit lower
    row "N2 payload bytes per frame (server read size)" n2.bytes_per_frame "-"
    row "N3 MB/s (uncompressed)" n3.mb_per_s higher
    row "N3 compressed/uncompressed (server's output)" n3.ratio lower
    row "N3 server CPU per MB (us)" n3.server_cpu_us_per_mb lower
    row "N3 ... of which user space (us)" n3.server_user_us_per_unit lower
    row "N4 TLS MB/s" n4.mb_per_s higher
    row "N4 server CPU per MB (us)" n4.server_cpu_us_per_mb lower
    row "N4 ... of which user space (us)" n4.server_user_us_per_unit lower
    row "N4 handshakes/s" n4.handshakes_per_s higher
    row "N4 server CPU per handshake (us)" n4.server_cpu_us_per_handshake lower
    row "N4 ... of which user space (us)" n4.hs_server_user_us_per_unit lower
    row "N5 server RSS per idle connection (bytes)" n5.bytes_per_conn lower
    row "N5 connections held" n5.conns "-"
    row "N6 group rate / 8 MiB/s" n6.group_accuracy "closer to 1"
    row "N6 mean per-connection rate / fair share (256 KiB/s)" n6.share_accuracy "closer to 1"
    row "N6 Jain fairness index" n6.jain "closer to 1"
    row "N6 slowest connection (bytes/s)" n6.conn_min_bps higher
    echo
    echo "CPU use during the timed parts, % of one core (server / load generator; 100 = that side was the bottleneck):"
    for wl in n1 n2 n3 n4; do
        o=${R[ours.$wl.server_cpu_pct]:-}; l=${R[libevent.$wl.server_cpu_pct]:-}
        oc=${R[ours.$wl.client_cpu_pct]:-}; lc=${R[libevent.$wl.client_cpu_pct]:-}
        [ -n "$o$l" ] && echo "- $wl: against ours ${o:--} / ${oc:--}, against libevent ${l:--} / ${lc:--}"
    done
    o=${R[ours.n4.hs_server_cpu_pct]:-}; l=${R[libevent.n4.hs_server_cpu_pct]:-}
    oc=${R[ours.n4.hs_client_cpu_pct]:-}; lc=${R[libevent.n4.hs_client_cpu_pct]:-}
    [ -n "$o$l" ] && echo "- n4 handshakes: against ours ${o:--} / ${oc:--}, against libevent ${l:--} / ${lc:--}"
    echo
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine disturb every figure)."
    echo "Logs: $OUT"
} | tee "$OUT/table.md"
