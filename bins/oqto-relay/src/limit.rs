//! The login rate limit: a token bucket per client IP and one per user name. Every
//! `POST /login` takes a token from both; with either empty it is answered 429 with
//! `Retry-After`. Memory is bounded: each table holds at most [`MAX_KEYS`] buckets; when
//! full, the buckets that refilled (as good as absent) go first, then the least recently
//! used.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Most buckets kept per table.
pub const MAX_KEYS: usize = 10_000;

/// A bucket's size and how fast it refills.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Attempts allowed at once.
    pub burst: u32,
    /// One more attempt per this long.
    pub every: Duration,
}

/// Per client IP: 10 attempts at once, then one every 6 s (10 a minute).
pub const PER_IP: Rate = Rate {
    burst: 10,
    every: Duration::from_secs(6),
};
/// Per name: 5 attempts at once, then one every 12 s (5 a minute).
pub const PER_NAME: Rate = Rate {
    burst: 5,
    every: Duration::from_secs(12),
};

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens as of `at`.
    tokens: f64,
    at: Instant,
}

/// Buckets by key.
#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    buckets: HashMap<K, Bucket>,
    max_keys: usize,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Self {
            rate,
            buckets: HashMap::new(),
            max_keys,
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let gained =
            now.saturating_duration_since(bucket.at).as_secs_f64() / self.rate.every.as_secs_f64();
        (bucket.tokens + gained).min(f64::from(self.rate.burst))
    }

    /// How long until `key` may try again (`None`: now), without taking a token.
    pub fn wait(&self, key: &K, now: Instant) -> Option<Duration> {
        let tokens = self
            .buckets
            .get(key)
            .map_or(f64::from(self.rate.burst), |b| self.refilled(*b, now));
        (tokens < 1.0).then(|| self.rate.every.mul_f64(1.0 - tokens))
    }

    /// Takes a token for `key` (the caller checked [`Limiter::wait`] first).
    pub fn take(&mut self, key: &K, now: Instant) {
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            self.evict(now);
        }
        let full = Bucket {
            tokens: f64::from(self.rate.burst),
            at: now,
        };
        let current = self.buckets.get(key).copied().unwrap_or(full);
        let tokens = (self.refilled(current, now) - 1.0).max(0.0);
        self.buckets.insert(key.clone(), Bucket { tokens, at: now });
    }

    fn evict(&mut self, now: Instant) {
        let burst = f64::from(self.rate.burst);
        let rate = self.rate;
        self.buckets.retain(|_, b| {
            let gained =
                now.saturating_duration_since(b.at).as_secs_f64() / rate.every.as_secs_f64();
            b.tokens + gained < burst
        });
        if self.buckets.len() >= self.max_keys {
            if let Some(oldest) = self
                .buckets
                .iter()
                .min_by_key(|(_, b)| b.at)
                .map(|(k, _)| k.clone())
            {
                self.buckets.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

/// Both tables.
#[derive(Debug)]
pub struct LoginLimits {
    ip: Limiter<IpAddr>,
    name: Limiter<String>,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            ip: Limiter::new(PER_IP, MAX_KEYS),
            name: Limiter::new(PER_NAME, MAX_KEYS),
        }
    }
}

impl LoginLimits {
    /// Takes an attempt for `ip` and `name`, or says how long to wait (taking nothing).
    pub fn attempt(&mut self, ip: IpAddr, name: &str, now: Instant) -> Result<(), Duration> {
        let name = name.to_owned();
        let wait = [self.ip.wait(&ip, now), self.name.wait(&name, now)]
            .into_iter()
            .flatten()
            .max();
        if let Some(wait) = wait {
            return Err(wait);
        }
        self.ip.take(&ip, now);
        self.name.take(&name, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        burst: 3,
        every: Duration::from_secs(10),
    };

    #[test]
    fn a_bucket_empties_and_refills() {
        let mut limiter = Limiter::new(RATE, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.wait(&"a", t0), None);
            limiter.take(&"a", t0);
        }
        assert_eq!(limiter.wait(&"a", t0), Some(Duration::from_secs(10)));
        assert_eq!(limiter.wait(&"b", t0), None, "keys are separate");
        let later = t0 + Duration::from_secs(4);
        assert_eq!(limiter.wait(&"a", later), Some(Duration::from_secs(6)));
        assert_eq!(limiter.wait(&"a", t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn memory_is_bounded() {
        let mut limiter = Limiter::new(RATE, 4);
        let t0 = Instant::now();
        for i in 0..100u32 {
            limiter.take(&i, t0 + Duration::from_millis(u64::from(i)));
            assert!(limiter.len() <= 4);
        }
        // The newest are kept; the oldest went first.
        assert!(limiter.wait(&99, t0 + Duration::from_millis(99)).is_none());
        assert!(limiter.buckets.contains_key(&99));
        assert!(!limiter.buckets.contains_key(&0));
    }

    #[test]
    fn either_table_refuses() {
        let mut limits = LoginLimits::default();
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..PER_NAME.burst {
            let other: IpAddr = format!("192.0.2.{}", i + 10).parse().unwrap();
            limits.attempt(other, "alice", t0).unwrap();
        }
        assert!(limits.attempt(ip, "alice", t0).is_err(), "per name");
        assert!(limits.attempt(ip, "bob", t0).is_ok());
        for i in 1..PER_IP.burst {
            limits.attempt(ip, &format!("user{i}"), t0).unwrap();
        }
        let wait = limits.attempt(ip, "carol", t0).unwrap_err();
        assert_eq!(wait, PER_IP.every, "per ip");
    }
}
