//! Sealing secrets at rest (auth tokens, publisher credentials) with ChaCha20-Poly1305 under a
//! key from the operator's configuration, and hashing auth tokens for authentication.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Length of the key, in bytes.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// Seals and opens secrets. Sealed form: 12-byte random nonce followed by the ciphertext.
#[derive(Clone)]
pub struct Vault {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

/// A sealed value that does not open under this key (wrong key, or tampered).
#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted: is the encryption key the one it was sealed with?")]
pub struct OpenError;

impl Vault {
    /// A vault over a 32-byte key.
    pub fn new(key: &[u8; KEY_LEN]) -> Vault {
        Vault {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// Encrypts a secret.
    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            // Encryption only fails for inputs beyond 2^38 bytes.
            .unwrap_or_default();
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Decrypts a sealed secret.
    pub fn open(&self, sealed: &[u8]) -> Result<String, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| OpenError)?;
        String::from_utf8(plaintext).map_err(|_| OpenError)
    }
}

/// The SHA-256 of an auth token: what authentication compares against. Tokens are 128 random
/// bits, so a fast hash is enough (there is nothing to brute-force from a dictionary).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Whether `token` is the one [`token_hash`] made `hash` from, compared in constant time.
pub fn token_matches(hash: &[u8], token: &str) -> bool {
    let candidate = Sha256::digest(token.as_bytes());
    candidate.len() == hash.len() && candidate.iter().zip(hash).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// A new random auth token: 32 lowercase hex digits, as Twilio's.
pub fn new_auth_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_their_own_hash() {
        let token = new_auth_token();
        let hash = token_hash(&token);
        assert!(token_matches(&hash, &token));
        assert!(!token_matches(&hash, &new_auth_token()));
        assert!(!token_matches(&hash[..31], &token), "a hash of the wrong length");
    }

    #[test]
    fn seal_and_open_round_trip() {
        let vault = Vault::new(&[7u8; KEY_LEN]);
        let sealed = vault.seal("token-123");
        assert!(
            !sealed.windows(9).any(|w| w == b"token-123"),
            "ciphertext holds the plaintext"
        );
        assert_eq!(vault.open(&sealed).expect("opens"), "token-123");
        assert_ne!(vault.seal("token-123"), sealed, "nonces must differ");
    }

    #[test]
    fn wrong_key_or_tampering_fails() {
        let sealed = Vault::new(&[7u8; KEY_LEN]).seal("secret");
        assert!(Vault::new(&[8u8; KEY_LEN]).open(&sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(Vault::new(&[7u8; KEY_LEN]).open(&tampered).is_err());
        assert!(Vault::new(&[7u8; KEY_LEN]).open(&[1, 2]).is_err());
    }

    #[test]
    fn tokens_look_like_twilios() {
        let token = new_auth_token();
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
