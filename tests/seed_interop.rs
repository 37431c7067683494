//! The seed's programs against the C originals built with libevent
//! (`cpeers`), comparing the bytes on the wire exactly: the C client
//! against our filter server, our client against the C server, a raw
//! socket client against both servers, and the differences that are ours
//! by design (binary-safe answers for everything read, bounded buffers).
//!
//! Needs libevent-dev, pkg-config and a C compiler (see cpeers). Our
//! servers run in this process on runtimes of their own; clients are plain
//! blocking sockets with bounded reads.

#[path = "seed_support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use cpeers::Peer;
use evstack::seed::{self, filter_client, filter_server, upper_server};
use support::*;

/// What the C client prints when it talks to a filter server.
const C_CLIENT_STDOUT: &str = "Connect to server successfully.\n\
                               byte sizes: 54\n\
                               from server: |--- HEAD ---|get information: 10 bytes!|--- END ---|\n\n";

fn reply(n: usize) -> Vec<u8> {
    seed::framed(seed::reply_text(n).as_bytes())
}

/// Runs our client once, in this thread, collecting its progress reports.
fn run_our_client(
    config: &filter_client::Config,
) -> (
    Result<Vec<u8>, filter_client::Error>,
    Vec<filter_client::Progress>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        tokio::time::timeout(
            LONG,
            filter_client::run(config, move |p| sink.lock().unwrap().push(p)),
        )
        .await
        .expect("the client ends by itself")
    });
    let seen = seen.lock().unwrap().clone();
    (result, seen)
}

fn client_config(port: u16) -> filter_client::Config {
    filter_client::Config {
        port,
        ..Default::default()
    }
}

#[test]
fn c_client_against_our_filter_server() {
    let ours = Ours::filter_server(filter_server::Config::default());
    let Some(mut client) = Peer::run_or_skip("filter_client", &[&ours.port.to_string()]) else {
        return;
    };
    let status = client.wait_exit(LONG).unwrap().expect("the C client exits");
    assert!(status.success(), "{status}");
    let out = client.wait_for_stdout(LONG, |s| s.ends_with("\n\n"));
    assert_eq!(out.as_deref(), Ok(C_CLIENT_STDOUT));
}

#[test]
fn our_client_against_the_c_server() {
    let Some((server, port)) = Peer::start_server_or_skip("filter_server") else {
        return;
    };
    let (result, progress) = run_our_client(&client_config(port));
    assert_eq!(result.unwrap(), reply(10));
    assert_eq!(progress.first(), Some(&filter_client::Progress::Connected));
    let seen: usize = progress
        .iter()
        .map(|p| match p {
            filter_client::Progress::Received(n) => *n,
            _ => 0,
        })
        .sum();
    assert_eq!(seen, 54, "{progress:?}");
    // The C server read our 10 bytes (it prints them up to the NUL and
    // answered "10 bytes"), then saw our close.
    let out = server
        .wait_for_stdout(LONG, |s| s.contains("Connection closed."))
        .unwrap();
    assert!(
        out.contains(
            ": TEMP.DATA\nfilter_out\nwrite event buffer is empty!\ntimeout Connection closed.\n"
        ),
        "{out}"
    );
}

#[test]
fn our_client_sends_exactly_temp_data_and_its_nul() {
    // A raw listener stands in for the server and checks every byte.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let client = thread::spawn(move || run_our_client(&client_config(port)));
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    assert_eq!(read_n(&mut s, 10), b"temp.data\0".as_slice());
    // The reply in two parts: our client waits for the end marker.
    let r = reply(10);
    s.write_all(&r[..20]).unwrap();
    thread::sleep(Duration::from_millis(50));
    s.write_all(&r[20..]).unwrap();
    // Then it closes, having sent nothing more.
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    let (result, progress) = client.join().unwrap();
    assert_eq!(result.unwrap(), r);
    assert_eq!(progress.first(), Some(&filter_client::Progress::Connected));
}

#[test]
fn our_client_says_why_it_cannot_connect() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (result, progress) = run_our_client(&client_config(port));
    let err = result.unwrap_err();
    assert!(
        matches!(&err, filter_client::Error::Connect(e) if e.io_kind() == std::io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("refused"),
        "{msg}"
    );
    assert!(progress.is_empty());
}

#[test]
fn our_client_reports_a_server_closing_before_the_end_marker() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let client = thread::spawn(move || run_our_client(&client_config(port)));
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    read_n(&mut s, 10);
    s.write_all(b"|--- HEAD ---|get inf").unwrap();
    drop(s);
    let (result, _) = client.join().unwrap();
    match result {
        Err(filter_client::Error::Closed { received }) => {
            assert_eq!(received, b"|--- HEAD ---|get inf")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn both_filter_servers_answer_with_the_same_bytes() {
    let ours = Ours::filter_server(filter_server::Config::default());
    let Some((_c, c_port)) = Peer::start_server_or_skip("filter_server") else {
        return;
    };
    for (request, n) in [(&b"temp.data\0"[..], 10), (&b"hello Idle\n"[..], 11)] {
        let want = reply(n);
        let from_c = exchange(c_port, request, want.len());
        let from_ours = exchange(ours.port, request, want.len());
        assert_eq!(from_c, want, "the C server");
        assert_eq!(from_ours, from_c, "ours vs C for {request:?}");
    }
    // ...and nothing else: a reply per read, one frame each.
    let mut c = connect(ours.port);
    c.write_all(b"temp.data\0").unwrap();
    assert_eq!(read_n(&mut c, 54), reply(10));
    assert_silent(&mut c, Duration::from_millis(300));
}

#[test]
fn both_filter_servers_close_4_seconds_after_the_last_read() {
    // Real time, all at once: ours and C after a reply, ours with a silent
    // client (deferred accept holds it ~1 s, then the 4 s timeout runs).
    let ours = Ours::filter_server(filter_server::Config::default());
    let Some((_c, c_port)) = Peer::start_server_or_skip("filter_server") else {
        return;
    };
    let after_reply = |port: u16| {
        thread::spawn(move || {
            let mut c = connect(port);
            c.write_all(b"hello Idle\n").unwrap();
            assert_eq!(read_n(&mut c, 54), reply(11));
            time_to_eof(&mut c, Instant::now())
        })
    };
    let ours_t = after_reply(ours.port);
    let c_t = after_reply(c_port);
    let silent_port = ours.port;
    let silent = thread::spawn(move || {
        let connected = Instant::now();
        let mut c = connect(silent_port);
        time_to_eof(&mut c, connected)
    });
    let (ours_wait, c_wait) = (ours_t.join().unwrap(), c_t.join().unwrap());
    let window = Duration::from_millis(3500)..Duration::from_secs(6);
    assert!(window.contains(&c_wait), "C closed after {c_wait:?}");
    assert!(
        window.contains(&ours_wait),
        "ours closed after {ours_wait:?}"
    );
    let silent_wait = silent.join().unwrap();
    assert!(
        (Duration::from_millis(3500)..Duration::from_secs(9)).contains(&silent_wait),
        "ours closed a silent client after {silent_wait:?}"
    );
}

#[test]
fn both_upper_servers_frame_the_same_56_bytes() {
    let ours = Ours::upper_server(upper_server::Config::default());
    let Some((_c, c_port)) = Peer::start_server_or_skip("upper_server") else {
        return;
    };
    let request = b"hello, libevent 5001!\n";
    let want = b"================\nHELLO, LIBEVENT 5001!\n================\n";
    let from_c = exchange(c_port, request, 56);
    let from_ours = exchange(ours.port, request, 56);
    assert_eq!(from_c, want.as_slice(), "the C server");
    assert_eq!(from_ours, from_c, "ours vs C");
}

#[test]
fn our_filter_server_answers_for_all_1500_bytes() {
    // The C server answers 1,023 and keeps 477 waiting (cpeers' tests show
    // it); ours answers for every byte it read.
    let ours = Ours::filter_server(filter_server::Config::default());
    let mut c = connect(ours.port);
    c.write_all(&[b'x'; 1500]).unwrap();
    let mut answered = 0;
    let mut pending = Vec::new();
    while answered < 1500 {
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).expect("replies within the timeout");
        assert!(n > 0, "EOF after answers for {answered} bytes");
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending
            .windows(seed::END.len())
            .position(|w| w == seed::END)
        {
            let frame: Vec<u8> = pending.drain(..end + seed::END.len()).collect();
            let text = String::from_utf8(frame).unwrap();
            let n: usize = text
                .strip_prefix("|--- HEAD ---|get information: ")
                .and_then(|t| t.strip_suffix(" bytes!|--- END ---|\n"))
                .unwrap_or_else(|| panic!("not a reply frame: {text:?}"))
                .parse()
                .unwrap();
            answered += n;
        }
    }
    assert_eq!(answered, 1500);
    assert!(pending.is_empty());
    assert_silent(&mut c, Duration::from_millis(300));
}

#[test]
fn our_upper_server_echoes_all_1500_bytes() {
    // The C server answers one frame of 1,023 `A`s and never the rest.
    let ours = Ours::upper_server(upper_server::Config::default());
    let mut c = connect(ours.port);
    c.write_all(&[b'a'; 1500]).unwrap();
    let frames = read_frames(&mut c, seed::RULE, seed::RULE, 1500);
    assert_eq!(frames.concat(), vec![b'A'; 1500]);
}

#[test]
fn our_filter_server_echo_mode_is_binary_safe() {
    let ours = Ours::filter_server(filter_server::Config {
        echo: true,
        ..Default::default()
    });
    let mut c = connect(ours.port);
    let data: Vec<u8> = (0..=255u8).collect();
    c.write_all(&data).unwrap();
    let frames = read_frames(&mut c, seed::HEAD, seed::END, data.len());
    assert_eq!(frames.concat(), data.to_ascii_uppercase());
}

#[test]
fn our_filter_server_stops_reading_from_a_client_that_does_not_read() {
    // Echo mode, a client sending 32 MiB without reading: once the buffers
    // (kernel and ours, a few MiB) are full the server stops reading, so
    // the writer stalls; then everything comes back, in order, nothing lost.
    const TOTAL: usize = 32 * 1024 * 1024;
    let ours = Ours::filter_server(filter_server::Config {
        echo: true,
        ..Default::default()
    });
    let mut c = connect(ours.port);
    let mut w = c.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = Arc::clone(&sent);
    let writer = thread::spawn(move || {
        let block: Vec<u8> = (0..64 * 1024).map(|i| b'A' + (i % 26) as u8).collect();
        while progress.load(std::sync::atomic::Ordering::Relaxed) < TOTAL {
            if w.write_all(&block).is_err() {
                break;
            }
            progress.fetch_add(block.len(), std::sync::atomic::Ordering::Relaxed);
        }
    });
    // Wait until the writer has made no progress for 500 ms.
    let deadline = Instant::now() + LONG;
    let mut last = usize::MAX;
    let stalled_at = loop {
        thread::sleep(Duration::from_millis(500));
        let now = sent.load(std::sync::atomic::Ordering::Relaxed);
        if now == last {
            break now;
        }
        last = now;
        assert!(Instant::now() < deadline, "the writer never stalled");
    };
    assert!(
        stalled_at < TOTAL,
        "the server read everything without replies being read"
    );
    // Now read: every byte comes back, framed, in order.
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let frames = read_frames(&mut c, seed::HEAD, seed::END, TOTAL);
    writer.join().unwrap();
    let mut at = 0;
    for f in &frames {
        for (i, b) in f.iter().enumerate() {
            assert_eq!(
                *b,
                b'A' + ((at + i) % (64 * 1024) % 26) as u8,
                "byte {}",
                at + i
            );
        }
        at += f.len();
    }
    assert_eq!(at, TOTAL);
}

#[test]
fn our_filter_server_answers_a_client_that_half_closes() {
    // Request, then shutdown(SHUT_WR) at once: the EOF arrives with the
    // data, and the reply is still delivered before the server closes.
    let ours = Ours::filter_server(filter_server::Config::default());
    let mut c = connect(ours.port);
    c.write_all(b"temp.data\0").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    assert_eq!(all, reply(10));
}

#[test]
fn our_filter_server_drops_a_client_that_never_reads() {
    // With a 1 s write timeout, a client that only sends is dropped soon
    // after the buffers fill: its writes fail with a reset or broken pipe.
    let ours = Ours::filter_server(filter_server::Config {
        echo: true,
        write_timeout: Some(Duration::from_secs(1)),
        ..Default::default()
    });
    let mut w = connect(ours.port);
    w.set_write_timeout(Some(LONG)).unwrap();
    let block = vec![b'Z'; 64 * 1024];
    let started = Instant::now();
    let err = loop {
        if let Err(e) = w.write_all(&block) {
            break e;
        }
        assert!(started.elapsed() < LONG * 2, "never dropped");
    };
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        "{err:?}"
    );
}
