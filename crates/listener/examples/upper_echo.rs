//! An upper-casing echo server on `Workers` (one SO_REUSEPORT listener per
//! thread), with a connection cap and EMFILE back-off.
//!
//! ```sh
//! cargo run -p listener --example upper_echo            # serve, talk to itself once, exit
//! cargo run -p listener --example upper_echo -- --serve 127.0.0.1:5001   # serve until Ctrl-C
//! ```

use std::io::{Read, Write};
use std::net::SocketAddr;

use listener::{Options, Workers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut serve = false;
    let mut addr: SocketAddr = "127.0.0.1:0".parse()?;
    for a in std::env::args().skip(1) {
        match a.as_str() {
            "--serve" => serve = true,
            other => addr = other.parse()?,
        }
    }

    let opts = Options::new().backlog(64).max_connections(10_000);
    let pool = Workers::new(addr, opts)
        .threads(2)
        .on_error(|e| eprintln!("accept error: {e}"))
        .start(|mut conn, worker| {
            println!("worker {worker}: connection from {}", conn.peer_addr());
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf).await {
                    buf[..n].make_ascii_uppercase();
                    if conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        })?;
    println!("listening on {}", pool.local_addr());

    if serve {
        loop {
            std::thread::park();
        }
    }

    let mut client = std::net::TcpStream::connect(pool.local_addr())?;
    client.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    client.write_all(b"hello, evconnlistener\n")?;
    let mut reply = [0u8; 22];
    client.read_exact(&mut reply)?;
    print!("reply: {}", String::from_utf8_lossy(&reply));
    pool.shutdown();
    Ok(())
}
