//! In-memory tests: a client pair and a server pair joined by buffers, pumped by hand the way
//! a filter bufferevent would.

use crate::FilterEvent;
use bufferevent::{Filter, FlushMode};
use evbuffer::EvBuffer;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::RootCertStore;

use super::*;
use crate::testutil::{contents, pseudo_random};

pub(crate) struct Certs {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

pub(crate) fn certs(names: &[&str]) -> Certs {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    Certs {
        chain: vec![ck.cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der())),
    }
}

fn roots(c: &Certs) -> RootCertStore {
    let mut r = RootCertStore::empty();
    r.add(c.chain[0].clone()).unwrap();
    r
}

struct End {
    input: TlsInput,
    output: TlsOutput,
    /// Ciphertext received from the peer, not yet taken by the input filter.
    wire_in: EvBuffer,
    /// Plaintext delivered to "the user".
    plain_in: EvBuffer,
    /// Plaintext the user wrote, not yet taken by the output filter.
    plain_out: EvBuffer,
    events: Vec<FilterEvent>,
}

impl End {
    fn new(pair: TlsPair) -> Self {
        let (input, output) = pair.split();
        End {
            input,
            output,
            wire_in: EvBuffer::new(),
            plain_in: EvBuffer::new(),
            plain_out: EvBuffer::new(),
            events: Vec::new(),
        }
    }
    /// Runs the output filter if it has something to do; returns the ciphertext produced.
    fn send(&mut self, mode: FlushMode) -> Result<Vec<u8>, bufferevent::FilterError> {
        let mut wire = EvBuffer::new();
        if self.output.wants_write() || !self.plain_out.is_empty() || mode != FlushMode::Normal {
            self.output
                .process(&mut self.plain_out, &mut wire, None, mode)?;
        }
        Ok(contents(&wire))
    }
    fn receive(&mut self, bytes: &[u8], mode: FlushMode) -> Result<(), bufferevent::FilterError> {
        self.wire_in.add(bytes).unwrap();
        self.input
            .process(&mut self.wire_in, &mut self.plain_in, None, mode)?;
        while let Some(e) = self.input.take_event() {
            self.events.push(e);
        }
        Ok(())
    }
}

/// Pumps both ways until nothing moves.
fn pump(a: &mut End, b: &mut End) -> Result<(), bufferevent::FilterError> {
    for _ in 0..100 {
        let ab = a.send(FlushMode::Normal)?;
        let ba = b.send(FlushMode::Normal)?;
        if ab.is_empty() && ba.is_empty() {
            return Ok(());
        }
        b.receive(&ab, FlushMode::Normal)?;
        a.receive(&ba, FlushMode::Normal)?;
    }
    panic!("pump did not settle");
}

fn pair_with_alpn(client_alpn: &[&[u8]], server_alpn: &[&[u8]]) -> (End, End) {
    let c = certs(&["localhost"]);
    let client =
        TlsPair::client_for(client_config(roots(&c), client_alpn).unwrap(), "localhost").unwrap();
    let server = TlsPair::server(server_config(c.chain, c.key, server_alpn).unwrap()).unwrap();
    (End::new(client), End::new(server))
}

fn connected_pair() -> (End, End) {
    let (mut c, mut s) = pair_with_alpn(&[], &[]);
    pump(&mut c, &mut s).unwrap();
    (c, s)
}

#[test]
fn handshake_data_both_ways_and_events() {
    let (mut c, mut s) = pair_with_alpn(&[b"h2", b"echo/1"], &[b"echo/1"]);
    assert!(c.output.wants_write(), "the client speaks first");
    assert!(!s.output.wants_write());
    // Data written before the handshake is sent once it completes.
    c.plain_out.add(b"early data").unwrap();
    pump(&mut c, &mut s).unwrap();
    assert_eq!(c.events, vec![FilterEvent::Connected]);
    assert_eq!(s.events, vec![FilterEvent::Connected]);
    assert_eq!(contents(&s.plain_in), b"early data");
    let cs = c.input.session().clone();
    let ss = s.input.session().clone();
    assert_eq!(cs.alpn_protocol().as_deref(), Some(&b"echo/1"[..]));
    assert_eq!(ss.sni_hostname().as_deref(), Some("localhost"));
    assert!(cs.peer_certificates().is_some() && !cs.is_handshaking());
    assert!(cs.protocol_version().is_some() && cs.negotiated_cipher_suite().is_some());
    let big = pseudo_random(1, 200_000);
    s.plain_out.add(&big).unwrap();
    pump(&mut c, &mut s).unwrap();
    assert_eq!(contents(&c.plain_in), big);
    // Connected is reported once.
    assert_eq!(c.events, vec![FilterEvent::Connected]);
}

#[test]
fn client_hello_split_at_every_byte() {
    let c = certs(&["localhost"]);
    let server_cfg = server_config(c.chain.clone(), c.key.clone_key(), &[]).unwrap();
    let mut client =
        End::new(TlsPair::client_for(client_config(roots(&c), &[]).unwrap(), "localhost").unwrap());
    let hello = client.send(FlushMode::Normal).unwrap();
    assert!(hello.len() > 100);
    for i in 0..=hello.len() {
        let mut server = End::new(TlsPair::server(server_cfg.clone()).unwrap());
        server.receive(&hello[..i], FlushMode::Normal).unwrap();
        assert_eq!(
            server.output.wants_write(),
            i == hello.len(),
            "split at {i}"
        );
        server.receive(&hello[i..], FlushMode::Normal).unwrap();
        assert!(server.output.wants_write(), "split at {i}");
    }
}

#[test]
fn application_records_split_at_every_byte_in_every_mode() {
    let msg = b"0123456789 the quick brown fox";
    for mode in [FlushMode::Normal, FlushMode::Flush, FlushMode::Finished] {
        let (mut c, mut s) = connected_pair();
        c.plain_out.add(msg).unwrap();
        let wire = c.send(mode).unwrap();
        let n = wire.len();
        // Split points: every byte of the first 64 bytes and the last 64 (the whole record
        // each time needs a fresh connection; the middle is covered byte by byte below).
        let points: Vec<usize> = (0..=n).filter(|&i| i < 64 || i + 64 > n).collect();
        for i in points {
            let (mut c2, mut s2) = connected_pair();
            c2.plain_out.add(msg).unwrap();
            let wire = c2.send(mode).unwrap();
            s2.receive(&wire[..i], FlushMode::Normal).unwrap();
            s2.receive(&wire[i..], FlushMode::Normal).unwrap();
            assert_eq!(contents(&s2.plain_in), msg, "mode {mode:?} split {i}");
            assert_eq!(
                s2.input.session().peer_closed(),
                mode == FlushMode::Finished
            );
        }
        for b in wire.chunks(1) {
            s.receive(b, FlushMode::Normal).unwrap();
        }
        assert_eq!(contents(&s.plain_in), msg);
        if mode == FlushMode::Finished {
            // close_notify: Eof event, then FINISHED at the transport's end is clean.
            assert_eq!(s.events, vec![FilterEvent::Connected, FilterEvent::Eof]);
            s.receive(b"", FlushMode::Finished).unwrap();
            // Writing after FINISHED is an error.
            c.plain_out.add(b"more").unwrap();
            let e = c.send(FlushMode::Normal).unwrap_err();
            assert!(
                e.to_string().contains("after the stream was finished"),
                "{e}"
            );
        }
    }
}

#[test]
fn dirty_shutdown_is_an_error_unless_allowed() {
    let (_c, mut s) = connected_pair();
    let e = s.receive(b"", FlushMode::Finished).unwrap_err();
    assert!(e.to_string().contains("without close_notify"), "{e}");
    assert!(!e.to_string().contains("handshake"), "{e}");

    let c = certs(&["localhost"]);
    let client =
        End::new(TlsPair::client_for(client_config(roots(&c), &[]).unwrap(), "localhost").unwrap());
    let mut server = End::new(
        TlsPair::server(server_config(c.chain, c.key, &[]).unwrap())
            .unwrap()
            .allow_dirty_shutdown(true),
    );
    let mut client = client;
    pump(&mut client, &mut server).unwrap();
    server.receive(b"", FlushMode::Finished).unwrap();
    assert_eq!(
        server.events,
        vec![FilterEvent::Connected, FilterEvent::Eof]
    );

    // During the handshake it is an error even when dirty shutdowns are allowed.
    let (mut c, _s) = pair_with_alpn(&[], &[]);
    let _ = c.send(FlushMode::Normal).unwrap();
    let mut c = c;
    c.input.session().lock().allow_dirty_shutdown = true;
    let e = c.receive(b"", FlushMode::Finished).unwrap_err();
    assert!(e.to_string().contains("during the handshake"), "{e}");
}

#[test]
fn certificate_errors_carry_the_reason() {
    // The client trusts another root.
    let c = certs(&["localhost"]);
    let other = certs(&["localhost"]);
    let mut client = End::new(
        TlsPair::client_for(client_config(roots(&other), &[]).unwrap(), "localhost").unwrap(),
    );
    let mut server = End::new(
        TlsPair::server(server_config(c.chain.clone(), c.key.clone_key(), &[]).unwrap()).unwrap(),
    );
    let e = pump(&mut client, &mut server).unwrap_err();
    assert!(e.to_string().contains("invalid peer certificate"), "{e}");
    let source = std::error::Error::source(&e).unwrap();
    assert!(source.downcast_ref::<crate::Error>().is_some());
    // The alert reaches the server, which fails with the reason too.
    let alert = client.send(FlushMode::Normal).unwrap();
    assert!(!alert.is_empty());
    let e = server.receive(&alert, FlushMode::Normal).unwrap_err();
    assert!(e.to_string().contains("alert"), "{e}");
    // Writing on a failed connection is an error.
    client.plain_out.add(b"x").unwrap();
    assert!(client.send(FlushMode::Normal).is_err());

    // Wrong name.
    let mut client = End::new(
        TlsPair::client_for(client_config(roots(&c), &[]).unwrap(), "example.org").unwrap(),
    );
    let mut server =
        End::new(TlsPair::server(server_config(c.chain, c.key, &[]).unwrap()).unwrap());
    let e = pump(&mut client, &mut server).unwrap_err();
    assert!(e.to_string().contains("not valid for name"), "{e}");
    // Invalid name string.
    let e = TlsPair::client_for(
        client_config(RootCertStore::empty(), &[]).unwrap(),
        "bad name!",
    )
    .unwrap_err();
    assert!(e.to_string().contains("invalid TLS server name"), "{e}");
}

#[test]
fn alpn_mismatch_fails() {
    let (mut c, mut s) = pair_with_alpn(&[b"h2"], &[b"echo/1"]);
    let e = pump(&mut c, &mut s).unwrap_err();
    assert!(e.to_string().contains("protocol"), "{e}");
}

#[test]
fn input_limit_bounds_each_call_and_nothing_stalls() {
    let (mut c, mut s) = connected_pair();
    let big = pseudo_random(2, 100_000);
    c.plain_out.add(&big).unwrap();
    let wire = c.send(FlushMode::Flush).unwrap();
    s.wire_in.add(&wire).unwrap();
    let mut out = Vec::new();
    let mut calls = 0;
    while out.len() < big.len() {
        let mut dst = EvBuffer::new();
        s.input
            .process(&mut s.wire_in, &mut dst, Some(1000), FlushMode::Normal)
            .unwrap();
        // At most the limit plus one record (16 KiB) of plaintext and the 512-byte minimum feed.
        assert!(dst.len() <= 1000 + 16 * 1024 + 512, "{}", dst.len());
        assert!(
            !dst.is_empty(),
            "stalled with {} ciphertext bytes waiting",
            s.wire_in.len()
        );
        out.extend(contents(&dst));
        calls += 1;
        assert!(calls < 1000);
    }
    assert_eq!(out, big);
    // Output limit: records are produced until the limit, the rest waits in rustls/src.
    let (mut c, _s) = connected_pair();
    c.plain_out.add(&big).unwrap();
    let mut dst = EvBuffer::new();
    c.output
        .process(&mut c.plain_out, &mut dst, Some(2000), FlushMode::Normal)
        .unwrap();
    assert!(dst.len() <= 2000, "{}", dst.len());
    let mut wire = contents(&dst);
    let (mut c2, mut s2) = (c, _s);
    while !c2.plain_out.is_empty() || c2.output.wants_write() {
        let mut dst = EvBuffer::new();
        c2.output
            .process(&mut c2.plain_out, &mut dst, Some(2000), FlushMode::Normal)
            .unwrap();
        assert!(dst.len() <= 2000 && !dst.is_empty());
        wire.extend(contents(&dst));
    }
    s2.receive(&wire, FlushMode::Normal).unwrap();
    assert_eq!(contents(&s2.plain_in), big);
}
