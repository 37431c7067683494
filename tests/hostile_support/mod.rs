//! Shared by the hostile-peer tests (`tests/hostile_*.rs`): the example
//! servers started as real processes (optionally under a lowered
//! `RLIMIT_NOFILE`), what the tests read of them in `/proc` (resident
//! memory, CPU time), and one exact-byte client per server.
//!
//! Cargo gives tests no path to example binaries, but `cargo test` builds
//! the examples next to the test binaries (`target/<profile>/examples/`)
//! before running any test; `cargo test --workspace` also builds the
//! listener's `upper_echo` there. A run that did not build an example skips
//! the tests that need it, with a note.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use evstack::filters::tls::rustls;

/// The bound on every blocking read or write of the clients, and on
/// waiting for a server's first lines.
pub(crate) const LONG: Duration = Duration::from_secs(10);

/// Lines of a server's output kept for failure messages.
const TAIL: usize = 40;

/// Lines kept that mention an error, a failure or a timeout.
const NOTABLE: usize = 60;

/// What the tests need to know of a server's stdout and stderr (bounded:
/// the last [`TAIL`] lines, the first [`NOTABLE`] notable ones, a count of
/// accept failures for lack of descriptors).
#[derive(Default)]
pub(crate) struct Log {
    pub tail: VecDeque<String>,
    pub notable: Vec<String>,
    pub emfile: usize,
}

/// The example servers under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `filter_server --echo`: upper-cased, framed `|--- HEAD ---|`...`|--- END ---|\n`.
    FilterServer,
    /// `upper_server`: upper-cased, framed with `================\n` lines.
    UpperServer,
    /// `zlib_echo server`: a zlib stream each way, echoed.
    ZlibEcho,
    /// `tls_echo server`: TLS each way, echoed.
    TlsEcho,
    /// `ratelimit_server`: the pattern `i % 251`, endless, unlimited rate.
    RatelimitServer,
    /// The listener crate's `upper_echo --serve`: upper-cased, unframed.
    UpperEcho,
}

impl Target {
    /// Every example server.
    pub(crate) const ALL: [Target; 6] = [
        Target::FilterServer,
        Target::UpperServer,
        Target::ZlibEcho,
        Target::TlsEcho,
        Target::RatelimitServer,
        Target::UpperEcho,
    ];

    /// The example binary's name.
    pub(crate) fn example(self) -> &'static str {
        match self {
            Target::FilterServer => "filter_server",
            Target::UpperServer => "upper_server",
            Target::ZlibEcho => "zlib_echo",
            Target::TlsEcho => "tls_echo",
            Target::RatelimitServer => "ratelimit_server",
            Target::UpperEcho => "upper_echo",
        }
    }

    /// Whether the server answers what it reads (all but the download server).
    pub(crate) fn echoes(self) -> bool {
        self != Target::RatelimitServer
    }
}

/// The bounds a server is started with, in seconds (0: the server's
/// "never").
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    pub idle: u64,
    pub write: u64,
    pub handshake: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            idle: 30,
            write: 30,
            handshake: 30,
        }
    }
}

/// `target/<profile>/examples/<name>`, if built.
pub(crate) fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?; // .../deps/<test> -> profile dir
    let path = profile_dir.join("examples").join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} is not built (`cargo test --workspace` builds every example)",
            path.display()
        );
        None
    }
}

/// A fresh temporary directory for one server.
fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("evstack_hostile_{}_{tag}_{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An example server running as a child process, killed (and reaped) when
/// dropped.
pub(crate) struct Server {
    pub target: Target,
    pub port: u16,
    child: Child,
    log: Arc<Mutex<Log>>,
    /// Where `tls_echo` wrote its certificate.
    ca: Option<PathBuf>,
    dir: PathBuf,
}

/// Keeps reading `r` to its end (so the server never blocks on a full
/// pipe), sending the first lines on `first` and keeping a bounded log.
fn drain(r: impl Read + Send + 'static, log: Arc<Mutex<Log>>, first: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        let mut sent = 0;
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if sent < 4 {
                sent += 1;
                let _ = first.send(line.clone());
            }
            let mut l = log.lock().unwrap();
            if line.contains("Too many open files") {
                l.emfile += 1;
            }
            let lower = line.to_ascii_lowercase();
            if l.notable.len() < NOTABLE
                && (lower.contains("fail") || lower.contains("error") || lower.contains("timeout"))
            {
                l.notable.push(line.chars().take(400).collect());
            }
            if l.tail.len() == TAIL {
                l.tail.pop_front();
            }
            l.tail.push_back(line.chars().take(400).collect());
        }
    });
}

impl Server {
    /// Starts `target` on 127.0.0.1 and a free port with `bounds`; with
    /// `nofile`, under that `RLIMIT_NOFILE` (set by the shell's `ulimit -n`
    /// before it `exec`s the server, so the process id is the server's).
    /// `None` if the example is not built.
    pub(crate) fn start(target: Target, bounds: Bounds, nofile: Option<u64>) -> Option<Server> {
        Server::start_with(target, bounds, nofile, &[])
    }

    /// [`start`](Self::start) with more arguments for the server.
    pub(crate) fn start_with(
        target: Target,
        bounds: Bounds,
        nofile: Option<u64>,
        extra: &[&str],
    ) -> Option<Server> {
        let exe = example(target.example())?;
        let dir = temp_dir(target.example());
        let (i, w, h) = (
            bounds.idle.to_string(),
            bounds.write.to_string(),
            bounds.handshake.to_string(),
        );
        let ca = dir.join("ca.pem");
        let ca_arg = ca.to_str().unwrap().to_string();
        let args: Vec<String> = match target {
            Target::FilterServer => vec![
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--echo",
                "--timeout",
                &i,
                "--write-timeout",
                &w,
            ],
            Target::UpperServer => vec![
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--timeout",
                &i,
                "--write-timeout",
                &w,
            ],
            Target::ZlibEcho => vec![
                "server",
                "--port",
                "0",
                "--timeout",
                &i,
                "--write-timeout",
                &w,
            ],
            Target::TlsEcho => vec![
                "server",
                "--port",
                "0",
                "--cert-out",
                &ca_arg,
                "--timeout",
                &i,
                "--write-timeout",
                &w,
                "--handshake-timeout",
                &h,
            ],
            Target::RatelimitServer => vec!["--port", "0", "--timeout", &i, "--write-timeout", &w],
            Target::UpperEcho => vec![
                "--serve",
                "127.0.0.1:0",
                "--quiet",
                "--timeout",
                &i,
                "--write-timeout",
                &w,
            ],
        }
        .into_iter()
        .chain(extra.iter().copied())
        .map(String::from)
        .collect();
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let mut child = cmd
            .args(&args)
            .env("RUST_LOG", "warn")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        let log = Arc::new(Mutex::new(Log::default()));
        let (tx, first) = mpsc::channel();
        drain(child.stdout.take().unwrap(), log.clone(), tx.clone());
        drain(child.stderr.take().unwrap(), log.clone(), tx);
        let mut server = Server {
            target,
            port: 0,
            child,
            log,
            ca: (target == Target::TlsEcho).then_some(ca),
            dir,
        };
        let deadline = Instant::now() + LONG;
        let mut cert_written = target != Target::TlsEcho;
        while server.port == 0 || !cert_written {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = first
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("{target:?} did not start: {}", server.tail()));
            if let Some(rest) = line.strip_prefix("listening on ") {
                let port = rest.rsplit([' ', ':']).next().unwrap_or("");
                server.port = port.trim().parse().expect("a port number");
            } else if line.contains("written to") {
                cert_written = true;
            }
        }
        Some(server)
    }

    /// The server's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory (`VmRSS`), KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// User + system CPU time so far.
    pub(crate) fn cpu(&self) -> Duration {
        cpu_time(self.pid())
    }

    /// The bounded log.
    pub(crate) fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    /// The last lines of output, for failure messages.
    pub(crate) fn tail(&self) -> String {
        let l = self.log();
        let lines: Vec<&str> = l.tail.iter().map(String::as_str).collect();
        format!("last output lines:\n{}", lines.join("\n"))
    }

    /// The TLS client configuration trusting this `tls_echo`'s certificate.
    pub(crate) fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        tls_client_config(self.ca.as_deref().expect("a tls_echo server"))
    }

    /// One healthy client: sends `data` (or, for the download server,
    /// reads `data.len()` bytes) and checks every byte of the answer.
    pub(crate) fn exchange(&self, data: &[u8]) -> Result<(), String> {
        match self.target {
            Target::FilterServer => {
                framed_exchange(self.addr(), data, evstack::seed::HEAD, evstack::seed::END)
            }
            Target::UpperServer => {
                framed_exchange(self.addr(), data, evstack::seed::RULE, evstack::seed::RULE)
            }
            Target::UpperEcho => {
                let mut c = connect(self.addr()).map_err(|e| e.to_string())?;
                c.write_all(data).map_err(|e| format!("write: {e}"))?;
                let mut got = vec![0u8; data.len()];
                c.read_exact(&mut got)
                    .map_err(|e| format!("read {} bytes: {e}", data.len()))?;
                check(&got, &data.to_ascii_uppercase())
            }
            Target::ZlibEcho => zlib_exchange(self.addr(), data),
            Target::TlsEcho => tls_exchange(self.addr(), self.tls_config(), data),
            Target::RatelimitServer => {
                let mut c = connect(self.addr()).map_err(|e| e.to_string())?;
                let mut got = vec![0u8; data.len()];
                c.read_exact(&mut got)
                    .map_err(|e| format!("read {} bytes: {e}", data.len()))?;
                let want: Vec<u8> = (0..got.len() as u64)
                    .map(evstack::ratelimit_server::pattern_byte)
                    .collect();
                check(&got, &want)
            }
        }
    }

    /// [`exchange`](Self::exchange), retried until it succeeds or `within` passes.
    pub(crate) fn exchange_within(
        &self,
        data: &[u8],
        within: Duration,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        loop {
            match self.exchange(data) {
                Ok(()) => return Ok(start.elapsed()),
                Err(e) if start.elapsed() > within => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `VmRSS` of process `pid`, KiB (0 once it is gone).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 if that fails).
fn clk_tck() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// User + system CPU time of process `pid` (fields 14 and 15 of
/// `/proc/PID/stat`).
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // the command name may hold spaces: count fields after its ')'
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // rest starts at field 3 (state): utime is field 14, stime 15
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 1000 / clk_tck())
}

/// A connection with every read and write bounded by [`LONG`].
pub(crate) fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let c = TcpStream::connect_timeout(&addr, LONG)?;
    c.set_read_timeout(Some(LONG))?;
    c.set_write_timeout(Some(LONG))?;
    Ok(c)
}

/// `Ok` if `got == want`, else where they differ.
pub(crate) fn check(got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        return Ok(());
    }
    let at = got.iter().zip(want).position(|(a, b)| a != b);
    Err(format!(
        "answer differs: {} bytes for {}, first difference at {at:?}",
        got.len(),
        want.len()
    ))
}

/// A small xorshift generator: the tests' randomness, seeded per thread.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// `n` random bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// `n` random lower-case letters, spaces and newlines (nothing that
    /// looks like the seed servers' frames once upper-cased).
    pub(crate) fn text(&mut self, n: usize) -> Vec<u8> {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyz \n";
        (0..n)
            .map(|_| A[(self.next() % A.len() as u64) as usize])
            .collect()
    }
}

/// Data for a healthy client of `target`: text for the upper-casing
/// servers, any bytes for the others.
pub(crate) fn healthy_data(target: Target, rng: &mut Rng, n: usize) -> Vec<u8> {
    match target {
        Target::ZlibEcho | Target::TlsEcho => rng.bytes(n),
        _ => rng.text(n),
    }
}

/// Sends `data` to a seed server and reads frames `head` + payload + `tail`
/// until the payloads add up to the upper-cased `data`.
fn framed_exchange(addr: SocketAddr, data: &[u8], head: &[u8], tail: &[u8]) -> Result<(), String> {
    let want = data.to_ascii_uppercase();
    let mut c = connect(addr).map_err(|e| e.to_string())?;
    c.write_all(data).map_err(|e| format!("write: {e}"))?;
    let mut pending: Vec<u8> = Vec::new();
    let mut got = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while got < want.len() {
        // every complete frame
        loop {
            if pending.len() < head.len() {
                break;
            }
            if &pending[..head.len()] != head {
                return Err(format!(
                    "a frame does not start with its head at payload byte {got}"
                ));
            }
            let Some(at) = pending[head.len()..]
                .windows(tail.len())
                .position(|w| w == tail)
            else {
                break;
            };
            let payload = &pending[head.len()..head.len() + at];
            if want.get(got..got + payload.len()) != Some(payload) {
                return Err(format!("payload differs after {got} bytes"));
            }
            got += payload.len();
            pending.drain(..head.len() + at + tail.len());
        }
        if got >= want.len() {
            break;
        }
        let n = c
            .read(&mut buf)
            .map_err(|e| format!("read after {got} bytes: {e}"))?;
        if n == 0 {
            return Err(format!("EOF after {got} of {} bytes", want.len()));
        }
        pending.extend_from_slice(&buf[..n]);
    }
    if pending.is_empty() {
        Ok(())
    } else {
        Err("bytes after the last frame".into())
    }
}

/// A zlib stream's compressed form of `data`, ending in a sync flush: the
/// two header bytes, then the deflate blocks.
pub(crate) fn zlib_sync(data: &[u8]) -> Vec<u8> {
    zlib(
        data,
        flate2::Compression::fast(),
        flate2::FlushCompress::Sync,
    )
}

/// `data` as a zlib stream at `level`, ending with `flush` (`Sync`: more
/// may follow; `Finish`: the trailer).
pub(crate) fn zlib(
    data: &[u8],
    level: flate2::Compression,
    flush: flate2::FlushCompress,
) -> Vec<u8> {
    let mut z = flate2::Compress::new(level, true);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 64 * 1024 {
            out.reserve(64 * 1024);
        }
        let before = z.total_in();
        let st = z.compress_vec(input, &mut out, flush).expect("compress");
        if st == flate2::Status::StreamEnd {
            break;
        }
        input = &input[(z.total_in() - before) as usize..];
        // all input taken and room left over: the flush is complete
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    out
}

/// Inflates a zlib stream as it arrives.
pub(crate) struct Inflater {
    z: flate2::Decompress,
    pub out: Vec<u8>,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater {
            z: flate2::Decompress::new(true),
            out: Vec::new(),
        }
    }
}

impl Inflater {
    /// Inflates all of `input` onto [`out`](Self::out).
    pub(crate) fn feed(&mut self, mut input: &[u8]) -> Result<(), String> {
        while !input.is_empty() {
            self.out.reserve(256 * 1024);
            let before = self.z.total_in();
            let st = self
                .z
                .decompress_vec(input, &mut self.out, flate2::FlushDecompress::Sync)
                .map_err(|e| format!("the echo is not a valid zlib stream: {e}"))?;
            input = &input[(self.z.total_in() - before) as usize..];
            if st == flate2::Status::StreamEnd {
                break;
            }
        }
        Ok(())
    }
}

/// Sends `data` zlib-compressed to `zlib_echo` and inflates the echo until
/// it has `data.len()` bytes.
fn zlib_exchange(addr: SocketAddr, data: &[u8]) -> Result<(), String> {
    let mut c = connect(addr).map_err(|e| e.to_string())?;
    // a whole stream, trailer included: the server sees a clean end
    let wire = zlib(
        data,
        flate2::Compression::fast(),
        flate2::FlushCompress::Finish,
    );
    let mut r = c.try_clone().map_err(|e| e.to_string())?;
    let writer = std::thread::spawn(move || c.write_all(&wire).map(|()| c));
    let mut inf = Inflater::default();
    let mut buf = vec![0u8; 64 * 1024];
    while inf.out.len() < data.len() {
        let n = r
            .read(&mut buf)
            .map_err(|e| format!("read after {} bytes: {e}", inf.out.len()))?;
        if n == 0 {
            return Err(format!(
                "EOF after {} of {} bytes",
                inf.out.len(),
                data.len()
            ));
        }
        inf.feed(&buf[..n])?;
    }
    writer.join().unwrap().map_err(|e| format!("write: {e}"))?;
    check(&inf.out, data)
}

/// A TLS client configuration trusting the certificate in `ca` (PEM).
pub(crate) fn tls_client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("the certificate") {
        roots.add(cert.unwrap()).unwrap();
    }
    evstack::filters::tls::client_config(roots, &[b"echo/1"]).unwrap()
}

/// A blocking TLS client over a new connection (handshake not yet done).
pub(crate) fn tls_client(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    let c = connect(addr).map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap())
        .map_err(|e| e.to_string())?;
    Ok(rustls::StreamOwned::new(conn, c))
}

/// Sends `data` over TLS to `tls_echo` and reads the echo (`data` is sent
/// in pieces, each read back before the next, so neither side's buffers
/// fill).
fn tls_exchange(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    data: &[u8],
) -> Result<(), String> {
    let mut s = tls_client(addr, config)?;
    let mut got = vec![0u8; data.len()];
    for (piece, back) in data.chunks(64 * 1024).zip(got.chunks_mut(64 * 1024)) {
        s.write_all(piece).map_err(|e| format!("TLS write: {e}"))?;
        s.read_exact(back).map_err(|e| format!("TLS read: {e}"))?;
    }
    check(&got, data)
}

/// A real ClientHello for `localhost`, as the first flight on the wire.
pub(crate) fn client_hello(config: Arc<rustls::ClientConfig>) -> Vec<u8> {
    let mut conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// Reads until end of file, reset or `within` passes, discarding the bytes;
/// `Some(elapsed)` if the connection ended.
pub(crate) fn wait_closed(c: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = within.checked_sub(start.elapsed())?;
        c.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .ok()?;
        match c.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if start.elapsed() >= within {
                    return None;
                }
            }
            Err(_) => return Some(start.elapsed()), // reset
        }
    }
}
