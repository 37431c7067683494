//! Restarting without refusing or resetting a connection, at the socket
//! level: why two `SO_REUSEPORT` listeners are not enough, and how passing
//! the same listening socket to a successor process works.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use evconnlistener::activation::successor_command;
use evconnlistener::{Listener, Options};

fn lo0() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Connects `n` clients that each send one byte; none is accepted yet.
fn queue_clients(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"x").unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            c
        })
        .collect()
}

/// Whether the server end reset this client (ECONNRESET on a
/// non-blocking read; the reset is sent when the socket closes).
fn was_reset(c: &mut TcpStream) -> bool {
    c.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let r = c.read(&mut b);
    c.set_nonblocking(false).unwrap();
    matches!(r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

fn std_listener(l: &Listener) -> std::net::TcpListener {
    std::net::TcpListener::from(l.try_clone_fd().unwrap())
}

#[test]
fn closing_a_reuseport_listener_resets_its_queue_but_closing_a_shared_one_does_not() {
    let opts = Options::new().reuse_port(true);
    // Two sockets on one port: the kernel spreads clients over two queues.
    let old = Listener::bind(lo0(), &opts).unwrap();
    let addr = old.local_addr().as_inet().unwrap();
    let new = Listener::bind(addr, &opts).unwrap();
    let mut clients = queue_clients(addr, 32);
    drop(old); // the old process exits
    std::thread::sleep(Duration::from_millis(200));
    let reset = clients.iter_mut().map(was_reset).filter(|r| *r).count();
    assert!(
        reset > 0,
        "some of 32 clients were queued on the closed socket"
    );
    drop(new);

    // One socket, two descriptors (what socket activation passes on).
    let old = Listener::bind(lo0(), &Options::new()).unwrap();
    let addr = old.local_addr().as_inet().unwrap();
    let new = std_listener(&old);
    let clients = queue_clients(addr, 32);
    drop(old);
    new.set_nonblocking(false).unwrap();
    for mut c in clients {
        let (mut s, _) = new.accept().unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        s.write_all(b"y").unwrap();
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"y");
    }
}

#[test]
fn successor_gets_the_socket_as_descriptor_3_with_its_own_pid() {
    let l = Listener::bind(lo0(), &Options::new()).unwrap();
    let fd = l.try_clone_fd().unwrap();
    let inode = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    let out = successor_command(
        "/bin/sh",
        [
            "-c",
            "echo \"$LISTEN_PID $$ $LISTEN_FDS\"; readlink /proc/$$/fd/3",
        ],
        &fd,
    )
    .unwrap()
    .output()
    .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let ids: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(ids[0], ids[1], "LISTEN_PID is the successor's own pid");
    assert_eq!(ids[2], "1");
    assert_eq!(
        lines.next().unwrap(),
        inode.to_str().unwrap(),
        "the same socket"
    );
}
