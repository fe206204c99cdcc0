//! HubSpot v3: contact upsert by phone (search, then create or patch), engagements and
//! deals created with their associations, v4 default associations, and the caller lookup
//! used for context injection.

use super::*;

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
    pub(super) fn hubspot(
        &self,
        c: &Connector,
        item: &OutboxItem,
        op: &CrmOperation,
        to: &Recipient<'_>,
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
                    .send_compact_json(&body)
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
                                .send_compact_json(&body)
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
                    let target_id = self.crm_id(c, item, target, to)?;
                    if let Some(type_id) = contact_association(&op.object) {
                        associations.push(json!({ "to": { "id": target_id }, "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }] }));
                    }
                }
                object_id(&post(
                    format!("/crm/v3/objects/{}", op.object),
                    json!({ "properties": props, "associations": associations }),
                )?)?
            }
            CrmAction::Associate => {
                let (from, to) = (
                    self.crm_id(c, item, &op.associate[0], to)?,
                    self.crm_id(c, item, &op.associate[1], to)?,
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
        to: &Recipient<'_>,
    ) -> Result<String, ConnectorError> {
        if let Some(id) = self
            .crm_ids
            .lock()
            .unwrap()
            .get(&format!("{}/{op_id}", item.case_id))
        {
            return Ok(id.clone());
        }
        let caller =
            (to.caller_of)(&item.case_id).ok_or_else(|| err("hubspot", "case not found"))?;
        let base = c
            .setting("base_url")
            .unwrap_or_else(|| "https://api.hubapi.com".into());
        let token = format!("Bearer {}", setting(c, "access_token", "hubspot")?);
        let body = json!({ "filterGroups": [{ "filters": [{ "propertyName": "phone", "operator": "EQ", "value": caller }] }], "limit": 1 });
        let found = self.request("hubspot", |a| {
            a.post(format!("{base}/crm/v3/objects/contacts/search"))
                .header("Authorization", &token)
                .send_compact_json(&body)
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
}

fn object_id(v: &Value) -> Result<String, ConnectorError> {
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| err("hubspot", "response has no object id"))
}

/// What the tenant's HubSpot knows about a caller, as context fields for the call script:
/// `name`, `crm-lifecycle-stage`, `crm-open-deals`, `crm-last-note`. Bounded by `timeout`
/// overall; a slow or failed lookup returns what it has (possibly nothing), so it never
/// holds up the callback.
pub(super) fn hubspot_lookup(
    c: &Connector,
    phone: &str,
    timeout: Duration,
) -> Vec<redial_sdk::Field> {
    use redial_sdk::Field;
    let (Some(token), base) = (
        c.setting("access_token"),
        c.setting("base_url")
            .unwrap_or_else(|| "https://api.hubapi.com".into()),
    ) else {
        return Vec::new();
    };
    // One agent for every lookup, so they reuse connections (and TLS sessions) to the CRM.
    static AGENT: std::sync::LazyLock<ureq::Agent> = std::sync::LazyLock::new(|| {
        crate::resolver::agent(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        )
    });
    let auth = format!("Bearer {token}");
    let started = std::time::Instant::now();
    let search = |path: &str, body: Value| -> Option<Value> {
        let left = timeout.checked_sub(started.elapsed())?;
        let mut resp = AGENT
            .post(format!("{base}{path}"))
            .config()
            .timeout_global(Some(left))
            .build()
            .header("Authorization", &auth)
            .send_compact_json(&body)
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.body_mut().read_json::<Value>().ok()
    };
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
