#!/usr/bin/env bash
# Network benchmark: our stack against libevent 2.1 and against the plain
# tokio program a Rust user would write, on the network workloads N1-N6 of
# docs/workloads.md, as ratios from one run.
#
#   benches/network.sh [--quick] [--shared] [--repeat N] [--only "n1 scale ..."]
#                      [--chart FILE] [--out DIR]
#
# Workloads (--only takes any of them; default all):
#   n1     N1 filter-echo ping-pong: 64 connections x N1_MESSAGES (2,000)
#          messages of 100 bytes, one at a time; three sides
#   scale  N1-scale: SCALE_TOTAL (200,000) messages of 100 bytes in all over
#          SCALE_CONNS (64 1000 4000 10000) connections; messages/s and server
#          CPU per message at each count; three sides; draws the chart
#   n2     N2 filter-echo streaming, 8 connections x N2_MIB MiB
#   n3     N3 zlib echo, 4 connections x N3_MIB MiB of 64 pattern bytes then
#          64 bytes of text, repeated, deflated by the client with
#          Z_SYNC_FLUSH after every 16 KiB (N3_DATA=words for the earlier
#          data); the server's compression ratio and CPU per MB
#   n4     N4 TLS echo: 8 connections x N4_MIB MiB and N4_HANDSHAKES (2,000)
#          handshakes (8 in flight) with an ECDSA P-256 certificate, then the
#          handshakes again with an RSA-2048 certificate
#   n5     N5 server RSS per connection: N5_IDLE_CONNS (5,000) connections
#          that never speak, and N5_PP_CONNS (1,000) that each did one
#          100-byte ping-pong and went idle; same warm-up for every server
#          (64 connections that exchange one message and close); three sides
#   n6     N6 rate limits, 32 connections for N6_SECS s
#   sys    system calls per message: `strace -c -f` attached to each filter
#          echo server during a short N1 run (64 x SYS_MESSAGES (500))
#
# Sides: "ours" is filter_server --echo (N1, N2, N5), zlib_echo (N3),
# tls_echo (N4), ratelimit_server (N6); "libevent" the C servers in
# crates/cpeers/c/ (filter_echo_server, zlib_echo_server, tls_echo_server,
# ratelimit_server), compiled here with cc + pkg-config; "tokio" the plain
# tokio + tokio_util::codec::Framed filter echo of
# benches/peers/tokio_filter_echo.rs (an [[example]] of the root package),
# for n1, scale, n5 and sys.
#
# Fairness: every server is single-threaded (tokio's current-thread runtime,
# `filter_server --threads 1`; the C servers on one event_base), pinned to
# CPU 0; the load generator (examples/netload.rs) is pinned to CPU 1
# (taskset; unpinned with a warning when taskset or a second CPU is missing).
# Every run starts a fresh server. The filter echo servers have a 60 s read
# timeout and no write timeout.
#
# Repeats: n1, scale, n4 and n5 run --repeat rounds (default 3), alternating
# the sides and rotating their order each round (ours, libevent, tokio; then
# libevent, tokio, ours; ...); each figure is the best of the rounds for its
# side (highest rate, lowest time, CPU, memory), taken per figure. n3 too;
# n2, n6 and sys run once. Every run is kept in OUT/runs.tsv.
#
# --shared: one busy loop (`timeout ... sh -c "while :; do :; done"`) pinned
# to the server's core runs during each load run and is killed after it (any
# real server shares its cores). For n1 and scale it starts when netload has
# opened its connections (netload --ready-file), so that the connect phase
# (slow on a starved server with a 64-entry accept queue) cannot run into
# the servers' 60 s read timeout; the whole-run CPU figure then includes an
# unshared connect phase. The table says so in its header.
#
# CPU per message: `server CPU per message` is the server's CPU time (all its
# threads, /proc/PID/task/*/schedstat, as netload reads it) over the timed
# part only, connections already open; `whole run` is utime+stime from
# /proc/PID/stat before and after the whole load run (connects, accepts and
# closes included), divided by the messages. CPU figures are the steadiest on
# a shared machine: prefer their ratios to messages/s.
#
# Sizes: --quick divides them (N1 500 messages, SCALE_TOTAL 50,000, N2 32
# MiB, N3 16 MiB, N4 16 MiB and 500 handshakes, N5 2,000 idle / 500
# ping-pong, N6 3 s, SYS_MESSAGES 200). Single sizes: N1_MESSAGES,
# SCALE_TOTAL, SCALE_CONNS, N2_MIB, N3_MIB, N4_MIB, N4_HANDSHAKES,
# N5_IDLE_CONNS, N5_PP_CONNS (N5_CONNS is an older name for it), N6_SECS,
# SYS_MESSAGES, N3_DATA. NETLOAD_TIMEOUT bounds each load run (default 600 s);
# NETBENCH_REV names the revision in the header (for a run from an exported
# tree). RLIMIT_NOFILE's soft limit is raised to the hard limit (servers and
# netload inherit it); scale skips counts the limit cannot hold.
#
# Output: the markdown table (OUT/table.md), the scaling table and chart
# (OUT/scaling.md, OUT/scaling.tsv, OUT/network-scaling.svg; --chart FILE
# copies the SVG to FILE, e.g. --chart network-scaling.svg for the README).
# The SVG is drawn by a python3 script inside this file (standard library
# only); without python3 there is no chart.
#
# RSA-2048 for our tls_echo: when `tls_echo server --help` lists
# --key-type, the script passes `--key-type rsa2048|p256`; otherwise it makes
# an RSA-2048 key and certificate with the openssl command and passes
# `--cert/--key` (the P-256 run then uses the server's own rcgen key).
#
# Needs: cargo, cc, pkg-config, libevent-dev, zlib1g-dev, libssl-dev
# (libevent_openssl), openssl, taskset (util-linux), strace (sys), python3
# (chart). Every step is bounded with `timeout`; logs go to --out (default a
# new /tmp/netbench.* directory) and only their tails are printed on failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
QUICK=0
SHARED=0
REPEAT=3
ONLY="n1 scale n2 n3 n4 n5 n6 sys"
OUT=""
CHART=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --shared) SHARED=1 ;;
        --repeat) REPEAT="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --chart) CHART="$2"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "network.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
case "$REPEAT" in ''|*[!0-9]*|0) echo "network.sh: --repeat needs a positive number" >&2; exit 2 ;; esac
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/netbench.XXXXXX)
mkdir -p "$OUT"
[ -z "$CHART" ] || case "$CHART" in /*) ;; *) CHART="$PWD/$CHART" ;; esac

: "${N5_PP_CONNS:=${N5_CONNS:-}}"
if [ "$QUICK" = 1 ]; then
    : "${N1_MESSAGES:=500}" "${SCALE_TOTAL:=50000}" "${N2_MIB:=32}" "${N3_MIB:=16}" "${N4_MIB:=16}"
    : "${N4_HANDSHAKES:=500}" "${N5_IDLE_CONNS:=2000}" "${N5_PP_CONNS:=500}" "${N6_SECS:=3}"
    : "${SYS_MESSAGES:=200}"
else
    : "${N1_MESSAGES:=2000}" "${SCALE_TOTAL:=200000}" "${N2_MIB:=256}" "${N3_MIB:=64}" "${N4_MIB:=64}"
    : "${N4_HANDSHAKES:=2000}" "${N5_IDLE_CONNS:=5000}" "${N5_PP_CONNS:=1000}" "${N6_SECS:=5}"
    : "${SYS_MESSAGES:=500}"
fi
: "${SCALE_CONNS:=64 1000 4000 10000}" "${N3_DATA:=halves}"
: "${NETLOAD_TIMEOUT:=600}"
LOAD_TIMEOUT=$NETLOAD_TIMEOUT

log() { echo "network.sh: $*" >&2; }
die() { log "$*"; exit 1; }
tail_of() { [ -f "$1" ] && { echo "--- last lines of $1:" >&2; tail -c 3000 "$1" | tail -n 25 >&2; } || true; }
has() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# More descriptors for N1-scale and N5 (the C servers and netload raise
# their own too; our servers and the tokio peer inherit this).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

# ---------------------------------------------------------------- build
log "building in release (target dir $TARGET_DIR; log $OUT/build.log)"
if ! (cd "$ROOT" && CARGO_TARGET_DIR="$TARGET_DIR" timeout 1800 cargo build --release -p evstack \
        --example netload --example filter_server --example zlib_echo \
        --example tls_echo --example ratelimit_server --example tokio_filter_echo) >"$OUT/build.log" 2>&1; then
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

# RSA-2048 for our tls_echo: its own flag if it has one, else a key and
# certificate made here.
OURS_TLS_KEYTYPE=0
if has n4; then
    if timeout 10 "$EX/tls_echo" server --help 2>/dev/null | grep -q -- '--key-type'; then
        OURS_TLS_KEYTYPE=1
    else
        command -v openssl >/dev/null || die "n4 needs the openssl command (RSA-2048 certificate for tls_echo)"
        timeout 60 openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=localhost \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$OUT/rsa2048-key.pem" -out "$OUT/rsa2048-cert.pem" >"$OUT/openssl-req.log" 2>&1 \
            || { tail_of "$OUT/openssl-req.log"; die "openssl req failed"; }
    fi
fi

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
if [ "$SHARED" = 1 ]; then
    MODE="shared core: a busy loop pinned to the server's CPU during every load run"
else
    MODE="quiet core: nothing else pinned to the server's CPU (other processes on the machine still run)"
fi

# ---------------------------------------------------------------- processes
SERVER_PID=""
PORT=""
HOG_PID=""
STRACE_PID=""
stop_pid() { # PID: TERM, wait up to 10 s, then KILL
    kill "$1" 2>/dev/null || true
    timeout 10 tail --pid="$1" -f /dev/null 2>/dev/null || kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
stop_server() { [ -z "$SERVER_PID" ] || { stop_pid "$SERVER_PID"; SERVER_PID=""; }; }
hog_start() {
    [ "$SHARED" = 1 ] || return 0
    "${SRV[@]}" timeout $((LOAD_TIMEOUT + 120)) sh -c 'while :; do :; done' &
    HOG_PID=$!
}
hog_stop() { [ -z "$HOG_PID" ] || { stop_pid "$HOG_PID"; HOG_PID=""; }; }
cleanup() {
    [ -z "$STRACE_PID" ] || stop_pid "$STRACE_PID"
    hog_stop
    stop_server
}
trap cleanup EXIT

# start_server TAG [--wait-file FILE] CMD...: starts CMD pinned, waits (10 s)
# for "listening on port N" (and FILE to hold a certificate); sets
# SERVER_PID, PORT.
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
    log "$tag did not start"
    tail_of "$OUT/$tag.out"; tail_of "$OUT/$tag.err"
    stop_server
    return 1
}

# server_cmd SIDE FAMILY TAG: sets CMD (the server's command line),
# WAIT_FILE and CA for a run tagged TAG.
server_cmd() {
    local side=$1 family=$2 tag=$3
    WAIT_FILE="" CA=""
    case "$side.$family" in
        ours.filter) CMD=("$EX/filter_server" --port 0 --bind 127.0.0.1 --echo --quiet --threads 1
                          --timeout 60 --write-timeout 0 --max-connections 1000000) ;;
        libevent.filter) CMD=("$OUT/filter_echo_server" 0 60) ;;
        tokio.filter) CMD=("$EX/tokio_filter_echo" --port 0 --bind 127.0.0.1 --timeout 60) ;;
        ours.zlib) CMD=(env RUST_LOG=warn "$EX/zlib_echo" server --port 0) ;;
        libevent.zlib) CMD=("$OUT/zlib_echo_server" 0) ;;
        ours.tls-*)
            local kt=${family#tls-}
            CA="$OUT/$tag-ca.pem"; rm -f "$CA"; WAIT_FILE=$CA
            CMD=(env RUST_LOG=warn "$EX/tls_echo" server --port 0 --cert-out "$CA")
            if [ "$OURS_TLS_KEYTYPE" = 1 ]; then
                CMD+=(--key-type "$kt")
            elif [ "$kt" = rsa2048 ]; then
                CA="$OUT/rsa2048-cert.pem"; WAIT_FILE=$CA
                CMD+=(--cert "$OUT/rsa2048-cert.pem" --key "$OUT/rsa2048-key.pem")
            fi ;;
        libevent.tls-*)
            CA="$OUT/$tag-ca.pem"; rm -f "$CA"; WAIT_FILE=$CA
            CMD=("$OUT/tls_echo_server" 0 "$CA" "${family#tls-}") ;;
        ours.rate) CMD=("$EX/ratelimit_server" --port 0 --rate 1048576 --group-rate 8388608 --quiet) ;;
        libevent.rate) CMD=("$OUT/ratelimit_server" 0 1048576 8388608) ;;
        *) die "no $side server for $family" ;;
    esac
}

# utime+stime of PID, clock ticks.
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $12 + $13 }'; }
TICK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# ---------------------------------------------------------------- results
# R[SIDE.KEY.FIELD]: the best value over the rounds; N[SIDE.KEY]: runs done;
# F[SIDE.KEY]: runs failed.
declare -A R N F
printf 'key\tside\tround\tfield\tvalue\n' >"$OUT/runs.tsv"
higher_better() { case "$1" in *_per_s|conns|server_conns|msgs|bytes|compression) return 0 ;; *) return 1 ;; esac; }
keep() { # SIDE KEY FIELD VALUE ROUND
    local k="$1.$2.$3" old=${R["$1.$2.$3"]:-}
    printf '%s\t%s\t%s\t%s\t%s\n' "$2" "$1" "$5" "$3" "$4" >>"$OUT/runs.tsv"
    if [ -z "$old" ]; then R[$k]=$4; return; fi
    if higher_better "$3"; then
        awk -v a="$4" -v b="$old" 'BEGIN { exit !(a + 0 > b + 0) }' && R[$k]=$4 || true
    else
        awk -v a="$4" -v b="$old" 'BEGIN { exit !(a + 0 < b + 0) }' && R[$k]=$4 || true
    fi
}

# one_run SIDE FAMILY KEY ROUND NETLOAD-WORKLOAD NETLOAD-ARGS...: a fresh
# server, the busy loop (--shared), netload (pinned, bounded; "@CA@" in the
# arguments is the server's certificate), the whole-run CPU from
# /proc/PID/stat; keeps the RESULT fields.
one_run() {
    local side=$1 family=$2 key=$3 round=$4 wl=$5; shift 5
    local tag="$key-$side-r$round"
    local logf="$OUT/$tag.load"
    server_cmd "$side" "$family" "$tag"
    local wait=()
    [ -z "$WAIT_FILE" ] || wait=(--wait-file "$WAIT_FILE")
    N["$side.$key"]=$(( ${N["$side.$key"]:-0} + 1 ))
    if ! start_server "$tag" "${wait[@]}" "${CMD[@]}"; then
        F["$side.$key"]=$(( ${F["$side.$key"]:-0} + 1 ))
        return 0
    fi
    local args=() a
    for a in "$@"; do args+=("${a//@CA@/$CA}"); done
    # The busy loop: for n1, once netload has opened its connections (a slow
    # connect phase on a shared core would otherwise run into the servers'
    # 60 s read timeout with 10,000 connections); else from the start.
    local ready=()
    if [ "$SHARED" = 1 ] && [ "$wl" = n1 ]; then
        rm -f "$OUT/$tag.ready"
        ready=(--ready-file "$OUT/$tag.ready")
    else
        hog_start
    fi
    local t0 t1 lp
    t0=$(proc_ticks "$SERVER_PID")
    timeout $((LOAD_TIMEOUT + 30)) "${LOAD[@]}" "$EX/netload" "$wl" --port "$PORT" \
        --server-pid "$SERVER_PID" --timeout "$LOAD_TIMEOUT" "${ready[@]}" "${args[@]}" >"$logf" 2>&1 &
    lp=$!
    if [ ${#ready[@]} -gt 0 ]; then
        while kill -0 "$lp" 2>/dev/null && [ ! -f "$OUT/$tag.ready" ]; do sleep 0.02; done
        hog_start
    fi
    if wait "$lp"; then
        t1=$(proc_ticks "$SERVER_PID")
        grep -v '^RESULT' "$logf" | head -c 1500 | sed "s/^/  [$side r$round] /" >&2
        local line kv msgs=""
        line=$(grep -m1 '^RESULT' "$logf")
        for kv in $line; do
            case "$kv" in *=*) keep "$side" "$key" "${kv%%=*}" "${kv#*=}" "$round" ;; esac
            case "$kv" in msgs=*) msgs=${kv#msgs=} ;; esac
        done
        if [ -n "$msgs" ] && [ -n "$t0" ] && [ -n "$t1" ]; then
            keep "$side" "$key" run_cpu_us_per_msg \
                "$(awk -v d=$((t1 - t0)) -v hz="$TICK" -v m="$msgs" 'BEGIN { printf "%.3f", d / hz * 1e6 / m }')" "$round"
        fi
    else
        F["$side.$key"]=$(( ${F["$side.$key"]:-0} + 1 ))
        log "$key against $side (round $round) failed"
        tail_of "$logf"
        tail_of "$OUT/$tag.err"
    fi
    hog_stop
    stop_server
}

# rounds COUNT "SIDES" FAMILY KEY NETLOAD-WORKLOAD NETLOAD-ARGS...: COUNT
# rounds, the sides' order rotated each round.
rounds() {
    local count=$1 sides=($2) family=$3 key=$4; shift 4
    local r i n=${#sides[@]}
    for r in $(seq "$count"); do
        for i in $(seq 0 $((n - 1))); do
            one_run "${sides[$(( (i + r - 1) % n ))]}" "$family" "$key" "$r" "$@"
        done
    done
}

THREE="ours libevent tokio"
TWO="ours libevent"

# ---------------------------------------------------------------- workloads
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if has n1; then
    log "N1 filter-echo ping-pong: 64 connections x $N1_MESSAGES messages of 100 bytes, best of $REPEAT"
    rounds "$REPEAT" "$THREE" filter n1 n1 --conns 64 --messages "$N1_MESSAGES" --size 100
fi
SCALE_DONE=""
if has scale; then
    for c in $SCALE_CONNS; do
        if [ $((c + 200)) -gt "$NOFILE" ]; then
            log "N1-scale: skipping $c connections (RLIMIT_NOFILE $NOFILE)"
            continue
        fi
        m=$((SCALE_TOTAL / c)); [ "$m" -ge 1 ] || m=1
        log "N1-scale: $c connections x $m messages of 100 bytes, best of $REPEAT"
        rounds "$REPEAT" "$THREE" filter "s$c" n1 --conns "$c" --messages "$m" --size 100
        SCALE_DONE="$SCALE_DONE $c"
    done
fi
if has n2; then
    log "N2 filter-echo streaming: 8 connections x $N2_MIB MiB in 16 KiB writes"
    rounds 1 "$TWO" filter n2 n2 --conns 8 --mib "$N2_MIB"
fi
if has n3; then
    log "N3 zlib stream: 4 connections x $N3_MIB MiB ($N3_DATA data), best of $REPEAT"
    rounds "$REPEAT" "$TWO" zlib n3 n3 --conns 4 --mib "$N3_MIB" --data "$N3_DATA"
fi
if has n4; then
    log "N4 TLS echo, ECDSA P-256: 8 connections x $N4_MIB MiB, $N4_HANDSHAKES handshakes, best of $REPEAT"
    rounds "$REPEAT" "$TWO" tls-p256 n4 n4 --ca @CA@ --conns 8 --mib "$N4_MIB" --handshakes "$N4_HANDSHAKES"
    log "N4 TLS handshakes, RSA-2048: $N4_HANDSHAKES handshakes, best of $REPEAT"
    rounds "$REPEAT" "$TWO" tls-rsa2048 n4rsa n4 --ca @CA@ --mib 0 --handshakes "$N4_HANDSHAKES"
fi
if has n5; then
    log "N5 memory: $N5_IDLE_CONNS idle connections, best of $REPEAT"
    rounds "$REPEAT" "$THREE" filter n5idle n5 --idle --conns "$N5_IDLE_CONNS" --warmup 64
    log "N5 memory: $N5_PP_CONNS connections after one 100-byte ping-pong each, best of $REPEAT"
    rounds "$REPEAT" "$THREE" filter n5pp n5 --conns "$N5_PP_CONNS" --size 100 --warmup 64
fi
if has n6; then
    log "N6 rate limited: 32 connections, 1 MiB/s each, 8 MiB/s group, ${N6_SECS} s"
    rounds 1 "$TWO" rate n6 n6 --conns 32 --secs "$N6_SECS" --rate 1048576 --group-rate 8388608
fi
# sys: strace -c -f attached to the server during a short N1 run.
SYS_DETAIL=()
if has sys; then
    if ! command -v strace >/dev/null; then
        log "sys: no strace, skipped"
    else
        sys_msgs=$((64 * SYS_MESSAGES))
        log "syscalls per message: strace -c -f on each filter echo server, 64 x $SYS_MESSAGES messages"
        for side in $THREE; do
            server_cmd "$side" filter "sys-$side"
            start_server "sys-$side" "${CMD[@]}" || continue
            sf="$OUT/sys-$side.strace"
            timeout $((LOAD_TIMEOUT + 60)) strace -c -f -q -p "$SERVER_PID" -o "$sf" 2>"$OUT/sys-$side.strace-err" &
            STRACE_PID=$!
            sleep 1 # attached (strace -p attaches every thread before it returns to the tracee)
            hog_start
            if timeout $((LOAD_TIMEOUT + 30)) "${LOAD[@]}" "$EX/netload" n1 --port "$PORT" --timeout "$LOAD_TIMEOUT" \
                    --conns 64 --messages "$SYS_MESSAGES" --size 100 >"$OUT/sys-$side.load" 2>&1; then
                hog_stop
                kill -INT "$STRACE_PID" 2>/dev/null || true
                timeout 20 tail --pid="$STRACE_PID" -f /dev/null 2>/dev/null || kill -9 "$STRACE_PID" 2>/dev/null || true
                wait "$STRACE_PID" 2>/dev/null || true
                STRACE_PID=""
                # strace -c: "% time seconds usecs/call calls [errors] syscall"
                R["$side.sys.calls_per_msg"]=$(awk -v m="$sys_msgs" '$NF == "total" { printf "%.2f", $4 / m }' "$sf")
                SYS_DETAIL+=("- $side: $(awk -v m="$sys_msgs" '$1 ~ /^[0-9.]+$/ && $NF != "total" && $4 / m >= 0.01 { printf "%s %.2f, ", $NF, $4 / m }' "$sf" | sed 's/, $//')")
            else
                hog_stop
                log "sys against $side failed"; tail_of "$OUT/sys-$side.load"
                stop_pid "$STRACE_PID"; STRACE_PID=""
            fi
            stop_server
        done
    fi
fi

# ---------------------------------------------------------------- tables
ratio() { awk -v o="$1" -v l="$2" 'BEGIN { if (o == "" || l == "" || l + 0 == 0) print "-"; else printf "%.2f", o / l }'; }
# row LABEL KEY.FIELD BETTER: ours, libevent, tokio, ours/libevent, ours/tokio
row() {
    local label=$1 key=$2 better=$3
    local o=${R[ours.$key]:-} l=${R[libevent.$key]:-} t=${R[tokio.$key]:-}
    [ -n "$o$l$t" ] || return 0
    local rt="-"
    [ -z "$t" ] || rt=$(ratio "$o" "$t")
    echo "| $label | ${o:--} | ${l:--} | ${t:--} | $(ratio "$o" "$l") | $rt | $better |"
}
runs_note() { # KEY: "best of N" or the failures
    local key=$1 side out=""
    for side in ours libevent tokio; do
        local f=${F[$side.$key]:-0} n=${N[$side.$key]:-0}
        [ "$n" = 0 ] || [ "$f" = 0 ] || out="$out $side: $f of $n runs failed;"
    done
    echo "$out"
}

if [ -n "${NETBENCH_REV:-}" ]; then
    REV=$NETBENCH_REV DIRTY=""
else
    REV=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    DIRTY=$(cd "$ROOT" && { git diff --quiet HEAD -- 2>/dev/null && echo "" || echo " (with uncommitted changes)"; })
fi
HEADER="commit $REV$DIRTY, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $PINNING; $MODE"

# The scaling table and chart data.
if [ -n "$SCALE_DONE" ]; then
    printf 'conns\tside\tmsgs_per_s\tcpu_us_per_msg\trun_cpu_us_per_msg\tp99_us\n' >"$OUT/scaling.tsv"
    for c in $SCALE_DONE; do
        for side in $THREE; do
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$side" "${R[$side.s$c.msgs_per_s]:-}" \
                "${R[$side.s$c.server_cpu_us_per_msg]:-}" "${R[$side.s$c.run_cpu_us_per_msg]:-}" \
                "${R[$side.s$c.p99_us]:-}" >>"$OUT/scaling.tsv"
        done
    done
    {
        echo "| connections | messages/s ours / libevent / tokio | ours/libevent | ours/tokio | server CPU µs per message ours / libevent / tokio | ours/libevent | ours/tokio | whole run, µs per message ours / libevent / tokio |"
        echo "|---:|---|---:|---:|---|---:|---:|---|"
        for c in $SCALE_DONE; do
            k=s$c
            mo=${R[ours.$k.msgs_per_s]:-} ml=${R[libevent.$k.msgs_per_s]:-} mt=${R[tokio.$k.msgs_per_s]:-}
            co=${R[ours.$k.server_cpu_us_per_msg]:-} cl=${R[libevent.$k.server_cpu_us_per_msg]:-} ct=${R[tokio.$k.server_cpu_us_per_msg]:-}
            wo=${R[ours.$k.run_cpu_us_per_msg]:-} wl=${R[libevent.$k.run_cpu_us_per_msg]:-} wt=${R[tokio.$k.run_cpu_us_per_msg]:-}
            echo "| $c | ${mo:--} / ${ml:--} / ${mt:--} | $(ratio "$mo" "$ml") | $(ratio "$mo" "$mt") | ${co:--} / ${cl:--} / ${ct:--} | $(ratio "$co" "$cl") | $(ratio "$co" "$ct") | ${wo:--} / ${wl:--} / ${wt:--} |"
        done
    } >"$OUT/scaling.md"
fi

# The chart: messages/s and server CPU per message against connections.
draw_chart() { # TSV SVG TITLE
    timeout 60 python3 - "$1" "$2" "$3" <<'PY'
import math, sys
from xml.sax.saxutils import escape

tsv, svg_path, title = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [l.rstrip("\n").split("\t") for l in open(tsv)][1:]
sides = [("ours", "ours (filter_server --echo)", "#1f77b4"),
         ("libevent", "libevent 2.1 (C)", "#ff7f0e"),
         ("tokio", "plain tokio + Framed", "#2ca02c")]
conns = sorted({int(r[0]) for r in rows})
def series(col):
    out = {}
    for side, _, _ in sides:
        pts = []
        for r in rows:
            if r[1] == side and r[col]:
                pts.append((int(r[0]), float(r[col])))
        out[side] = sorted(pts)
    return out

W, H = 1010, 430
PW, PH = 390, 270            # plot area of each panel
TOP, LEFT = 70, 80
GAP = 100

def nice_max(v):
    if v <= 0:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= v:
            return m * e
    return 10 * e

def fmt(v):
    if v >= 1000:
        return f"{v / 1000:g}k"
    return f"{v:g}"

out = []
def add(s):
    out.append(s)

lo, hi = math.log10(min(conns)), math.log10(max(conns))
if hi == lo:
    lo, hi = lo - 0.5, hi + 0.5

def panel(x0, label, ylabel, data, dashed=None):
    ymax = 0.0
    for d in [data] + ([dashed] if dashed else []):
        for pts in d.values():
            for _, v in pts:
                ymax = max(ymax, v)
    ymax = nice_max(ymax * 1.05)
    X = lambda c: x0 + (math.log10(c) - lo) / (hi - lo) * PW
    Y = lambda v: TOP + PH - v / ymax * PH
    add(f'<text x="{x0 + PW / 2}" y="{TOP - 12}" text-anchor="middle" font-size="14" font-weight="bold">{escape(label)}</text>')
    add(f'<rect x="{x0}" y="{TOP}" width="{PW}" height="{PH}" fill="none" stroke="#444"/>')
    for i in range(6):
        v = ymax * i / 5
        y = Y(v)
        add(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + PW}" y2="{y:.1f}" stroke="#ddd"/>')
        add(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{fmt(round(v, 3))}</text>')
    for c in conns:
        x = X(c)
        add(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + PH}" stroke="#eee"/>')
        add(f'<text x="{x:.1f}" y="{TOP + PH + 16}" text-anchor="middle" font-size="11">{c:,}</text>')
    add(f'<text x="{x0 + PW / 2}" y="{TOP + PH + 34}" text-anchor="middle" font-size="12">connections (log scale)</text>')
    add(f'<text transform="translate({x0 - 52},{TOP + PH / 2}) rotate(-90)" text-anchor="middle" font-size="12">{escape(ylabel)}</text>')
    for d, dash in ((data, ""), (dashed, ' stroke-dasharray="5,4"')):
        if not d:
            continue
        for side, _, colour in sides:
            pts = d.get(side, [])
            if not pts:
                continue
            path = " ".join(f"{X(c):.1f},{Y(v):.1f}" for c, v in pts)
            add(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
            for c, v in pts:
                add(f'<circle cx="{X(c):.1f}" cy="{Y(v):.1f}" r="3" fill="{colour}"/>')

add(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif">')
add(f'<rect width="{W}" height="{H}" fill="white"/>')
add(f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{escape(title)}</text>')
panel(LEFT, "messages/s (higher is better)", "messages per second", series(2))
panel(LEFT + PW + GAP, "server CPU per message (lower is better)", "µs of server CPU per message",
      series(3), series(4))
ly = H - 40
lx = LEFT
for side, name, colour in sides:
    add(f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
    add(f'<text x="{lx + 30}" y="{ly + 4}" font-size="12">{escape(name)}</text>')
    lx += 220
add(f'<text x="{LEFT}" y="{H - 14}" font-size="11" fill="#555">CPU panel: solid = server CPU over the messages only (connections open); dashed = the whole run (connects, accepts and closes too), from /proc/PID/stat</text>')
add('</svg>')
open(svg_path, "w").write("\n".join(out) + "\n")
PY
}
if [ -n "$SCALE_DONE" ]; then
    if command -v python3 >/dev/null; then
        title="N1-scale: $SCALE_TOTAL messages of 100 B over N connections, best of $REPEAT ($([ "$SHARED" = 1 ] && echo "shared core" || echo "quiet core"), commit $REV)"
        if draw_chart "$OUT/scaling.tsv" "$OUT/network-scaling.svg" "$title" 2>"$OUT/chart.err"; then
            [ -z "$CHART" ] || cp "$OUT/network-scaling.svg" "$CHART"
        else
            log "chart failed"; tail_of "$OUT/chart.err"
        fi
    else
        log "no python3: no chart"
    fi
fi

{
    echo
    echo "Network workloads, one run: $HEADER."
    echo "Sizes: N1 64 x $N1_MESSAGES msgs; N1-scale $SCALE_TOTAL msgs over${SCALE_DONE:- -} connections; N2 8 x $N2_MIB MiB; N3 4 x $N3_MIB MiB ($N3_DATA); N4 8 x $N4_MIB MiB + $N4_HANDSHAKES handshakes (P-256), $N4_HANDSHAKES handshakes (RSA-2048); N5 $N5_IDLE_CONNS idle, $N5_PP_CONNS after a ping-pong; N6 32 conns x ${N6_SECS} s; sys 64 x $SYS_MESSAGES msgs."
    echo "n1, scale, n3, n4, n5: best of $REPEAT alternating runs per figure. tokio = plain tokio + Framed (benches/peers/tokio_filter_echo.rs)."
    echo
    echo "| workload | ours | libevent | tokio | ours/libevent | ours/tokio | better |"
    echo "|---|---|---|---|---|---|---|"
    row "N1 messages/s" n1.msgs_per_s higher
    row "N1 round trip p50 (us)" n1.p50_us lower
    row "N1 round trip p99 (us)" n1.p99_us lower
    row "N1 server CPU per message (us)" n1.server_cpu_us_per_msg lower
    row "N1 ... of which user space (us)" n1.server_user_us_per_unit lower
    row "N1 whole-run server CPU per message (us)" n1.run_cpu_us_per_msg lower
    for c in $SCALE_DONE; do
        row "N1-scale $c conns messages/s" "s$c.msgs_per_s" higher
        row "N1-scale $c conns server CPU per message (us)" "s$c.server_cpu_us_per_msg" lower
    done
    row "N2 MB/s" n2.mb_per_s higher
    row "N2 server CPU per MB (us)" n2.server_cpu_us_per_mb lower
    row "N2 ... of which user space (us)" n2.server_user_us_per_unit lower
    row "N2 payload bytes per frame (server read size)" n2.bytes_per_frame "-"
    row "N3 MB/s (uncompressed)" n3.mb_per_s higher
    row "N3 compression, uncompressed / server's output (x)" n3.compression higher
    row "N3 server's output (bytes)" n3.server_out_bytes lower
    row "N3 server CPU per MB (us)" n3.server_cpu_us_per_mb lower
    row "N3 ... of which user space (us)" n3.server_user_us_per_unit lower
    row "N4 TLS MB/s (P-256)" n4.mb_per_s higher
    row "N4 server CPU per MB (us)" n4.server_cpu_us_per_mb lower
    row "N4 ... of which user space (us)" n4.server_user_us_per_unit lower
    row "N4 handshakes/s, ECDSA P-256" n4.handshakes_per_s higher
    row "N4 server CPU per handshake, P-256 (us)" n4.server_cpu_us_per_handshake lower
    row "N4 ... of which user space (us)" n4.hs_server_user_us_per_unit lower
    row "N4 handshakes/s, RSA-2048" n4rsa.handshakes_per_s higher
    row "N4 server CPU per handshake, RSA-2048 (us)" n4rsa.server_cpu_us_per_handshake lower
    row "N4 ... of which user space (us)" n4rsa.hs_server_user_us_per_unit lower
    row "N5 server RSS per idle connection (bytes)" n5idle.bytes_per_conn lower
    row "N5 ... connections the server held" n5idle.server_conns "-"
    row "N5 server RSS per connection after one ping-pong (bytes)" n5pp.bytes_per_conn lower
    row "N5 ... connections held" n5pp.conns "-"
    row "N6 group rate / 8 MiB/s" n6.group_accuracy "closer to 1"
    row "N6 mean per-connection rate / fair share (256 KiB/s)" n6.share_accuracy "closer to 1"
    row "N6 Jain fairness index" n6.jain "closer to 1"
    row "N6 slowest connection (bytes/s)" n6.conn_min_bps higher
    row "system calls per N1 message (strace -c -f)" sys.calls_per_msg lower
    if [ -f "$OUT/scaling.md" ]; then
        echo
        echo "N1-scale ($SCALE_TOTAL messages of 100 bytes in all; server CPU = the messages only, whole run = connects, accepts and closes too; chart: $OUT/network-scaling.svg):"
        echo
        cat "$OUT/scaling.md"
    fi
    if [ ${#SYS_DETAIL[@]} -gt 0 ]; then
        echo
        echo "System calls per message by call (strace -c -f attached to the server, 64 x $SYS_MESSAGES messages; setup and teardown of the 64 connections included; strace slows the server, so batching differs from an untraced run):"
        printf '%s\n' "${SYS_DETAIL[@]}"
    fi
    echo
    echo "CPU use during the timed parts, % of one core (server / load generator; 100 = that side was the bottleneck):"
    for key in n1 $(for c in $SCALE_DONE; do echo "s$c"; done) n2 n3 n4; do
        line=""
        for side in ours libevent tokio; do
            s=${R[$side.$key.server_cpu_pct]:-}; c=${R[$side.$key.client_cpu_pct]:-}
            [ -z "$s$c" ] || line="$line $side ${s:--} / ${c:--},"
        done
        [ -z "$line" ] || echo "- $key:${line%,}"
    done
    o=${R[ours.n4.hs_server_cpu_pct]:-}; l=${R[libevent.n4.hs_server_cpu_pct]:-}
    oc=${R[ours.n4.hs_client_cpu_pct]:-}; lc=${R[libevent.n4.hs_client_cpu_pct]:-}
    [ -z "$o$l" ] || echo "- n4 handshakes (P-256): ours ${o:--} / ${oc:--}, libevent ${l:--} / ${lc:--}"
    fails=""
    for key in n1 $(for c in $SCALE_DONE; do echo "s$c"; done) n2 n3 n4 n4rsa n5idle n5pp n6; do
        note=$(runs_note "$key")
        [ -z "$note" ] || fails="$fails $key:$note"
    done
    [ -z "$fails" ] || { echo; echo "Failed runs (see the logs):$fails"; }
    echo
    echo "Load average before the first run: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine disturb every figure)."
    echo "Every run: $OUT/runs.tsv. Logs: $OUT"
} | tee "$OUT/table.md"
