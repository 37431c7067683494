//! The operation model shared by the proptest model test (`tests/model.rs`)
//! and the differential fuzz target (`fuzz/fuzz_targets/evbuffer_ops.rs`,
//! which includes this file with `#[path]`).
//!
//! A [`Harness`] holds an [`EvBuffer`] under test (with a small, randomly
//! chosen [`ChunkPolicy`] so that chunk boundaries are everywhere), a second
//! "side" buffer for the moves between buffers, and a plain `VecDeque<u8>`
//! for each as the model. [`Harness::apply`] runs one [`Op`] on both and
//! panics on any difference: contents, lengths, returned counts, errors
//! (frozen ends, lengths past the end), and after every operation that the
//! extents of a peek concatenate to the model's bytes and that the change
//! callbacks account for every change of length.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, Bytes};
use evbuffer::{ChunkPolicy, End, Eol, Error, EvBuffer};

/// End-of-line style, as a fuzzable enum.
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EolKind {
    Any,
    Crlf,
    CrlfStrict,
    Lf,
    Nul,
}

impl EolKind {
    pub(crate) fn eol(self) -> Eol {
        match self {
            EolKind::Any => Eol::Any,
            EolKind::Crlf => Eol::Crlf,
            EolKind::CrlfStrict => Eol::CrlfStrict,
            EolKind::Lf => Eol::Lf,
            EolKind::Nul => Eol::Nul,
        }
    }
}

/// One operation on the buffer under test (and the side buffer).
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Add(Vec<u8>),
    AddBytes(Vec<u8>),
    AddReference(Vec<u8>),
    AddSlices(Vec<Vec<u8>>),
    AddFmt(u32),
    Prepend(Vec<u8>),
    PrependBytes(Vec<u8>),
    Drain(u16),
    Remove(u16),
    CopyOut(u16),
    CopyOutFrom {
        at: u16,
        n: u16,
    },
    Pullup(u16),
    SplitTo(u16),
    RemoveInto(u16),
    RemoveIntoFromSide(u16),
    AppendSide,
    AppendToSide,
    PrependSide,
    SideAdd(Vec<u8>),
    SideDrain(u16),
    AddBufferReference,
    Reserve {
        n: u16,
        regions: u8,
        commit: u16,
        how: u8,
    },
    ReadLine(EolKind),
    /// Every complete line at once, as borrowed slices.
    DrainLines(EolKind),
    /// Several small adds through one `Appender`.
    Appender(Vec<Vec<u8>>),
    Search {
        needle: Vec<u8>,
        from: u16,
    },
    SearchRange {
        needle: Vec<u8>,
        from: u16,
        end: u16,
    },
    /// Search for bytes taken from the buffer itself (so that there is a hit).
    SearchExisting {
        at: u16,
        len: u8,
        from: u16,
    },
    SearchEol {
        from: u16,
        eol: EolKind,
    },
    PtrAdvance {
        at: u16,
        n: u16,
    },
    Peek {
        start: u16,
        len: u16,
    },
    PeekIoSlices {
        start: u16,
        len: u16,
        slots: u8,
    },
    ReadFrom {
        data: Vec<u8>,
        max: u16,
    },
    WriteTo {
        max: u16,
        cap: u16,
    },
    BufPut(Vec<u8>),
    BufGet(u16),
    BufChunk,
    Freeze {
        front: bool,
    },
    Unfreeze {
        front: bool,
    },
    Clear,
    Expand(u16),
    AddFile {
        data: Vec<u8>,
        off: u8,
        len: u16,
    },
}

/// Expected end of line at or after `start` in `data`: (position, length).
pub(crate) fn model_find_eol(data: &[u8], start: usize, eol: Eol) -> Option<(usize, usize)> {
    if start > data.len() {
        return None;
    }
    match eol {
        Eol::Any => {
            let i = (start..data.len()).find(|&i| data[i] == b'\r' || data[i] == b'\n')?;
            let run = data[i..]
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            Some((i, run))
        }
        Eol::Crlf => {
            let i = (start..data.len()).find(|&i| data[i] == b'\n')?;
            if i > start && data[i - 1] == b'\r' {
                Some((i - 1, 2))
            } else {
                Some((i, 1))
            }
        }
        Eol::CrlfStrict => {
            let i = (start..data.len().saturating_sub(1))
                .find(|&i| data[i] == b'\r' && data[i + 1] == b'\n')?;
            Some((i, 2))
        }
        Eol::Lf => (start..data.len())
            .find(|&i| data[i] == b'\n')
            .map(|i| (i, 1)),
        Eol::Nul => (start..data.len()).find(|&i| data[i] == 0).map(|i| (i, 1)),
    }
}

/// Expected position of `needle` in `data[from..end]` (the match must end by `end`).
pub(crate) fn model_search(data: &[u8], needle: &[u8], from: usize, end: usize) -> Option<usize> {
    let end = end.min(data.len());
    if from > end {
        return None;
    }
    if needle.is_empty() {
        return Some(from);
    }
    if end - from < needle.len() {
        return None;
    }
    (from..=end - needle.len()).find(|&i| &data[i..i + needle.len()] == needle)
}

/// A writer that accepts at most `cap` bytes per call.
struct Capped {
    cap: usize,
    got: Vec<u8>,
}

impl io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let k = b.len().min(self.cap);
        self.got.extend_from_slice(&b[..k]);
        Ok(k)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            let k = b.len().min(self.cap - n);
            self.got.extend_from_slice(&b[..k]);
            n += k;
            if n == self.cap {
                break;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Tracks, through a change callback, what the buffer's length must be.
#[derive(Clone)]
struct LenTracker(Arc<Mutex<usize>>);

impl LenTracker {
    fn attach(buf: &mut EvBuffer) -> LenTracker {
        let t = LenTracker(Arc::new(Mutex::new(buf.len())));
        let t2 = t.clone();
        buf.add_cb(move |i| {
            let mut cur = t2.0.lock().unwrap();
            assert_eq!(
                i.orig_size, *cur,
                "callback orig_size is the length before the change"
            );
            assert!(
                i.n_added > 0 || i.n_deleted > 0,
                "callbacks only for real changes"
            );
            *cur = i.orig_size + i.n_added - i.n_deleted;
        });
        t
    }
    fn get(&self) -> usize {
        *self.0.lock().unwrap()
    }
}

/// The buffer under test, a side buffer, and their models.
pub(crate) struct Harness {
    pub buf: EvBuffer,
    pub side: EvBuffer,
    model: VecDeque<u8>,
    side_model: VecDeque<u8>,
    front_frozen: bool,
    back_frozen: bool,
    tracker: LenTracker,
    side_tracker: LenTracker,
    /// Whether `Op::AddFile` makes real temporary files (slow; off for fuzzing).
    pub files: bool,
}

fn bytes_of(d: &VecDeque<u8>) -> Vec<u8> {
    d.iter().copied().collect()
}

impl Harness {
    /// A harness whose buffers use a small chunk policy derived from `seed`.
    pub(crate) fn new(seed: u32, files: bool) -> Harness {
        let min = 1 + (seed & 0x3f) as usize;
        let max = min + ((seed >> 6) & 0xff) as usize;
        let coalesce = ((seed >> 14) & 0x3f) as usize;
        let keep = (seed >> 20) & 1 == 0;
        let policy = ChunkPolicy::new()
            .with_max_chunk(max)
            .with_min_chunk(min)
            .with_coalesce_below(coalesce)
            .with_keep_spare(keep);
        Harness::with_policy(policy, files)
    }

    /// A harness whose buffers use `policy`.
    pub(crate) fn with_policy(policy: ChunkPolicy, files: bool) -> Harness {
        let mut buf = EvBuffer::with_chunk_policy(policy);
        let mut side = EvBuffer::with_chunk_policy(policy);
        let tracker = LenTracker::attach(&mut buf);
        let side_tracker = LenTracker::attach(&mut side);
        Harness {
            buf,
            side,
            model: VecDeque::new(),
            side_model: VecDeque::new(),
            front_frozen: false,
            back_frozen: false,
            tracker,
            side_tracker,
            files,
        }
    }

    fn mbytes(&self) -> Vec<u8> {
        bytes_of(&self.model)
    }

    fn expect_front<T: std::fmt::Debug>(&self, r: &Result<T, Error>) -> bool {
        if self.front_frozen {
            assert!(
                matches!(r, Err(Error::FrozenFront)),
                "expected FrozenFront, got {r:?}"
            );
            false
        } else {
            true
        }
    }

    fn expect_back<T: std::fmt::Debug>(&self, r: &Result<T, Error>) -> bool {
        if self.back_frozen {
            assert!(
                matches!(r, Err(Error::FrozenBack)),
                "expected FrozenBack, got {r:?}"
            );
            false
        } else {
            true
        }
    }

    /// Position argument: anywhere in `0..=len+1` (one past one-past-the-end
    /// exercises the error paths).
    fn pos(&self, x: u16) -> usize {
        x as usize % (self.model.len() + 2)
    }

    /// Applies `op` to the buffers and the models, checking every result.
    pub(crate) fn apply(&mut self, op: &Op) {
        let len = self.model.len();
        match op {
            Op::Add(d) => {
                let r = self.buf.add(d);
                if self.expect_back(&r) {
                    r.unwrap();
                    self.model.extend(d);
                }
            }
            Op::AddBytes(d) => {
                let r = self.buf.add_bytes(Bytes::copy_from_slice(d));
                if self.expect_back(&r) {
                    r.unwrap();
                    self.model.extend(d);
                }
            }
            Op::AddReference(d) => {
                let r = self.buf.add_reference(d.clone());
                if self.expect_back(&r) {
                    r.unwrap();
                    self.model.extend(d);
                }
            }
            Op::AddSlices(v) => {
                let refs: Vec<&[u8]> = v.iter().map(Vec::as_slice).collect();
                let r = self.buf.add_slices(&refs);
                if self.expect_back(&r) {
                    assert_eq!(r.unwrap(), v.iter().map(Vec::len).sum::<usize>());
                    for d in v {
                        self.model.extend(d);
                    }
                }
            }
            Op::AddFmt(x) => {
                let r = self.buf.add_fmt(format_args!("<{x}:{x:x}>"));
                if self.expect_back(&r) {
                    let s = format!("<{x}:{x:x}>");
                    assert_eq!(r.unwrap(), s.len());
                    self.model.extend(s.as_bytes());
                }
            }
            Op::Prepend(d) => {
                let r = self.buf.prepend(d);
                if self.expect_front(&r) {
                    r.unwrap();
                    for &b in d.iter().rev() {
                        self.model.push_front(b);
                    }
                }
            }
            Op::PrependBytes(d) => {
                let r = self.buf.prepend_bytes(Bytes::copy_from_slice(d));
                if self.expect_front(&r) {
                    r.unwrap();
                    for &b in d.iter().rev() {
                        self.model.push_front(b);
                    }
                }
            }
            Op::Drain(n) => {
                let r = self.buf.drain(*n as usize);
                if self.expect_front(&r) {
                    r.unwrap();
                    self.model.drain(..(*n as usize).min(len));
                }
            }
            Op::Remove(n) => {
                let mut out = vec![0u8; *n as usize];
                let r = self.buf.remove(&mut out);
                if self.expect_front(&r) {
                    let k = r.unwrap();
                    assert_eq!(k, out.len().min(len));
                    let want: Vec<u8> = self.model.drain(..k).collect();
                    assert_eq!(&out[..k], &want[..]);
                }
            }
            Op::CopyOut(n) => {
                let mut out = vec![0u8; *n as usize];
                let r = self.buf.copy_out(&mut out);
                if self.expect_front(&r) {
                    let k = r.unwrap();
                    assert_eq!(k, out.len().min(len));
                    assert_eq!(&out[..k], &self.mbytes()[..k]);
                }
            }
            Op::CopyOutFrom { at, n } => {
                let at = self.pos(*at);
                match self.buf.ptr_at(at) {
                    Err(e) => {
                        assert!(at > len);
                        assert!(matches!(e, Error::BadPosition { .. }));
                    }
                    Ok(p) => {
                        assert_eq!(p.position(), at);
                        let mut out = vec![0u8; *n as usize];
                        let r = self.buf.copy_out_from(&p, &mut out);
                        if self.expect_front(&r) {
                            let k = r.unwrap();
                            assert_eq!(k, out.len().min(len - at));
                            assert_eq!(&out[..k], &self.mbytes()[at..at + k]);
                        }
                    }
                }
            }
            Op::Pullup(n) => {
                let n = self.pos(*n);
                let want = self.mbytes();
                match self.buf.pullup(n) {
                    Ok(s) => {
                        assert!(n <= len);
                        assert_eq!(s, &want[..n]);
                    }
                    Err(e) => {
                        assert!(n > len, "pullup({n}) of {len} failed: {e}");
                        assert!(matches!(e, Error::OutOfRange { .. }));
                    }
                }
            }
            Op::SplitTo(n) => {
                let n = self.pos(*n);
                let r = self.buf.split_to(n);
                if self.expect_front(&r) {
                    if n > len {
                        assert!(matches!(r, Err(Error::OutOfRange { .. })));
                    } else {
                        let b = r.unwrap();
                        let want: Vec<u8> = self.model.drain(..n).collect();
                        assert_eq!(&b[..], &want[..]);
                    }
                }
            }
            Op::RemoveInto(n) => {
                let r = self.buf.remove_into(&mut self.side, *n as usize);
                if self.expect_front(&r) {
                    let k = r.unwrap();
                    assert_eq!(k, (*n as usize).min(len));
                    let moved: Vec<u8> = self.model.drain(..k).collect();
                    self.side_model.extend(moved);
                }
            }
            Op::RemoveIntoFromSide(n) => {
                let r = self.side.remove_into(&mut self.buf, *n as usize);
                if self.expect_back(&r) {
                    let k = r.unwrap();
                    assert_eq!(k, (*n as usize).min(self.side_model.len()));
                    let moved: Vec<u8> = self.side_model.drain(..k).collect();
                    self.model.extend(moved);
                }
            }
            Op::AppendSide => {
                let r = self.buf.append(&mut self.side);
                if self.expect_back(&r) {
                    r.unwrap();
                    self.model.extend(self.side_model.drain(..));
                }
            }
            Op::AppendToSide => {
                let r = self.side.append(&mut self.buf);
                if self.expect_front(&r) {
                    r.unwrap();
                    self.side_model.extend(self.model.drain(..));
                }
            }
            Op::PrependSide => {
                let r = self.buf.prepend_buffer(&mut self.side);
                if self.expect_front(&r) {
                    r.unwrap();
                    for b in self.side_model.drain(..).rev() {
                        self.model.push_front(b);
                    }
                }
            }
            Op::SideAdd(d) => {
                self.side.add(d).unwrap();
                self.side_model.extend(d);
            }
            Op::SideDrain(n) => {
                self.side.drain(*n as usize).unwrap();
                let k = (*n as usize).min(self.side_model.len());
                self.side_model.drain(..k);
            }
            Op::AddBufferReference => {
                let r = self.buf.add_buffer_reference(&self.side);
                if self.expect_back(&r) {
                    r.unwrap();
                    self.model.extend(self.side_model.iter().copied());
                }
            }
            Op::Reserve {
                n,
                regions,
                commit,
                how,
            } => self.reserve(*n, *regions, *commit, *how),
            Op::ReadLine(kind) => {
                let eol = kind.eol();
                let r = self.buf.read_line(eol);
                if self.expect_front(&r) {
                    let got = r.unwrap();
                    let data = self.mbytes();
                    match model_find_eol(&data, 0, eol) {
                        None => {
                            assert_eq!(got, None);
                        }
                        Some((p, l)) => {
                            assert_eq!(got.as_deref(), Some(&data[..p]), "{eol:?}");
                            self.model.drain(..p + l);
                        }
                    }
                }
            }
            Op::DrainLines(kind) => {
                let eol = kind.eol();
                let mut got = Vec::new();
                let r = self.buf.drain_lines(eol, |l| got.push(l.to_vec()));
                if self.expect_front(&r) {
                    assert_eq!(r.unwrap(), got.len());
                    let mut want = Vec::new();
                    loop {
                        let data = self.mbytes();
                        let Some((p, l)) = model_find_eol(&data, 0, eol) else {
                            break;
                        };
                        want.push(data[..p].to_vec());
                        self.model.drain(..p + l);
                    }
                    assert_eq!(got, want, "{eol:?}");
                }
            }
            Op::Appender(pieces) => {
                let frozen = self.back_frozen;
                match self.buf.appender() {
                    Err(e) => assert!(frozen && matches!(e, Error::FrozenBack), "{e:?}"),
                    Ok(mut w) => {
                        assert!(!frozen, "appender on a frozen back");
                        for (i, p) in pieces.iter().enumerate() {
                            if i % 2 == 0 {
                                w.add(p).unwrap();
                            } else {
                                // In place: reserve, then write through `BufMut`.
                                w.reserve(p.len()).unwrap();
                                bytes::BufMut::put_slice(&mut w, p);
                            }
                        }
                        drop(w);
                        for p in pieces {
                            self.model.extend(p);
                        }
                    }
                }
            }
            Op::Search { needle, from } => {
                let from = self.pos(*from);
                let data = self.mbytes();
                match self.buf.ptr_at(from) {
                    Err(_) => assert!(from > len),
                    Ok(p) => {
                        let got = self.buf.search(needle, Some(&p)).map(|p| p.position());
                        assert_eq!(got, model_search(&data, needle, from, len));
                        if from == 0 {
                            let got = self.buf.search(needle, None).map(|p| p.position());
                            assert_eq!(got, model_search(&data, needle, 0, len));
                        }
                        // A found position is a usable Ptr.
                        if let Some(q) = self.buf.search(needle, Some(&p)) {
                            let mut out = vec![0u8; needle.len()];
                            if !self.front_frozen {
                                self.buf.copy_out_from(&q, &mut out).unwrap();
                                assert_eq!(&out, needle);
                            }
                        }
                    }
                }
            }
            Op::SearchRange { needle, from, end } => {
                let from = self.pos(*from);
                let end = self.pos(*end);
                let data = self.mbytes();
                if let (Ok(p), Ok(e)) = (self.buf.ptr_at(from), self.buf.ptr_at(end)) {
                    let got = self
                        .buf
                        .search_range(needle, Some(&p), Some(&e))
                        .map(|p| p.position());
                    assert_eq!(got, model_search(&data, needle, from, end));
                }
            }
            Op::SearchExisting { at, len: n, from } => {
                let data = self.mbytes();
                let at = *at as usize % (len + 1);
                let n = (*n as usize % 24).min(len - at);
                let needle = data[at..at + n].to_vec();
                let from = self.pos(*from).min(at);
                let p = self.buf.ptr_at(from).unwrap();
                let got = self.buf.search(&needle, Some(&p)).map(|p| p.position());
                let want = model_search(&data, &needle, from, len);
                assert!(want.is_some());
                assert_eq!(got, want);
                let end = self.buf.ptr_at(at + n).unwrap();
                let got = self
                    .buf
                    .search_range(&needle, Some(&p), Some(&end))
                    .map(|p| p.position());
                assert_eq!(got, want);
            }
            Op::SearchEol { from, eol } => {
                let from = self.pos(*from);
                let data = self.mbytes();
                if let Ok(p) = self.buf.ptr_at(from) {
                    let got = self
                        .buf
                        .search_eol(Some(&p), eol.eol())
                        .map(|(p, l)| (p.position(), l));
                    assert_eq!(got, model_find_eol(&data, from, eol.eol()));
                }
            }
            Op::PtrAdvance { at, n } => {
                let at = self.pos(*at);
                if let Ok(mut p) = self.buf.ptr_at(at) {
                    let r = self.buf.ptr_advance(&mut p, *n as usize);
                    if at + *n as usize <= len {
                        r.unwrap();
                        assert_eq!(p.position(), at + *n as usize);
                        if !self.front_frozen {
                            let mut out = [0u8; 1];
                            let k = self.buf.copy_out_from(&p, &mut out).unwrap();
                            if p.position() < len {
                                assert_eq!(k, 1);
                                assert_eq!(out[0], self.model[p.position()]);
                            } else {
                                assert_eq!(k, 0);
                            }
                        }
                    } else {
                        assert!(matches!(r, Err(Error::BadPosition { .. })));
                        assert_eq!(p.position(), at);
                    }
                }
            }
            Op::Peek { start, len: n } => {
                let s = self.pos(*start);
                let e = s.saturating_add(*n as usize);
                let data = self.mbytes();
                let got: Vec<u8> = self.buf.peek(s..e).flatten().copied().collect();
                let (s2, e2) = (s.min(len), e.min(len));
                let want = if s2 < e2 { &data[s2..e2] } else { &[][..] };
                assert_eq!(got, want);
                let count = self.buf.peek(s..e).count();
                assert_eq!(self.buf.extent_count(s..e), count);
                assert!(
                    self.buf.peek(s..e).all(|x| !x.is_empty()),
                    "no empty extents"
                );
            }
            Op::PeekIoSlices {
                start,
                len: n,
                slots,
            } => {
                let s = self.pos(*start);
                let e = s.saturating_add(*n as usize);
                let mut v = vec![IoSlice::new(&[]); (*slots % 8) as usize];
                let need = self.buf.peek_io_slices(s..e, &mut v);
                assert_eq!(need, self.buf.extent_count(s..e));
                let filled = need.min(v.len());
                let got: Vec<u8> = v[..filled].iter().flat_map(|x| x.iter().copied()).collect();
                let want: Vec<u8> = self
                    .buf
                    .peek(s..e)
                    .take(filled)
                    .flatten()
                    .copied()
                    .collect();
                assert_eq!(got, want);
            }
            Op::ReadFrom { data, max } => {
                let mut src: &[u8] = data;
                let r = self.buf.read_from(&mut src, *max as usize);
                if self.back_frozen {
                    assert!(r.is_err());
                } else {
                    let k = r.unwrap();
                    assert_eq!(k, data.len().min(*max as usize));
                    self.model.extend(&data[..k]);
                }
            }
            Op::WriteTo { max, cap } => {
                let mut w = Capped {
                    cap: *cap as usize,
                    got: Vec::new(),
                };
                let r = self.buf.write_to(&mut w, *max as usize);
                if self.front_frozen {
                    assert!(r.is_err());
                } else {
                    let k = r.unwrap();
                    assert!(k <= (*max as usize).min(len).min(*cap as usize));
                    if *cap as usize >= (*max as usize).min(len) {
                        assert!(k > 0 || len == 0 || *max == 0, "made progress");
                    }
                    let want: Vec<u8> = self.model.drain(..k).collect();
                    assert_eq!(w.got, want);
                }
            }
            Op::BufPut(d) => {
                self.buf.put_slice(d);
                if !self.back_frozen {
                    self.model.extend(d);
                }
            }
            Op::BufGet(n) => {
                let rem = self.buf.remaining();
                assert_eq!(rem, if self.front_frozen { 0 } else { len });
                let k = (*n as usize).min(rem);
                let b = self.buf.copy_to_bytes(k);
                let want: Vec<u8> = self.model.drain(..k).collect();
                assert_eq!(&b[..], &want[..]);
            }
            Op::BufChunk => {
                let c = self.buf.chunk();
                if !self.front_frozen && len > 0 {
                    assert!(!c.is_empty());
                    assert_eq!(c, &self.mbytes()[..c.len()]);
                }
                let mut v = [IoSlice::new(&[]); 4];
                let k = self.buf.chunks_vectored(&mut v);
                let got: Vec<u8> = v[..k].iter().flat_map(|x| x.iter().copied()).collect();
                let want: Vec<u8> = self.buf.peek(..).take(k).flatten().copied().collect();
                if !self.front_frozen {
                    assert_eq!(got, want);
                }
            }
            Op::Freeze { front } => {
                let end = if *front { End::Front } else { End::Back };
                self.buf.freeze(end);
                if *front {
                    self.front_frozen = true;
                } else {
                    self.back_frozen = true;
                }
            }
            Op::Unfreeze { front } => {
                let end = if *front { End::Front } else { End::Back };
                self.buf.unfreeze(end);
                if *front {
                    self.front_frozen = false;
                } else {
                    self.back_frozen = false;
                }
            }
            Op::Clear => {
                self.buf.clear();
                if !self.front_frozen {
                    self.model.clear();
                }
            }
            Op::Expand(n) => {
                let r = self.buf.expand(*n as usize);
                if self.expect_back(&r) {
                    r.unwrap();
                }
            }
            Op::AddFile { data, off, len: n } => {
                if !self.files {
                    return;
                }
                let off = (*off as usize).min(data.len());
                let n = (*n as usize).min(data.len() - off);
                let f = temp_file(data);
                let r = self.buf.add_file(f, off as u64, n as u64);
                if self.expect_back(&r) {
                    r.unwrap();
                    self.model.extend(&data[off..off + n]);
                }
            }
        }
        self.check();
    }

    fn reserve(&mut self, n: u16, regions: u8, commit: u16, how: u8) {
        let n = n as usize;
        let regions = (regions % 4) as usize;
        let r = self.buf.reserve(n, regions);
        if regions == 0 {
            assert!(matches!(r, Err(Error::InvalidArgument { .. })));
            return;
        }
        if self.back_frozen {
            assert!(matches!(r, Err(Error::FrozenBack)), "expected FrozenBack");
            return;
        }
        let mut r = r.unwrap();
        let total = r.len();
        assert!(total >= n, "reserved {total} < {n}");
        assert!(r.region_count() <= regions.max(1));
        let k = commit as usize % (total + 1);
        let fill = |i: usize| (i as u8).wrapping_mul(31).wrapping_add(how);
        let data: Vec<u8> = (0..k).map(fill).collect();
        match how % 4 {
            0 => {
                r.put_slice(&data);
                r.commit_written().unwrap();
            }
            1 => {
                let l0 = r.region_len(0).min(k);
                r.region_mut(0)[..l0].copy_from_slice(&data[..l0]);
                if k > l0 {
                    r.region_mut(1)[..k - l0].copy_from_slice(&data[l0..]);
                }
                r.commit(k).unwrap();
            }
            2 => {
                // Over-commit is refused and adds nothing.
                assert!(matches!(
                    r.commit(total + 1),
                    Err(Error::InvalidCommit { .. })
                ));
                return;
            }
            _ => {
                // Committing unwritten bytes is refused.
                if k > 0 {
                    assert!(matches!(r.commit(k), Err(Error::InvalidCommit { .. })));
                }
                return;
            }
        }
        self.model.extend(data);
    }

    /// The invariants that hold after every operation.
    pub(crate) fn check(&self) {
        // The chunk queue's own invariants (no empty chunk, only the tail
        // writable, the length the sum of the chunk lengths).
        self.buf.check_invariants();
        self.side.check_invariants();
        assert_eq!(self.buf.len(), self.model.len());
        assert_eq!(self.buf.is_empty(), self.model.is_empty());
        let got: Vec<u8> = self.buf.peek(..).flatten().copied().collect();
        assert_eq!(
            got,
            self.mbytes(),
            "peeked extents concatenate to the model"
        );
        assert_eq!(self.buf.extent_count(..), self.buf.chunk_count());
        assert_eq!(self.buf.peek(..).count(), self.buf.chunk_count());
        assert_eq!(self.side.len(), self.side_model.len());
        assert_eq!(self.side.to_vec(), bytes_of(&self.side_model));
        assert!(self.buf == self.mbytes());
        assert_eq!(
            self.tracker.get(),
            self.buf.len(),
            "callbacks saw every change"
        );
        assert_eq!(
            self.side_tracker.get(),
            self.side.len(),
            "callbacks saw every change"
        );
    }
}

fn temp_file(data: &[u8]) -> std::fs::File {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = std::env::temp_dir().join(format!(
        "evbuffer-model-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    std::fs::remove_file(&p).ok();
    f.write_all(data).unwrap();
    f
}
