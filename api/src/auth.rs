//! Who is asking: API tokens, stored only as SHA-256 hashes in the configuration.
//!
//! A token comes as `Authorization: Bearer <token>`, or as the password of HTTP Basic
//! authentication (any user name) so that a browser can open the weekly report. An
//! administrator token reads every site; a tenant's token reads the tenant's sites.
//! Tokens are long random strings (`luister-api new-token`), so a plain SHA-256 is
//! enough: there is nothing to guess, and a leaked configuration holds no token.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use sha2::{Digest, Sha256};

use luister_schema::SiteId;

use crate::config::ApiConfig;
use crate::error::ApiError;

/// The caller, once its token is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Reads every configured site.
    Admin,
    /// A municipality: reads its own sites only.
    Tenant {
        /// The tenant's id (for logs).
        id: Arc<str>,
        /// Its sites.
        sites: Arc<HashSet<SiteId>>,
    },
}

impl Principal {
    /// Whether the caller may read `site`.
    pub fn may_read(&self, site: &SiteId) -> bool {
        match self {
            Principal::Admin => true,
            Principal::Tenant { sites, .. } => sites.contains(site),
        }
    }
}

/// The configured tokens, by hash.
#[derive(Debug, Default)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], Principal>,
}

impl Tokens {
    /// The tokens of a validated configuration.
    pub fn from_config(config: &ApiConfig) -> Self {
        let mut by_hash = HashMap::new();
        for h in &config.auth.admin_token_sha256 {
            if let Some(h) = parse_hash(h) {
                by_hash.insert(h, Principal::Admin);
            }
        }
        for t in &config.tenants {
            let p = Principal::Tenant {
                id: t.id.as_str().into(),
                sites: Arc::new(t.sites.iter().cloned().collect()),
            };
            for h in &t.token_sha256 {
                if let Some(h) = parse_hash(h) {
                    by_hash.insert(h, p.clone());
                }
            }
        }
        Self { by_hash }
    }

    /// The caller named by the `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, ApiError> {
        let header = header.ok_or(ApiError::Unauthorized(
            "no token: send Authorization: Bearer <token>",
        ))?;
        let token = presented_token(header).ok_or(ApiError::Unauthorized(
            "the Authorization header is not Bearer <token> or Basic credentials",
        ))?;
        self.by_hash
            .get(&hash(&token))
            .cloned()
            .ok_or(ApiError::Unauthorized("the token is not valid"))
    }
}

fn presented_token(header: &str) -> Option<String> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (_, password) = decoded.split_once(':')?;
        return (!password.is_empty()).then(|| password.to_string());
    }
    None
}

fn parse_hash(h: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The SHA-256 (hex) of a token, as the configuration stores it.
pub fn token_hash(token: &str) -> String {
    hex::encode(hash(token))
}

/// The operating system gave no random bytes for a token.
#[derive(Debug, thiserror::Error)]
#[error("no operating-system randomness: {0}")]
pub struct NoRandomness(getrandom::Error);

/// A new random token (32 bytes from the operating system, hex) and its hash.
pub fn new_token() -> Result<(String, String), NoRandomness> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(NoRandomness)?;
    let token = format!("lst_{}", hex::encode(bytes));
    let h = token_hash(&token);
    Ok((token, h))
}

/// Anything that holds the tokens can authenticate requests.
pub trait HasTokens {
    /// The configured tokens.
    fn tokens(&self) -> &Tokens;
}

impl<S> FromRequestParts<Arc<S>> for Principal
where
    S: HasTokens + Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<S>) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        state.tokens().authenticate(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthConfig, SiteConfig, TenantConfig};

    fn site(s: &str) -> SiteId {
        SiteId::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn tokens() -> Tokens {
        Tokens::from_config(&ApiConfig {
            auth: AuthConfig {
                admin_token_sha256: vec![token_hash("admin-token")],
            },
            sites: vec![
                SiteConfig {
                    id: site("utrecht"),
                },
                SiteConfig { id: site("zwolle") },
            ],
            tenants: vec![TenantConfig {
                id: "utrecht".into(),
                token_sha256: vec![token_hash("utrecht-old"), token_hash("utrecht-new")],
                sites: vec![site("utrecht")],
            }],
            ..Default::default()
        })
    }

    #[test]
    fn bearer_and_basic_tokens_name_their_principal() {
        let t = tokens();
        assert_eq!(
            t.authenticate(Some("Bearer admin-token")),
            Ok(Principal::Admin)
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:utrecht-new");
        let p = t
            .authenticate(Some(&format!("Basic {basic}")))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(p.may_read(&site("utrecht")));
        assert!(!p.may_read(&site("zwolle")));
        let p = t
            .authenticate(Some("bearer utrecht-old"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(p.may_read(&site("utrecht")));
    }

    #[test]
    fn missing_malformed_and_wrong_tokens_are_refused_with_a_reason() {
        let t = tokens();
        for (header, msg) in [
            (None, "no token"),
            (Some("admin-token"), "not Bearer"),
            (Some("Bearer "), "not Bearer"),
            (Some("Basic !!!"), "not Bearer"),
            (Some("Bearer admin-token2"), "not valid"),
            (Some("Bearer ADMIN-TOKEN"), "not valid"),
        ] {
            let e = t.authenticate(header).unwrap_err().to_string();
            assert!(e.contains(msg), "{header:?} -> {e}");
        }
    }

    #[test]
    fn new_tokens_are_random_and_hash_to_their_stated_hash() {
        let (a, ha) = new_token().unwrap_or_else(|e| panic!("{e}"));
        let (b, _) = new_token().unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), ha);
        assert_eq!(a.len(), 4 + 64);
    }
}
