//! Descriptor exhaustion: every example server runs as a child process
//! under a lowered `RLIMIT_NOFILE` ([`NOFILE`]), clients hold connections
//! until the server's `accept` fails with `EMFILE` (the server reports
//! `Too many open files`) while more wait in the backlog; the server's CPU
//! time over a window (`/proc/PID/stat`, user + system) must stay low (the
//! listener backs off instead of calling `accept` again at once, as
//! libevent does), and once the clients let go the server serves a new,
//! healthy client.

mod hostile_support;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hostile_support::{healthy_data, Bounds, Rng, Server, Target};

/// The servers' descriptor limit.
const NOFILE: u64 = 64;

/// The window over which the server's CPU time is measured.
const WINDOW: Duration = Duration::from_secs(2);

/// Most CPU the server may use in [`WINDOW`], as a share of one core (a
/// server calling `accept` in a loop uses all of it).
const CPU_SHARE: f64 = 0.25;

fn exhaust(target: Target) {
    // the download server at 50 kB/s per connection, so that the
    // connections held do not keep it busy writing
    let extra: &[&str] = match target {
        Target::RatelimitServer => &["--rate", "50000"],
        _ => &[],
    };
    let Some(mut server) = Server::start_with(target, Bounds::default(), Some(NOFILE), extra)
    else {
        return;
    };
    let mut rng = Rng::new(11);
    server
        .exchange(&healthy_data(target, &mut rng, 10_000))
        .unwrap_or_else(|e| panic!("{target:?} before: {e}"));

    // connections the server accepts and keeps (30 s timeouts), then ones
    // left waiting in the backlog, until the backlog is full too (three
    // connects in a row time out)
    let mut held: Vec<TcpStream> = Vec::new();
    let mut refused = 0;
    while held.len() < (NOFILE + 80) as usize && refused < 3 {
        match TcpStream::connect_timeout(&server.addr(), Duration::from_millis(300)) {
            Ok(mut c) => {
                // filter_server defers accepting until data arrives
                if target == Target::FilterServer {
                    let _ = c.write_all(b"x");
                }
                held.push(c);
                refused = 0;
            }
            Err(_) => refused += 1,
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.log().emfile == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let emfile_reports = server.log().emfile;
    assert!(
        emfile_reports > 0,
        "{target:?} never ran out of descriptors with {} connections held; {}",
        held.len(),
        server.tail()
    );
    // let the accept back-off reach its steady state, then measure
    std::thread::sleep(Duration::from_millis(500));
    let (cpu0, t0) = (server.cpu(), Instant::now());
    std::thread::sleep(WINDOW);
    let (cpu, wall) = (server.cpu() - cpu0, t0.elapsed());
    let share = cpu.as_secs_f64() / wall.as_secs_f64();
    let reports = server.log().emfile;
    assert!(
        server.alive(),
        "{target:?} exited on EMFILE: {}",
        server.tail()
    );

    // let go: the server accepts (and closes) what waited, then serves again
    let n = held.len();
    drop(held);
    let took = server
        .exchange_within(
            &healthy_data(target, &mut rng, 10_000),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| {
            panic!(
                "{target:?} did not serve again after descriptors were freed: {e}; {}",
                server.tail()
            )
        });
    eprintln!(
        "{target:?}: RLIMIT_NOFILE {NOFILE}, {n} connections held, {reports} accept failures \
         reported; CPU {:.0} ms over {:.1?} ({:.1}% of a core); served again {:.1?} after \
         the clients let go",
        cpu.as_secs_f64() * 1000.0,
        wall,
        share * 100.0,
        took
    );
    assert!(
        share < CPU_SHARE,
        "{target:?} used {:.0}% of a core while out of descriptors (bound {:.0}%)",
        share * 100.0,
        CPU_SHARE * 100.0
    );
    assert!(server.alive(), "{target:?} died: {}", server.tail());
}

#[test]
fn emfile_filter_server() {
    exhaust(Target::FilterServer);
}

#[test]
fn emfile_upper_server() {
    exhaust(Target::UpperServer);
}

#[test]
fn emfile_zlib_echo() {
    exhaust(Target::ZlibEcho);
}

#[test]
fn emfile_tls_echo() {
    exhaust(Target::TlsEcho);
}

#[test]
fn emfile_ratelimit_server() {
    exhaust(Target::RatelimitServer);
}

#[test]
fn emfile_upper_echo() {
    exhaust(Target::UpperEcho);
}
