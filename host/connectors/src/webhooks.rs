//! Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`, `webhook-signature`):
//! this crate signs the notices it sends, and the server verifies inbound signals with the
//! same function.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The `webhook-signature` of `body` sent as message `id` at `ts_s` (unix seconds): `v1,`
/// and the base64 HMAC-SHA256 of `{id}.{ts_s}.{body}` under the secret (`whsec_` + base64
/// key, or the raw text).
pub fn sign_standard_webhook(secret: &str, id: &str, ts_s: i64, body: &[u8]) -> String {
    let key = match secret.strip_prefix("whsec_") {
        Some(b64) => B64.decode(b64).unwrap_or_default(),
        None => secret.as_bytes().to_vec(),
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac takes any key length");
    mac.update(format!("{id}.{ts_s}.").as_bytes());
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}
