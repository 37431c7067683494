//! The rate-limit hook: a toy token bucket plugged in with `set_limiter`.

mod common;

use std::time::{Duration, Instant};

use bufferevent::{BufferEvent, Callbacks, Dir, Limiter, Options, Quota};
use common::{check_pattern, pattern, tcp_pair, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `rate` bytes per `tick`, burst = rate.
struct Bucket {
    rate: usize,
    tick: Duration,
    tokens: usize,
    next: Option<Instant>,
}

impl Bucket {
    fn new(rate: usize, tick: Duration) -> Self {
        Bucket {
            rate,
            tick,
            tokens: rate,
            next: None,
        }
    }
    fn quota(&mut self, want: usize, now: Instant) -> Quota {
        let next = *self.next.get_or_insert(now + self.tick);
        if now >= next {
            self.tokens = self.rate;
            self.next = Some(now + self.tick);
        }
        Quota {
            bytes: self.tokens.min(want),
            retry_at: (self.tokens == 0).then_some(self.next.unwrap()),
        }
    }
}

impl Limiter for Bucket {
    fn read_quota(&mut self, want: usize, now: Instant) -> Quota {
        self.quota(want, now)
    }
    fn write_quota(&mut self, want: usize, now: Instant) -> Quota {
        self.quota(want, now)
    }
    fn consumed_read(&mut self, n: usize, _: Instant) {
        self.tokens = self.tokens.saturating_sub(n);
    }
    fn consumed_write(&mut self, n: usize, _: Instant) {
        self.tokens = self.tokens.saturating_sub(n);
    }
}

#[tokio::test(start_paused = true)]
async fn limiter_paces_reads_on_the_driver_clock() {
    const N: usize = 64 * 1024;
    let (mut client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.set_limiter(Some(Box::new(Bucket::new(
        8 * 1024,
        Duration::from_millis(100),
    ))));
    bev.enable(Dir::READ);
    client.write_all(&pattern(N)).await.unwrap();
    client.shutdown().await.unwrap();
    let t0 = tokio::time::Instant::now();
    let mut got = Vec::new();
    within(100, bev.read_to_end(&mut got)).await.unwrap();
    check_pattern(&got, N);
    // 8 KiB per 100 ms of (paused, simulated) time: at least 7 refills
    assert!(
        t0.elapsed() >= Duration::from_millis(700),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn limiter_paces_writes() {
    const N: usize = 40 * 1024;
    let (mut client, server) = tcp_pair().await;
    let mut bev = BufferEvent::socket(server, Options::default());
    bev.set_limiter(Some(Box::new(Bucket::new(
        4 * 1024,
        Duration::from_millis(50),
    ))));
    bev.write(&pattern(N)).unwrap();
    bev.close_gracefully();
    let t0 = tokio::time::Instant::now();
    let driver = tokio::spawn(bev.run(Callbacks::new()));
    let mut got = Vec::new();
    within(100, client.read_to_end(&mut got)).await.unwrap();
    check_pattern(&got, N);
    assert!(
        t0.elapsed() >= Duration::from_millis(450),
        "{:?}",
        t0.elapsed()
    );
    let _ = within(10, driver).await.unwrap();
}
