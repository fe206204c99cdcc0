//! Tenant secrets sealed at rest: a tenant sets a credential once through the API, the
//! store keeps it encrypted (XChaCha20-Poly1305 under the operator's key, bound to its
//! tenant and name so a sealed value moved to another tenant or name does not open), and
//! only the engine opens it, to put it in the tenant's live policy.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::path::Path;

/// What a store keeps for an opted-out caller instead of their number: `h1:` and a keyed
/// hash (HMAC-SHA256) of tenant and number. Without the key a number cannot be checked
/// against it, and numbers are too few for a hash without one to hide them. An engine
/// with no secrets key (the demo, benchmarks) uses [`UNKEYED`], which hides nothing.
pub fn suppression_id(key: &[u8; 32], tenant: &str, caller: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(tenant.as_bytes());
    mac.update(&[0]);
    mac.update(caller.as_bytes());
    format!(
        "{SUPPRESSION_PREFIX}{}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// How a suppression id starts (an entry without it is a number, from an older store).
pub const SUPPRESSION_PREFIX: &str = "h1:";

/// The suppression key of an engine without a secrets key: public, so no protection.
pub const UNKEYED: [u8; 32] = *b"redial: no secrets key, no cover";

/// The longest secret accepted (characters).
pub const MAX_SECRET: usize = 4096;

const NONCE: usize = 24;

/// Why a key or a secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key is malformed or its file unreadable.
    #[error("secrets key: {0}")]
    Key(String),
    /// A stored secret does not open with this key.
    #[error(
        "secret {name:?} of {tenant} does not open with this server's key (was the key changed?)"
    )]
    Open {
        /// The tenant.
        tenant: String,
        /// The secret's name.
        name: String,
    },
}

/// The operator's key for sealing tenant secrets. Its `Debug` shows nothing of it.
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
    /// Keys the hashes that stand for opted-out numbers (see [`suppression_id`]).
    suppression: [u8; 32],
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A key from 64 hex digits (what `REDIAL_SECRETS_KEY` and the key file hold).
    pub fn from_hex(hex: &str) -> Result<SecretKey, SecretError> {
        let bytes = hex::decode(hex.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| SecretError::Key("expected 64 hex digits (32 bytes)".into()))?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).expect("32 bytes");
        // A key of its own for the suppression hashes, derived one way from this one.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&bytes).expect("any key length");
        mac.update(b"redial suppression key v1");
        let suppression = mac.finalize().into_bytes().into();
        Ok(SecretKey {
            cipher,
            suppression,
        })
    }

    /// What stands for `caller` among `tenant`'s opt-outs (see [`suppression_id`]).
    pub fn suppression_id(&self, tenant: &str, caller: &str) -> String {
        suppression_id(&self.suppression, tenant, caller)
    }

    /// The key in `path`, or a new random one written there (readable by its owner only)
    /// when the file does not exist: a server keeps its key across restarts by itself.
    pub fn load_or_create(path: &Path) -> Result<SecretKey, SecretError> {
        let unreadable = |e: std::io::Error| SecretError::Key(format!("{}: {e}", path.display()));
        match std::fs::read_to_string(path) {
            Ok(text) => SecretKey::from_hex(&text)
                .map_err(|e| SecretError::Key(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).expect("the OS provides randomness");
                let hex = hex::encode(bytes);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(unreadable)?;
                file.write_all(hex.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(unreadable)?;
                SecretKey::from_hex(&hex)
            }
            Err(e) => Err(unreadable(e)),
        }
    }

    /// Seals `value` as `tenant`'s secret `name`: a fresh nonce, then the ciphertext.
    pub fn seal(&self, tenant: &str, name: &str, value: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        getrandom::fill(&mut nonce).expect("the OS provides randomness");
        let aad = binding(tenant, name);
        let payload = Payload {
            msg: value.as_bytes(),
            aad: &aad,
        };
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .expect("sealing cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// Opens what [`SecretKey::seal`] sealed as `tenant`'s secret `name`.
    pub fn open(&self, tenant: &str, name: &str, sealed: &[u8]) -> Result<String, SecretError> {
        let failed = || SecretError::Open {
            tenant: tenant.into(),
            name: name.into(),
        };
        if sealed.len() < NONCE {
            return Err(failed());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE);
        let aad = binding(tenant, name);
        let payload = Payload {
            msg: ciphertext,
            aad: &aad,
        };
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| failed())?;
        String::from_utf8(plain).map_err(|_| failed())
    }
}

/// What a sealed value is bound to.
fn binding(tenant: &str, name: &str) -> Vec<u8> {
    [tenant.as_bytes(), &[0], name.as_bytes()].concat()
}

/// Whether `name` may name a secret: 1 to 64 letters, digits, `-` or `_`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_hex(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_as_what_it_was_sealed_as() {
        let k = key();
        let sealed = k.seal("acme", "vapi", "sk-live-123");
        assert!(
            !sealed.windows(11).any(|w| w == b"sk-live-123"),
            "not in clear"
        );
        assert_eq!(k.open("acme", "vapi", &sealed).unwrap(), "sk-live-123");
        assert!(k.open("other", "vapi", &sealed).is_err(), "another tenant");
        assert!(k.open("acme", "twilio", &sealed).is_err(), "another name");
        let other_key = SecretKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(other_key.open("acme", "vapi", &sealed).is_err());
        assert_ne!(sealed, k.seal("acme", "vapi", "sk-live-123"), "fresh nonce");
    }

    #[test]
    fn a_key_is_made_once_then_read_back_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let sealed = SecretKey::load_or_create(&path)
            .unwrap()
            .seal("t", "n", "v");
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(again.open("t", "n", &sealed).unwrap(), "v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(SecretKey::from_hex("abc").is_err());
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(format!("{again:?}").eq("SecretKey(..)"));
    }
}
