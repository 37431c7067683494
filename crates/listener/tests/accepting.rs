//! Accepting on 127.0.0.1: pause/resume, the connection cap, closing on
//! drop, port 0, adopting a socket, backlog rules (statements 86-90).

use std::net::SocketAddr;
use std::time::Duration;

use evconnlistener::{Backlog, Connection, Error, Listener, Options};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;

const LONG: Duration = Duration::from_secs(5);
/// How long "nothing happens" is watched for.
const QUIET: Duration = Duration::from_millis(300);

fn lo0() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn addr_of(l: &Listener) -> SocketAddr {
    l.local_addr().as_inet().unwrap()
}

/// Spawns `l`, sending every connection into a channel.
fn spawn_into_channel(
    l: Listener,
) -> (
    evconnlistener::ListenerHandle,
    mpsc::UnboundedReceiver<Connection>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let h = l.spawn(move |c| {
        let _ = tx.send(c);
    });
    (h, rx)
}

async fn expect_conn(rx: &mut mpsc::UnboundedReceiver<Connection>) -> Connection {
    timeout(LONG, rx.recv())
        .await
        .expect("a connection within 5 s")
        .expect("listener still running")
}

async fn expect_none(rx: &mut mpsc::UnboundedReceiver<Connection>) {
    assert!(
        timeout(QUIET, rx.recv()).await.is_err(),
        "nothing may be accepted now"
    );
}

#[tokio::test]
async fn connection_attempted_while_paused_is_accepted_only_after_resume() {
    let l = Listener::bind(lo0(), &Options::new()).unwrap();
    let addr = addr_of(&l);
    let (h, mut rx) = spawn_into_channel(l);

    let _c1 = TcpStream::connect(addr).await.unwrap();
    expect_conn(&mut rx).await;

    h.pause();
    assert!(h.is_paused());
    // The kernel completes the handshake from the backlog even while paused.
    let mut c2 = timeout(LONG, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    c2.write_all(b"ping").await.unwrap();
    expect_none(&mut rx).await;

    h.resume();
    let mut conn = expect_conn(&mut rx).await;
    assert_eq!(
        conn.peer_addr().as_inet().unwrap(),
        c2.local_addr().unwrap()
    );
    let mut buf = [0u8; 4];
    timeout(LONG, conn.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"ping");
    h.close().await;
}

#[tokio::test]
async fn start_paused_accepts_nothing_until_resumed() {
    let l = Listener::bind(lo0(), &Options::new().start_paused(true)).unwrap();
    let addr = addr_of(&l);
    let mut incoming = l.incoming();
    let _c = TcpStream::connect(addr).await.unwrap();
    assert!(timeout(QUIET, incoming.next()).await.is_err());
    incoming.resume();
    let conn = timeout(LONG, incoming.next()).await.unwrap().unwrap();
    assert!(conn.is_ok());
}

/// Statement 88: one wake-up accepts every pending connection, unless the
/// callback disables the listener.
#[tokio::test]
async fn two_quick_connects_give_two_callbacks_unless_the_callback_pauses() {
    let l = Listener::bind(lo0(), &Options::new()).unwrap();
    let addr = addr_of(&l);
    let (h, mut rx) = spawn_into_channel(l);
    let _a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    expect_conn(&mut rx).await;
    expect_conn(&mut rx).await;
    h.close().await;

    let l = Listener::bind(lo0(), &Options::new()).unwrap();
    let addr = addr_of(&l);
    let control = l.control();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let h = l.spawn(move |c| {
        control.pause(); // evconnlistener_disable inside the callback
        let _ = tx.send(c);
    });
    let _a = TcpStream::connect(addr).await.unwrap();
    let _b = TcpStream::connect(addr).await.unwrap();
    expect_conn(&mut rx).await;
    expect_none(&mut rx).await;
    h.resume();
    expect_conn(&mut rx).await;
}

#[tokio::test]
async fn the_cap_pauses_accepting_and_closing_frees_a_slot() {
    let opts = Options::new().max_connections(2);
    let limit = opts.limit().unwrap().clone();
    let l = Listener::bind(lo0(), &opts).unwrap();
    let addr = addr_of(&l);
    let (_h, mut rx) = spawn_into_channel(l);

    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(TcpStream::connect(addr).await.unwrap());
    }
    let first = expect_conn(&mut rx).await;
    let second = expect_conn(&mut rx).await;
    assert!(first.has_permit() && second.has_permit());
    assert_eq!(limit.live(), 2);
    expect_none(&mut rx).await;

    drop(first);
    let third = expect_conn(&mut rx).await;
    assert_eq!(limit.live(), 2);
    assert_eq!(
        third.peer_addr().as_inet().unwrap(),
        clients[2].local_addr().unwrap()
    );

    // The permit travels with into_parts: the slot stays taken until it drops.
    let (_stream, _peer, permit) = second.into_parts();
    assert_eq!(limit.live(), 2);
    drop(permit);
    assert_eq!(limit.live(), 1);
}

async fn assert_refused(addr: SocketAddr) {
    // Closing is asynchronous for a spawned task; give it a moment.
    for _ in 0..50 {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    panic!("{addr} still accepts connections");
}

#[tokio::test]
async fn dropping_closes_the_socket() {
    let l = Listener::bind(lo0(), &Options::new()).unwrap();
    let addr = addr_of(&l);
    drop(l);
    assert_refused(addr).await;

    let l = Listener::bind(lo0(), &Options::new()).unwrap();
    let addr = addr_of(&l);
    let incoming = l.incoming();
    drop(incoming);
    assert_refused(addr).await;

    let l = Listener::bind(lo0(), &Options::new()).unwrap();
    let addr = addr_of(&l);
    let h = l.spawn(drop);
    h.close().await;
    assert!(matches!(
        TcpStream::connect(addr).await,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    ));

    let l = Listener::bind(lo0(), &Options::new()).unwrap();
    let addr = addr_of(&l);
    drop(l.spawn(drop));
    assert_refused(addr).await;
}

/// Statement 90.
#[tokio::test]
async fn two_listeners_on_port_0_get_distinct_ports_and_their_own_connections() {
    let a = Listener::bind(lo0(), &Options::new()).unwrap();
    let b = Listener::bind(lo0(), &Options::new()).unwrap();
    let (pa, pb) = (addr_of(&a), addr_of(&b));
    assert_ne!(pa.port(), 0);
    assert_ne!(pa.port(), pb.port());
    let (_ha, mut ra) = spawn_into_channel(a);
    let (_hb, mut rb) = spawn_into_channel(b);
    let ca = TcpStream::connect(pa).await.unwrap();
    let cb = TcpStream::connect(pb).await.unwrap();
    let got_a = expect_conn(&mut ra).await;
    let got_b = expect_conn(&mut rb).await;
    assert_eq!(got_a.peer_addr().as_inet(), Some(ca.local_addr().unwrap()));
    assert_eq!(got_b.peer_addr().as_inet(), Some(cb.local_addr().unwrap()));
    expect_none(&mut ra).await;
}

#[tokio::test]
async fn bind_errors_say_what_and_where() {
    let a = Listener::bind(lo0(), &Options::new()).unwrap();
    let taken = addr_of(&a);
    let err = Listener::bind(taken, &Options::new()).unwrap_err();
    match &err {
        Error::Bind { addr, source } => {
            assert_eq!(addr.as_inet(), Some(taken));
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains(&taken.to_string()), "{err}");

    // Statement 86: new_bind with backlog 0 fails.
    let err = Listener::bind(lo0(), &Options::new().backlog(0)).unwrap_err();
    assert!(matches!(err, Error::ZeroBacklog { .. }), "{err:?}");
}

#[tokio::test]
async fn reuse_port_lets_two_sockets_share_an_address() {
    let opts = Options::new().reuse_port(true);
    let a = Listener::bind(lo0(), &opts).unwrap();
    let b = Listener::bind(addr_of(&a), &opts).unwrap();
    assert_eq!(addr_of(&a), addr_of(&b));
}

#[tokio::test]
async fn adopting_an_already_listening_socket() {
    // evconnlistener_new with backlog 0: the socket is listening already.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let l = Listener::adopt(
        std_listener,
        &Options::new().backlog(Backlog::AlreadyListening),
    )
    .unwrap();
    assert_eq!(addr_of(&l), addr);
    let mut incoming = l.incoming();
    let _c = TcpStream::connect(addr).await.unwrap();
    assert!(timeout(LONG, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .is_ok());

    // A bound but not yet listening socket: the default backlog calls listen.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&lo0().into()).unwrap();
    let l = Listener::adopt(s, &Options::new().backlog(16)).unwrap();
    let addr = addr_of(&l);
    let mut incoming = l.incoming();
    let _c = TcpStream::connect(addr).await.unwrap();
    assert!(timeout(LONG, incoming.next())
        .await
        .unwrap()
        .unwrap()
        .is_ok());
}

#[tokio::test]
async fn adopting_something_else_is_a_clear_error() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let err = Listener::adopt(udp, &Options::new()).unwrap_err();
    assert!(err.to_string().contains("not a stream socket"), "{err}");

    let file = std::fs::File::open("/dev/null").unwrap();
    let err = Listener::adopt(file, &Options::new()).unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
}

#[tokio::test]
async fn a_listener_bound_on_one_thread_serves_on_another_runtime() {
    let l = Listener::bind(lo0(), &Options::new()).unwrap();
    let addr = addr_of(&l);
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let mut incoming = l.incoming();
            let mut conn = timeout(LONG, incoming.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            conn.write_all(b"hi").await.unwrap();
        });
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 2];
    timeout(LONG, c.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"hi");
    server.join().unwrap();
}

/// LEV_OPT_DEFERRED_ACCEPT: a client that sends data is accepted at once; a
/// silent one only after the kernel's defer period.
#[tokio::test]
async fn deferred_accept_waits_for_data() {
    let l = Listener::bind(lo0(), &Options::new().deferred_accept(true)).unwrap();
    let addr = addr_of(&l);
    let (_h, mut rx) = spawn_into_channel(l);

    let mut talker = TcpStream::connect(addr).await.unwrap();
    talker.write_all(b"x").await.unwrap();
    let mut conn = expect_conn(&mut rx).await;
    let mut b = [0u8; 1];
    timeout(LONG, conn.read_exact(&mut b))
        .await
        .unwrap()
        .unwrap();

    let silent = TcpStream::connect(addr).await.unwrap();
    if cfg!(target_os = "linux") {
        expect_none(&mut rx).await;
    }
    let conn = timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("accepted after the defer period")
        .unwrap();
    assert_eq!(
        conn.peer_addr().as_inet(),
        Some(silent.local_addr().unwrap())
    );
}
