//! netload: the load generator for the network workloads N1-N6 of
//! docs/workloads.md. It is a plain tokio client (no evstack code
//! on the wire), so the same load runs against our servers and libevent's
//! (`crates/cpeers/c/*_echo_server.c`); `benches/network.sh` runs both
//! sides and prints the ratios.
//!
//! | workload | server | load | figures |
//! |---|---|---|---|
//! | `n1` | filter echo (`filter_server --echo`) | 64 connections x 10,000 messages of 100 B, one at a time, each waiting for its whole framed reply | messages/s, p50/p99 round trip |
//! | `n2` | filter echo | 8 connections each streaming 256 MiB (`--mib`) in 16 KiB writes, reading the replies concurrently | MB/s of payload |
//! | `n3` | zlib echo (`zlib_echo server`) | 4 connections x 64 MiB of compressible data (64 pattern bytes then 64 bytes of text, repeated; `--data words` for the earlier mix), deflated by the client with Z_SYNC_FLUSH after every 16 KiB (`--flush-every`) | MB/s of uncompressed data, the server's compression ratio |
//! | `n4` | TLS echo (`tls_echo server`) | 8 connections x 64 MiB; then 1,000 short connections (handshake, close, wait for the server's close) | MB/s, handshakes/s |
//! | `n5` | filter echo | 10,000 connections (or what `RLIMIT_NOFILE` allows), each exchanging one message, then idle; with `--idle` connections that never speak (netload waits until the server holds them); after the same warm-up for every server (`--warmup`) | server RSS per connection (`/proc/<pid>/status`) |
//! | `n6` | `ratelimit_server` (1 MiB/s per connection, 8 MiB/s group) | 32 connections downloading | group and per-connection rates vs the limits, Jain fairness |
//!
//! Every byte is checked. Stream byte `i` of a connection is `i % 251`; the
//! filter echo must answer with `|--- HEAD ---|` + upper-cased payload +
//! `|--- END ---|\n` frames (as many as the server's reads made) whose
//! payloads put together are the upper-cased stream; the zlib and TLS echoes
//! and the rate-limited download must give back the stream itself. The
//! pattern can never contain the end marker (`|` is followed by `}`), so
//! frames are split at the marker without ambiguity.
//!
//! Each run prints human-readable lines and one machine-readable line,
//! `RESULT <workload> key=value ...`, which the driver script parses.
//!
//! ```text
//! $ cargo run --release --example filter_server -- --port 0 --echo --quiet &
//! listening on port 40123
//! $ cargo run --release --example netload -- n1 --port 40123 --conns 4 --messages 1000
//! n1: 4000 messages in 0.181 s: 22099 msg/s, round trip p50 172.3 us, p99 301.0 us
//! RESULT n1 msgs_per_s=22099 p50_us=172.3 p99_us=301.0 msgs=4000 conns=4 secs=0.181
//! ```

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use memchr::memmem;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;

/// The filter server's frame markers.
const HEAD: &[u8] = b"|--- HEAD ---|";
const END: &[u8] = b"|--- END ---|\n";
/// The pattern's period: stream byte `i` is `i % 251`.
const PERIOD: usize = 251;
/// The longest slice of the pattern handed out at once.
const MAX_SLICE: usize = 1 << 20;
/// The TLS servers' ALPN protocol.
const ALPN: &[u8] = b"echo/1";

static PATTERN: LazyLock<Vec<u8>> = LazyLock::new(|| {
    (0..PERIOD + MAX_SLICE)
        .map(|i| (i % PERIOD) as u8)
        .collect()
});
static UPPER: LazyLock<Vec<u8>> = LazyLock::new(|| PATTERN.to_ascii_uppercase());

/// `len` bytes of `table` (the pattern or its upper-cased form) starting at stream offset `off`.
fn slice_at(table: &'static [u8], off: u64, len: usize) -> &'static [u8] {
    assert!(len <= MAX_SLICE, "pattern slice of {len} bytes");
    &table[(off % PERIOD as u64) as usize..][..len]
}

/// Checks `got` against `table` at stream offset `off`.
fn verify(got: &[u8], table: &'static [u8], off: u64, what: &str) -> Res<()> {
    let mut done = 0;
    while done < got.len() {
        let n = (got.len() - done).min(MAX_SLICE);
        let want = slice_at(table, off + done as u64, n);
        if got[done..done + n] != *want {
            let i = (0..n).find(|&i| got[done + i] != want[i]).unwrap_or(0);
            return Err(format!(
                "{what}: byte {} of the stream is {:#04x}, expected {:#04x}",
                off + (done + i) as u64,
                got[done + i],
                want[i]
            )
            .into());
        }
        done += n;
    }
    Ok(())
}

/// Checks a stream of `HEAD payload END` frames whose payloads, put
/// together, must be the upper-cased pattern stream.
struct FrameChecker {
    end: memmem::Finder<'static>,
    /// Inside a frame (its head seen, its end not yet).
    in_frame: bool,
    /// Payload bytes checked so far: the stream offset of the next one.
    payload: u64,
    /// Whole frames seen.
    frames: u64,
}

impl FrameChecker {
    fn new() -> Self {
        FrameChecker {
            end: memmem::Finder::new(END),
            in_frame: false,
            payload: 0,
            frames: 0,
        }
    }

    /// Checks what it can of `data`; returns how many bytes it consumed (the
    /// rest, fewer than 14 bytes, may be the start of a marker).
    fn feed(&mut self, data: &[u8]) -> Res<usize> {
        let mut i = 0;
        loop {
            if !self.in_frame {
                let have = (data.len() - i).min(HEAD.len());
                if data[i..i + have] != HEAD[..have] {
                    return Err(format!(
                        "expected a frame head after {} payload bytes, got {:?}",
                        self.payload,
                        data[i..i + have].escape_ascii().to_string()
                    )
                    .into());
                }
                if have < HEAD.len() {
                    return Ok(i);
                }
                i += HEAD.len();
                self.in_frame = true;
            }
            match self.end.find(&data[i..]) {
                Some(p) => {
                    verify(&data[i..i + p], &UPPER, self.payload, "framed echo")?;
                    self.payload += p as u64;
                    i += p + END.len();
                    self.in_frame = false;
                    self.frames += 1;
                }
                None => {
                    let avail = data.len() - i;
                    let take = avail.saturating_sub(END.len() - 1);
                    verify(&data[i..i + take], &UPPER, self.payload, "framed echo")?;
                    self.payload += take as u64;
                    return Ok(i + take);
                }
            }
        }
    }
}

/// A read buffer in front of a [`FrameChecker`].
struct FrameReader {
    buf: Vec<u8>,
    filled: usize,
    check: FrameChecker,
    progress: Option<Arc<AtomicU64>>,
}

impl FrameReader {
    fn new(cap: usize) -> Self {
        FrameReader {
            buf: vec![0; cap.max(2 * HEAD.len())],
            filled: 0,
            check: FrameChecker::new(),
            progress: None,
        }
    }

    /// Reads until exactly `target` payload bytes in whole frames have come.
    async fn read_until<R: AsyncRead + Unpin>(&mut self, r: &mut R, target: u64) -> Res<()> {
        while self.check.in_frame || self.check.payload < target || self.filled > 0 {
            if self.check.payload > target {
                return Err(format!(
                    "{} payload bytes came back for {target} sent",
                    self.check.payload
                )
                .into());
            }
            let n = r.read(&mut self.buf[self.filled..]).await?;
            if n == 0 {
                return Err(format!(
                    "the server closed the connection after {} of {target} payload bytes",
                    self.check.payload
                )
                .into());
            }
            self.filled += n;
            let used = self.check.feed(&self.buf[..self.filled])?;
            self.buf.copy_within(used..self.filled, 0);
            self.filled -= used;
            if let Some(p) = &self.progress {
                p.store(self.check.payload, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// Bytes each streaming connection has got back so far, and how many it
/// waits for: printed when a workload times out, to show which connection
/// stalled.
static PROGRESS: std::sync::Mutex<Vec<(Arc<AtomicU64>, u64)>> = std::sync::Mutex::new(Vec::new());

/// A counter for one connection expecting `total` bytes back.
fn progress(total: u64) -> Arc<AtomicU64> {
    let c = Arc::new(AtomicU64::new(0));
    PROGRESS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((c.clone(), total));
    c
}

fn progress_report() -> String {
    let p = PROGRESS.lock().unwrap_or_else(|e| e.into_inner());
    if p.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = p
        .iter()
        .map(|(c, total)| format!("{}/{total}", c.load(Ordering::Relaxed)))
        .collect();
    format!("; bytes back per connection: {}", parts.join(", "))
}

/// Where the server is, and how long the whole workload may take.
#[derive(clap::Args, Debug, Clone)]
struct Target {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Server port.
    #[arg(long)]
    port: u16,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// The server's process id: its CPU time over the timed part is
    /// reported (`server_cpu_s`, `server_cpu_pct`), which shows whether the
    /// server or the load generator was the bottleneck.
    #[arg(long)]
    server_pid: Option<u32>,
    /// n1: create this file once every connection is open, right before the
    /// timed part (the driver script starts its busy loop then, so that a
    /// slow connect phase on a shared core does not hit the server's read
    /// timeout).
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

impl Target {
    fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// N5's parameters.
#[derive(clap::Args, Debug, Clone)]
struct N5Opts {
    /// Connections to open (fewer if RLIMIT_NOFILE does not allow them).
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
    /// Bytes of the one message each connection exchanges.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Open the connections and send nothing (the server holds connections
    /// that never spoke); netload waits until the server holds them (its
    /// descriptor count in /proc/<pid>/fd) before reading the RSS.
    #[arg(long)]
    idle: bool,
    /// Warm-up before the first RSS reading, the same for every server:
    /// this many connections each exchange one message and are closed.
    #[arg(long, default_value_t = 64)]
    warmup: usize,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 32)]
    parallel: usize,
    /// Milliseconds to wait before reading the RSS.
    #[arg(long, default_value_t = 500)]
    settle_ms: u64,
    /// With --idle: seconds to wait for the server to accept every
    /// connection (a listener with deferred accept takes a connection that
    /// sent nothing only after its defer timeout).
    #[arg(long, default_value_t = 30)]
    accept_wait: u64,
    /// With --idle: stop waiting when the server has taken no connection
    /// for this many seconds.
    #[arg(long, default_value_t = 4)]
    accept_quiet: u64,
}

/// CPU time of every thread of process `pid`, nanoseconds (the first field
/// of `/proc/<pid>/task/<tid>/schedstat`).
fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        let text = std::fs::read_to_string(path).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// User and system CPU time of process `pid` (all threads), in clock ticks
/// of 1/100 s (`utime` and `stime` of `/proc/<pid>/stat`; USER_HZ is 100).
fn cpu_ticks(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?))
}

/// Measures a server's CPU time (and the load generator's own) over a
/// timed part.
struct CpuMeter {
    pid: Option<u32>,
    start_ns: Option<u64>,
    start_ticks: Option<(u64, u64)>,
    self_ns: Option<u64>,
    wall: Instant,
}

impl CpuMeter {
    fn start(pid: Option<u32>) -> Self {
        CpuMeter {
            pid,
            start_ns: pid.and_then(cpu_ns),
            start_ticks: pid.and_then(cpu_ticks),
            self_ns: cpu_ns(std::process::id()),
            wall: Instant::now(),
        }
    }

    /// Appends `server_cpu_s` and `server_cpu_pct` (and, with `per`,
    /// `server_cpu_us_per_<unit>`) to `fields`; returns a phrase for the
    /// human line.
    fn stop(
        self,
        fields: &mut Vec<(&'static str, String)>,
        per: Option<(&'static str, f64)>,
    ) -> String {
        let wall = self.wall.elapsed().as_secs_f64();
        let mut own = String::new();
        if let (Some(a), Some(b)) = (self.self_ns, cpu_ns(std::process::id())) {
            let pct = b.saturating_sub(a) as f64 / 1e9 / wall * 100.0;
            fields.push(("client_cpu_pct", format!("{pct:.1}")));
            own = format!("; load generator CPU {pct:.0}%");
        }
        let (Some(pid), Some(a)) = (self.pid, self.start_ns) else {
            return own;
        };
        let Some(b) = cpu_ns(pid) else {
            return own;
        };
        let cpu = b.saturating_sub(a) as f64 / 1e9;
        fields.push(("server_cpu_s", format!("{cpu:.3}")));
        fields.push(("server_cpu_pct", format!("{:.1}", cpu / wall * 100.0)));
        // The user-space share: our code (or libevent's) rather than the
        // kernel's TCP work, which both servers share.
        let user_share = match (self.start_ticks, cpu_ticks(pid)) {
            (Some((u0, s0)), Some((u1, s1))) if u1 + s1 > u0 + s0 => {
                Some((u1 - u0) as f64 / ((u1 + s1) - (u0 + s0)) as f64)
            }
            _ => None,
        };
        if let Some(share) = user_share {
            fields.push(("server_user_pct", format!("{:.1}", share * 100.0)));
        }
        let mut phrase = format!(
            "; server CPU {cpu:.3} s ({:.0}% of one core)",
            cpu / wall * 100.0
        );
        if let Some(share) = user_share {
            phrase.push_str(&format!(", {:.0}% of it in user space", share * 100.0));
        }
        if let Some((key, count)) = per {
            let us = cpu * 1e6 / count.max(1.0);
            fields.push((key, format!("{us:.3}")));
            let unit = key.rsplit('_').next().unwrap_or("unit");
            phrase.push_str(&format!(", {us:.3} us per {unit}"));
            if let Some(share) = user_share {
                let user_us = us * share;
                fields.push(("server_user_us_per_unit", format!("{user_us:.3}")));
                phrase.push_str(&format!(" ({user_us:.3} us in user space)"));
            }
        }
        phrase + &own
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "netload",
    version,
    about = "Load generator for the network workloads N1-N6 (docs/workloads.md)"
)]
struct Cli {
    #[command(subcommand)]
    workload: Workload,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// N1 filter-echo ping-pong: messages/s and round-trip percentiles.
    N1 {
        #[command(flatten)]
        target: Target,
        /// Connections.
        #[arg(long, default_value_t = 64)]
        conns: usize,
        /// Messages per connection.
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Bytes per message.
        #[arg(long, default_value_t = 100)]
        size: usize,
    },
    /// N2 filter-echo streaming: MB/s of payload through the server.
    N2 {
        #[command(flatten)]
        target: Target,
        /// Connections.
        #[arg(long, default_value_t = 8)]
        conns: usize,
        /// MiB streamed per connection.
        #[arg(long, default_value_t = 256)]
        mib: u64,
        /// Bytes per write.
        #[arg(long, default_value_t = 16 * 1024)]
        write: usize,
    },
    /// N3 zlib stream: MB/s of uncompressed data, compression ratio.
    N3 {
        #[command(flatten)]
        target: Target,
        /// Connections.
        #[arg(long, default_value_t = 4)]
        conns: usize,
        /// MiB of uncompressed data per connection.
        #[arg(long, default_value_t = 64)]
        mib: u64,
        /// Bytes per write (of compressed data; with --flush-every, a
        /// flushed piece larger than this is written in parts).
        #[arg(long, default_value_t = 16 * 1024)]
        write: usize,
        /// The data.
        #[arg(long, value_enum, default_value_t = ZData::Halves)]
        data: ZData,
        /// Deflate this many bytes of data at a time, each ending with
        /// Z_SYNC_FLUSH, and write each flushed piece (0: one stream with a
        /// single sync flush at the end).
        #[arg(long, default_value_t = 16 * 1024)]
        flush_every: usize,
    },
    /// N4 TLS echo: MB/s, then handshakes/s with short connections.
    N4 {
        #[command(flatten)]
        target: Target,
        /// The server's certificate (PEM), as the server wrote it.
        #[arg(long)]
        ca: PathBuf,
        /// Name to verify the certificate against (sent as SNI).
        #[arg(long, default_value = "localhost")]
        name: String,
        /// Verify the certificate chain with webpki (default: the server's
        /// certificate is pinned, compared byte for byte, and only the
        /// handshake signature is verified, so that the client's work per
        /// handshake is smaller than the server's).
        #[arg(long)]
        full_verify: bool,
        /// Connections for the throughput part.
        #[arg(long, default_value_t = 8)]
        conns: usize,
        /// MiB echoed per connection (0: skip the throughput part).
        #[arg(long, default_value_t = 64)]
        mib: u64,
        /// Bytes per write.
        #[arg(long, default_value_t = 16 * 1024)]
        write: usize,
        /// Short connections for the handshake part (0: skip it).
        #[arg(long, default_value_t = 1000)]
        handshakes: usize,
        /// Handshakes in flight at once.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
    },
    /// N5 idle connections: server resident memory per connection.
    N5 {
        /// (`--server-pid` is required: the server's RSS is read from
        /// /proc/<pid>/status.)
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        opts: N5Opts,
    },
    /// N6 rate limited: achieved rates vs the configured limits.
    N6 {
        #[command(flatten)]
        target: Target,
        /// Connections.
        #[arg(long, default_value_t = 32)]
        conns: usize,
        /// Seconds measured.
        #[arg(long, default_value_t = 5.0)]
        secs: f64,
        /// Seconds of warm-up before measuring (the buckets start full).
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// The server's per-connection limit, bytes/s (for the report).
        #[arg(long, default_value_t = 1 << 20)]
        rate: u64,
        /// The server's group limit, bytes/s (for the report; 0: none).
        #[arg(long, default_value_t = 8 << 20)]
        group_rate: u64,
    },
}

/// What a workload measured.
#[derive(Debug)]
struct Report {
    workload: &'static str,
    human: String,
    fields: Vec<(&'static str, String)>,
}

impl Report {
    /// A numeric field (the tests read them; the driver script parses the line).
    #[cfg_attr(not(test), allow(dead_code))]
    fn get(&self, key: &str) -> Option<f64> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.human)?;
        write!(f, "RESULT {}", self.workload)?;
        for (k, v) in &self.fields {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

async fn connect(addr: SocketAddr) -> Res<TcpStream> {
    let s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_nodelay(true)?;
    Ok(s)
}

async fn connect_all(addr: SocketAddr, n: usize) -> Res<Vec<TcpStream>> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(connect(addr).await?);
    }
    Ok(v)
}

/// Waits for every task; the first error wins.
async fn join_all<T>(tasks: Vec<tokio::task::JoinHandle<Res<T>>>) -> Res<Vec<T>> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.map_err(|e| format!("task failed: {e}"))??);
    }
    Ok(out)
}

fn percentile(sorted: &[u64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)] as f64
}

// ---------------------------------------------------------------- N1

async fn n1(t: &Target, conns: usize, messages: usize, size: usize) -> Res<Report> {
    if size == 0 || size > MAX_SLICE {
        return Err(format!("--size must be 1..={MAX_SLICE}").into());
    }
    let streams = connect_all(t.addr(), conns).await?;
    if let Some(path) = &t.ready_file {
        std::fs::write(path, b"connected\n")
            .map_err(|e| format!("--ready-file {}: {e}", path.display()))?;
    }
    let cpu = CpuMeter::start(t.server_pid);
    let start = Instant::now();
    let tasks = streams
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let mut rd = FrameReader::new(64 * 1024);
                let mut lat = Vec::with_capacity(messages);
                for k in 0..messages {
                    let off = (k * size) as u64;
                    let t0 = Instant::now();
                    s.write_all(slice_at(&PATTERN, off, size)).await?;
                    rd.read_until(&mut s, off + size as u64).await?;
                    lat.push(t0.elapsed().as_nanos() as u64);
                }
                Ok(lat)
            })
        })
        .collect();
    let lats = join_all(tasks).await?;
    let secs = start.elapsed().as_secs_f64();
    let mut all: Vec<u64> = lats.into_iter().flatten().collect();
    all.sort_unstable();
    let msgs = all.len();
    let rate = msgs as f64 / secs;
    let (p50, p99) = (percentile(&all, 50) / 1e3, percentile(&all, 99) / 1e3);
    let mut fields = vec![
        ("msgs_per_s", format!("{rate:.0}")),
        ("p50_us", format!("{p50:.1}")),
        ("p99_us", format!("{p99:.1}")),
        ("msgs", msgs.to_string()),
        ("conns", conns.to_string()),
        ("secs", format!("{secs:.3}")),
    ];
    let cpu = cpu.stop(&mut fields, Some(("server_cpu_us_per_msg", msgs as f64)));
    Ok(Report {
        workload: "n1",
        human: format!(
            "n1: {msgs} messages in {secs:.3} s: {rate:.0} msg/s, round trip p50 {p50:.1} us, p99 {p99:.1} us{cpu}"
        ),
        fields,
    })
}

// ---------------------------------------------------------------- N2

/// Writes `total` pattern bytes in `write`-byte pieces; returns the writer
/// (still open: the server must not see an end of file before the echo is
/// all back).
async fn write_pattern<W: AsyncWrite + Unpin>(mut w: W, total: u64, write: usize) -> Res<W> {
    let mut off = 0u64;
    while off < total {
        let n = (total - off).min(write as u64) as usize;
        w.write_all(slice_at(&PATTERN, off, n)).await?;
        off += n as u64;
    }
    w.flush().await?;
    Ok(w)
}

async fn n2(t: &Target, conns: usize, mib: u64, write: usize) -> Res<Report> {
    if write == 0 || write > MAX_SLICE {
        return Err(format!("--write must be 1..={MAX_SLICE}").into());
    }
    let total = mib << 20;
    let streams = connect_all(t.addr(), conns).await?;
    let cpu = CpuMeter::start(t.server_pid);
    let start = Instant::now();
    let tasks = streams
        .into_iter()
        .map(|s| {
            tokio::spawn(async move {
                let (mut r, w) = s.into_split();
                let writer = tokio::spawn(write_pattern(w, total, write));
                let mut rd = FrameReader::new(256 * 1024);
                rd.progress = Some(progress(total));
                rd.read_until(&mut r, total).await?;
                writer.await.map_err(|e| format!("writer failed: {e}"))??;
                Ok(rd.check.frames)
            })
        })
        .collect();
    let frames: u64 = join_all(tasks).await?.into_iter().sum();
    let secs = start.elapsed().as_secs_f64();
    let bytes = total * conns as u64;
    let mbps = bytes as f64 / secs / 1e6;
    let per_frame = bytes as f64 / frames.max(1) as f64;
    let mut fields = vec![
        ("mb_per_s", format!("{mbps:.1}")),
        ("frames", frames.to_string()),
        ("bytes_per_frame", format!("{per_frame:.0}")),
        ("bytes", bytes.to_string()),
        ("secs", format!("{secs:.3}")),
    ];
    let cpu = cpu.stop(
        &mut fields,
        Some(("server_cpu_us_per_mb", bytes as f64 / 1e6)),
    );
    Ok(Report {
        workload: "n2",
        human: format!(
            "n2: {conns} x {mib} MiB echoed in {secs:.3} s: {mbps:.1} MB/s ({frames} frames, {per_frame:.0} payload bytes per frame){cpu}"
        ),
        fields,
    })
}

// ---------------------------------------------------------------- N3

/// N3's data.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum ZData {
    /// 64 pattern bytes (stream byte `i` is `i % 251`), then 64 bytes of
    /// text, repeated.
    Halves,
    /// Runs of 256 pattern bytes interleaved with 16 words of text picked
    /// by a xorshift generator (the earlier N3 data).
    Words,
}

/// The 64 bytes of text of `ZData::Halves`.
const TEXT64: &[u8; 64] = b"bufferevent filters: zlib deflate/inflate over a tokio socket.\n\n";

fn zdata(len: usize, kind: ZData) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 256);
    if kind == ZData::Halves {
        while out.len() < len {
            for _ in 0..64 {
                out.push((out.len() % PERIOD) as u8);
            }
            out.extend_from_slice(TEXT64);
        }
        out.truncate(len);
        return out;
    }
    const WORDS: [&[u8]; 8] = [
        b"bufferevent ",
        b"evbuffer ",
        b"filter ",
        b"zlib ",
        b"deflate ",
        b"libevent\n",
        b"tokio ",
        b"rust ",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while out.len() < len {
        for _ in 0..256 {
            out.push((out.len() % PERIOD) as u8);
        }
        for _ in 0..16 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(WORDS[(x % 8) as usize]);
        }
    }
    out.truncate(len);
    out
}

/// `data` as one zlib stream (level 6), as the pieces the client writes:
/// with `flush_every` > 0, each `flush_every` bytes of data deflated and
/// ended with Z_SYNC_FLUSH (one piece each); with 0, one piece ending in a
/// sync flush.
fn zlib_compress(data: &[u8], flush_every: usize) -> Res<Vec<Vec<u8>>> {
    let mut c = Compress::new(Compression::default(), true);
    let step = if flush_every == 0 {
        data.len().max(1)
    } else {
        flush_every
    };
    let mut pieces = Vec::with_capacity(data.len() / step + 1);
    for seg in data.chunks(step) {
        let mut out = Vec::with_capacity(seg.len() / 2 + 1024);
        let mut pos = 0;
        loop {
            if out.capacity() - out.len() < 1024 {
                out.reserve(out.capacity().max(4096));
            }
            let before = c.total_in();
            c.compress_vec(&seg[pos..], &mut out, FlushCompress::Sync)?;
            pos += (c.total_in() - before) as usize;
            // Done when all input is in and the flush left room to spare.
            if pos == seg.len() && out.len() < out.capacity() {
                break;
            }
        }
        pieces.push(out);
    }
    Ok(pieces)
}

async fn n3(
    t: &Target,
    conns: usize,
    mib: u64,
    write: usize,
    kind: ZData,
    flush_every: usize,
) -> Res<Report> {
    let len = (mib << 20) as usize;
    let data = Arc::new(zdata(len, kind));
    let comp = Arc::new(zlib_compress(&data, flush_every)?);
    let streams = connect_all(t.addr(), conns).await?;
    let cpu = CpuMeter::start(t.server_pid);
    let start = Instant::now();
    let tasks = streams
        .into_iter()
        .map(|s| {
            let (data, comp) = (data.clone(), comp.clone());
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let writer = tokio::spawn(async move {
                    for flushed in comp.iter() {
                        for piece in flushed.chunks(write.max(1)) {
                            w.write_all(piece).await?;
                        }
                    }
                    Ok::<_, BoxError>(w)
                });
                let mut z = Decompress::new(true);
                let mut inbuf = vec![0u8; 256 * 1024];
                let mut out = vec![0u8; 256 * 1024];
                let (mut got, mut wire) = (0usize, 0u64);
                let counter = progress(data.len() as u64);
                while got < data.len() {
                    let n = r.read(&mut inbuf).await?;
                    if n == 0 {
                        return Err(format!(
                            "the server closed the connection after {got} of {} bytes",
                            data.len()
                        )
                        .into());
                    }
                    wire += n as u64;
                    let mut input = &inbuf[..n];
                    loop {
                        let (i0, o0) = (z.total_in(), z.total_out());
                        z.decompress(input, &mut out, FlushDecompress::None)
                            .map_err(|e| format!("inflating the echo: {e}"))?;
                        let used = (z.total_in() - i0) as usize;
                        let made = (z.total_out() - o0) as usize;
                        input = &input[used..];
                        if got + made > data.len() || out[..made] != data[got..got + made] {
                            return Err(format!(
                                "the inflated echo differs from the data sent within bytes {got}..{}",
                                got + made
                            )
                            .into());
                        }
                        got += made;
                        counter.store(got as u64, Ordering::Relaxed);
                        if input.is_empty() && made < out.len() {
                            break;
                        }
                        if used == 0 && made == 0 {
                            return Err("inflate made no progress".into());
                        }
                    }
                }
                writer.await.map_err(|e| format!("writer failed: {e}"))??;
                Ok(wire)
            })
        })
        .collect();
    let wire: u64 = join_all(tasks).await?.into_iter().sum();
    let secs = start.elapsed().as_secs_f64();
    let bytes = (len * conns) as u64;
    let mbps = bytes as f64 / secs / 1e6;
    let ratio = wire as f64 / bytes as f64;
    let sent = comp.iter().map(Vec::len).sum::<usize>();
    let sent_ratio = sent as f64 / len as f64;
    let mut fields = vec![
        ("mb_per_s", format!("{mbps:.1}")),
        ("ratio", format!("{ratio:.4}")),
        ("compression", format!("{:.1}", 1.0 / ratio.max(1e-12))),
        ("server_out_bytes", wire.to_string()),
        ("client_ratio", format!("{sent_ratio:.4}")),
        ("bytes", bytes.to_string()),
        ("secs", format!("{secs:.3}")),
    ];
    let cpu = cpu.stop(
        &mut fields,
        Some(("server_cpu_us_per_mb", bytes as f64 / 1e6)),
    );
    Ok(Report {
        workload: "n3",
        human: format!(
            "n3: {conns} x {mib} MiB ({kind:?} data, client flush every {flush_every} bytes) through zlib in {secs:.3} s: \
             {mbps:.1} MB/s uncompressed; the server compressed to {:.2}% ({:.1}x; the client's stream: {:.2}%){cpu}",
            ratio * 100.0,
            1.0 / ratio.max(1e-12),
            sent_ratio * 100.0
        ),
        fields,
    })
}

// ---------------------------------------------------------------- N4

/// Accepts exactly the certificate the server wrote, and verifies the
/// handshake signatures with it.
#[derive(Debug)]
struct Pinned {
    cert: rustls::pki_types::CertificateDer<'static>,
    algs: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the pinned one".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algs.supported_schemes()
    }
}

fn tls_config(ca: &PathBuf, full_verify: bool) -> Res<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| format!("{}: {e}", ca.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", ca.display()))?;
    let cert = certs
        .first()
        .ok_or_else(|| format!("{}: no certificate", ca.display()))?
        .clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algs = provider.signature_verification_algorithms;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    let mut config = if full_verify {
        let mut roots = rustls::RootCertStore::empty();
        for c in certs {
            roots.add(c)?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { cert, algs }))
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![ALPN.to_vec()];
    // Every handshake is a full one.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

#[allow(clippy::too_many_arguments)]
async fn n4(
    t: &Target,
    ca: &PathBuf,
    name: &str,
    full_verify: bool,
    conns: usize,
    mib: u64,
    write: usize,
    handshakes: usize,
    parallel: usize,
) -> Res<Report> {
    if write == 0 || write > MAX_SLICE {
        return Err(format!("--write must be 1..={MAX_SLICE}").into());
    }
    let config = tls_config(ca, full_verify)?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let server_name = rustls::pki_types::ServerName::try_from(name.to_owned())
        .map_err(|e| format!("bad --name {name:?}: {e}"))?;
    let addr = t.addr();
    let mut human = Vec::new();
    let mut fields = Vec::new();

    if mib > 0 && conns > 0 {
        let total = mib << 20;
        let mut streams = Vec::with_capacity(conns);
        let mut suite = String::new();
        for _ in 0..conns {
            let tls = connector
                .connect(server_name.clone(), connect(addr).await?)
                .await
                .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
            let c = tls.get_ref().1;
            suite = format!(
                "{:?} {:?}",
                c.protocol_version()
                    .unwrap_or(rustls::ProtocolVersion::Unknown(0)),
                c.negotiated_cipher_suite().map(|s| s.suite())
            );
            streams.push(tls);
        }
        let cpu = CpuMeter::start(t.server_pid);
        let start = Instant::now();
        let tasks = streams
            .into_iter()
            .map(|tls| {
                tokio::spawn(async move {
                    let (mut r, w) = tokio::io::split(tls);
                    let writer = tokio::spawn(write_pattern(w, total, write));
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut got = 0u64;
                    let counter = progress(total);
                    while got < total {
                        let n = r.read(&mut buf).await?;
                        if n == 0 {
                            return Err(format!(
                                "the server closed the connection after {got} of {total} bytes"
                            )
                            .into());
                        }
                        if got + n as u64 > total {
                            return Err("more echo than data sent".into());
                        }
                        verify(&buf[..n], &PATTERN, got, "TLS echo")?;
                        got += n as u64;
                        counter.store(got, Ordering::Relaxed);
                    }
                    writer.await.map_err(|e| format!("writer failed: {e}"))??;
                    Ok(())
                })
            })
            .collect();
        join_all(tasks).await?;
        let secs = start.elapsed().as_secs_f64();
        let bytes = (total * conns as u64) as f64;
        let mbps = bytes / secs / 1e6;
        fields.push(("mb_per_s", format!("{mbps:.1}")));
        fields.push(("secs", format!("{secs:.3}")));
        let cpu = cpu.stop(&mut fields, Some(("server_cpu_us_per_mb", bytes / 1e6)));
        human.push(format!(
            "n4: {conns} x {mib} MiB echoed over TLS ({suite}) in {secs:.3} s: {mbps:.1} MB/s{cpu}"
        ));
    }

    if handshakes > 0 {
        let parallel = parallel.clamp(1, handshakes);
        let next = Arc::new(AtomicU64::new(0));
        let cpu = CpuMeter::start(t.server_pid);
        let start = Instant::now();
        let tasks = (0..parallel)
            .map(|_| {
                let (next, connector, server_name) =
                    (next.clone(), connector.clone(), server_name.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, Ordering::Relaxed) < handshakes as u64 {
                        let mut tls = connector
                            .connect(server_name.clone(), connect(addr).await?)
                            .await
                            .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
                        // Close (close_notify and FIN) and wait for the
                        // server's end of file: it comes once the server has
                        // finished its side of the handshake and seen the
                        // close. (An echo would instead wait for TCP delayed
                        // ACKs: both servers write their session tickets and
                        // the echo separately, without TCP_NODELAY.)
                        tls.shutdown().await?;
                        // (Session tickets are taken by rustls inside this read.)
                        let mut rest = [0u8; 4096];
                        match tls.read(&mut rest).await {
                            Ok(0) => {}
                            Ok(n) => return Err(format!("{n} unexpected bytes after close").into()),
                            // No close_notify from the server (libevent's
                            // OpenSSL bufferevent sends none): still its end.
                            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        join_all(tasks).await?;
        let secs = start.elapsed().as_secs_f64();
        let rate = handshakes as f64 / secs;
        fields.push(("handshakes_per_s", format!("{rate:.0}")));
        fields.push(("handshake_secs", format!("{secs:.3}")));
        let mut hs_fields = Vec::new();
        let cpu = cpu.stop(
            &mut hs_fields,
            Some(("server_cpu_us_per_handshake", handshakes as f64)),
        );
        fields.extend(hs_fields.into_iter().map(|(k, v)| match k {
            "server_cpu_s" => ("hs_server_cpu_s", v),
            "server_cpu_pct" => ("hs_server_cpu_pct", v),
            "client_cpu_pct" => ("hs_client_cpu_pct", v),
            "server_user_pct" => ("hs_server_user_pct", v),
            "server_user_us_per_unit" => ("hs_server_user_us_per_unit", v),
            _ => (k, v),
        }));
        human.push(format!(
            "n4: {handshakes} handshakes ({parallel} at a time, {}) in {secs:.3} s: {rate:.0} handshakes/s{cpu}",
            if full_verify { "chain verified" } else { "certificate pinned" }
        ));
    }
    Ok(Report {
        workload: "n4",
        human: human.join("\n"),
        fields,
    })
}

// ---------------------------------------------------------------- N5

/// VmRSS of process `pid`, bytes.
fn rss(pid: u32) -> Res<u64> {
    let path = format!("/proc/{pid}/status");
    let s = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let line = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| format!("{path}: no VmRSS line"))?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{path}: bad VmRSS line {line:?}"))?;
    Ok(kb * 1024)
}

/// Descriptors open in process `pid` (/proc/<pid>/fd).
fn fd_count(pid: u32) -> Res<usize> {
    let path = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&path)
        .map_err(|e| format!("{path}: {e}"))?
        .count())
}

/// Opens `n` connections, `parallel` at a time; each exchanges one message
/// of `size` bytes unless `idle`. Returns the open ones and the first error.
async fn open_conns(
    addr: SocketAddr,
    n: usize,
    size: usize,
    idle: bool,
    parallel: usize,
) -> Res<(Vec<TcpStream>, Option<String>)> {
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let sem = sem.clone();
            tokio::spawn(async move {
                let _permit = sem.acquire().await?;
                let exchange = async {
                    let mut s = connect(addr).await?;
                    if !idle {
                        s.write_all(slice_at(&PATTERN, 0, size)).await?;
                        let mut rd = FrameReader::new(4096);
                        rd.read_until(&mut s, size as u64).await?;
                    }
                    Ok::<_, BoxError>(s)
                };
                tokio::time::timeout(Duration::from_secs(10), exchange)
                    .await
                    .map_err(|_| "no reply within 10 s")?
            })
        })
        .collect();
    let mut open = Vec::with_capacity(n);
    let mut first_error = None;
    for task in tasks {
        match task.await.map_err(|e| format!("task failed: {e}"))? {
            Ok(s) => open.push(s),
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    Ok((open, first_error))
}

async fn n5(t: &Target, pid: u32, o: &N5Opts) -> Res<Report> {
    if o.size == 0 || o.size > MAX_SLICE {
        return Err(format!("--size must be 1..={MAX_SLICE}").into());
    }
    let allowed = nofile_limit().saturating_sub(64 + o.warmup as u64) as usize;
    let want = o.conns.min(allowed);
    let addr = t.addr();
    let settle = Duration::from_millis(o.settle_ms);

    // The same warm-up for every server: connections that exchange one
    // message and close, so that what a server sets up once (allocator
    // arenas, runtime and buffer pools) is in the first reading.
    if o.warmup > 0 {
        let (warm, err) = open_conns(addr, o.warmup, o.size, false, o.parallel).await?;
        if let Some(e) = err {
            return Err(format!("warm-up: {e}").into());
        }
        drop(warm);
        tokio::time::sleep(settle.max(Duration::from_millis(200))).await;
    }
    let fds_before = fd_count(pid)?;
    let before = rss(pid)?;
    let start = Instant::now();
    let (open, first_error) = open_conns(addr, want, o.size, o.idle, o.parallel).await?;
    let n = open.len();
    if n == 0 {
        return Err(format!(
            "no connection could be opened: {}",
            first_error.unwrap_or_default()
        )
        .into());
    }
    // Connections that sent nothing may still wait in the listen queue:
    // wait until the server holds them (its descriptor count).
    // A listener with deferred accept takes a silent connection after its
    // defer timeout (a SYN-ACK retransmission, about 1 s later); one that
    // overflowed the accept queue may never arrive: stop when the count has
    // not grown for `accept_quiet` seconds.
    let mut server_conns = fd_count(pid)?.saturating_sub(fds_before);
    if o.idle {
        let deadline = Instant::now() + Duration::from_secs(o.accept_wait);
        let mut grew = Instant::now();
        while server_conns < n
            && Instant::now() < deadline
            && grew.elapsed() < Duration::from_secs(o.accept_quiet)
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = fd_count(pid)?.saturating_sub(fds_before);
            if now > server_conns {
                grew = Instant::now();
            }
            server_conns = now;
        }
    }
    let setup = start.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let after = rss(pid)?;
    server_conns = fd_count(pid)?.saturating_sub(fds_before);
    // Divide by what the server holds when it holds fewer (an idle
    // connection it never accepted costs it nothing).
    let held = if o.idle { n.min(server_conns) } else { n };
    let per = after.saturating_sub(before) as f64 / held.max(1) as f64;
    // Are the idle connections still open (no read timeout, no drop)?
    let mut probe = [0u8; 1];
    let mut closed = 0;
    for s in &open {
        match s.try_read(&mut probe) {
            Ok(_) => closed += 1, // EOF or unexpected data
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => closed += 1,
        }
    }
    drop(open);
    tokio::time::sleep(settle).await;
    let after_close = rss(pid)?;
    let what = if o.idle {
        "idle (never spoke)"
    } else {
        "after one message each"
    };
    let mut human = format!(
        "n5: {n} connections open, {what} (asked {}, RLIMIT_NOFILE allows {allowed}; the server holds {server_conns}) after {setup:.2} s, \
         {closed} closed by the server: server RSS {:.1} MiB -> {:.1} MiB = {per:.0} bytes per connection; {:.1} MiB after closing them",
        o.conns,
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        after_close as f64 / 1048576.0
    );
    if let Some(e) = first_error {
        human.push_str(&format!("\nn5: first failure: {e}"));
    }
    if o.idle && server_conns < n {
        human.push_str(&format!(
            "\nn5: the server took only {server_conns} of {n} idle connections (the rest overflowed its accept queue or were still deferred); \
             RSS per connection is per connection it holds"
        ));
    }
    Ok(Report {
        workload: "n5",
        human,
        fields: vec![
            ("bytes_per_conn", format!("{per:.0}")),
            ("conns", n.to_string()),
            ("server_conns", server_conns.to_string()),
            ("rss_before", before.to_string()),
            ("rss_after", after.to_string()),
            ("rss_after_close", after_close.to_string()),
            ("closed_early", closed.to_string()),
        ],
    })
}

// ---------------------------------------------------------------- N6

async fn n6(
    t: &Target,
    conns: usize,
    secs: f64,
    warmup: f64,
    rate: u64,
    group_rate: u64,
) -> Res<Report> {
    let streams = connect_all(t.addr(), conns).await?;
    let counters: Arc<Vec<AtomicU64>> = Arc::new((0..conns).map(|_| AtomicU64::new(0)).collect());
    let tasks: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            let counters = counters.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut off = 0u64;
                loop {
                    let n = s.read(&mut buf).await?;
                    if n == 0 {
                        return Err::<(), BoxError>(
                            format!("the server closed connection {i} after {off} bytes").into(),
                        );
                    }
                    verify(&buf[..n], &PATTERN, off, "download")?;
                    off += n as u64;
                    counters[i].store(off, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let snapshot =
        |c: &[AtomicU64]| -> Vec<u64> { c.iter().map(|a| a.load(Ordering::Relaxed)).collect() };
    tokio::time::sleep(Duration::from_secs_f64(warmup)).await;
    let (t0, a) = (Instant::now(), snapshot(&counters));
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    let (dt, b) = (t0.elapsed().as_secs_f64(), snapshot(&counters));
    let mut failures = Vec::new();
    for task in tasks {
        if task.is_finished() {
            if let Ok(Err(e)) = task.await {
                failures.push(e.to_string());
            }
        } else {
            task.abort();
        }
    }
    if let Some(f) = failures.first() {
        return Err(f.clone().into());
    }
    let rates: Vec<f64> = a.iter().zip(&b).map(|(x, y)| (y - x) as f64 / dt).collect();
    let group: f64 = rates.iter().sum();
    let (min, max) = rates
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let mean = group / conns as f64;
    let sq: f64 = rates.iter().map(|r| r * r).sum();
    let jain = if sq > 0.0 {
        group * group / (conns as f64 * sq)
    } else {
        0.0
    };
    let share = if group_rate > 0 {
        (group_rate as f64 / conns as f64).min(rate as f64)
    } else {
        rate as f64
    };
    let group_acc = if group_rate > 0 {
        group / group_rate as f64
    } else {
        group / (rate as f64 * conns as f64)
    };
    let share_acc = mean / share;
    Ok(Report {
        workload: "n6",
        human: format!(
            "n6: {conns} downloads for {dt:.2} s: group {:.3} MiB/s ({:.1}% of {:.3} MiB/s), per connection \
             mean {:.1} KiB/s ({:.1}% of the fair share {:.1} KiB/s; limit {:.1} KiB/s), min {:.1}, max {:.1} KiB/s, Jain index {jain:.4}",
            group / 1048576.0,
            group_acc * 100.0,
            group_rate as f64 / 1048576.0,
            mean / 1024.0,
            share_acc * 100.0,
            share / 1024.0,
            rate as f64 / 1024.0,
            min / 1024.0,
            max / 1024.0
        ),
        fields: vec![
            ("group_bps", format!("{group:.0}")),
            ("group_accuracy", format!("{group_acc:.4}")),
            ("conn_mean_bps", format!("{mean:.0}")),
            ("conn_min_bps", format!("{min:.0}")),
            ("conn_max_bps", format!("{max:.0}")),
            ("share_accuracy", format!("{share_acc:.4}")),
            ("jain", format!("{jain:.4}")),
            ("secs", format!("{dt:.3}")),
        ],
    })
}

// ---------------------------------------------------------------- main

/// RLIMIT_NOFILE's soft limit after raising it to the hard limit (N5 opens
/// thousands of sockets).
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill and a
    // valid one for setrlimit to read; both only touch this process.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

fn nofile_limit() -> u64 {
    static LIMIT: LazyLock<u64> = LazyLock::new(raise_nofile);
    *LIMIT
}

async fn run(w: Workload) -> Res<Report> {
    let target = match &w {
        Workload::N1 { target, .. }
        | Workload::N2 { target, .. }
        | Workload::N3 { target, .. }
        | Workload::N4 { target, .. }
        | Workload::N5 { target, .. }
        | Workload::N6 { target, .. } => target.clone(),
    };
    let work = async {
        match w {
            Workload::N1 {
                target,
                conns,
                messages,
                size,
            } => n1(&target, conns, messages, size).await,
            Workload::N2 {
                target,
                conns,
                mib,
                write,
            } => n2(&target, conns, mib, write).await,
            Workload::N3 {
                target,
                conns,
                mib,
                write,
                data,
                flush_every,
            } => n3(&target, conns, mib, write, data, flush_every).await,
            Workload::N4 {
                target,
                ca,
                name,
                full_verify,
                conns,
                mib,
                write,
                handshakes,
                parallel,
            } => {
                n4(
                    &target,
                    &ca,
                    &name,
                    full_verify,
                    conns,
                    mib,
                    write,
                    handshakes,
                    parallel,
                )
                .await
            }
            Workload::N5 { target, opts } => match target.server_pid {
                Some(pid) => n5(&target, pid, &opts).await,
                None => Err("n5 needs --server-pid".into()),
            },
            Workload::N6 {
                target,
                conns,
                secs,
                warmup,
                rate,
                group_rate,
            } => n6(&target, conns, secs, warmup, rate, group_rate).await,
        }
    };
    tokio::time::timeout(Duration::from_secs(target.timeout), work)
        .await
        .map_err(|_| {
            format!(
                "not done within --timeout {} s{}",
                target.timeout,
                progress_report()
            )
        })?
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    nofile_limit();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("netload: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.workload)) {
        Ok(report) => {
            println!("{report}");
            let _ = std::io::stdout().flush();
            // Idle sockets and aborted tasks are dropped with the runtime.
            rt.shutdown_timeout(Duration::from_secs(1));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("netload: {e}");
            rt.shutdown_timeout(Duration::from_secs(1));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evstack::seed::filter_server;

    #[test]
    fn frames_split_anywhere_are_checked() {
        let payload = UPPER[..300].to_vec();
        let mut wire = Vec::new();
        for part in [
            &payload[..1],
            &payload[1..124],
            &payload[124..125],
            &[][..],
            &payload[125..],
        ] {
            wire.extend_from_slice(HEAD);
            wire.extend_from_slice(part);
            wire.extend_from_slice(END);
        }
        for step in [1, 2, 7, 13, 14, 15, 64, wire.len()] {
            let mut c = FrameChecker::new();
            let mut pending = Vec::new();
            for piece in wire.chunks(step) {
                pending.extend_from_slice(piece);
                let used = c.feed(&pending).unwrap();
                pending.drain(..used);
            }
            assert!(pending.is_empty() && !c.in_frame, "step {step}");
            assert_eq!((c.payload, c.frames), (300, 5), "step {step}");
        }
    }

    #[test]
    fn wrong_bytes_and_missing_heads_are_errors() {
        let mut c = FrameChecker::new();
        let mut wire = HEAD.to_vec();
        wire.extend_from_slice(&PATTERN[..100]); // not upper-cased
        wire.extend_from_slice(END);
        let e = c.feed(&wire).unwrap_err().to_string();
        assert!(e.contains("byte 97"), "{e}");
        let e = FrameChecker::new()
            .feed(b"|--- HEAX")
            .unwrap_err()
            .to_string();
        assert!(e.contains("frame head"), "{e}");
    }

    #[test]
    fn the_pattern_never_contains_the_end_marker() {
        assert!(memmem::find(&UPPER[..2 * PERIOD], &END[..2]).is_none());
    }

    #[test]
    fn zlib_data_round_trips() {
        for (kind, flush_every) in [(ZData::Words, 0), (ZData::Halves, 16 * 1024)] {
            let data = zdata(100_000, kind);
            let head = if kind == ZData::Words { 256 } else { 64 };
            assert_eq!(data[..head], PATTERN[..head]);
            let pieces = zlib_compress(&data, flush_every).unwrap();
            let want = if flush_every == 0 { 1 } else { 7 };
            assert_eq!(pieces.len(), want, "{kind:?}");
            let comp: Vec<u8> = pieces.concat();
            assert!(comp.len() < data.len() / 2);
            // Every flushed piece ends with the sync flush marker.
            for p in &pieces {
                assert!(p.ends_with(&[0, 0, 0xff, 0xff]), "{kind:?}");
            }
            let mut z = Decompress::new(true);
            let mut out = Vec::with_capacity(data.len() + 16);
            z.decompress_vec(&comp, &mut out, FlushDecompress::Sync)
                .unwrap();
            assert_eq!(out, data, "{kind:?}");
        }
        // Halves: 64 pattern bytes then the text, the pattern going on.
        let d = zdata(256, ZData::Halves);
        assert_eq!(&d[64..128], &TEXT64[..]);
        assert_eq!(&d[128..192], &PATTERN[128..192]);
    }

    /// N1 and N2, tiny, against our filter server in this process.
    #[test]
    fn smoke_n1_n2_n5_against_our_filter_server() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let opts = filter_server::options();
            let listener = filter_server::bind("127.0.0.1:0".parse().unwrap(), &opts).unwrap();
            let port = listener.local_addr().as_inet().unwrap().port();
            let config = filter_server::Config {
                echo: true,
                ..Default::default()
            };
            let _server = filter_server::serve(listener, config);
            let t = Target {
                host: IpAddr::from([127, 0, 0, 1]),
                port,
                timeout: 20,
                server_pid: Some(std::process::id()),
                ready_file: None,
            };
            let r = n1(&t, 2, 50, 100).await.unwrap();
            assert_eq!(r.get("msgs"), Some(100.0));
            assert!(r.get("server_cpu_us_per_msg").is_some(), "{r}");
            let r = n2(&t, 2, 1, 16 * 1024).await.unwrap();
            assert_eq!(r.get("bytes"), Some(2.0 * 1048576.0));
            let mut opts = N5Opts {
                conns: 20,
                size: 100,
                idle: false,
                warmup: 4,
                parallel: 4,
                settle_ms: 10,
                accept_wait: 5,
                accept_quiet: 2,
            };
            let r = n5(&t, std::process::id(), &opts).await.unwrap();
            assert_eq!(r.get("conns"), Some(20.0));
            opts.idle = true;
            let r = n5(&t, std::process::id(), &opts).await.unwrap();
            assert_eq!(r.get("conns"), Some(20.0));
            assert!(r.get("server_conns").unwrap() >= 20.0, "{r}");
        });
    }
}
