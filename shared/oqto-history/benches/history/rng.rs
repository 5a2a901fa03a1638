//! A small seeded PRNG (`SplitMix64`): the corpus must be the same on every run and every
//! machine, and the workspace has no `rand`.

/// `SplitMix64`'s output function: a bijection on `u64` that scatters nearby inputs, also
/// used to derive unique ids from counters.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `SplitMix64`: a 64-bit counter passed through [`mix`].
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(mix(seed ^ 0x6f71_746f_6869_7374))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub fn below(&mut self, n: usize) -> usize {
        let wide = u128::from(self.next_u64()) * n as u128;
        usize::try_from(wide >> 64).expect("below n, which is a usize")
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    #[allow(
        clippy::cast_precision_loss,
        reason = "53 random bits fit an f64 mantissa exactly"
    )]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }

    /// A standard normal variate (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit(); // (0, 1]: ln is finite
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A log-normal variate with the given median: most values near it, a long right tail.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// `lognormal(median, sigma)` rounded and clamped to `lo..=hi`.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "clamped to a small positive range first"
    )]
    pub fn lognormal_count(&mut self, median: f64, sigma: f64, lo: usize, hi: usize) -> usize {
        #[allow(clippy::cast_precision_loss, reason = "small bounds")]
        let x = self
            .lognormal(median, sigma)
            .round()
            .clamp(lo as f64, hi as f64);
        x as usize
    }

    /// 1 + a geometric number of extra trials with success probability `p`, at most `max`.
    pub fn geometric(&mut self, p: f64, max: usize) -> usize {
        let mut n = 1;
        while n < max && !self.chance(p) {
            n += 1;
        }
        n
    }
}
