//! Real provider connectors: Vapi (outbound calls), Twilio (SMS), HubSpot v3 (CRM), and a
//! generic Standard Webhooks sender (CRM-less tenants, handoff notices, escalations).
//!
//! Each tenant's policy picks a provider per channel; anything left on "simulator" goes to
//! the built-in simulator, so a tenant can go live one channel at a time. Requests are
//! retried with backoff on 429 (honouring `Retry-After`) and 5xx; a delivery that still
//! fails stays in the outbox and is tried again on a later round. Every request carries the
//! outbox item's key as `Idempotency-Key` (or `webhook-id`).

use super::{ConnectorError, Connectors, Delivery, Simulator};
use crate::api::auth::sign_standard_webhook;
use crate::engine::Engine;
use crate::policy::Connector;
use crate::store::{Effect, OutboxItem};
use base64::Engine as _;
use redial_sdk::{CrmAction, CrmOperation};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Tries per request before the delivery is left for a later round.
const TRIES: u32 = 4;
/// The longest `Retry-After` honoured inside one delivery.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// Routes each outbox item to the tenant's chosen provider.
pub struct ProviderConnectors {
    engine: Arc<Engine>,
    simulator: Simulator,
    agent: ureq::Agent,
    /// HubSpot object ids of earlier operations, by `{case}/{operation id}`.
    crm_ids: Mutex<HashMap<String, String>>,
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

/// HubSpot's built-in association type ids from an object to a contact.
fn contact_association(object: &str) -> Option<u32> {
    match object {
        "calls" => Some(194),
        "tasks" => Some(204),
        "deals" => Some(3),
        "notes" => Some(202),
        "meetings" => Some(200),
        "emails" => Some(198),
        _ => None,
    }
}

impl ProviderConnectors {
    /// Connectors for the engine's tenants, with the simulator for "simulator" channels.
    pub fn new(engine: Arc<Engine>, simulator: Simulator, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        ProviderConnectors {
            engine,
            simulator,
            agent,
            crm_ids: Mutex::default(),
        }
    }

    /// Sends a request (built anew per try) until it succeeds, retrying 429 and 5xx with
    /// backoff. Returns the JSON body (or `null`).
    fn request(
        &self,
        connector: &str,
        mut send: impl FnMut(&ureq::Agent) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ConnectorError> {
        let mut last = String::new();
        for attempt in 0..TRIES {
            let backoff = Duration::from_millis(100 << attempt);
            match send(&self.agent) {
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

    fn vapi_dial(&self, c: &Connector, item: &OutboxItem) -> Result<Delivery, ConnectorError> {
        let Effect::Dial {
            attempt,
            to,
            script,
            known,
            ..
        } = &item.effect
        else {
            unreachable!()
        };
        let base = c
            .setting("base_url")
            .unwrap_or_else(|| "https://api.vapi.ai".into());
        let questions: Vec<String> = script
            .questions
            .iter()
            .enumerate()
            .map(|(i, q)| format!("{}. {}", i + 1, q.text))
            .collect();
        let known_text: Vec<String> = known
            .iter()
            .map(|f| format!("{}: {}", f.key, f.value))
            .collect();
        let body = json!({
            "assistantId": setting(c, "assistant_id", "vapi")?,
            "phoneNumberId": setting(c, "phone_number_id", "vapi")?,
            "customer": { "number": to },
            "assistantOverrides": { "variableValues": {
                "opening": script.opening,
                "availability_check": script.availability_check,
                "questions": questions.join("\n"),
                "question_ids": script.questions.iter().map(|q| q.field_id.clone()).collect::<Vec<_>>().join(","),
                "known_context": known_text.join("; "),
            }},
            "metadata": { "case_id": item.case_id, "attempt": attempt, "idempotency_key": item.key },
        });
        let key = setting(c, "api_key", "vapi")?;
        let resp = self.request("vapi", |a| {
            a.post(format!("{base}/call"))
                .header("Authorization", format!("Bearer {key}"))
                .header("Idempotency-Key", &item.key)
                .send_json(&body)
        })?;
        let id = resp
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(Delivery::CallPlaced { provider_id: id })
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
        self.request("twilio", |a| {
            a.post(format!("{base}/2010-04-01/Accounts/{sid}/Messages.json"))
                .header("Authorization", format!("Basic {auth}"))
                .header("Idempotency-Key", &item.key)
                .send_form([
                    ("To", to.as_str()),
                    ("From", from.as_str()),
                    ("Body", body.as_str()),
                ])
        })?;
        Ok(Delivery::Done)
    }

    fn hubspot(
        &self,
        c: &Connector,
        item: &OutboxItem,
        op: &CrmOperation,
    ) -> Result<Delivery, ConnectorError> {
        let base = c
            .setting("base_url")
            .unwrap_or_else(|| "https://api.hubapi.com".into());
        let token = format!("Bearer {}", setting(c, "access_token", "hubspot")?);
        let props: Map<String, Value> = op
            .properties
            .iter()
            .map(|f| (f.key.clone(), Value::String(f.value.clone())))
            .collect();
        let post = |path: String, body: Value| {
            self.request("hubspot", |a| {
                a.post(format!("{base}{path}"))
                    .header("Authorization", &token)
                    .header("Idempotency-Key", &item.key)
                    .send_json(&body)
            })
        };
        let id = match op.action {
            CrmAction::Upsert => {
                let key = op
                    .match_key
                    .as_ref()
                    .ok_or_else(|| err("hubspot", "upsert without a match key"))?;
                let found = post(
                    format!("/crm/v3/objects/{}/search", op.object),
                    json!({ "filterGroups": [{ "filters": [{ "propertyName": key.key, "operator": "EQ", "value": key.value }] }], "limit": 1 }),
                )?;
                match found.pointer("/results/0/id").and_then(Value::as_str) {
                    Some(id) => {
                        let body = json!({ "properties": props });
                        self.request("hubspot", |a| {
                            a.patch(format!("{base}/crm/v3/objects/{}/{id}", op.object))
                                .header("Authorization", &token)
                                .send_json(&body)
                        })?;
                        id.to_string()
                    }
                    None => object_id(&post(
                        format!("/crm/v3/objects/{}", op.object),
                        json!({ "properties": props }),
                    )?)?,
                }
            }
            CrmAction::Create => {
                let mut associations = Vec::new();
                for target in &op.associate {
                    let to = self.crm_id(c, item, target)?;
                    if let Some(type_id) = contact_association(&op.object) {
                        associations.push(json!({ "to": { "id": to }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }] }));
                    }
                }
                object_id(&post(
                    format!("/crm/v3/objects/{}", op.object),
                    json!({ "properties": props, "associations": associations }),
                )?)?
            }
            CrmAction::Associate => {
                let (from, to) = (
                    self.crm_id(c, item, &op.associate[0])?,
                    self.crm_id(c, item, &op.associate[1])?,
                );
                let path = format!(
                    "/crm/v4/objects/{}/{from}/associations/default/contacts/{to}",
                    op.object
                );
                self.request("hubspot", |a| {
                    a.put(format!("{base}{path}"))
                        .header("Authorization", &token)
                        .send_empty()
                })?;
                String::new()
            }
        };
        self.crm_ids
            .lock()
            .unwrap()
            .insert(format!("{}/{}", item.case_id, op.id), id);
        Ok(Delivery::Done)
    }

    /// The HubSpot id of an earlier operation of this case; after a restart (memory lost)
    /// the contact is found again by the caller's phone.
    fn crm_id(
        &self,
        c: &Connector,
        item: &OutboxItem,
        op_id: &str,
    ) -> Result<String, ConnectorError> {
        if let Some(id) = self
            .crm_ids
            .lock()
            .unwrap()
            .get(&format!("{}/{op_id}", item.case_id))
        {
            return Ok(id.clone());
        }
        let case = self
            .engine
            .store()
            .case(&item.case_id)
            .ok()
            .flatten()
            .ok_or_else(|| err("hubspot", "case not found"))?;
        let base = c
            .setting("base_url")
            .unwrap_or_else(|| "https://api.hubapi.com".into());
        let token = format!("Bearer {}", setting(c, "access_token", "hubspot")?);
        let body = json!({ "filterGroups": [{ "filters": [{ "propertyName": "phone", "operator": "EQ", "value": case.caller }] }], "limit": 1 });
        let found = self.request("hubspot", |a| {
            a.post(format!("{base}/crm/v3/objects/contacts/search"))
                .header("Authorization", &token)
                .send_json(&body)
        })?;
        found
            .pointer("/results/0/id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                err(
                    "hubspot",
                    format!("operation {op_id:?} has no HubSpot object yet"),
                )
            })
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
        let ts = self.engine.now_ms() / 1000;
        let signature = sign_standard_webhook(&secret, &item.key, ts, &body);
        self.request("webhook", |a| {
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

fn object_id(v: &Value) -> Result<String, ConnectorError> {
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| err("hubspot", "response has no object id"))
}

impl Connectors for ProviderConnectors {
    fn deliver(&self, item: &OutboxItem) -> Result<Delivery, ConnectorError> {
        let tenant = self
            .engine
            .tenant(&item.tenant)
            .map_err(|e| err("router", e.to_string()))?;
        let p = &tenant.policy;
        match &item.effect {
            Effect::Dial { .. } if p.voice.provider == "vapi" => self.vapi_dial(&p.voice, item),
            Effect::Sms { .. } if p.sms_connector.provider == "twilio" => {
                self.twilio_sms(&p.sms_connector, item)
            }
            Effect::Crm { operation } if p.crm_connector.provider == "hubspot" => {
                self.hubspot(&p.crm_connector, item, operation)
            }
            Effect::Crm { operation } if p.crm_connector.provider == "webhook" => self.webhook(
                &p.crm_connector,
                item,
                "crm.operation",
                serde_json::to_value(operation).unwrap(),
            ),
            Effect::HandoffNotice { owner, packet } if p.notify.provider == "webhook" => self
                .webhook(
                    &p.notify,
                    item,
                    "handoff.notice",
                    json!({ "owner": owner, "packet": packet }),
                ),
            Effect::Escalation { to, owner } if p.notify.provider == "webhook" => self.webhook(
                &p.notify,
                item,
                "sla.escalation",
                json!({ "to": to, "owner": owner }),
            ),
            _ => self.simulator.deliver(item),
        }
    }
}

/// What the tenant's HubSpot knows about a caller, as context fields for the call script:
/// `name`, `crm-lifecycle-stage`, `crm-open-deals`, `crm-last-note`. Bounded by `timeout`
/// overall; a slow or failed lookup returns what it has (possibly nothing), so it never
/// holds up the callback.
pub fn hubspot_lookup(c: &Connector, phone: &str, timeout: Duration) -> Vec<redial_sdk::Field> {
    use redial_sdk::Field;
    let (Some(token), base) = (
        c.setting("access_token"),
        c.setting("base_url")
            .unwrap_or_else(|| "https://api.hubapi.com".into()),
    ) else {
        return Vec::new();
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into();
    let auth = format!("Bearer {token}");
    let search = |path: &str, body: Value| -> Option<Value> {
        let mut resp = agent
            .post(format!("{base}{path}"))
            .header("Authorization", &auth)
            .send_json(&body)
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.body_mut().read_json::<Value>().ok()
    };
    let started = std::time::Instant::now();
    let Some(found) = search(
        "/crm/v3/objects/contacts/search",
        json!({
            "filterGroups": [{ "filters": [{ "propertyName": "phone", "operator": "EQ", "value": phone }] }],
            "properties": ["firstname", "lastname", "lifecyclestage", "num_associated_deals"],
            "limit": 1
        }),
    ) else {
        return Vec::new();
    };
    let Some(contact) = found.pointer("/results/0") else {
        return Vec::new();
    };
    let prop = |k: &str| {
        contact
            .pointer(&format!("/properties/{k}"))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let mut fields = Vec::new();
    let name: Vec<&str> = [prop("firstname"), prop("lastname")]
        .into_iter()
        .flatten()
        .collect();
    if !name.is_empty() {
        fields.push(Field::new("name", name.join(" ")));
    }
    if let Some(stage) = prop("lifecyclestage") {
        fields.push(Field::new("crm-lifecycle-stage", stage));
    }
    if let Some(deals) = prop("num_associated_deals") {
        fields.push(Field::new("crm-open-deals", deals));
    }
    if let (Some(id), true) = (
        contact.get("id").and_then(Value::as_str),
        started.elapsed() < timeout,
    ) {
        let note = search(
            "/crm/v3/objects/notes/search",
            json!({
                "filterGroups": [{ "filters": [{ "propertyName": "associations.contact", "operator": "EQ", "value": id }] }],
                "sorts": [{ "propertyName": "hs_timestamp", "direction": "DESCENDING" }],
                "properties": ["hs_note_body"],
                "limit": 1
            }),
        );
        if let Some(body) = note
            .as_ref()
            .and_then(|n| n.pointer("/results/0/properties/hs_note_body"))
            .and_then(Value::as_str)
        {
            fields.push(Field::new("crm-last-note", body));
        }
    }
    fields
}
