//! A tiny counter-based random generator (SplitMix64 finaliser): the random
//! draws of a record are a pure function of its seed, partition and sequence
//! number, so any record can be regenerated on its own.

/// The SplitMix64 increment (the golden ratio in 64-bit fixed point).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Random draws for one record.
#[derive(Clone, Debug)]
pub(crate) struct RecordRng {
    state: u64,
}

impl RecordRng {
    /// The generator of record `seq` of `partition` in stream `stream`
    /// (one per quickstart) under `seed`.
    pub(crate) fn for_record(seed: i64, stream: u64, partition: u32, seq: u64) -> Self {
        let mut state = mix((seed as u64) ^ mix(stream.wrapping_add(GAMMA)));
        state = mix(state ^ u64::from(partition).wrapping_mul(GAMMA));
        state = mix(state.wrapping_add(seq.wrapping_mul(GAMMA)));
        RecordRng { state }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift (no modulo bias worth
    /// noticing for the small ranges used here).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.wrapping_sub(lo) as u64;
        lo.wrapping_add(self.below(span.saturating_add(1)) as i64)
    }

    /// One of `items` (which must not be empty).
    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_rng_is_a_pure_function_of_its_inputs() {
        let draw = |seed, partition, seq| {
            let mut rng = RecordRng::for_record(seed, 1, partition, seq);
            (rng.next_u64(), rng.next_u64())
        };
        assert_eq!(draw(7, 2, 100), draw(7, 2, 100));
        assert_ne!(draw(7, 2, 100), draw(7, 2, 101));
        assert_ne!(draw(7, 2, 100), draw(7, 3, 100));
        assert_ne!(draw(7, 2, 100), draw(8, 2, 100));
    }

    #[test]
    fn record_rng_ranges_hold() {
        let mut rng = RecordRng::for_record(0, 0, 0, 0);
        for _ in 0..10_000 {
            let v = rng.between(-3, 5);
            assert!((-3..=5).contains(&v));
            assert!(rng.below(7) < 7);
        }
    }
}
