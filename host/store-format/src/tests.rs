//! The format's promises: every record survives a round trip, version 1 lays records out
//! exactly as the unversioned format did (so old values read), and a version from a newer
//! build is refused by name.

use super::*;
use redial_core::records::{Asking, CaseState, Effect, Event, ShadowDecision, Timer, TrialMode};
use redial_sdk::*;
use serde_json::json;

fn signal() -> Signal {
    Signal {
        kind: SignalKind::Voicemail,
        caller: "+15125550111".into(),
        line: "+15125550200".into(),
        at: Moment {
            unix_ms: 1_764_086_400_000,
            utc_offset_minutes: -360,
            local_weekday: 1,
            local_minute: 600,
        },
        context: vec![Field::new("name", "Dana")],
    }
}

fn disposition() -> Disposition {
    Disposition {
        reason_code: ReasonCode::Custom("emergency-repair".into()),
        urgency: Urgency::SameDay,
        qualification: Qualification {
            timeline: QualifiedValue {
                value: Some("today".into()),
                confirmed: true,
            },
            ..Qualification::default()
        },
        next_action: NextAction::SellerCallback,
        intent_score: 85,
        summary: "no heat".into(),
    }
}

fn case() -> CaseRecord {
    let mut case = CaseRecord::new("t-00001".into(), "t".into(), signal(), 75, 1_000);
    case.attempts = vec![Attempt {
        at_unix_ms: 2_000,
        outcome: AttemptOutcome::CallLater(9_000),
    }];
    case.state = CaseState::HandedOff {
        owner: "mike@example.com".into(),
        sla_deadline_ms: 5_000,
        acknowledged: false,
        breached: true,
    };
    case.timer = Some(Timer {
        due_ms: 5_000,
        kind: TimerKind::SlaDeadline,
    });
    case.disposition = Some(disposition());
    case.first_dial_ms = Some(2_000);
    case.crm_operations = 3;
    case.journal_len = 9;
    case.plugin_failures = 1;
    case.asking = Some(Asking {
        attempt: 1,
        fields: vec![
            ("timeline".into(), AnswerKind::Choice(vec!["soon".into()])),
            ("role".into(), AnswerKind::YesNo),
        ],
        voicemail: true,
    });
    case
}

fn script() -> Script {
    Script {
        opening: "Hi Dana".into(),
        availability_check: "Is now good?".into(),
        questions: vec![
            Question {
                field_id: "role".into(),
                text: "Do you own it?".into(),
                kind: AnswerKind::YesNo,
            },
            Question {
                field_id: "size".into(),
                text: "Which size?".into(),
                kind: AnswerKind::Choice(vec!["small".into(), "large".into()]),
            },
        ],
    }
}

fn events() -> Vec<JournalEntry> {
    let answers = vec![
        Answer::text("reason", "no heat"),
        Answer {
            field_id: "role".into(),
            value: AnswerValue::YesNo(true),
        },
        Answer {
            field_id: "rooms".into(),
            value: AnswerValue::Number(3.5),
        },
        Answer {
            field_id: "size".into(),
            value: AnswerValue::Choice("large".into()),
        },
    ];
    let events = vec![
        Event::Signal {
            kind: SignalKind::MissedCall,
            joined: false,
        },
        Event::Decision {
            slot: "trigger".into(),
            plugin: "ab12".into(),
            contract: "0.2.0".into(),
            decision: json!({ "recover": { "priority": 75 } }),
            cost_us: 9,
        },
        Event::Shadow {
            shadow: ShadowDecision {
                call: "trigger".into(),
                plugin: "ef56".into(),
                decision: Some(json!({ "ignore": "spam" })),
                error: None,
                changed: vec!["outcome".into()],
                cost_us: 11,
            },
        },
        Event::PluginFailed {
            slot: "cadence".into(),
            plugin: "cd34".into(),
            contract: String::new(),
            error: "trap: boom".into(),
            fallback: "human review".into(),
        },
        Event::CallResult {
            attempt: 1,
            outcome: AttemptOutcome::Failed("busy signal".into()),
            answers,
            transcript: Some("…".into()),
            unanswered: vec!["budget".into()],
        },
        Event::VoicemailLeft { attempt: 2 },
        Event::MessageStatus {
            key: "t-00001/fallback".into(),
            status: "undelivered".into(),
            error_code: Some("30003".into()),
        },
        Event::Disposition {
            disposition: disposition(),
        },
        Event::Acknowledged,
        Event::Reply { text: None },
        Event::Closed {
            reason: "done".into(),
        },
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| JournalEntry {
            at_ms: i as i64,
            event,
        })
        .collect()
}

fn outbox() -> Vec<OutboxItem> {
    let effects = vec![
        Effect::Dial {
            attempt: 1,
            to: "+1".into(),
            from: "+2".into(),
            script: script(),
            known: vec![Field::new("name", "Dana")],
            voicemail: Some("Sorry we missed you".into()),
        },
        Effect::Crm {
            operation: CrmOperation {
                id: "contact".into(),
                system: "hubspot".into(),
                object: "contacts".into(),
                action: CrmAction::Upsert,
                match_key: Some(Field::new("phone", "+1")),
                properties: vec![Field::new("firstname", "Dana")],
                associate: vec![],
            },
        },
        Effect::HandoffNotice {
            owner: "mike".into(),
            packet: json!({ "case": "t-00001" }),
        },
    ];
    effects
        .into_iter()
        .map(|effect| OutboxItem {
            key: "t-00001/x".into(),
            tenant: "t".into(),
            case_id: "t-00001".into(),
            effect,
        })
        .collect()
}

/// Encodes, checks the bytes are the version byte and then exactly the JSON the
/// unversioned format wrote (the domain type's own serde), and decodes both forms.
fn same_as_before<R>(record: R)
where
    R: Record + Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + Clone,
{
    let bytes = encode(&record);
    assert_eq!(bytes[0], CURRENT);
    let before = serde_json::to_vec(&record).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&bytes[1..]),
        String::from_utf8_lossy(&before),
        "version 1 changed the layout"
    );
    assert_eq!(decode::<R>("record", &bytes).unwrap(), record);
    assert_eq!(decode::<R>("record", &before).unwrap(), record);
}

#[test]
fn every_record_reads_back_and_keeps_the_unversioned_layout() {
    same_as_before(case());
    same_as_before(events());
    for entry in events() {
        same_as_before(entry);
    }
    for item in outbox() {
        same_as_before(item);
    }
    same_as_before(TimerKind::NextAttempt);
    same_as_before(TenantCounters {
        signals: 7,
        cases: 5,
        next_owner: 2,
        states: [("closed".to_string(), 2)].into_iter().collect(),
    });
    same_as_before(IgnoredSignal {
        at_ms: 1,
        caller: "+1".into(),
        kind: SignalKind::AfterHoursInquiry,
        reason: "spam".into(),
        shadow: None,
    });
    same_as_before(Trial {
        sha256: "ab12".into(),
        mode: TrialMode::Split { percent: 20 },
        started_ms: 4,
    });
    same_as_before(Trial {
        sha256: "ab12".into(),
        mode: TrialMode::Shadow,
        started_ms: 4,
    });
    same_as_before(vec![PluginVersion {
        sha256: "ab12".into(),
        uploaded_ms: 3,
    }]);
}

#[test]
fn answers_written_as_text_before_typed_answers_still_read() {
    let old = br#"{"event":"call-result","attempt":1,"outcome":"connected","answers":[{"field-id":"timeline","text":"today"}],"transcript":null}"#;
    let entry = format!(r#"{{"at_ms":5,"event":{}}}"#, String::from_utf8_lossy(old));
    let read: JournalEntry = decode("journal entry", entry.as_bytes()).unwrap();
    let Event::CallResult { answers, .. } = read.event else {
        panic!("not a call result");
    };
    assert_eq!(answers, [Answer::text("timeline", "today")]);
}

#[test]
fn a_format_from_a_newer_build_is_refused_by_its_version() {
    let mut bytes = encode(&case());
    bytes[0] = 2;
    let err = decode::<CaseRecord>("case", &bytes).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("format version 2"), "{message}");
    assert!(message.contains("case"), "{message}");
}
