//! `tls_echo` against hostile TLS clients: garbage instead of a
//! ClientHello, truncated ClientHellos, a client that connects and says
//! nothing, and one that trickles a ClientHello a byte at a time. The
//! server's handshake timeout is [`HANDSHAKE`] and its idle timeout 30 s,
//! so connections that end within [`CLOSED_WITHIN`] were ended by the
//! handshake deadline (or refused at once); a healthy client is served
//! while they are held and after.

mod hostile_support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use hostile_support::{client_hello, connect, wait_closed, Bounds, Rng, Server, Target};

/// The server's handshake timeout, seconds.
const HANDSHAKE: u64 = 2;

/// How long a hostile connection may stay open (well under the 30 s idle
/// timeout).
const CLOSED_WITHIN: Duration = Duration::from_secs(10);

fn server() -> Option<Server> {
    Server::start(
        Target::TlsEcho,
        Bounds {
            handshake: HANDSHAKE,
            ..Bounds::default()
        },
        None,
    )
}

#[test]
fn garbage_instead_of_a_client_hello_is_refused() {
    let Some(mut server) = server() else {
        return;
    };
    let mut rng = Rng::new(21);
    for (i, garbage) in [
        rng.bytes(2048),
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        // a handshake record header announcing 16 KiB, then noise
        [&[0x16, 0x03, 0x01, 0x40, 0x00][..], &rng.bytes(600)].concat(),
    ]
    .iter()
    .enumerate()
    {
        let mut c = connect(server.addr()).unwrap();
        c.write_all(garbage).unwrap();
        let t = wait_closed(&mut c, CLOSED_WITHIN);
        eprintln!("garbage #{i}: closed after {t:?}");
        assert!(
            t.is_some(),
            "garbage #{i} was held open for {CLOSED_WITHIN:?}"
        );
    }
    assert!(server.alive(), "{}", server.tail());
    server.exchange(&rng.bytes(100_000)).unwrap();
}

#[test]
fn truncated_and_slow_handshakes_end_at_the_deadline() {
    let Some(mut server) = server() else {
        return;
    };
    let hello = client_hello(server.tls_config());
    let mut held: Vec<TcpStream> = Vec::new();
    // half a ClientHello, or its record header alone, or nothing at all
    for i in 0..30 {
        let mut c = connect(server.addr()).unwrap();
        match i % 3 {
            0 => c.write_all(&hello[..hello.len() / 2]).unwrap(),
            1 => c.write_all(&hello[..5]).unwrap(),
            _ => {}
        }
        held.push(c);
    }
    // a ClientHello a byte at a time, a byte every 200 ms: each byte is
    // progress, so only a deadline on the whole handshake ends it
    let trickle = {
        let mut c = connect(server.addr()).unwrap();
        let hello = hello.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            for b in &hello {
                if c.write_all(&[*b]).is_err() {
                    return Some(start.elapsed());
                }
                std::thread::sleep(Duration::from_millis(200));
                if start.elapsed() > CLOSED_WITHIN {
                    break;
                }
            }
            wait_closed(&mut c, Duration::from_millis(10)).map(|_| start.elapsed())
        })
    };
    // served while they are held
    let mut rng = Rng::new(22);
    server.exchange(&rng.bytes(100_000)).unwrap();
    let mut longest = Duration::ZERO;
    for (i, c) in held.iter_mut().enumerate() {
        let t = wait_closed(c, CLOSED_WITHIN)
            .unwrap_or_else(|| panic!("truncated handshake #{i} held open past {CLOSED_WITHIN:?}"));
        longest = longest.max(t);
    }
    let trickled = trickle.join().unwrap();
    eprintln!(
        "30 truncated handshakes closed within {longest:.1?} of the last check (deadline \
         {HANDSHAKE} s); trickled ClientHello cut after {trickled:.1?}"
    );
    assert!(
        trickled.is_some(),
        "a ClientHello trickled a byte at a time was held open past {CLOSED_WITHIN:?}"
    );
    assert!(server.alive(), "{}", server.tail());
    server.exchange(&rng.bytes(100_000)).unwrap();
}
