//! Real provider connectors: Vapi and Retell (outbound calls), Twilio (SMS), HubSpot v3 (CRM), and a
//! generic Standard Webhooks sender (CRM-less tenants, handoff notices, escalations).
//!
//! Each tenant's policy picks a provider per channel; anything left on "simulator" goes to
//! the built-in simulator, so a tenant can go live one channel at a time. Requests are
//! retried with backoff on 429 (honouring `Retry-After`) and 5xx; a delivery that still
//! fails stays in the outbox and is tried again on a later round. Every request carries the
//! outbox item's key as `Idempotency-Key` (or `webhook-id`).

use crate::Simulator;
use crate::resolver;
use crate::webhooks::sign_standard_webhook;
use base64::Engine as _;
use redial_core::clock::Clock;
use redial_core::connectors::{ConnectorError, Connectors, Delivery, Recipient};
use redial_core::engine::MAX_LANES;
use redial_core::policy::{Connector, Policy, Provider};
use redial_core::records::{Effect, OutboxItem};
use redial_sdk::{CrmAction, CrmOperation, Field};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

mod hubspot;
pub mod retell;
pub mod vapi;

use crate::voice::{self, CallRequest, VoiceProvider};
use hubspot::hubspot_lookup;
use retell::Retell;
use vapi::Vapi;

/// Sending a JSON body compactly. ureq's own `send_json` pretty-prints it: a dial's body
/// is about a third larger that way, in bytes to write, send and for the provider to read.
trait SendJson {
    fn send_compact_json(
        self,
        body: &Value,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>;
}

impl SendJson for ureq::RequestBuilder<ureq::typestate::WithBody> {
    fn send_compact_json(
        self,
        body: &Value,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
        self.content_type("application/json; charset=utf-8")
            .send(&bytes[..])
    }
}

/// Tries per request before the delivery is left for a later round.
const TRIES: u32 = 4;
/// The longest a provider may take to accept a connection: a host that does not answer
/// at all is given up on quickly, not after the whole request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest `Retry-After` honoured inside one delivery.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Idle connections kept open per provider host: as many as there can be delivery lanes.
/// ureq keeps 3 by default, so with more lanes dialling one provider the connections past
/// the third would be closed after use and opened again, each a TCP and TLS handshake
/// against a real provider. Only connections once in use are kept, so fewer lanes keep
/// fewer.
const IDLE_PER_HOST: usize = MAX_LANES;

/// Routes each outbox item to the tenant's chosen provider.
pub struct ProviderConnectors {
    clock: Arc<dyn Clock>,
    simulator: Simulator,
    agent: ureq::Agent,
    /// For the tenants' own endpoints (`webhook` connectors), which the operator did not
    /// choose: public addresses only, unless the operator allows any.
    tenant_agent: ureq::Agent,
    /// HubSpot object ids of earlier operations, by `{case}/{operation id}`.
    crm_ids: Mutex<HashMap<String, String>>,
    /// The server's public address, once it is known: SMS sent with it carry a status
    /// callback to the server's `twilio/sms-status` route.
    public_url: Arc<OnceLock<String>>,
}

fn err(connector: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError {
        connector: connector.into(),
        message: message.into(),
    }
}

fn setting(c: &Connector, key: &str, connector: &str) -> Result<String, ConnectorError> {
    c.setting(key)
        .ok_or_else(|| err(connector, format!("setting `{key}` is not set")))
}

impl ProviderConnectors {
    /// Connectors to every tenant's chosen providers, with the simulator for "simulator"
    /// channels; `clock` stamps outbound webhooks.
    pub fn new(
        clock: Arc<dyn Clock>,
        simulator: Simulator,
        timeout: Duration,
        destinations: resolver::Destinations,
    ) -> Self {
        Self::with_public_url(clock, simulator, timeout, destinations, Arc::default())
    }

    /// [`Self::new`], asking SMS providers to report each message's fate to the server
    /// at `public_url` once it is set.
    pub fn with_public_url(
        clock: Arc<dyn Clock>,
        simulator: Simulator,
        timeout: Duration,
        destinations: resolver::Destinations,
        public_url: Arc<OnceLock<String>>,
    ) -> Self {
        // A provider's redirect is never followed: it would carry the tenant's data (and,
        // for a 303, the request's credentials) to an address nobody configured.
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
            .max_idle_connections(4 * IDLE_PER_HOST)
            .max_idle_connections_per_host(IDLE_PER_HOST)
            .build();
        ProviderConnectors {
            clock,
            simulator,
            agent: resolver::agent(config.clone()),
            tenant_agent: resolver::tenant_agent(config, destinations),
            crm_ids: Mutex::default(),
            public_url,
        }
    }

    /// Sends a request (built anew per try) until it succeeds, retrying 429 and 5xx with
    /// backoff. Returns the JSON body (or `null`).
    fn request(
        &self,
        connector: &str,
        send: impl FnMut(&ureq::Agent) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ConnectorError> {
        self.request_on(&self.agent, connector, send)
    }

    /// [`Self::request`] on `agent`.
    fn request_on(
        &self,
        agent: &ureq::Agent,
        connector: &str,
        mut send: impl FnMut(&ureq::Agent) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ConnectorError> {
        let mut last = String::new();
        for attempt in 0..TRIES {
            let backoff = Duration::from_millis(100 << attempt);
            match send(agent) {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let text = resp.body_mut().read_to_string().unwrap_or_default();
                    if (200..300).contains(&status) {
                        return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
                    }
                    last = format!(
                        "HTTP {status}: {}",
                        text.chars().take(200).collect::<String>()
                    );
                    if status != 429 && status < 500 {
                        return Err(err(connector, last));
                    }
                    let wait = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map_or(backoff, Duration::from_secs);
                    std::thread::sleep(wait.min(MAX_WAIT));
                }
                // A provider that did not answer in time is not asked again in this
                // delivery: each try would hold the lane for the whole timeout. The
                // delivery's own backoff decides when it is tried next.
                Err(e @ ureq::Error::Timeout(_)) => {
                    return Err(err(connector, format!("no answer in time: {e}")));
                }
                Err(e) => {
                    last = e.to_string();
                    std::thread::sleep(backoff);
                }
            }
        }
        Err(err(
            connector,
            format!("gave up after {TRIES} tries: {last}"),
        ))
    }

    /// `GET url` for a call whose report is overdue: its JSON, or `None` when the provider
    /// does not know it (404). One try: the lookup is itself retried by the outbox.
    fn look_up(
        &self,
        connector: &str,
        provider_id: &str,
        url: &str,
        authorization: &str,
    ) -> Result<Option<Value>, ConnectorError> {
        if !voice::is_call_id(provider_id) {
            return Ok(None);
        }
        let mut resp = self
            .agent
            .get(url)
            .header("Authorization", authorization)
            .call()
            .map_err(|e| err(connector, e.to_string()))?;
        match resp.status().as_u16() {
            404 => Ok(None),
            200..=299 => {
                let text = resp.body_mut().read_to_string().unwrap_or_default();
                let call = serde_json::from_str(&text)
                    .map_err(|e| err(connector, format!("the call lookup is not JSON: {e}")))?;
                Ok(Some(call))
            }
            status => Err(err(connector, format!("call lookup: HTTP {status}"))),
        }
    }

    /// The tenant's voice provider.
    fn voice<'a>(&'a self, account: &'a Connector) -> Box<dyn VoiceProvider + 'a> {
        match account.provider {
            Provider::Vapi => Box::new(Vapi { via: self, account }),
            Provider::Retell => Box::new(Retell { via: self, account }),
            _ => Box::new(self.simulator.clone()),
        }
    }

    fn twilio_sms(&self, c: &Connector, item: &OutboxItem) -> Result<Delivery, ConnectorError> {
        let Effect::Sms { to, body } = &item.effect else {
            unreachable!()
        };
        let base = c
            .setting("base_url")
            .unwrap_or_else(|| "https://api.twilio.com".into());
        let sid = setting(c, "account_sid", "twilio")?;
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{sid}:{}", setting(c, "auth_token", "twilio")?));
        let from = setting(c, "from", "twilio")?;
        let mut form = vec![("To", to.clone()), ("From", from), ("Body", body.clone())];
        if let Some(public) = self.public_url.get() {
            // Keys are `{case id}/fallback-sms`: letters, digits, `-`, `_` and the `/`
            // that a query value must carry escaped.
            let key = item.key.replace('/', "%2F");
            let url = format!(
                "{}/v1/tenants/{}/twilio/sms-status?key={key}",
                public.trim_end_matches('/'),
                item.tenant
            );
            form.push(("StatusCallback", url));
        }
        self.request("twilio", |a| {
            a.post(format!("{base}/2010-04-01/Accounts/{sid}/Messages.json"))
                .header("Authorization", format!("Basic {auth}"))
                .header("Idempotency-Key", &item.key)
                .send_form(form.iter().map(|(k, v)| (*k, v.as_str())))
        })?;
        Ok(Delivery::Done)
    }

    fn webhook(
        &self,
        c: &Connector,
        item: &OutboxItem,
        kind: &str,
        data: Value,
    ) -> Result<Delivery, ConnectorError> {
        let url = setting(c, "url", "webhook")?;
        let secret = setting(c, "secret", "webhook")?;
        let body = serde_json::to_vec(
            &json!({ "type": kind, "tenant": item.tenant, "case": item.case_id, "data": data }),
        )
        .expect("JSON serializes");
        let ts = self.clock.now_ms() / 1000;
        let signature = sign_standard_webhook(&secret, &item.key, ts, &body);
        self.request_on(&self.tenant_agent, "webhook", |a| {
            a.post(&url)
                .header("content-type", "application/json")
                .header("webhook-id", &item.key)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", &signature)
                .send(&body[..])
        })?;
        Ok(Delivery::Done)
    }
}

impl Connectors for ProviderConnectors {
    fn knows_callers(&self, policy: &Policy) -> bool {
        policy.crm_connector.provider == Provider::Hubspot
    }

    fn caller_context(&self, policy: &Policy, caller: &str, within: Duration) -> Vec<Field> {
        if self.knows_callers(policy) {
            hubspot_lookup(&policy.crm_connector, caller, within)
        } else {
            Vec::new()
        }
    }

    fn route(&self, item: &OutboxItem, p: &Policy) -> Option<String> {
        let c = match &item.effect {
            Effect::Dial { .. } | Effect::CallLookup { .. } => &p.voice,
            Effect::Sms { .. } => &p.sms_connector,
            Effect::Crm { .. } => &p.crm_connector,
            Effect::HandoffNotice { .. } | Effect::Escalation { .. } => &p.notify,
        };
        if c.provider == Provider::Simulator {
            return None;
        }
        // The provider's own API unless the operator moved it; a tenant's endpoint's host.
        let address = c.setting("base_url").or_else(|| c.setting("url"));
        let host = address.as_deref().map_or("", |a| {
            let rest = a.split_once("://").map_or(a, |(_, rest)| rest);
            rest.split(['/', '?', '#']).next().unwrap_or_default()
        });
        Some(format!("{}:{host}", c.provider.name()))
    }

    fn deliver(&self, item: &OutboxItem, to: &Recipient<'_>) -> Result<Delivery, ConnectorError> {
        let p = to.policy;
        match &item.effect {
            Effect::Dial { .. } => {
                let call = CallRequest::of(item).expect("a dial");
                self.voice(&p.voice).place(&call)
            }
            Effect::CallLookup { provider_id, .. } => self.voice(&p.voice).look_up(provider_id),
            Effect::Sms { .. } if p.sms_connector.provider == Provider::Twilio => {
                self.twilio_sms(&p.sms_connector, item)
            }
            Effect::Crm { operation } if p.crm_connector.provider == Provider::Hubspot => {
                self.hubspot(&p.crm_connector, item, operation, to)
            }
            Effect::Crm { operation } if p.crm_connector.provider == Provider::Webhook => self
                .webhook(
                    &p.crm_connector,
                    item,
                    "crm.operation",
                    serde_json::to_value(operation).unwrap(),
                ),
            Effect::HandoffNotice { owner, packet } if p.notify.provider == Provider::Webhook => {
                self.webhook(
                    &p.notify,
                    item,
                    "handoff.notice",
                    json!({ "owner": owner, "packet": packet }),
                )
            }
            Effect::Escalation { to, owner } if p.notify.provider == Provider::Webhook => self
                .webhook(
                    &p.notify,
                    item,
                    "sla.escalation",
                    json!({ "to": to, "owner": owner }),
                ),
            _ => self.simulator.deliver(item, to),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_routed_by_its_provider_and_host() {
        let sim = Simulator::new(
            Arc::new(redial_core::clock::SystemClock),
            HashMap::new(),
            None,
        )
        .unwrap();
        let c = ProviderConnectors::new(
            Arc::new(redial_core::clock::SystemClock),
            sim,
            Duration::from_secs(1),
            resolver::Destinations::Any,
        );
        let mut policy = Policy::parse(
            &std::fs::read_to_string(Policy::default_dir().join("lone-star-hvac.toml")).unwrap(),
            "hvac",
        )
        .unwrap();
        let item = |effect| OutboxItem {
            key: "k".into(),
            tenant: "t".into(),
            case_id: "t-1".into(),
            effect,
        };
        let sms = item(Effect::Sms {
            to: "+15125550100".into(),
            body: "hi".into(),
        });
        assert_eq!(c.route(&sms, &policy), None, "the simulator leaves nothing");
        policy.sms_connector.provider = Provider::Twilio;
        assert_eq!(c.route(&sms, &policy).as_deref(), Some("twilio:"));
        policy
            .sms_connector
            .settings
            .insert("base_url".into(), "http://127.0.0.1:9000/2010-04-01".into());
        assert_eq!(
            c.route(&sms, &policy).as_deref(),
            Some("twilio:127.0.0.1:9000")
        );
    }
}
