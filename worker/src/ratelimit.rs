//! Per-source limit of refused inbound requests: a source (IP address) whose requests were
//! refused `limit` times within the last minute gets HTTP 429 until the oldest refusal is a
//! minute old, without its requests being verified or logged in the database.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window the limit counts over.
const WINDOW: Duration = Duration::from_secs(60);
/// Sources remembered at most; beyond, sources without a refusal in the window are forgotten.
const MAX_SOURCES: usize = 10_000;

/// Refusals per source over the last minute.
pub struct RefusalLimit {
    limit: u32,
    seen: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl RefusalLimit {
    /// At most `limit` refused requests per source and minute (0 counts as 1).
    pub fn new(limit: u32) -> RefusalLimit {
        RefusalLimit { limit, seen: Mutex::new(HashMap::new()) }
    }

    /// True when `source` already had `limit` refusals within the last minute.
    pub fn blocked(&self, source: IpAddr, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get_mut(&source) {
            Some(times) => {
                while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                    times.pop_front();
                }
                times.len() >= self.limit.max(1) as usize
            }
            None => false,
        }
    }

    /// Counts one refused request from `source`.
    pub fn refused(&self, source: IpAddr, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_SOURCES && !seen.contains_key(&source) {
            seen.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let times = seen.entry(source).or_default();
        times.push_back(now);
        while times.len() > self.limit.max(1) as usize {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_blocked_after_the_limit_for_a_minute_only() {
        let limit = RefusalLimit::new(3);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().expect("ip"), "192.0.2.2".parse().expect("ip"));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(!limit.blocked(a, t0), "refusal {i}");
            limit.refused(a, t0 + Duration::from_secs(i));
        }
        assert!(limit.blocked(a, t0 + Duration::from_secs(10)));
        assert!(!limit.blocked(b, t0 + Duration::from_secs(10)), "another source is not affected");
        assert!(limit.blocked(a, t0 + Duration::from_secs(59)), "still within the minute");
        assert!(!limit.blocked(a, t0 + Duration::from_secs(60)), "the oldest refusal left the window");
    }
}
