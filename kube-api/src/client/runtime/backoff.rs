//! Exponential back-off with jitter from a seedable source (client-go's
//! `wait.NewExponentialBackoffManager`: 800 ms doubling to 30 s, jitter 1.0, reset after 2 min
//! without failures).

use std::time::Duration;

use tokio::time::Instant;

/// A small seedable pseudo-random source (SplitMix64): enough for jitter, reproducible in tests.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A source starting from `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self(seed)
    }

    /// A source seeded from the process's random hasher keys.
    pub fn from_entropy() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(0x5eed);
        Self(hasher.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Exponential back-off: each [`next_delay`](Backoff::next_delay) doubles the base delay up to `max`, adds
/// up to `jitter` times the base at random, and starts again from `initial` once `reset_after`
/// has passed since the previous call.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    factor: f64,
    jitter: f64,
    reset_after: Duration,
    current: Duration,
    last: Option<Instant>,
    rng: Rng,
}

impl Backoff {
    /// client-go's reflector back-off (800 ms .. 30 s, factor 2, jitter 1.0, reset after 2 min).
    pub fn reflector_default(rng: Rng) -> Self {
        Self::new(
            Duration::from_millis(800),
            Duration::from_secs(30),
            2.0,
            1.0,
            Duration::from_secs(120),
            rng,
        )
    }

    /// A back-off with explicit parameters.
    pub fn new(
        initial: Duration,
        max: Duration,
        factor: f64,
        jitter: f64,
        reset_after: Duration,
        rng: Rng,
    ) -> Self {
        Self {
            initial,
            max,
            factor,
            jitter,
            reset_after,
            current: initial,
            last: None,
            rng,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) > self.reset_after)
        {
            self.current = self.initial;
        }
        self.last = Some(now);
        let base = self.current.min(self.max);
        let jittered = base.mul_f64(1.0 + self.jitter * self.rng.next_f64());
        self.current = base.mul_f64(self.factor).min(self.max);
        jittered.min(self.max)
    }

    /// Starts again from the initial delay.
    pub fn reset(&mut self) {
        self.current = self.initial;
        self.last = None;
    }

    /// The random source, for callers that jitter other timers from the same seed.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn grows_jittered_caps_and_resets() {
        let mut b = Backoff::reflector_default(Rng::seeded(7));
        let mut bases = Vec::new();
        for _ in 0..10 {
            bases.push(b.next_delay());
        }
        // Each delay lies in [base, 2*base) for base 0.8, 1.6, 3.2, ... capped at 30 s.
        let mut base = Duration::from_millis(800);
        for d in &bases {
            assert!(*d >= base.min(Duration::from_secs(30)), "{d:?} < {base:?}");
            assert!(*d <= (base * 2).min(Duration::from_secs(30)), "{d:?}");
            base = (base * 2).min(Duration::from_secs(30));
        }
        assert_eq!(*bases.last().unwrap(), Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(121)).await;
        let d = b.next_delay();
        assert!(
            d < Duration::from_millis(1600),
            "reset after quiet period: {d:?}"
        );
        // Same seed, same sequence.
        let mut a = Backoff::reflector_default(Rng::seeded(7));
        assert_eq!(a.next_delay(), bases[0]);
    }
}
