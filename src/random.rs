//! Fresh randomness for nonces and trace ids, cheaply.
//!
//! Bytes come from the OS generator (`getrandom`), drawn [`POOL`] at a time into a per-thread
//! pool: one system call per 256 bytes rather than one per id. Each byte is handed out once and
//! wiped from the pool as it is. Should the OS generator fail, a clock-and-counter mix stands in:
//! these values must be unique, not secret.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes drawn from the OS per refill.
pub const POOL: usize = 256;

thread_local! {
    static RANDOM: RefCell<Pool> = const { RefCell::new(Pool::empty()) };
}

/// Fills `buf` with fresh random bytes.
pub fn fill(buf: &mut [u8]) {
    if buf.is_empty() {
        return;
    }
    let drawn = RANDOM.try_with(|pool| {
        // Not re-entered (nothing below calls back here), but a failed borrow only means a
        // direct draw, never a panic.
        pool.try_borrow_mut()
            .is_ok_and(|mut pool| pool.take(buf, getrandom::fill))
    });
    // Drawing directly: the thread is ending, the request is larger than the pool, or the
    // refill failed (and a second try may not).
    if drawn != Ok(true) && getrandom::fill(buf).is_err() {
        clock_bytes(buf);
    }
}

/// Random bytes not yet handed out: `bytes[used..]`.
struct Pool {
    bytes: [u8; POOL],
    used: usize,
}

impl Pool {
    const fn empty() -> Self {
        Pool {
            bytes: [0; POOL],
            used: POOL,
        }
    }

    /// Moves `buf.len()` unused bytes into `buf`, refilling from `os` first when too few are
    /// left. False (and `buf` untouched) when `buf` is larger than the pool or the refill failed.
    fn take(
        &mut self,
        buf: &mut [u8],
        os: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
    ) -> bool {
        if buf.len() > POOL {
            return false;
        }
        if POOL - self.used < buf.len() {
            if os(&mut self.bytes).is_err() {
                // Whatever a failed draw left behind is not handed out.
                self.bytes.fill(0);
                self.used = POOL;
                return false;
            }
            self.used = 0;
        }
        let end = self.used + buf.len();
        let fresh = &mut self.bytes[self.used..end];
        buf.copy_from_slice(fresh);
        // Never hand the same bytes out twice.
        fresh.fill(0);
        self.used = end;
        true
    }
}

/// The last resort when the OS generator fails: the clock and a process-wide counter, mixed
/// (splitmix64) so that every call, and every byte of it, differs.
fn clock_bytes(buf: &mut [u8]) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut state = nanos ^ COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(32);
    for chunk in buf.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::HashSet;

    /// An "OS" that counts its draws and hands out 0, 1, 2, … so every byte can be traced.
    struct Sequence {
        draws: Cell<u32>,
        next: Cell<u8>,
    }

    impl Sequence {
        fn new() -> Self {
            Sequence {
                draws: Cell::new(0),
                next: Cell::new(0),
            }
        }

        fn draw(&self, buf: &mut [u8]) -> Result<(), getrandom::Error> {
            self.draws.set(self.draws.get() + 1);
            for b in buf {
                *b = self.next.get();
                self.next.set(self.next.get().wrapping_add(1));
            }
            Ok(())
        }
    }

    #[test]
    fn one_draw_per_pool_and_each_byte_once() {
        let os = Sequence::new();
        let mut pool = Pool::empty();
        let mut seen = Vec::new();
        for _ in 0..(2 * POOL / 8) {
            let mut out = [0u8; 8];
            assert!(pool.take(&mut out, |b: &mut [u8]| os.draw(b)));
            seen.extend_from_slice(&out);
        }
        assert_eq!(os.draws.get(), 2, "256 bytes per draw, 8 at a time");
        // Both draws were handed out whole and in order: 0..=255 twice.
        let expected: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        assert_eq!(seen, expected);
        assert!(
            pool.bytes.iter().all(|b| *b == 0),
            "handed-out bytes are wiped"
        );
    }

    #[test]
    fn a_short_remainder_is_skipped_not_reused() {
        let os = Sequence::new();
        let mut pool = Pool::empty();
        let mut out = [0u8; 250];
        assert!(pool.take(&mut out, |b: &mut [u8]| os.draw(b)));
        let mut out = [0u8; 8];
        assert!(pool.take(&mut out, |b: &mut [u8]| os.draw(b)));
        // 6 bytes were left; a new draw (0, 1, … again from this fake OS) served the 8.
        assert_eq!(os.draws.get(), 2);
        assert_eq!(out, [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(pool.used, 8);
    }

    #[test]
    fn a_failed_refill_hands_nothing_out() {
        let mut pool = Pool::empty();
        let mut out = [7u8; 8];
        let failing = |buf: &mut [u8]| {
            buf.fill(0xaa);
            Err(getrandom::Error::UNSUPPORTED)
        };
        assert!(!pool.take(&mut out, failing));
        assert_eq!(out, [7u8; 8], "untouched");
        assert_eq!(pool.used, POOL);
        assert!(pool.bytes.iter().all(|b| *b == 0));
        let mut large = [0u8; POOL + 1];
        assert!(!pool.take(&mut large, |_: &mut [u8]| Ok(())));
    }

    #[test]
    fn fill_serves_any_length_without_repeats() {
        fill(&mut []);
        let mut seen = HashSet::new();
        for _ in 0..2000 {
            let mut id = [0u8; 8];
            fill(&mut id);
            assert!(seen.insert(id));
        }
        let mut large = [0u8; 3 * POOL + 5];
        fill(&mut large);
        assert!(large.iter().any(|b| *b != 0));
        let mut odd = [0u8; 24];
        fill(&mut odd);
        assert!(odd.iter().any(|b| *b != 0));
    }

    #[test]
    fn the_clock_fallback_differs_every_call_and_fills_every_byte() {
        let mut seen = HashSet::new();
        for _ in 0..1000 {
            let mut id = [0u8; 13];
            clock_bytes(&mut id);
            assert!(seen.insert(id));
        }
        let mut long = [0u8; 64];
        clock_bytes(&mut long);
        assert!(long.chunks(8).all(|c| c.iter().any(|b| *b != 0)));
    }
}
