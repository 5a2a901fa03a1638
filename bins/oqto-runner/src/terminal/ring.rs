//! A terminal's scrollback: the newest output bytes, each known by its offset (the number
//! of bytes the terminal wrote before it). Bounded: pushing past the capacity drops the
//! oldest bytes.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct Ring {
    buf: VecDeque<u8>,
    cap: usize,
    /// The offset of `buf[0]`.
    start: u64,
}

impl Ring {
    /// Reserves the whole capacity at once: growing by doubling would leave the smaller
    /// buffers behind in the allocator (a full 1 MiB ring then cost the runner 2 MiB of
    /// RSS). Pages are resident only once written, so an idle terminal costs the bytes it
    /// wrote, not `cap`.
    pub fn new(cap: usize) -> Self {
        Self {
            buf: VecDeque::with_capacity(cap),
            cap,
            start: 0,
        }
    }

    /// The offset of the oldest byte kept.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The offset the next byte will have: every byte written so far.
    pub fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let bytes = if bytes.len() > self.cap {
            self.start += (bytes.len() - self.cap) as u64;
            &bytes[bytes.len() - self.cap..]
        } else {
            bytes
        };
        let over = (self.buf.len() + bytes.len()).saturating_sub(self.cap);
        self.buf.drain(..over);
        self.start += over as u64;
        self.buf.extend(bytes);
    }

    /// Up to `max` bytes from `offset`, which must lie between [`Ring::start`] and
    /// [`Ring::end`].
    pub fn read(&self, offset: u64, max: usize) -> Vec<u8> {
        debug_assert!(offset >= self.start && offset <= self.end());
        let from = usize::try_from(offset - self.start).unwrap_or(usize::MAX);
        let to = from.saturating_add(max).min(self.buf.len());
        let (a, b) = self.buf.as_slices();
        let mut out = Vec::with_capacity(to.saturating_sub(from));
        if from < a.len() {
            out.extend_from_slice(&a[from..to.min(a.len())]);
        }
        if to > a.len() {
            out.extend_from_slice(&b[from.saturating_sub(a.len())..to - a.len()]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_the_newest_bytes_with_their_offsets() {
        let mut ring = Ring::new(4);
        ring.push(b"ab");
        assert_eq!((ring.start(), ring.end()), (0, 2));
        ring.push(b"cdef");
        assert_eq!((ring.start(), ring.end()), (2, 6));
        assert_eq!(ring.read(2, 10), b"cdef");
        assert_eq!(ring.read(3, 2), b"de");
        assert_eq!(ring.read(6, 2), b"");
        ring.push(b"0123456789");
        assert_eq!((ring.start(), ring.end()), (12, 16));
        assert_eq!(ring.read(12, 4), b"6789");
    }

    proptest! {
        /// Whatever the pushes, the ring holds exactly the last `cap` bytes of everything
        /// pushed, and every read from a kept offset gives those bytes.
        #[test]
        fn matches_the_tail_of_everything_written(
            cap in 1usize..64,
            pushes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..20),
            from in 0u64..2000,
            max in 0usize..80,
        ) {
            let mut ring = Ring::new(cap);
            let mut all = Vec::new();
            for p in &pushes {
                ring.push(p);
                all.extend_from_slice(p);
            }
            prop_assert_eq!(ring.end(), all.len() as u64);
            prop_assert_eq!(ring.start(), all.len().saturating_sub(cap) as u64);
            let from = ring.start() + from % (ring.end() - ring.start() + 1);
            let i = usize::try_from(from).unwrap();
            let want = &all[i..(i + max).min(all.len())];
            prop_assert_eq!(ring.read(from, max), want);
        }
    }
}
