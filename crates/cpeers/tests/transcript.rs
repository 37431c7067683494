//! The C peers put exactly the seed's bytes (listed in src/seed/mod.rs) on
//! the wire (and print the same stdout), checked with a raw std TcpStream
//! client, a raw listener standing in for the server, and the C client
//! against the C server. Needs libevent-dev, pkg-config and a C compiler.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use cpeers::Peer;

const LONG: Duration = Duration::from_secs(10);

fn connect(port: u16) -> TcpStream {
    let c = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    c.set_read_timeout(Some(LONG)).unwrap();
    c
}

fn read_n(c: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    c.read_exact(&mut buf).unwrap();
    buf
}

/// Asserts nothing more arrives within `quiet` (the connection stays open).
///
/// Reads with a socket timeout can fail with EINTR when the process is
/// stopped and resumed (signal(7)), so those are retried.
fn assert_silent(c: &mut TcpStream, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    let mut b = [0u8; 64];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        c.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match c.read(&mut b) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }
    c.set_read_timeout(Some(LONG)).unwrap();
}

/// Reads until EOF; returns when it came, measured from `since`.
fn time_to_eof(c: &mut TcpStream, since: Instant) -> Duration {
    let mut b = [0u8; 64];
    loop {
        match c.read(&mut b) {
            Ok(0) => return since.elapsed(),
            Ok(n) => panic!("unexpected {:?}", String::from_utf8_lossy(&b[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("no EOF within {LONG:?}: {e}"),
        }
    }
}

fn framed(reply: &str) -> Vec<u8> {
    format!("|--- HEAD ---|{reply}|--- END ---|\n").into_bytes()
}

/// The `N` of `new connection: N from ...` (the server's descriptor number).
fn fd_in(stdout: &str) -> &str {
    let rest = &stdout[stdout.find("new connection: ").expect("a connection line") + 16..];
    &rest[..rest.find(' ').unwrap()]
}

#[test]
fn filter_server_answers_temp_data_byte_for_byte() {
    let Some((server, port)) = Peer::start_server_or_skip("filter_server") else {
        return;
    };
    let mut c = connect(port);
    let client_port = c.local_addr().unwrap().port();

    c.write_all(b"temp.data\0").unwrap();
    let reply = read_n(&mut c, 54);
    assert_eq!(
        reply,
        b"|--- HEAD ---|get information: 10 bytes!|--- END ---|\n".as_slice()
    );
    drop(c); // the seed's client frees its bufferevent: the server sees EOF

    let out = server
        .wait_for_stdout(LONG, |s| s.contains("Connection closed."))
        .unwrap();
    let expected = format!(
        "listening on port {port}\n\
         start server at 127.0.0.1 running in {port}:\n\
         new connection: {fd} from ip: 127.0.0.1 port: {client_port}filter_in\n\
         127.0.0.1 - {client_port}: TEMP.DATA\n\
         filter_out\n\
         write event buffer is empty!\n\
         timeout Connection closed.\n",
        fd = fd_in(&out)
    );
    assert_eq!(out, expected);
}

#[test]
fn filter_server_closes_4_seconds_after_the_last_read() {
    let Some((_server, port)) = Peer::start_server_or_skip("filter_server") else {
        return;
    };
    let mut c = connect(port);
    c.write_all(b"hello Idle\n").unwrap();
    assert_eq!(read_n(&mut c, 54), framed("get information: 11 bytes!"));
    let replied = Instant::now();
    let waited = time_to_eof(&mut c, replied);
    assert!(
        (Duration::from_millis(3500)..Duration::from_secs(6)).contains(&waited),
        "closed after {waited:?}"
    );
}

#[test]
fn filter_server_silent_client_is_accepted_late_and_closed() {
    // TCP_DEFER_ACCEPT holds the silent client about 1 s, then the 4 s read
    // timeout runs: the close comes about 5 s after connecting.
    let Some((_server, port)) = Peer::start_server_or_skip("filter_server") else {
        return;
    };
    let connected = Instant::now();
    let mut c = connect(port);
    let waited = time_to_eof(&mut c, connected);
    assert!(
        (Duration::from_millis(3500)..Duration::from_secs(9)).contains(&waited),
        "closed after {waited:?}"
    );
}

#[test]
fn filter_server_answers_1023_of_1500_bytes_then_the_rest_on_more_data() {
    let Some((_server, port)) = Peer::start_server_or_skip("filter_server") else {
        return;
    };
    let mut c = connect(port);
    c.write_all(&[b'x'; 1500]).unwrap();
    assert_eq!(read_n(&mut c, 56), framed("get information: 1023 bytes!"));
    assert_silent(&mut c, Duration::from_millis(500));
    c.write_all(b"yy").unwrap();
    assert_eq!(read_n(&mut c, 55), framed("get information: 479 bytes!"));
}

#[test]
fn upper_server_frames_the_upper_cased_line() {
    let Some((server, port)) = Peer::start_server_or_skip("upper_server") else {
        return;
    };
    let mut c = connect(port);
    c.write_all(b"hello, libevent 5001!\n").unwrap();
    let reply = read_n(&mut c, 56);
    assert_eq!(
        reply,
        b"================\nHELLO, LIBEVENT 5001!\n================\n".as_slice()
    );
    drop(c);
    let out = server
        .wait_for_stdout(LONG, |s| s.contains("event_cb\n"))
        .unwrap();
    assert_eq!(
        out,
        format!(
            "test server!\n\
             event_base_new success!\n\
             listening on port {port}\n\
             listen_cb\n\
             filter_in\n\
             read_cb\n\
             HELLO, LIBEVENT 5001!\n\
             \n\
             filter_out\n\
             write_cb\n\
             event_cb\n"
        )
    );
}

#[test]
fn upper_server_answers_only_1023_of_1500_bytes() {
    let Some((_server, port)) = Peer::start_server_or_skip("upper_server") else {
        return;
    };
    let mut c = connect(port);
    c.write_all(&[b'a'; 1500]).unwrap();
    let reply = read_n(&mut c, 1057);
    let mut expected = b"================\n".to_vec();
    expected.extend_from_slice(&[b'A'; 1023]);
    expected.extend_from_slice(b"================\n");
    assert_eq!(reply, expected);
    assert_silent(&mut c, Duration::from_millis(500));
}

#[test]
fn c_client_against_c_server() {
    let Some((server, port)) = Peer::start_server_or_skip("filter_server") else {
        return;
    };
    let Some(mut client) = Peer::run_or_skip("filter_client", &[&port.to_string()]) else {
        return;
    };
    let status = client.wait_exit(LONG).unwrap().expect("client exits");
    assert!(status.success(), "{status}");
    let out = client
        .wait_for_stdout(LONG, |s| s.ends_with("\n\n"))
        .unwrap();
    assert_eq!(
        out,
        "Connect to server successfully.\n\
         byte sizes: 54\n\
         from server: |--- HEAD ---|get information: 10 bytes!|--- END ---|\n\n"
    );
    let server_out = server
        .wait_for_stdout(LONG, |s| s.contains("Connection closed."))
        .unwrap();
    assert!(
        server_out.contains(
            ": TEMP.DATA\nfilter_out\nwrite event buffer is empty!\ntimeout Connection closed.\n"
        ),
        "{server_out}"
    );
}

#[test]
fn c_client_sends_exactly_temp_data_and_its_nul() {
    // A raw listener stands in for the server and checks the client's bytes.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let Some(mut client) = Peer::run_or_skip("filter_client", &[&port.to_string()]) else {
        return;
    };
    let (mut s, _) = l.accept().unwrap();
    s.set_read_timeout(Some(LONG)).unwrap();
    assert_eq!(read_n(&mut s, 10), b"temp.data\0".as_slice());
    s.write_all(&framed("get information: 10 bytes!")).unwrap();
    // The client closes after its first read.
    assert!(time_to_eof(&mut s, Instant::now()) < LONG);
    let status = client.wait_exit(LONG).unwrap().expect("client exits");
    assert!(status.success());
    let tail = "from server: |--- HEAD ---|get information: 10 bytes!|--- END ---|\n\n";
    let out = client.wait_for_stdout(LONG, |s| s.ends_with(tail));
    assert!(out.is_ok(), "{out:?}");
}

#[test]
fn c_client_without_a_server_says_time_out() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let Some(mut client) = Peer::run_or_skip("filter_client", &[&port.to_string()]) else {
        return;
    };
    let status = client.wait_exit(LONG).unwrap().expect("client exits");
    assert!(status.success());
    assert_eq!(
        client.wait_for_stdout(LONG, |s| s.ends_with('\n')).unwrap(),
        "time out.\n"
    );
}
