//! The cookieless visitor key: HMAC-SHA256 of (site, IP address, user agent) under a
//! random salt that is replaced every UTC day, truncated to 64 bits.
//!
//! The salt lives only in this process's memory and is overwritten when the day
//! changes, so yesterday's keys cannot be recomputed from an IP address and user agent.
//! (Sharing one salt between several collector replicas is a later step; until then
//! each replica has its own, which can only over-count visitors across replicas.)
//! The IP address and user agent are used here and nowhere else.

use std::net::IpAddr;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use luister_schema::{SiteId, VisitorKey};

const DAY_MS: i64 = 86_400_000;

/// The daily salt and the hashing around it.
pub struct Salter {
    current: Mutex<(i64, [u8; 32])>,
}

impl Salter {
    /// A salter with a fresh random salt for the day of `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        Self {
            current: Mutex::new((now_ms.div_euclid(DAY_MS), random_salt())),
        }
    }

    /// The visitor key for this site, address and user agent at `now_ms`.
    pub fn visitor_key(
        &self,
        site: &SiteId,
        ip: IpAddr,
        user_agent: &str,
        now_ms: i64,
    ) -> VisitorKey {
        let salt = self.salt_for(now_ms.div_euclid(DAY_MS));
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
        VisitorKey::from_u64(u64::from_be_bytes(first))
    }

    fn salt_for(&self, day: i64) -> [u8; 32] {
        let mut guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if guard.0 != day {
            *guard = (day, random_salt());
        }
        guard.1
    }
}

fn random_salt() -> [u8; 32] {
    let mut salt = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut salt) {
        // Without randomness the keys would be linkable; refuse to run.
        panic!("no operating-system randomness for the visitor salt: {e}");
    }
    salt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(s: &str) -> SiteId {
        SiteId::parse(s).unwrap()
    }

    #[test]
    fn same_visitor_same_day_gets_the_same_key() {
        let s = Salter::new(0);
        let ip: IpAddr = "192.0.2.10".parse().unwrap();
        let a = s.visitor_key(&site("demo"), ip, "Firefox", 1000);
        let b = s.visitor_key(&site("demo"), ip, "Firefox", DAY_MS - 1);
        assert_eq!(a, b);
    }

    #[test]
    fn key_differs_per_site_address_agent_and_day() {
        let s = Salter::new(0);
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
    fn two_processes_do_not_share_a_salt() {
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let a = Salter::new(0).visitor_key(&site("demo"), ip, "x", 5);
        let b = Salter::new(0).visitor_key(&site("demo"), ip, "x", 5);
        assert_ne!(a, b);
    }
}
