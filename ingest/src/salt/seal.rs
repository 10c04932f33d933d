//! The salt record as it is stored in the salt topic: sealed with the collectors' own
//! key, so that the broker, its disk and every other Kafka client see only ciphertext,
//! and only a record a collector made is ever taken for a salt.
//!
//! A record is `LS1` ‖ a 12-byte random nonce ‖ the 32-byte salt encrypted with
//! ChaCha20-Poly1305 under the key (`privacy.salt_key_file`), with its 16-byte tag.
//! The associated data binds it to its topic and day, so a record copied to another
//! day or topic does not open either.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use super::SaltError;

/// The first bytes of a sealed record (format version 1).
const MAGIC: &[u8; 3] = b"LS1";
const NONCE: usize = 12;
/// The length of a sealed record.
pub const SEALED_LEN: usize = MAGIC.len() + NONCE + 32 + 16;

/// The collectors' key for the salt records.
#[derive(Clone)]
pub struct SaltKey(ChaCha20Poly1305);

impl std::fmt::Debug for SaltKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SaltKey(…)")
    }
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The file cannot be read.
    #[error("cannot read the salt key file {0}: {1}")]
    Unreadable(String, String),
    /// Others than its owner may read it.
    #[error(
        "the salt key file {0} may be read by others than its owner (mode {1:o}); chmod 600 it"
    )]
    Exposed(String, u32),
    /// It does not hold 64 hexadecimal digits.
    #[error("the salt key file {0} must hold 64 hexadecimal digits (luister-ingest new-salt-key makes one)")]
    Malformed(String),
}

impl SaltKey {
    /// The key of 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(ChaCha20Poly1305::new(Key::from_slice(&bytes)))
    }

    /// Reads the key from a file of 64 hexadecimal digits that only its owner may read.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let name = path.display().to_string();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| KeyError::Unreadable(name.clone(), e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(KeyError::Exposed(name, mode & 0o777));
            }
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyError::Unreadable(name.clone(), e.to_string()))?;
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::Malformed(name))?;
        Ok(Self::from_bytes(bytes))
    }

    /// A new random key as 64 hexadecimal digits (`luister-ingest new-salt-key`).
    pub fn generate_hex() -> Result<String, SaltError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(SaltError::Randomness)?;
        Ok(hex::encode(key))
    }

    /// The sealed record of `salt` for `day` in `topic`.
    pub fn seal(&self, topic: &str, day: i64, salt: &[u8; 32]) -> Result<Vec<u8>, SaltError> {
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).map_err(SaltError::Randomness)?;
        let aad = associated(topic, day);
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: salt,
                    aad: &aad,
                },
            )
            .map_err(|_| SaltError::Seal)?;
        let mut out = Vec::with_capacity(SEALED_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The salt in `record`, when a collector with this key sealed it for `day` in
    /// `topic`; `None` for anything else.
    pub fn open(&self, topic: &str, day: i64, record: &[u8]) -> Option<[u8; 32]> {
        if record.len() != SEALED_LEN || !record.starts_with(MAGIC) {
            return None;
        }
        let (nonce, sealed) = record[MAGIC.len()..].split_at(NONCE);
        let aad = associated(topic, day);
        let salt = self
            .0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .ok()?;
        salt.try_into().ok()
    }
}

fn associated(topic: &str, day: i64) -> Vec<u8> {
    format!("luister salt\0{topic}\0{day}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_salt_opens_only_with_its_key_topic_and_day() {
        let key = SaltKey::from_bytes([1; 32]);
        let salt = [42u8; 32];
        let record = key.seal("luister.salts.v1", 20_424, &salt).unwrap();
        assert_eq!(record.len(), SEALED_LEN);
        assert!(
            !record.windows(32).any(|w| w == salt),
            "the salt is not in the record"
        );
        assert_eq!(key.open("luister.salts.v1", 20_424, &record), Some(salt));
        assert_eq!(
            key.open("luister.salts.v1", 20_425, &record),
            None,
            "another day"
        );
        assert_eq!(
            key.open("other.salts", 20_424, &record),
            None,
            "another topic"
        );
        let other = SaltKey::from_bytes([2; 32]);
        assert_eq!(
            other.open("luister.salts.v1", 20_424, &record),
            None,
            "another key"
        );
        let mut tampered = record.clone();
        tampered[20] ^= 1;
        assert_eq!(key.open("luister.salts.v1", 20_424, &tampered), None);
        assert_eq!(
            key.open("luister.salts.v1", 20_424, &salt),
            None,
            "a bare salt is not taken"
        );
        // Two seals of one salt differ (random nonce).
        assert_ne!(record, key.seal("luister.salts.v1", 20_424, &salt).unwrap());
    }

    #[test]
    fn a_key_file_must_be_private_and_hold_64_hex_digits() {
        let dir = std::env::temp_dir().join(format!("luister-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("salt-key");
        std::fs::write(&file, format!("{}\n", SaltKey::generate_hex().unwrap())).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                SaltKey::from_file(&file),
                Err(KeyError::Exposed(_, 0o644))
            ));
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(SaltKey::from_file(&file).is_ok());
        std::fs::write(&file, "not hex").unwrap();
        assert!(matches!(
            SaltKey::from_file(&file),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            SaltKey::from_file(&dir.join("missing")),
            Err(KeyError::Unreadable(..))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
