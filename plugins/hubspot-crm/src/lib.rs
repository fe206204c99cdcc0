//! `hubspot-crm`: maps a disposition to HubSpot v3 CRM operations.
//!
//! Emits, in order: a contact upsert matched by phone, a call engagement carrying the
//! disposition (associated with the contact), and either a deal or a task for the owner
//! (associated with the contact). Property names are HubSpot's v3 internal names.
//!
//! Config (the `[crm.config]` table of a tenant policy):
//! ```toml
//! owner_id = "12345"                       # hubspot_owner_id for calls, tasks, deals
//! lifecycle_stage = "lead"
//! deal_for = ["seller-callback"]           # next actions that open a deal (others: a task)
//! pipeline = "default"
//! deal_stage = "appointmentscheduled"
//! task_due_hours = { same-day = 2, this-week = 48, long-term-nurture = 336 }
//! ```
#![no_std]

use redial_sdk::prelude::*;
redial_sdk::trap_on_panic!();
use redial_sdk::text::{concat, decimal};
use redial_sdk::{
    CrmAction, CrmInput, CrmOperation, CrmPlugin, Disposition, Field, NextAction, Urgency, config,
};
use serde::Deserialize;

/// HubSpot's built-in call disposition id for "Connected".
const DISPOSITION_CONNECTED: &str = "f240bbac-87c9-4f6e-bf70-924b57d47db7";

/// The plugin's config; see the crate docs for the TOML keys. Every decision parses it
/// afresh, so defaults are given per field: a struct-wide default would build all of them
/// (allocations included) before reading a key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    owner_id: Option<String>,
    #[serde(default = "lead")]
    lifecycle_stage: String,
    #[serde(default = "seller_callback")]
    deal_for: Vec<NextAction>,
    #[serde(default = "default_pipeline")]
    pipeline: String,
    #[serde(default = "appointment_scheduled")]
    deal_stage: String,
    #[serde(default)]
    task_due_hours: DueHours,
}

fn lead() -> String {
    "lead".into()
}

fn seller_callback() -> Vec<NextAction> {
    vec![NextAction::SellerCallback]
}

fn default_pipeline() -> String {
    "default".into()
}

fn appointment_scheduled() -> String {
    "appointmentscheduled".into()
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
struct DueHours {
    same_day: u32,
    this_week: u32,
    long_term_nurture: u32,
}

impl Default for DueHours {
    fn default() -> Self {
        DueHours {
            same_day: 2,
            this_week: 48,
            long_term_nurture: 336,
        }
    }
}

fn op(id: &str, object: &str, action: CrmAction, properties: Vec<Field>) -> CrmOperation {
    CrmOperation {
        id: id.into(),
        system: "hubspot".into(),
        object: object.into(),
        action,
        match_key: None,
        properties,
        associate: vec![],
    }
}

fn priority(urgency: Urgency) -> &'static str {
    match urgency {
        Urgency::SameDay => "HIGH",
        Urgency::ThisWeek => "MEDIUM",
        Urgency::LongTermNurture => "LOW",
    }
}

fn call_body(d: &Disposition, input: &CrmInput) -> String {
    let intent = decimal(d.intent_score);
    let mut lines = vec![
        concat(&["Reason: ", d.reason_code.name()]),
        concat(&[
            "Next action: ",
            d.next_action.name(),
            "; intent ",
            &intent,
            "/100",
        ]),
        concat(&["Summary: ", &d.summary]),
    ];
    lines.extend(
        input
            .answers
            .iter()
            .map(|a| concat(&[&a.field_id, ": ", &a.value.as_text()])),
    );
    lines.join("\n")
}

/// The plugin type exported as the component.
pub struct HubspotCrm;

impl CrmPlugin for HubspotCrm {
    fn operations(input: CrmInput) -> Result<Vec<CrmOperation>, String> {
        let cfg: Config = config::parse(&input.config)?;
        let d = &input.disposition;
        let case = &input.case;
        let caller = &case.signal.caller;
        let now = decimal(case.now.unix_ms);
        let owner = |props: &mut Vec<Field>| {
            if let Some(owner) = &cfg.owner_id {
                props.push(Field::new("hubspot_owner_id", owner));
            }
        };
        let name = case
            .signal
            .context
            .iter()
            .find(|f| f.key == "name")
            .map(|f| f.value.clone());

        let mut contact_props = vec![
            Field::new("phone", caller),
            Field::new("lifecyclestage", &cfg.lifecycle_stage),
            Field::new("hs_lead_status", "IN_PROGRESS"),
        ];
        if let Some(name) = name {
            let (first, last) = name.split_once(' ').unwrap_or((&name, ""));
            contact_props.push(Field::new("firstname", first));
            if !last.is_empty() {
                contact_props.push(Field::new("lastname", last));
            }
        }
        let mut contact = op("contact", "contacts", CrmAction::Upsert, contact_props);
        contact.match_key = Some(Field::new("phone", caller));

        let mut call_props = vec![
            Field::new("hs_timestamp", &now),
            Field::new(
                "hs_call_title",
                concat(&["Missed-call recovery: ", d.reason_code.name()]),
            ),
            Field::new("hs_call_body", call_body(d, &input)),
            Field::new("hs_call_direction", "OUTBOUND"),
            Field::new("hs_call_status", "COMPLETED"),
            Field::new("hs_call_disposition", DISPOSITION_CONNECTED),
            Field::new("hs_call_to_number", caller),
            Field::new("hs_call_from_number", &case.signal.line),
        ];
        owner(&mut call_props);
        let mut call = op("call", "calls", CrmAction::Create, call_props);
        call.associate = vec!["contact".into()];

        let mut follow_up = if cfg.deal_for.contains(&d.next_action) {
            let mut props = vec![
                Field::new("dealname", concat(&[d.reason_code.name(), " — ", caller])),
                Field::new("pipeline", &cfg.pipeline),
                Field::new("dealstage", &cfg.deal_stage),
            ];
            owner(&mut props);
            op("deal", "deals", CrmAction::Create, props)
        } else {
            let hours = match d.urgency {
                Urgency::SameDay => cfg.task_due_hours.same_day,
                Urgency::ThisWeek => cfg.task_due_hours.this_week,
                Urgency::LongTermNurture => cfg.task_due_hours.long_term_nurture,
            };
            let due = case.now.unix_ms + i64::from(hours) * 3_600_000;
            let mut props = vec![
                Field::new("hs_timestamp", decimal(due)),
                Field::new(
                    "hs_task_subject",
                    concat(&["Follow up: ", d.reason_code.name()]),
                ),
                Field::new("hs_task_body", &d.summary),
                Field::new("hs_task_status", "NOT_STARTED"),
                Field::new("hs_task_priority", priority(d.urgency)),
                Field::new("hs_task_type", "CALL"),
            ];
            owner(&mut props);
            op("task", "tasks", CrmAction::Create, props)
        };
        follow_up.associate = vec!["contact".into()];
        Ok(vec![contact, call, follow_up])
    }
}

redial_sdk::export_crm!(wit: "../../wit", plugin: crate::HubspotCrm);

#[cfg(test)]
mod tests {
    use super::*;
    use redial_sdk::*;

    fn input(next_action: NextAction, config: &str) -> CrmInput {
        let now = Moment {
            unix_ms: 1_700_000_000_000,
            utc_offset_minutes: 0,
            local_weekday: 0,
            local_minute: 600,
        };
        CrmInput {
            case: CaseView {
                case_id: "c1".into(),
                signal: Signal {
                    kind: SignalKind::MissedCall,
                    caller: "+15551230000".into(),
                    line: "+15559870000".into(),
                    at: now,
                    context: vec![Field::new("name", "Dana Smith")],
                },
                attempts: vec![],
                now,
            },
            disposition: Disposition {
                reason_code: ReasonCode::DemoRequest,
                urgency: Urgency::SameDay,
                qualification: Qualification::default(),
                next_action,
                intent_score: 80,
                summary: "wants a demo".into(),
            },
            answers: vec![],
            config: config.into(),
        }
    }

    fn prop<'a>(op: &'a CrmOperation, key: &str) -> Option<&'a str> {
        op.properties
            .iter()
            .find(|f| f.key == key)
            .map(|f| f.value.as_str())
    }

    #[test]
    fn seller_callback_upserts_contact_logs_call_and_opens_deal() {
        let ops =
            HubspotCrm::operations(input(NextAction::SellerCallback, r#"{"owner_id": "42"}"#))
                .unwrap();
        let objects: Vec<_> = ops.iter().map(|o| o.object.as_str()).collect();
        assert_eq!(objects, ["contacts", "calls", "deals"]);
        assert_eq!(ops[0].action, CrmAction::Upsert);
        assert_eq!(ops[0].match_key, Some(Field::new("phone", "+15551230000")));
        assert_eq!(prop(&ops[0], "firstname"), Some("Dana"));
        assert_eq!(prop(&ops[0], "lastname"), Some("Smith"));
        assert_eq!(prop(&ops[1], "hubspot_owner_id"), Some("42"));
        assert_eq!(
            prop(&ops[1], "hs_call_body"),
            Some(
                "Reason: demo-request\nNext action: seller-callback; intent 80/100\nSummary: wants a demo"
            )
        );
        assert_eq!(prop(&ops[1], "hs_timestamp"), Some("1700000000000"));
        assert_eq!(
            prop(&ops[2], "dealname"),
            Some("demo-request — +15551230000")
        );
        assert_eq!(ops[2].associate, ["contact"]);
    }

    #[test]
    fn other_actions_create_a_task_due_by_urgency() {
        let ops = HubspotCrm::operations(input(NextAction::MaterialSend, "")).unwrap();
        assert_eq!(ops[2].object, "tasks");
        assert_eq!(prop(&ops[2], "hs_task_priority"), Some("HIGH"));
        assert_eq!(prop(&ops[2], "hs_timestamp"), Some("1700007200000"));
    }
}
