//! Who may call what: bearer tokens (agency admin, per tenant; stored only as sha256) and
//! the providers' webhook signatures (Standard Webhooks, Twilio, Vapi, Retell).

use super::{ApiError, AppState};
use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The sha256 (hex) under which a token is stored; the token itself is never kept.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token (24 bytes from the OS, hex) with a recognisable prefix.
pub fn new_token(prefix: &str) -> String {
    let mut buf = [0u8; 24];
    getrandom::fill(&mut buf).expect("the OS provides randomness");
    format!("{prefix}{}", hex::encode(buf))
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The agency: every tenant.
    Admin,
    /// One tenant only.
    Tenant(String),
}

impl Caller {
    /// Refuses unless this caller may act for `tenant`.
    pub fn may_access(&self, tenant: &str) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Tenant(t) if t == tenant => Ok(()),
            Caller::Tenant(_) => Err(ApiError::forbidden("this token is not for that tenant")),
        }
    }

    /// Refuses unless this caller is the agency admin.
    pub fn admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Admin => Ok(()),
            Caller::Tenant(_) => Err(ApiError::forbidden("this route needs the admin token")),
        }
    }
}

/// Finds whose the request is: `Authorization: Bearer <token>`, or else the console
/// session its cookie names (see [`crate::sessions`]), which resolves through the token it
/// was opened with, so both are held to the same checks.
pub fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let hash = match bearer {
        Some(token) => token_hash(token.trim()),
        None if crate::sessions::by_cookie(headers) => state
            .sessions
            .of(headers)
            .map(|s| s.token_hash)
            .ok_or_else(|| {
                ApiError::unauthorized("the console session has ended; sign in again")
            })?,
        None => {
            return Err(ApiError::unauthorized(
                "missing `Authorization: Bearer <token>` header",
            ));
        }
    };
    caller_for(state, &hash)
}

/// Whose token hashes to `hash`: the agency's or a tenant's.
pub fn caller_for(state: &AppState, hash: &str) -> Result<Caller, ApiError> {
    if state.admin_token_hash.as_deref() == Some(hash) {
        return Ok(Caller::Admin);
    }
    match state.engine.store().token_tenant(hash)? {
        Some(tenant) => Ok(Caller::Tenant(tenant)),
        None => Err(ApiError::unauthorized("unknown token")),
    }
}

/// Resolves a configured secret: `env:NAME` reads the environment, anything else is
/// literal. An empty secret is no secret: it would accept a request that sends none.
pub fn resolve_secret(value: &str) -> Option<String> {
    let secret = match value.strip_prefix("env:") {
        Some(name) => std::env::var(name).ok()?,
        None => value.to_string(),
    };
    (!secret.trim().is_empty()).then_some(secret)
}

/// How far a Standard Webhooks timestamp may be from now.
const TOLERANCE_SECS: u64 = 300;

/// A Standard Webhooks request's headers (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`), present and timely: checked before the body is read.
#[derive(Debug)]
pub struct WebhookHeaders {
    id: String,
    timestamp: String,
    signatures: String,
}

/// Reads the Standard Webhooks headers and refuses a missing one or a timestamp more than
/// five minutes from `now_s`, so a request without them costs no body read.
pub fn standard_webhook_headers(
    headers: &HeaderMap,
    now_s: i64,
) -> Result<WebhookHeaders, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| ApiError::unauthorized(format!("missing `{name}` header")))
    };
    let found = WebhookHeaders {
        id: header("webhook-id")?,
        timestamp: header("webhook-timestamp")?,
        signatures: header("webhook-signature")?,
    };
    let ts_s: i64 = found
        .timestamp
        .parse()
        .map_err(|_| ApiError::unauthorized("`webhook-timestamp` is not a unix time"))?;
    if now_s.abs_diff(ts_s) > TOLERANCE_SECS {
        return Err(ApiError::unauthorized(
            "`webhook-timestamp` is too far from now (replay?)",
        ));
    }
    Ok(found)
}

impl WebhookHeaders {
    /// Checks `v1,<base64 hmac-sha256 of "id.timestamp.body">` against `secret`; returns
    /// the event id.
    pub fn verify(self, secret: &str, body: &[u8]) -> Result<String, ApiError> {
        let key = match secret.strip_prefix("whsec_") {
            Some(b64) => B64
                .decode(b64)
                .map_err(|_| ApiError::internal("tenant signing secret is not valid base64"))?,
            None => secret.as_bytes().to_vec(),
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac takes any key length");
        mac.update(self.id.as_bytes());
        mac.update(b".");
        mac.update(self.timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        let ok = self
            .signatures
            .split_whitespace()
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|s| B64.decode(s).ok())
            .any(|sig| sig.len() == expected.len() && constant_eq(&sig, &expected));
        if ok {
            Ok(self.id)
        } else {
            Err(ApiError::unauthorized("`webhook-signature` does not match"))
        }
    }
}

/// Verifies a Standard Webhooks request: headers, then the signature over `body`; returns
/// the event id.
pub fn verify_standard_webhook(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now_s: i64,
) -> Result<String, ApiError> {
    standard_webhook_headers(headers, now_s)?.verify(secret, body)
}

/// How far a Retell signature's timestamp may be from now, in ms (Retell's own SDK
/// allows five minutes either way).
const RETELL_TOLERANCE_MS: u64 = 5 * 60 * 1000;

/// A Retell request's `X-Retell-Signature` (`v=<unix ms>,d=<hex hmac-sha256>`), present,
/// well formed and timely: checked before the body is read.
#[derive(Debug)]
pub struct RetellSignature {
    timestamp: String,
    digest: Vec<u8>,
}

impl RetellSignature {
    /// Reads the header and refuses a missing or malformed one, or one stamped more than
    /// five minutes from `now_ms`.
    pub fn from_headers(headers: &HeaderMap, now_ms: i64) -> Result<Self, ApiError> {
        let value = headers
            .get("x-retell-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthorized("missing `X-Retell-Signature` header"))?;
        let malformed = || ApiError::unauthorized("`X-Retell-Signature` is not `v=<ms>,d=<hex>`");
        let (v, d) = value
            .strip_prefix("v=")
            .and_then(|rest| rest.split_once(",d="))
            .ok_or_else(malformed)?;
        let ts: i64 = (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse().ok())
            .flatten()
            .ok_or_else(malformed)?;
        let digest = (d.len() == 64).then(|| hex::decode(d).ok()).flatten();
        let digest = digest.ok_or_else(malformed)?;
        if now_ms.abs_diff(ts) > RETELL_TOLERANCE_MS {
            return Err(ApiError::unauthorized(
                "`X-Retell-Signature` is too far from now (replay?)",
            ));
        }
        Ok(RetellSignature {
            timestamp: v.to_string(),
            digest,
        })
    }

    /// Checks the HMAC-SHA256, keyed by the tenant's Retell API key, of the body followed
    /// by the timestamp.
    pub fn verify(&self, api_key: &str, body: &[u8]) -> Result<(), ApiError> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(api_key.as_bytes()).expect("hmac takes any key length");
        mac.update(body);
        mac.update(self.timestamp.as_bytes());
        if constant_eq(&mac.finalize().into_bytes(), &self.digest) {
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "`X-Retell-Signature` does not match",
            ))
        }
    }
}

/// Twilio's request signature: base64(HMAC-SHA1(auth token, full URL + every POST
/// parameter's name and value, sorted by name)).
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes())
        .expect("hmac takes any key length");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    B64.encode(mac.finalize().into_bytes())
}

/// Compares without an early exit.
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use redial_connectors::webhooks::sign_standard_webhook;

    #[test]
    fn twilio_signature_matches_twilios_documented_example() {
        // The worked example from Twilio's request-validation documentation.
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let sig = twilio_signature(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=2",
            &params,
        );
        assert_eq!(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn retell_signatures_match_retells_sdk_and_refuse_stale_tampered_or_malformed_ones() {
        // The vector from Retell's TypeScript SDK's webhook tests.
        let body = br#"{"event":"call_ended"}"#;
        let (key, ts) = ("test-api-key", 1_700_000_000_000_i64);
        let signed = redial_connectors::retell::sign(body, key, ts);
        assert_eq!(
            signed,
            "v=1700000000000,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e"
        );
        let mut headers = HeaderMap::new();
        headers.insert("x-retell-signature", signed.parse().unwrap());
        let proof = RetellSignature::from_headers(&headers, ts + 299_000).unwrap();
        proof.verify(key, body).unwrap();
        assert!(proof.verify(key, b"{}").is_err(), "tampered body");
        assert!(proof.verify("another-key", body).is_err(), "wrong key");
        assert!(
            RetellSignature::from_headers(&headers, ts - 300_001).is_err(),
            "stale"
        );
        for bad in ["", "v=1,d=zz", "d=07,v=1", "v=99999999999999999999999,d=00"] {
            headers.insert("x-retell-signature", bad.parse().unwrap());
            assert!(
                RetellSignature::from_headers(&headers, ts).is_err(),
                "{bad}"
            );
        }
        assert!(RetellSignature::from_headers(&HeaderMap::new(), ts).is_err());
    }

    #[test]
    fn standard_webhook_signatures_round_trip_and_reject_tampering() {
        let mut headers = HeaderMap::new();
        let body = br#"{"kind":"missed-call"}"#;
        let sig = sign_standard_webhook(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_1",
            1_000,
            body,
        );
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        headers.insert("webhook-timestamp", "1000".parse().unwrap());
        headers.insert("webhook-signature", sig.parse().unwrap());
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert_eq!(
            verify_standard_webhook(secret, &headers, body, 1_010).unwrap(),
            "msg_1"
        );
        assert!(
            verify_standard_webhook(secret, &headers, b"{}", 1_010).is_err(),
            "tampered body"
        );
        assert!(
            verify_standard_webhook(secret, &headers, body, 5_000).is_err(),
            "stale timestamp"
        );
        // The farthest timestamps are refused too, not an arithmetic overflow.
        for extreme in [i64::MIN + 1, i64::MAX] {
            let ts = extreme.to_string();
            headers.insert("webhook-timestamp", ts.parse().unwrap());
            assert!(verify_standard_webhook(secret, &headers, body, 1_010).is_err());
        }
    }
}
