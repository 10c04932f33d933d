//! The cookieless visitor key: HMAC-SHA256 of (site, IP address, user agent) under a
//! random salt of the current UTC day, truncated to 64 bits.
//!
//! The salt is either shared by all collector replicas through Kafka ([`crate::salt`],
//! the default) or, with `privacy.shared_salt = false`, made by this process alone
//! (enough for a single collector; several would then count a visitor once each).
//! Either way only today's and tomorrow's salts are in memory, and older ones are
//! overwritten, so yesterday's keys cannot be recomputed from an IP address and user
//! agent. The IP address and user agent are used here and nowhere else.

use std::net::IpAddr;
use std::sync::RwLock;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use luister_schema::{SiteId, VisitorKey};

use crate::salt::day_of;

/// The salts in memory and the hashing around them.
pub struct Salter {
    /// (day, salt) pairs: today and possibly tomorrow.
    salts: RwLock<Vec<(i64, [u8; 32])>>,
    /// Make a salt locally when the day has none (not shared between replicas).
    local: bool,
}

impl Salter {
    /// Salts made by this process on demand, one per day.
    pub fn local() -> Self {
        Self {
            salts: RwLock::new(Vec::new()),
            local: true,
        }
    }

    /// Salts installed from the shared salt topic ([`Salter::install`]).
    pub fn shared() -> Self {
        Self {
            salts: RwLock::new(Vec::new()),
            local: false,
        }
    }

    /// Installs the salt of `day`.
    pub fn install(&self, day: i64, salt: [u8; 32]) {
        let mut salts = self.salts.write().unwrap_or_else(|p| p.into_inner());
        salts.retain(|(d, _)| *d != day);
        salts.push((day, salt));
    }

    /// Forgets (overwrites) every salt of a day before `day`.
    pub fn retain_from(&self, day: i64) {
        let mut salts = self.salts.write().unwrap_or_else(|p| p.into_inner());
        for (d, s) in salts.iter_mut() {
            if *d < day {
                *s = [0; 32];
            }
        }
        salts.retain(|(d, _)| *d >= day);
    }

    /// Whether the salt of `day` is in memory.
    pub fn has(&self, day: i64) -> bool {
        self.salts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|(d, _)| *d == day)
    }

    /// Whether a visitor key can be made for `day`: its salt is in memory, or this
    /// salter makes its own on demand. What `/readyz` asks.
    pub fn can_key(&self, day: i64) -> bool {
        self.local || self.has(day)
    }

    /// The visitor key for this site, address and user agent at `now_ms`, or `None`
    /// when the day's shared salt has not been loaded yet.
    pub fn visitor_key(
        &self,
        site: &SiteId,
        ip: IpAddr,
        user_agent: &str,
        now_ms: i64,
    ) -> Option<VisitorKey> {
        let day = day_of(now_ms);
        let salt = self.salt_for(day)?;
        #[allow(clippy::expect_used)]
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&salt).expect("HMAC accepts keys of any length");
        mac.update(site.as_str().as_bytes());
        mac.update(&[0]);
        match ip {
            IpAddr::V4(v4) => mac.update(&v4.octets()),
            IpAddr::V6(v6) => mac.update(&v6.octets()),
        }
        mac.update(&[0]);
        mac.update(user_agent.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Some(VisitorKey::from_u64(u64::from_be_bytes(first)))
    }

    fn salt_for(&self, day: i64) -> Option<[u8; 32]> {
        let found = self
            .salts
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(d, _)| *d == day)
            .map(|(_, s)| *s);
        if found.is_some() || !self.local {
            return found;
        }
        let mut salt = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut salt) {
            // Without randomness the keys would be linkable; refuse to run.
            panic!("no operating-system randomness for the visitor salt: {e}");
        }
        self.retain_from(day);
        self.install(day, salt);
        self.salt_for(day)
    }
}

/// The visitor keys of one request's events. They share the address and the day, and
/// nearly always the site and user agent, so the HMAC runs once per request instead of
/// once per event (a sixteenth of the collector's CPU on batches of 100). Lives only as
/// long as the request.
pub struct RequestKeys<'a> {
    salter: &'a Salter,
    ip: IpAddr,
    now_ms: i64,
    last: Option<(SiteId, String, VisitorKey)>,
}

impl<'a> RequestKeys<'a> {
    /// The keys of a request from address `ip` received at `now_ms`.
    pub fn new(salter: &'a Salter, ip: IpAddr, now_ms: i64) -> Self {
        Self {
            salter,
            ip,
            now_ms,
            last: None,
        }
    }

    /// [`Salter::visitor_key`] for this request, reusing the last key while the site
    /// and user agent stay the same.
    pub fn visitor_key(&mut self, site: &SiteId, user_agent: &str) -> Option<VisitorKey> {
        if let Some((s, ua, key)) = &self.last {
            if s == site && ua == user_agent {
                return Some(*key);
            }
        }
        let key = self
            .salter
            .visitor_key(site, self.ip, user_agent, self.now_ms)?;
        self.last = Some((site.clone(), user_agent.to_owned(), key));
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salt::DAY_MS;

    fn site(s: &str) -> SiteId {
        SiteId::parse(s).unwrap()
    }

    #[test]
    fn same_visitor_same_day_gets_the_same_key() {
        let s = Salter::local();
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let a = s.visitor_key(&site("demo"), ip, "Firefox", 1000);
        let b = s.visitor_key(&site("demo"), ip, "Firefox", DAY_MS - 1);
        assert_eq!(a, b);
    }

    #[test]
    fn key_differs_per_site_address_agent_and_day() {
        let s = Salter::local();
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let base = s.visitor_key(&site("demo"), ip, "Firefox", 1000);
        assert_ne!(base, s.visitor_key(&site("other"), ip, "Firefox", 1000));
        assert_ne!(
            base,
            s.visitor_key(
                &site("demo"),
                "192.0.2.11".parse().unwrap(),
                "Firefox",
                1000
            )
        );
        assert_ne!(base, s.visitor_key(&site("demo"), ip, "Chrome", 1000));
        assert_ne!(
            base,
            s.visitor_key(&site("demo"), ip, "Firefox", DAY_MS + 1000)
        );
    }

    #[test]
    fn yesterday_cannot_be_recomputed_once_the_day_changed() {
        let s = Salter::local();
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let yesterday = s.visitor_key(&site("demo"), ip, "x", 1000);
        s.visitor_key(&site("demo"), ip, "x", DAY_MS + 1000);
        assert!(!s.has(0), "yesterday's salt is gone");
        assert_ne!(
            yesterday,
            s.visitor_key(&site("demo"), ip, "x", 1000),
            "a new salt, not the old one"
        );
    }

    #[test]
    fn shared_salts_give_the_same_keys_in_every_replica() {
        let (a, b) = (Salter::shared(), Salter::shared());
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            a.visitor_key(&site("demo"), ip, "x", 5),
            None,
            "no salt loaded yet"
        );
        a.install(0, [7; 32]);
        b.install(0, [7; 32]);
        assert!(a.visitor_key(&site("demo"), ip, "x", 5).is_some());
        assert_eq!(
            a.visitor_key(&site("demo"), ip, "x", 5),
            b.visitor_key(&site("demo"), ip, "x", 5)
        );
        a.retain_from(1);
        assert!(!a.has(0));
    }

    #[test]
    fn a_local_salter_can_always_key_and_a_shared_one_only_with_the_days_salt() {
        assert!(Salter::local().can_key(3), "it makes the salt on demand");
        let shared = Salter::shared();
        assert!(!shared.can_key(3));
        shared.install(3, [1; 32]);
        assert!(shared.can_key(3));
        assert!(!shared.can_key(4));
    }

    #[test]
    fn a_requests_keys_are_the_salters_for_every_site_and_agent() {
        let s = Salter::local();
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let mut keys = RequestKeys::new(&s, ip, 1000);
        for (site_id, agent) in [
            ("demo", "Firefox"),
            ("demo", "Firefox"),
            ("demo", "Chrome"),
            ("other", "Chrome"),
            ("demo", "Firefox"),
        ] {
            assert_eq!(
                keys.visitor_key(&site(site_id), agent),
                s.visitor_key(&site(site_id), ip, agent, 1000),
                "{site_id} {agent}"
            );
        }
        let shared = Salter::shared();
        assert_eq!(
            RequestKeys::new(&shared, ip, 5).visitor_key(&site("demo"), "x"),
            None,
            "no salt, no key"
        );
    }
}
