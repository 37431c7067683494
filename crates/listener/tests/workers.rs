//! SO_REUSEPORT workers: every worker gets connections; pause, a shared
//! cap and shutdown act on all of them.

use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evconnlistener::{Connection, Error, Options, Workers};

/// Polls `cond` until it holds or `limit` passes.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

#[test]
fn every_worker_receives_connections() {
    const WORKERS: usize = 4;
    const CLIENTS: usize = 200;
    let counts: Arc<Vec<AtomicUsize>> =
        Arc::new((0..WORKERS).map(|_| AtomicUsize::new(0)).collect());
    let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let (c, t) = (Arc::clone(&counts), Arc::clone(&threads));
    let pool = Workers::new("127.0.0.1:0".parse().unwrap(), Options::new())
        .threads(WORKERS)
        .start(move |_conn: Connection, worker| {
            t.lock().unwrap().insert(std::thread::current().id());
            c[worker].fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert_eq!(pool.len(), WORKERS);
    let addr = pool.local_addr();
    assert_ne!(addr.port(), 0);
    for _ in 0..CLIENTS {
        drop(TcpStream::connect(addr).unwrap());
    }
    let total = || {
        counts
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .sum::<usize>()
    };
    assert!(
        wait_until(Duration::from_secs(10), || total() == CLIENTS),
        "accepted {} of {CLIENTS}",
        total()
    );
    let per: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert!(per.iter().all(|&n| n > 0), "per worker: {per:?}");
    assert_eq!(
        threads.lock().unwrap().len(),
        WORKERS,
        "one thread per worker"
    );
    pool.shutdown();
    assert!(TcpStream::connect(addr).is_err(), "every socket closed");
}

#[test]
fn pause_all_and_a_shared_cap() {
    let held: Arc<Mutex<Vec<Connection>>> = Arc::default();
    let h = Arc::clone(&held);
    let pool = Workers::new(
        "127.0.0.1:0".parse().unwrap(),
        Options::new().max_connections(3),
    )
    .threads(2)
    .start(move |conn, _| h.lock().unwrap().push(conn))
    .unwrap();
    let addr = pool.local_addr();
    let live = || held.lock().unwrap().len();

    pool.pause();
    let mut clients: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(live(), 0, "paused workers accept nothing");

    pool.resume();
    assert!(wait_until(Duration::from_secs(5), || live() == 3));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(live(), 3, "the cap holds across workers");

    held.lock().unwrap().clear();
    assert!(wait_until(Duration::from_secs(5), || live() == 2));
    clients.clear();
    drop(pool);
}

#[test]
fn zero_threads_is_an_error() {
    let err = Workers::new("127.0.0.1:0".parse().unwrap(), Options::new())
        .threads(0)
        .start(|_, _| {})
        .unwrap_err();
    assert!(matches!(err, Error::NoWorkers));
}

#[test]
fn the_callback_can_spawn_on_its_workers_runtime() {
    use tokio::io::AsyncWriteExt;
    let pool = Workers::new("127.0.0.1:0".parse().unwrap(), Options::new())
        .threads(2)
        .start(|mut conn, worker| {
            tokio::spawn(async move {
                let _ = conn
                    .write_all(format!("worker {worker}\n").as_bytes())
                    .await;
            });
        })
        .unwrap();
    let mut c = TcpStream::connect(pool.local_addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(&mut c), &mut line).unwrap();
    assert!(line.starts_with("worker "), "{line:?}");
}
