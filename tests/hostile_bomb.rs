//! Inflate bombs against `zlib_echo`: a zlib stream of zeros about a
//! thousand times smaller than what it inflates to ([`BOMB_MIB`] MiB by
//! default, `EVSTACK_BOMB_MIB` for more), sent while the echo is read and
//! inflated. The server's resident memory must stay within
//! [`RSS_GROWTH_KIB`] of what it was before; the bomb is either delivered
//! (every byte of the echo is a zero, and all of them come back) or cut
//! with a reason the server reports. The example's own client also says
//! why when a connection ends on an error.

mod hostile_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hostile_support::{connect, example, zlib, Bounds, Server, Target};

/// Size of the bomb in CI, MiB of zeros.
const BOMB_MIB: u64 = 32;

/// How much the server's resident memory may grow.
const RSS_GROWTH_KIB: u64 = 64 * 1024;

/// The longest the bomb test runs for the CI bomb (bigger ones get 1 s
/// more per 16 MiB); also the bound on the client runs.
const LIMIT: Duration = Duration::from_secs(20);

/// Counts the zeros a zlib stream inflates to, without keeping them.
struct ZeroCounter {
    z: flate2::Decompress,
    buf: Vec<u8>,
    zeros: u64,
}

impl ZeroCounter {
    fn feed(&mut self, mut input: &[u8]) -> Result<(), String> {
        while !input.is_empty() {
            let (before_in, before_out) = (self.z.total_in(), self.z.total_out());
            let st = self
                .z
                .decompress(input, &mut self.buf, flate2::FlushDecompress::Sync)
                .map_err(|e| format!("the echo is not a valid zlib stream: {e}"))?;
            input = &input[(self.z.total_in() - before_in) as usize..];
            let n = (self.z.total_out() - before_out) as usize;
            if self.buf[..n].iter().any(|&b| b != 0) {
                return Err(format!(
                    "a non-zero byte in the echo after {} zeros",
                    self.zeros
                ));
            }
            self.zeros += n as u64;
            if st == flate2::Status::StreamEnd || (n == 0 && self.z.total_in() == before_in) {
                break;
            }
        }
        Ok(())
    }
}

#[test]
fn an_inflate_bomb_costs_bounded_memory_and_is_delivered_or_cut_with_a_reason() {
    let mib: u64 = std::env::var("EVSTACK_BOMB_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BOMB_MIB);
    let Some(mut server) = Server::start(Target::ZlibEcho, Bounds::default(), None) else {
        return;
    };
    server.exchange(&[0u8; 100_000]).unwrap();
    let base = server.rss_kib();
    server.log().notable.clear();
    // 1 MiB of zeros compressed at the start of a stream refers only to
    // itself: its blocks, repeated, inflate to 1 MiB of zeros each time
    // (about 1,000:1)
    let mib_block = zlib(
        &vec![0u8; 1 << 20],
        flate2::Compression::best(),
        flate2::FlushCompress::Sync,
    );
    let (header, body) = mib_block.split_at(2);
    let total = mib << 20;
    let limit = LIMIT + Duration::from_secs(mib.saturating_sub(BOMB_MIB) / 16);
    let wire = (header.len() + body.len() * mib as usize) as u64;

    let mut c = connect(server.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut w = c.try_clone().unwrap();
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let (outcome, max) = std::thread::scope(|s| {
        let sender = s.spawn(|| {
            w.set_write_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut parts = std::iter::once(header).chain(std::iter::repeat_n(body, mib as usize));
            let mut cur = parts.next().unwrap();
            while !stop.load(Ordering::Relaxed) {
                match w.write(cur) {
                    Ok(n) => {
                        cur = &cur[n..];
                        if cur.is_empty() {
                            match parts.next() {
                                Some(p) => cur = p,
                                None => return,
                            }
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return,
                }
            }
        });
        let mut counter = ZeroCounter {
            z: flate2::Decompress::new(true),
            buf: vec![0u8; 256 * 1024],
            zeros: 0,
        };
        let mut buf = vec![0u8; 256 * 1024];
        let mut max = base;
        let mut last_sample = Instant::now();
        let outcome = loop {
            if last_sample.elapsed() > Duration::from_millis(50) {
                max = max.max(server.rss_kib());
                last_sample = Instant::now();
            }
            if counter.zeros >= total {
                break Ok(format!(
                    "delivered: {} MiB of zeros echoed",
                    counter.zeros >> 20
                ));
            }
            if start.elapsed() > limit {
                break Err(format!(
                    "neither delivered nor cut within {limit:?}: {} of {} MiB echoed",
                    counter.zeros >> 20,
                    total >> 20
                ));
            }
            match c.read(&mut buf) {
                Ok(0) => break Ok(format!("cut after {} MiB echoed", counter.zeros >> 20)),
                Ok(n) => {
                    if let Err(e) = counter.feed(&buf[..n]) {
                        break Err(e);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    break Ok(format!(
                        "cut ({e}) after {} MiB echoed",
                        counter.zeros >> 20
                    ))
                }
            }
        };
        max = max.max(server.rss_kib());
        stop.store(true, Ordering::Relaxed);
        sender.join().unwrap();
        (outcome, max)
    });
    let growth = max.saturating_sub(base);
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}; {}", server.tail()));
    // a cut must come with the server's reason
    let reason = server
        .log()
        .notable
        .iter()
        .find(|l| l.contains("connection failed"))
        .cloned();
    eprintln!(
        "bomb of {mib} MiB in {wire} bytes: {outcome} in {:.1?}; RSS {base} KiB before, at \
         most {max} KiB (+{growth} KiB); server said: {reason:?}",
        start.elapsed()
    );
    assert!(
        growth < RSS_GROWTH_KIB,
        "RSS grew by {growth} KiB (bound {RSS_GROWTH_KIB} KiB) on a {mib} MiB bomb"
    );
    if outcome.starts_with("cut") {
        // the server logs before it closes, but its log crosses a pipe
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut reason = reason;
        while reason.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            reason = server
                .log()
                .notable
                .iter()
                .find(|l| l.contains("connection failed"))
                .cloned();
        }
        assert!(
            reason.is_some(),
            "the server cut the bomb without saying why; {}",
            server.tail()
        );
    }
    assert!(server.alive(), "{}", server.tail());
    server.exchange(&[7u8; 100_000]).unwrap();
}

/// Runs `zlib_echo client` with `args`; its exit status and output.
fn run_client(args: &[&str]) -> Option<(std::process::ExitStatus, String)> {
    let exe = example("zlib_echo")?;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("zlib_echo {args:?} ran longer than {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::new();
    for pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        for line in BufReader::new(pipe).lines().map_while(Result::ok).take(50) {
            text.push_str(&line);
            text.push('\n');
        }
    }
    Some((status, text))
}

#[test]
fn the_client_says_why_a_connection_ended_on_an_error() {
    // a "server" that answers with bytes that are no zlib stream
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let fake = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let _ = s.write_all(b"this is not a zlib stream at all, not even close");
        let mut sink = [0u8; 64 * 1024];
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while matches!(s.read(&mut sink), Ok(1..)) {}
    });
    let Some((status, out)) = run_client(&["client", "--port", &port, "--bytes", "100000"]) else {
        return;
    };
    fake.join().unwrap();
    assert!(!status.success(), "the client succeeded: {out}");
    assert!(
        out.contains("zlib_echo client: connection failed after 0 of 100000 bytes echoed: "),
        "{out}"
    );
    // the error's Display follows, not a Debug dump of an Option
    assert!(!out.contains("None") && !out.contains("Some("), "{out}");
}

#[test]
fn the_client_echoes_4_mib_of_zeros() {
    let Some(server) = Server::start(Target::ZlibEcho, Bounds::default(), None) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("evstack_zeros_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("zeros");
    std::fs::write(&file, vec![0u8; 4 << 20]).unwrap();
    let port = server.port.to_string();
    let result = run_client(&["client", "--port", &port, "--file", file.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    let Some((status, out)) = result else {
        return;
    };
    assert!(
        status.success() && out.contains("ok: 4194304 bytes echoed byte-exact"),
        "{status}: {out}; server: {}",
        server.tail()
    );
}
