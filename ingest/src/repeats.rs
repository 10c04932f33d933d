//! A tracker's own repeat of a request the collector already took.
//!
//! Matomo's tracker sends a request again when it believes the first did not arrive: an
//! XMLHttpRequest POST that failed (a CORS error, a timeout, a status that is not 2xx)
//! is sent once more through `sendBeacon` or as a GET image with the same parameters.
//! When the first one was in fact stored, the repeat would count the page view twice.
//!
//! Each Matomo request that carries the tracker's per-request random value (`r`, or
//! `rand` as the Tracking API reference names it) is
//! remembered, for `limits.repeat_window_s`, as a 64-bit keyed hash of the client
//! address, the user agent and the request's parameters in their order (`send_image`
//! left out: it only chooses the form of the answer); a request with the same hash within the window is answered as a success and
//! not stored again. The hash key is made at start and never leaves the process, the
//! hashes are kept in memory only and forgotten after at most two windows, so nothing
//! that could identify a resident is kept or can be recomputed elsewhere. Requests
//! without `r` (server-side trackers, log imports) are never taken for repeats: two
//! identical requests without it may be two real page views.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The remembered hashes: this window's and the previous one's.
pub struct Repeats {
    window: Duration,
    max: usize,
    key: RandomState,
    state: Mutex<Windows>,
}

struct Windows {
    started: Instant,
    current: HashSet<u64>,
    previous: HashSet<u64>,
}

impl Repeats {
    /// Remembers requests for `window` (zero: never), at most `max` per window; when a
    /// window fills up sooner, it ends early (a flood shortens the memory, it never
    /// grows it).
    pub fn new(window: Duration, max: usize, now: Instant) -> Self {
        Self {
            window,
            max: max.max(1),
            key: RandomState::new(),
            state: Mutex::new(Windows {
                started: now,
                current: HashSet::new(),
                previous: HashSet::new(),
            }),
        }
    }

    /// The hash of a request, or `None` when it is not one that can be repeated (no
    /// `r`, or remembering is off).
    pub fn fingerprint(&self, ip: IpAddr, user_agent: &str, params: &str) -> Option<u64> {
        if self.window.is_zero() || !has_random(params) {
            return None;
        }
        let mut h = self.key.build_hasher();
        match ip {
            IpAddr::V4(v4) => h.write(&v4.octets()),
            IpAddr::V6(v6) => h.write(&v6.octets()),
        }
        h.write(user_agent.as_bytes());
        for pair in params.split('&').filter(|p| !p.starts_with("send_image=")) {
            h.write_u8(0);
            h.write(pair.as_bytes());
        }
        Some(h.finish())
    }

    /// Whether a request with this hash was remembered within the window.
    pub fn seen(&self, fingerprint: u64, now: Instant) -> bool {
        let w = self.lock(now);
        w.current.contains(&fingerprint) || w.previous.contains(&fingerprint)
    }

    /// Remembers a request that was stored.
    pub fn remember(&self, fingerprint: u64, now: Instant) {
        let mut w = self.lock(now);
        if w.current.len() >= self.max {
            w.previous = std::mem::take(&mut w.current);
            w.started = now;
        }
        w.current.insert(fingerprint);
    }

    fn lock(&self, now: Instant) -> std::sync::MutexGuard<'_, Windows> {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let age = now.saturating_duration_since(w.started);
        if age >= self.window * 2 {
            w.current.clear();
            w.previous.clear();
            w.started = now;
        } else if age >= self.window {
            w.previous = std::mem::take(&mut w.current);
            w.started = now;
        }
        w
    }
}

/// Whether the parameters hold a non-empty `r` (what Matomo's trackers send) or `rand`
/// (the name the Tracking API reference gives it).
fn has_random(params: &str) -> bool {
    params.split('&').any(|p| {
        p.strip_prefix("r=")
            .or_else(|| p.strip_prefix("rand="))
            .is_some_and(|v| !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn a_repeat_within_the_window_is_seen_and_forgotten_after_it() {
        let t0 = Instant::now();
        let r = Repeats::new(Duration::from_secs(60), 1000, t0);
        let q = "idsite=1&rec=1&r=123456&url=http%3A%2F%2Fx%2F";
        let fp = r.fingerprint(IP, "Firefox", q).unwrap();
        assert!(!r.seen(fp, t0));
        r.remember(fp, t0);
        assert!(r.seen(fp, t0 + Duration::from_secs(1)));
        assert!(
            r.seen(fp, t0 + Duration::from_secs(70)),
            "the previous window"
        );
        assert!(!r.seen(fp, t0 + Duration::from_secs(200)), "forgotten");
    }

    #[test]
    fn another_request_address_agent_or_site_is_not_a_repeat() {
        let r = Repeats::new(Duration::from_secs(60), 1000, Instant::now());
        let q = "idsite=1&rec=1&r=123456&url=http%3A%2F%2Fx%2F";
        let fp = r.fingerprint(IP, "Firefox", q).unwrap();
        assert_ne!(
            Some(fp),
            r.fingerprint(
                IP,
                "Firefox",
                "idsite=1&rec=1&r=123457&url=http%3A%2F%2Fx%2F"
            )
        );
        assert_ne!(
            Some(fp),
            r.fingerprint("192.0.2.2".parse().unwrap(), "Firefox", q)
        );
        assert_ne!(Some(fp), r.fingerprint(IP, "Chrome", q));
        assert_ne!(
            Some(fp),
            r.fingerprint(
                IP,
                "Firefox",
                "idsite=2&rec=1&r=123456&url=http%3A%2F%2Fx%2F"
            )
        );
        assert_eq!(
            Some(fp),
            r.fingerprint(IP, "Firefox", &format!("{q}&send_image=0")),
            "the form of the answer is not part of the request"
        );
    }

    #[test]
    fn requests_without_the_trackers_random_value_are_never_repeats() {
        let r = Repeats::new(Duration::from_secs(60), 1000, Instant::now());
        assert_eq!(r.fingerprint(IP, "x", "idsite=1&rec=1&url=u"), None);
        assert_eq!(r.fingerprint(IP, "x", "idsite=1&rec=1&r=&url=u"), None);
        assert_eq!(r.fingerprint(IP, "x", "idsite=1&rec=1&bar=1&url=u"), None);
        assert!(r
            .fingerprint(IP, "x", "idsite=1&rec=1&rand=77&url=u")
            .is_some());
        let off = Repeats::new(Duration::ZERO, 1000, Instant::now());
        assert_eq!(off.fingerprint(IP, "x", "idsite=1&r=5"), None);
    }

    #[test]
    fn a_full_window_ends_early_and_memory_stays_bounded() {
        let t0 = Instant::now();
        let r = Repeats::new(Duration::from_secs(60), 3, t0);
        for fp in 0..10 {
            r.remember(fp, t0);
        }
        let w = r.state.lock().unwrap();
        assert!(w.current.len() + w.previous.len() <= 6);
        assert!(w.current.contains(&9) && w.previous.contains(&8));
    }
}
